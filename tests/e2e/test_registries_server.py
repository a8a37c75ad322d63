"""Registry credentials managed from the control plane (`m87 registries`): the server keeps them
sealed, sends each device its entries in its sync, and the agent keeps them in
STATE/registries.json (mode 0600) for every pull, ahead of the docker config.

Against the authenticated docker-registry of test_registry_auth.py (htpasswd, bcrypt), through a
real server and agent:
- `m87 registries add` then a deployment of the private image: applied;
- a wrong password: the job fails naming the registry, where the credentials came from and
  dockerd's answer, `deployment status` shows it, and nothing of the project is created;
- a rotated password (`registries add` again) reaches the device without a new deployment: its
  credentials file changes while the agent waits in its long-poll, and the failed apply's retry
  pulls with it; `registries rm` takes them away again;
- with trusted keys (--trust) credentials need no signature, and a signed deployment of the
  private image pulls with them;
- the server's side alone: a device's own entry wins over the every-device one, each device
  gets only its entries, bad requests change nothing and never echo the password;
- the password in no log, report, API answer, state file other than registries.json, nor in
  the server's database."""

import json
import os
import pathlib
import stat

import pytest

from agent_util import device, own_server, running_ids, unique_name, wait_for  # noqa: F401
from compose_util import AGENT
from test_registry_auth import PASSWORD, USER, WRONG, forget, private  # noqa: F401 (fixture)
from test_security_signing import keygen

pytestmark = pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built")


def creds_file(dev):
    return pathlib.Path(dev.agent.state) / "registries.json"


def read_creds(dev):
    p = creds_file(dev)
    return json.loads(p.read_text()) if p.exists() else None


def start_agent(dev, tmp_path):
    """The agent with a docker config of its own that has nothing: only the server's entries."""
    d = tmp_path / "empty-docker-config"
    d.mkdir(exist_ok=True)
    dev.agent.extra_env["DOCKER_CONFIG"] = str(d)
    dev.agent.start()


def add(dev, addr, password, *devices):
    args = ["registries", "add", addr, "--username", USER, "--password-stdin"]
    for name in devices:
        args += ["--device", name]
    r = dev.cli.ok(*args, input=password + "\n")
    assert password not in r.out + r.err
    return r


def wait_creds(dev, password, timeout=30):
    def has():
        doc = read_creds(dev)
        return doc and [e["password"] for e in doc["registries"]] == [password]
    wait_for(has, timeout, lambda: "the credentials to reach the device\n" + dev.agent.log())
    mode = stat.S_IMODE(os.stat(creds_file(dev)).st_mode)
    assert mode == 0o600, oct(mode)
    return read_creds(dev)


def assert_nowhere(dev, *texts):
    """Neither password in texts, the agent's log and state (but registries.json), the
    server's log and data directory (the database holds it sealed), nor the API answers."""
    for t in texts:
        assert PASSWORD not in t and WRONG not in t
    api = [dev.server.api("GET", "/v1/registries"),
           dev.server.api("GET", "/v1/devices/%s" % dev.name),
           dev.server.api("GET", "/v1/devices/%s/status" % dev.name),
           dev.reports()]
    blobs = [json.dumps(api), dev.agent.log(whole=True),
             pathlib.Path(dev.server.log_path).read_bytes().decode(errors="replace")]
    for root, skip in ((dev.agent.state, creds_file(dev)), (dev.server.data, None)):
        for path in pathlib.Path(root).rglob("*"):
            if path.is_file() and path != skip:
                blobs.append(path.read_bytes().decode(errors="replace"))
    for b in blobs:
        assert PASSWORD not in b and WRONG not in b


def deploy_private(dev, ref):
    project = unique_name("privsrv")
    src = dev.compose_dir(project, {"web": {"image": ref, "restart": "always"}})
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    return project


def test_registries_add_then_deploy_a_private_image(env, device, private, tmp_path):
    dev = device
    addr, ref = private
    forget(env, ref)
    dev.m87("deployment", "new", "--active")
    add(dev, addr, PASSWORD, dev.name)
    start_agent(dev, tmp_path)
    doc = wait_creds(dev, PASSWORD)
    assert doc["registries"] == [{"host": addr, "username": USER, "password": PASSWORD}]
    # the agent logs the hosts once the file is written: wait for the line, not only the file
    dev.agent.wait_log("registry credentials from the server: %s" % addr, 30)

    project = deploy_private(dev, ref)
    dev.wait_applied()
    assert len(running_ids(dev.agent, project)) == 1

    # what the control plane shows: never the password
    listed = dev.cli.ok("registries", "list")
    assert addr in listed.out and USER in listed.out and dev.name in listed.out
    answer = json.loads(dev.cli.ok("registries", "list", "--json").out)
    assert [(e["host"], e["username"], e["device"]) for e in answer["registries"]] == [
        (addr, USER, dev.name)]
    assert set(answer["registries"][0]) == {"host", "username", "device", "select", "created",
                                            "updated"}
    assert_nowhere(dev, listed.out, listed.err)


def failed_steps(dev):
    return [r for r in dev.reports(kind="step")
            if r.get("state") == "failed" and "registry '" in (r.get("output") or "")]


def test_wrong_password_then_a_rotation_reaches_the_device(env, device, private, tmp_path):
    dev = device
    addr, ref = private
    forget(env, ref)
    dev.m87("deployment", "new", "--active")
    add(dev, addr, WRONG)  # every device
    start_agent(dev, tmp_path)
    first = wait_creds(dev, WRONG)
    dev.wait_applied()

    project = deploy_private(dev, ref)
    wait_for(lambda: failed_steps(dev), 120,
             lambda: "the refused pull to be reported\n" + dev.agent.log()[-4000:])
    out = failed_steps(dev)[-1]["output"]
    assert "registry '%s' (credentials from the m87 server ('%s')): pull image '%s': " % (
        addr, creds_file(dev), ref) in out, out
    assert "dockerd answered" in out and ("unauthorized" in out or "no basic auth" in out), out
    auth = "authentication failed: registry '%s' answered HTTP 401" % addr
    assert auth in out, out
    assert dev.agent.containers(project) == [], "half applied"
    status = dev.cli.run(dev.name, "deployment", "status")
    assert auth in status.out, status

    # the rotation: no new deployment; the agent is in its long-poll or between retries
    before = creds_file(dev).stat().st_mtime_ns
    add(dev, addr, PASSWORD)
    second = wait_creds(dev, PASSWORD, timeout=20)
    assert second["digest"] != first["digest"]
    assert creds_file(dev).stat().st_mtime_ns != before
    rev = dev.active_hash()
    wait_for(lambda: dev.agent.applied() == rev and len(running_ids(dev.agent, project)) == 1,
             180, lambda: "the retry to pull with the new password\n" + dev.agent.log()[-4000:])
    assert_nowhere(dev, status.out, status.err)

    # taken away again: the device forgets them
    dev.cli.ok("registries", "rm", addr)
    wait_for(lambda: read_creds(dev)["registries"] == [], 20,
             lambda: "the removal to reach the device\n" + dev.agent.log())
    assert dev.cli.ok("registries", "list", "--json").out.strip() == '{"registries":[]}'


def test_trusted_keys_take_unsigned_credentials(env, device, private, tmp_path):
    dev = device
    addr, ref = private
    forget(env, ref)
    pub, _ = keygen(dev.cli)  # the CLI signs every revision from now on
    dev.agent.extra_env["DOCKER_CONFIG"] = str(tmp_path)  # no config.json there
    dev.agent.start("--trust", str(pub))
    dev.m87("deployment", "new", "--active")
    dev.wait_applied()
    add(dev, addr, PASSWORD, dev.name)  # no signature: taken all the same
    wait_creds(dev, PASSWORD)
    project = deploy_private(dev, ref)
    dev.wait_applied()
    assert len(running_ids(dev.agent, project)) == 1
    assert_nowhere(dev)


def sync_registries(server, token, has=None):
    body = {"wait": 0}
    if has:
        body["registries"] = has
    return server.api("POST", "/v1/agent/sync", body=body, token=token).get("registries")


def test_server_sends_each_device_its_entries(env, device):
    dev = device
    server = dev.server
    other, other_token = dev.cli.ok("devices", "add", unique_name("gw"), "--json").out, None
    other = json.loads(other)
    other_name, other_token = other["name"], other["token"]
    assert sync_registries(server, dev.token) is None  # none yet: nothing sent

    dev.cli.ok("registries", "add", "reg.example:5000", "-u", "all", "--password-stdin",
               input="pw-all-" + PASSWORD)
    dev.cli.ok("registries", "add", "reg.example:5000", "-u", "own", "--password-stdin",
               "--device", dev.name, input="pw-own-" + PASSWORD)
    mine = sync_registries(server, dev.token)
    assert mine["entries"] == [{"host": "reg.example:5000", "username": "own",
                                "password": "pw-own-" + PASSWORD}]
    theirs = sync_registries(server, other_token)
    assert theirs["entries"] == [{"host": "reg.example:5000", "username": "all",
                                  "password": "pw-all-" + PASSWORD}]
    assert sync_registries(server, dev.token, mine["digest"]) is None  # unchanged: not sent

    # a device that does not exist, a bad host, no password: refused, nothing stored
    before = server.api("GET", "/v1/registries")
    r = dev.cli.run("registries", "add", "reg.example:5000", "-u", "x", "--password-stdin",
                    "--device", dev.name, "--device", "no-such-device", input=WRONG)
    assert r.rc != 0 and "no-such-device" in r.err and WRONG not in r.out + r.err, r
    r = dev.cli.run("registries", "add", "bad host/x", "-u", "x", "--password-stdin",
                    input=WRONG)
    assert r.rc == 2 and "host" in r.err and WRONG not in r.out + r.err, r
    r = dev.cli.run("registries", "add", "reg.example", "-u", "x", "--password-stdin", input="")
    assert r.rc == 2 and "empty" in r.err, r
    r = dev.cli.run("registries", "add", "reg.example", "-u", "x")
    assert r.rc == 2 and "--password-stdin" in r.err, r
    assert server.api("GET", "/v1/registries") == before
    assert sync_registries(server, dev.token, mine["digest"]) is None

    # the device's own entry removed: the every-device one applies to it again
    dev.cli.ok("registries", "rm", "reg.example:5000", "--device", dev.name)
    again = sync_registries(server, dev.token, mine["digest"])
    assert [e["username"] for e in again["entries"]] == ["all"]
    r = dev.cli.run("registries", "rm", "reg.example:5000", "--device", dev.name)
    assert r.rc != 0 and "no credentials" in r.err, r
    listed = [(e["host"], e["device"]) for e in server.api("GET", "/v1/registries")["registries"]]
    assert listed == [("reg.example:5000", None)]
    dev.cli.ok("devices", "rm", other_name)
    log = pathlib.Path(server.log_path).read_text(errors="replace")
    assert PASSWORD not in log and WRONG not in log


def test_selector_entries_follow_the_labels(env, device):
    """--select: the devices whose labels the selector selects get the entry, live: a device
    relabelled into it gets it at its next sync, one relabelled out falls back to the
    every-device entry; a device's own entry still wins, and the newest selector entry wins
    among those that select a device."""
    dev = device
    server = dev.server
    host = "sel.example:5000"
    dev.cli.ok("devices", "label", dev.name, "site=berlin", "hw=pi4")
    dev.cli.ok("registries", "add", host, "-u", "all", "--password-stdin", input="pw-all")
    r = dev.cli.ok("registries", "add", host, "-u", "berlin", "--password-stdin",
                   "--select", "site = berlin", input="pw-berlin")
    assert "for the devices of 'site = berlin'" in r.out, r
    got = sync_registries(server, dev.token)
    assert [e["username"] for e in got["entries"]] == ["berlin"]
    listed = dev.cli.ok("registries", "list").out
    assert "select site=berlin" in listed, listed  # canonical
    answer = server.api("GET", "/v1/registries")["registries"]
    assert [(e["device"], e["select"]) for e in answer] == [(None, None), (None, "site=berlin")]

    # a newer selector entry that selects the device wins over the older one
    dev.cli.ok("registries", "add", host, "-u", "pi4", "--password-stdin", "--select", "hw in (pi4)",
               input="pw-pi4")
    got = sync_registries(server, dev.token, got["digest"])
    assert [e["username"] for e in got["entries"]] == ["pi4"]
    # relabelled out of both: the every-device entry
    dev.cli.ok("devices", "label", dev.name, "site-", "hw=pi5")
    got = sync_registries(server, dev.token, got["digest"])
    assert [e["username"] for e in got["entries"]] == ["all"]
    # and back into one of them
    dev.cli.ok("devices", "label", dev.name, "site=berlin")
    got = sync_registries(server, dev.token, got["digest"])
    assert [e["username"] for e in got["entries"]] == ["berlin"]
    # its own entry wins over any selector
    dev.cli.ok("registries", "add", host, "-u", "own", "--password-stdin", "--device", dev.name,
               input="pw-own")
    got = sync_registries(server, dev.token, got["digest"])
    assert [e["username"] for e in got["entries"]] == ["own"]

    # bad selectors and both scopes at once are refused before anything is sent
    before = server.api("GET", "/v1/registries")
    r = dev.cli.run("registries", "add", host, "-u", "x", "--password-stdin", "--select",
                    "site in (a,b", input="pw-x")
    assert r.rc == 2 and "column 13: expected ')'" in r.err, r
    r = dev.cli.run("registries", "add", host, "-u", "x", "--password-stdin", "--select",
                    "site=a", "--device", dev.name, input="pw-x")
    assert r.rc == 2 and "give one of them" in r.err, r
    status, _, data = server.request("POST", "/v1/registries", body={
        "host": host, "username": "x", "password": "pw-x", "select": "site in (a,b"})
    assert status == 400 and b"select: column 13" in data, data
    assert server.api("GET", "/v1/registries") == before

    # rm --select removes that entry only
    dev.cli.ok("registries", "rm", host, "--select", "site=berlin")
    left = [(e["device"], e["select"]) for e in server.api("GET", "/v1/registries")["registries"]]
    assert left == [(None, None), (None, "hw in (pi4)"), (dev.name, None)], left
    r = dev.cli.run("registries", "rm", host, "--select", "site=berlin")
    assert r.rc != 0 and "for that selector" in r.err, r


def test_sessions_and_prefetch_pull_with_the_servers_credentials(env, device, private,
                                                                 tmp_path):
    """The server's entries serve every pull of the device, not only deploys: a session's
    `docker compose pull` and a prefetch of the private image."""
    dev = device
    addr, ref = private
    forget(env, ref)
    dev.m87("deployment", "new", "--active")
    add(dev, addr, PASSWORD, dev.name)
    start_agent(dev, tmp_path)
    wait_creds(dev, PASSWORD)

    project = unique_name("privses")
    src = dev.compose_dir(project, {"web": {"image": ref}})
    r = dev.cli.run(dev.name, "docker", "compose", "-p", project, "pull", cwd=src, timeout=180)
    assert r.rc == 0, r
    status, _ = env.docker_api("GET", "/v1.41/images/%s/json" % ref)
    assert status == 200

    forget(env, ref)
    dev.m87("prefetch", ref)

    def done():
        st = dev.server.api("GET", "/v1/devices/%s/prefetch" % dev.name)
        e = next(e for e in st["prefetch_images"] if e["image"] == ref)
        assert e["state"] != "failed", e
        return e["state"] == "done"
    wait_for(done, 120, lambda: "the prefetch\n" + dev.agent.log()[-3000:])
    status, _ = env.docker_api("GET", "/v1.41/images/%s/json" % ref)
    assert status == 200
    assert_nowhere(dev, r.out, r.err)
