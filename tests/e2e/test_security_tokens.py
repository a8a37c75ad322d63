"""Device tokens (docs/security.md): `m87 devices rotate-token` gives a new token, printed once,
and the old one stops working at once (also for a running agent, which is told so); `m87 devices
revoke-token` leaves the device without a valid token until it is rotated."""

import types

from agent_util import Agent, wait_for
from cli_util import ApiError, Cli, add_device, server  # noqa: F401


def sync_status(server, token):  # noqa: F811
    try:
        server.sync(token)
        return 200
    except ApiError as e:
        return e.status


def test_rotate_token_stops_the_old_one(server, tmp_path):  # noqa: F811
    cli = Cli(tmp_path, server)
    name, old = add_device(cli)
    assert sync_status(server, old) == 200

    r = cli.ok("devices", "rotate-token", name)
    new = [w for w in r.out.split() if w.startswith("m87d_")]
    assert len(new) == 1, r
    new = new[0]
    assert new != old
    assert "shown this once" in r.out
    assert sync_status(server, old) == 401
    assert sync_status(server, new) == 200
    # the device keeps its name and data
    assert server.api("GET", "/v1/devices/%s" % name)["name"] == name

    j = cli.ok("devices", "rotate-token", name, "--json").json()
    assert j["name"] == name and j["token"].startswith("m87d_")
    assert sync_status(server, new) == 401
    assert sync_status(server, j["token"]) == 200


def test_revoke_token_until_rotated(server, tmp_path):  # noqa: F811
    cli = Cli(tmp_path, server)
    name, token = add_device(cli)
    other, other_token = add_device(cli)
    r = cli.ok("devices", "revoke-token", name)
    assert "rotate-token %s" % name in r.out
    assert sync_status(server, token) == 401
    # only that device lost its token
    assert sync_status(server, other_token) == 200
    # a device token is no admin token: it cannot rotate its own
    status, _, _ = server.request("POST", "/v1/devices/%s/token" % other, body={},
                                  token=other_token)
    assert status == 403
    fresh = cli.ok("devices", "rotate-token", name, "--json").json()["token"]
    assert sync_status(server, fresh) == 200
    assert sync_status(server, token) == 401


def test_token_commands_errors(server, tmp_path):  # noqa: F811
    cli = Cli(tmp_path, server)
    r = cli.run("devices", "rotate-token", "no-such-device")
    assert r.rc == 2 and "not found" in r.err, r
    r = cli.run("devices", "revoke-token", "no-such-device")
    assert r.rc == 2 and "not found" in r.err, r
    r = cli.run("devices", "rotate-token")
    assert r.rc == 2 and "missing operand" in r.err, r
    assert "rotate-token NAME" in cli.ok("devices", "rotate-token", "--help").out


def test_running_agent_refused_after_rotation(server, tmp_path):  # noqa: F811
    cli = Cli(tmp_path, server)
    name, old = add_device(cli)
    env = types.SimpleNamespace(docker_host="unix://%s/no-dockerd.sock" % tmp_path)
    agent = Agent(env, tmp_path, server.url, old)
    agent.start()
    try:
        agent.wait_log("connected to %s" % server.url, timeout=60)
        new = cli.ok("devices", "rotate-token", name, "--json").json()["token"]
        agent.wait_log("refused the device token", timeout=60)
        assert old not in agent.log(whole=True) and new not in agent.log(whole=True)
    finally:
        assert agent.stop() == 0
    agent.token = new
    agent.start()
    try:
        agent.wait_log("connected to %s" % server.url, timeout=60)
        wait_for(lambda: server.api("GET", "/v1/devices/%s" % name)["agent_version"], 30,
                 "the device to be seen")
    finally:
        assert agent.stop() == 0
    # nor does its state directory (daemon.json, the journal, ...) hold either token
    for path in agent.state.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert old.encode() not in data and new.encode() not in data, path
