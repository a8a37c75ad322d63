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
    assert "registry credentials from the server: %s" % addr in dev.agent.log()

    project = deploy_private(dev, ref)
    dev.wait_applied()
    assert len(running_ids(dev.agent, project)) == 1

    # what the control plane shows: never the password
    listed = dev.cli.ok("registries", "list")
    assert addr in listed.out and USER in listed.out and dev.name in listed.out
    answer = json.loads(dev.cli.ok("registries", "list", "--json").out)
    assert [(e["host"], e["username"], e["device"]) for e in answer["registries"]] == [
        (addr, USER, dev.name)]
    assert set(answer["registries"][0]) == {"host", "username", "device", "created", "updated"}
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
