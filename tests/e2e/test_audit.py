"""`m87 DEVICE audit` of every kind end to end (docs/remote.md, "Audit"): deploys, activations
and a rollback by clone, a session, an exec and a forward, done by two admin tokens through the
real m87 CLI against a real m87-server, m87-agent daemon and dockerd; each appears with the
fingerprint of the token that asked, its kind and in order. A fleet release placed by the
server's rollout is recorded as the release's maker's, its rollback as the server's. Then the
filters (--since, --kind), the JSON shape, bad input, and the agent's own record of a
session."""

import hashlib
import json
import subprocess
import time

import pytest

from agent_util import device, wait_for  # noqa: F401  (fixtures)
from cli_util import SERVER, Cli, Server
from remote_util import forward_once

SPEC = """\
jobs:
  - id: one
    steps: [{name: s, run: "true"}]
"""

SPEC_FLEET = """\
jobs:
  - id: fleetjob
    steps: [{name: s, run: "true"}]
"""


@pytest.fixture
def own_server(tmp_path):
    """The device's server, without its cap of connections per address (a forward holds
    several connections from 127.0.0.1 at once)."""
    s = Server(tmp_path / "server")
    s.extra_args = ["--max-connections-per-address", "0"]
    s.start()
    yield s
    s.stop()


def fingerprint(token):
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def second_admin(dev, tmp_path):
    """A CLI with a second admin token, made by `m87-server token create` beside the running
    server (docs/operations.md, "Admin tokens")."""
    where = dev.server.db_args or ["--data", str(dev.server.data)]
    r = subprocess.run([str(SERVER), "token", "create", "--name", "second"] + where,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    cli = Cli(tmp_path / "second", dev.server)
    cli.extra_env["M87_TOKEN"] = token
    return cli, fingerprint(token)


def connect(dev, remote):
    dev.agent.config["remote"] = remote
    dev.agent.start()
    wait_for(lambda: (dev.agent.daemon_state() or {}).get("connected"), 60,
             "the agent to connect")


def audit(cli, dev, *extra):
    r = cli.run(dev.name, "audit", "--json", *extra)
    assert r.rc == 0, r
    return json.loads(r.out)["audit"]


def test_audit_of_every_kind(device, tmp_path):  # noqa: F811
    dev = device
    a_cli, a = dev.cli, fingerprint(dev.server.token)
    b_cli, b = second_admin(dev, tmp_path)
    assert a != b
    connect(dev, "exec, forward")
    (tmp_path / "spec.yml").write_text(SPEC)

    # deploys and activations
    d1 = a_cli.ok(dev.name, "deployment", "new", "--active", "--json").json()["id"]
    a_cli.ok(dev.name, "deploy", tmp_path / "spec.yml")
    dev.wait_applied()
    d2 = b_cli.ok(dev.name, "deployment", "new", "--json").json()["id"]
    b_cli.ok(dev.name, "deployment", "activate", d2)
    d3 = a_cli.ok(dev.name, "deployment", "clone", "%s@2" % d1, "--active",
                  "--json").json()["id"]  # the rollback
    # a session, an exec, a forward
    r = b_cli.run(dev.name, "docker", "ps")
    assert r.rc == 0, r
    r = a_cli.run(dev.name, "exec", "--", "sh", "-c", "echo hi; exit 3")
    assert r.rc == 3 and r.out == "hi\n", r
    port = forward_once(dev, b_cli, b"hello")

    rows = audit(a_cli, dev)
    got = [(x["kind"], x["what"], x["token"], x["ref"]) for x in rows]
    assert got[:10] == [
        ("deploy", "new", a, d1),
        ("activate", "activate", a, d1),
        ("deploy", "jobs", a, d1),
        ("deploy", "new", b, d2),
        ("activate", "activate", b, d2),
        ("deploy", "clone", a, d3),
        ("activate", "activate", a, d3),
        ("session", "ps", b, got[7][3]),
        ("remote", "exec", a, got[8][3]),
        ("remote", "forward", b, got[9][3]),
    ], json.dumps(rows, indent=1)
    assert len(rows) == 10, rows
    times = [x["created"] for x in rows]
    assert times == sorted(times)  # oldest first

    new1, act1, jobs1, new2, act2, clone3, act3, sess, ex, fw = rows
    assert new1["detail"] == {"deployment": d1, "revision": 1, "hash": new1["detail"]["hash"],
                              "active": True, "now": False}, new1
    assert act1["detail"]["previous"] is None and act1["detail"]["revision"] == 1, act1
    assert jobs1["detail"]["revision"] == 2 and jobs1["detail"]["active"] is True, jobs1
    assert new2["detail"]["active"] is False, new2
    assert act2["detail"]["previous"] == {"deployment": d1, "revision": 2,
                                          "hash": jobs1["detail"]["hash"]}, act2
    assert clone3["detail"]["clone"] == {"deployment": d1, "revision": 2}, clone3
    assert clone3["detail"]["hash"] == jobs1["detail"]["hash"], clone3  # the same jobs
    assert act3["detail"]["previous"]["deployment"] == d2, act3
    for x in (new1, act1, jobs1, new2, act2, clone3, act3):
        assert x["command"] is None and x["exit_code"] is None and x["channel"] is None, x

    assert sess["ref"].startswith("s-") and sess["command"] == ["ps"], sess
    assert sess["exit_code"] == 0 and sess["ended"] is not None, sess
    assert sess["bytes"]["stdout"] > 0 and sess["detail"]["end"] == {"state": "exited"}, sess
    assert ex["command"] == ["sh", "-c", "echo hi; exit 3"] and ex["exit_code"] == 3, ex
    assert ex["bytes"] == {"stdin": 0, "stdout": 3, "stderr": 0}, ex
    assert ex["channel"] == ex["ref"] and ex["duration_ms"] >= 0, ex
    assert fw["command"] == ["127.0.0.1", str(port), "tcp"], fw
    assert fw["detail"] == {"host": "127.0.0.1", "port": port}, fw
    assert fw["bytes"] == {"stdin": 5, "stdout": 5, "stderr": 0} and fw["exit_code"] == 0, fw

    # the table
    r = a_cli.ok(dev.name, "audit")
    lines = r.out.splitlines()
    assert lines[0].split()[:4] == ["TIME", "KIND", "WHO", "WHAT"], r
    assert len(lines) == 11, r
    assert "activate" in lines[5] and b in lines[5], r
    assert "%s revision 1 (was %s revision 2)" % (d2, d1) in lines[5], r
    assert "(a copy of %s revision 2)" % d1 in lines[6], r
    assert "ps" in lines[8] and "exit 0" in lines[8], r
    assert (" <1s " in lines[8]) == (sess["duration_ms"] < 1000), r  # whole seconds
    assert "exit 3" in lines[9] and "0/3/0" in lines[9], r
    assert "5/5/0" in lines[10], r

    # --kind
    assert [x["kind"] for x in audit(a_cli, dev, "--kind", "deploy")] == ["deploy"] * 4
    assert [x["ref"] for x in audit(b_cli, dev, "--kind", "activate")] == [d1, d2, d3]
    assert [x["what"] for x in audit(a_cli, dev, "--kind", "remote")] == ["exec", "forward"]
    assert len(audit(a_cli, dev, "--kind", "session")) == 1
    r = a_cli.run(dev.name, "audit", "--kind", "deploys")
    assert r.rc == 2 and "--kind: expected remote, session, deploy or activate, not 'deploys'" \
        in r.err, r
    status, _, body = dev.server.request("GET", "/v1/devices/%s/audit?kind=nope" % dev.name)
    assert status == 400 and b"kind: expected" in body, body

    # --since: nothing newer than a second ago (times are whole seconds)
    time.sleep(2.1)
    assert audit(a_cli, dev, "--since", "1s") == []
    assert len(audit(a_cli, dev, "--since", "1h")) == 10
    r = a_cli.run(dev.name, "audit", "--since", "soon")
    assert r.rc == 2 and "--since: expected a duration" in r.err, r

    # the agent's own record of the session and the exec, in its journal, reach the server
    def agent_records():
        return dev.reports(kind="audit")
    wait_for(lambda: len(agent_records()) >= 2, 60, "the agent's audit records")
    recs = agent_records()
    sessions = [x for x in recs if "session" in x]
    assert len(sessions) == 1, recs
    assert sessions[0]["session"]["id"] == sess["ref"], sessions
    assert sessions[0]["session"]["command"] == "ps" and sessions[0]["state"] == "exited"
    assert sessions[0]["exit_code"] == 0 and sessions[0]["duration_ms"] >= 0, sessions
    assert [x["remote"]["id"] for x in recs if "remote" in x] == [ex["ref"], fw["ref"]], recs


def test_fleet_release_and_its_rollback(device, tmp_path):  # noqa: F811
    dev = device
    b_cli, b = second_admin(dev, tmp_path)
    connect(dev, "none")
    fleet = "f" + dev.name[-8:]
    dev.cli.ok("devices", "label", dev.name, "audit=%s" % fleet)
    dev.cli.ok("fleets", "add", fleet, "--select", "audit = %s" % fleet)
    (tmp_path / "spec.yml").write_text(SPEC_FLEET)
    # a long health window keeps the rollout running, so that it can be aborted with rollback
    out = b_cli.ok("fleet", fleet, "deploy", "spec.yml", "--waves", "100%",
                   "--health-window", "1h", "--json", cwd=tmp_path).json()
    ro = out["rollout"]["id"]

    def placed():
        return [x for x in audit(dev.cli, dev) if x["kind"] == "deploy"]
    wait_for(lambda: placed(), 60, "the release placed on the device")
    rows = audit(dev.cli, dev)
    # the device had no deployment: the rollout made an empty active one, then the release's
    assert [(x["kind"], x["what"], x["token"]) for x in rows] == [
        ("activate", "activate", b), ("deploy", "release", b)], rows
    rel = rows[1]["detail"]
    assert rel["fleet"] == fleet and rel["release"] == 1 and rel["revision"] == 2, rel
    assert rel["active"] is True and rel["deployment"] == rows[0]["ref"], rel

    b_cli.ok("fleet", fleet, "abort", ro, "--rollback")
    wait_for(lambda: len(placed()) == 2, 60, "the rollback in the audit trail")
    back = placed()[1]
    assert back["what"] == "rollback" and back["token"] == "server", back
    assert back["detail"]["revision"] == 3 and back["detail"]["now"] is True, back
    assert back["detail"]["hash"] == rows[0]["detail"]["hash"], (back, rows)  # revision 1's jobs


def test_fleet_moves_undeploy_and_activate_now(device, tmp_path):  # noqa: F811
    """A device labelled into a fleet with a release gets it as the labelling token's; labelled
    out, the fleet's jobs go, as that token's too; an undeploy and an activation again with --now
    are recorded."""
    dev = device
    b_cli, b = second_admin(dev, tmp_path)
    a = fingerprint(dev.server.token)
    fleet = "f" + dev.name[-8:]
    dev.cli.ok("fleets", "add", fleet, "--select", "audit = %s" % fleet)
    (tmp_path / "spec.yml").write_text(SPEC_FLEET)
    dev.cli.ok("fleet", fleet, "deploy", "spec.yml", "--waves", "100%", cwd=tmp_path)  # no members
    (tmp_path / "own.yml").write_text(SPEC)
    d1 = dev.cli.ok(dev.name, "deployment", "new", "--active", "--json").json()["id"]
    dev.cli.ok(dev.name, "deploy", tmp_path / "own.yml")  # revision 2: job one

    b_cli.ok("devices", "label", dev.name, "audit=%s" % fleet)  # joins: the release placed
    dev.cli.ok("devices", "label", dev.name, "audit-")  # leaves: its jobs removed
    b_cli.ok(dev.name, "undeploy", "one")
    dev.cli.ok(dev.name, "deployment", "activate", d1, "--now")
    dev.cli.ok(dev.name, "deployment", "activate", d1)  # active already: nothing changes

    rows = audit(dev.cli, dev)
    assert [(x["kind"], x["what"], x["token"]) for x in rows] == [
        ("deploy", "new", a), ("activate", "activate", a), ("deploy", "jobs", a),
        ("deploy", "release", b), ("deploy", "leave-fleet", a), ("deploy", "remove-job", b),
        ("activate", "activate", a)], json.dumps(rows, indent=1)
    assert [x["detail"]["revision"] for x in rows] == [1, 1, 2, 3, 4, 5, 5], rows
    assert rows[3]["detail"]["fleet"] == fleet and rows[3]["detail"]["release"] == 1, rows[3]
    assert rows[4]["detail"]["hash"] == rows[2]["detail"]["hash"], rows  # back to job one only
    now = rows[6]["detail"]
    assert now["now"] is True and now["previous"]["deployment"] == d1, now
    r = dev.cli.ok(dev.name, "audit", "--kind", "deploy")
    assert "(release 1 of fleet %s)" % fleet in r.out, r
    assert len(r.out.splitlines()) == 6, r
