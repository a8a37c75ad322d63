"""The seed document's quick start, command for command, with the real CLI, server, agent and
dockerd: deployment new --active, deploy a compose file, status --logs, update by deploying a
changed file (only the changed service is recreated), undeploy (containers gone), rollback by
clone --active (the stack comes back as it was)."""

import pytest

from agent_util import Device, assert_reports_complete, wait_for
from cli_util import server  # noqa: F401  (pytest fixture)
from compose_util import API, unique_name


def inspect(env, cid):
    status, data = env.docker_api("GET", API + "/containers/%s/json" % cid)
    assert status == 200, data
    return data


def by_service(dev, project):
    out = {}
    for c in dev.agent.containers(project):
        out.setdefault(c["Labels"]["com.docker.compose.service"], []).append(c)
    return out


@pytest.fixture
def device(env, server, tmp_path):  # noqa: F811
    dev = Device(env, server, tmp_path)
    yield dev
    dev.cleanup()


def stack(env, greeting):
    return {"web": {"image": env.small_image, "restart": "always",
                    "environment": {"GREETING": greeting}},
            "db": {"image": env.small_image_2, "restart": "always"}}


def test_quick_start_command_for_command(env, device):
    dev = device
    dev.agent.start()
    out = dev.m87("deployment", "new", "--active").out
    assert "is now the active deployment of %s" % dev.name in out
    dep_id = out.split()[2]

    # deploy docker-compose.yml from its directory
    project = unique_name("qs")
    src = dev.compose_dir(project, stack(env, "one"))
    out = dev.m87("deploy", "docker-compose.yml", cwd=src).out
    assert "deployed job '%s' to %s" % (project, dev.name) in out
    dev.wait_applied()
    svc = by_service(dev, project)
    assert sorted(svc) == ["db", "web"]
    assert all(len(v) == 1 and v[0]["State"] == "running" for v in svc.values()), svc
    web1, db1 = svc["web"][0]["Id"], svc["db"][0]["Id"]
    assert "GREETING=one" in inspect(env, web1)["Config"]["Env"]

    # status --logs: the job succeeded, its steps and their output are shown
    st = dev.m87("deployment", "status", "--logs").out
    row = [line for line in st.splitlines() if line.startswith(project + " ")]
    assert row and "succeeded" in row[0], st
    assert "--- %s/up (steps, attempt 1) ---" % project in st, st
    assert "--- %s/pull (steps, attempt 1) ---" % project in st, st

    # update: only the changed service is recreated
    dev.compose_dir(project, stack(env, "two"))
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.wait_applied()
    svc = by_service(dev, project)
    assert svc["db"][0]["Id"] == db1 and len(svc["db"]) == 1
    assert len(svc["web"]) == 1 and svc["web"][0]["Id"] != web1
    web2 = svc["web"][0]["Id"]
    assert "GREETING=two" in inspect(env, web2)["Config"]["Env"]
    assert svc["web"][0]["State"] == "running"
    revision_with_stack = dev.server.api(
        "GET", "/v1/devices/%s/deployments/%s" % (dev.name, dep_id))["revision"]

    # undeploy: the stop step runs, the containers go
    out = dev.m87("undeploy", project).out
    assert "removed job '%s'" % project in out
    dev.wait_applied()
    assert dev.agent.containers(project) == []
    assert not (dev.agent.state / "workdirs" / project).exists()
    stops = dev.reports(kind="step", job=project)
    assert any(r["phase"] == "stop" and r["state"] == "succeeded" for r in stops), stops

    # rollback: clone the revision that had the stack, activated at once
    out = dev.m87("deployment", "clone", "%s@%d" % (dep_id, revision_with_stack),
                  "--active").out
    assert "is now the active deployment of %s" % dev.name in out
    dev.wait_applied()
    svc = by_service(dev, project)
    assert sorted(svc) == ["db", "web"]
    assert all(len(v) == 1 and v[0]["State"] == "running" for v in svc.values()), svc
    assert "GREETING=two" in inspect(env, svc["web"][0]["Id"])["Config"]["Env"]
    st = dev.m87("deployment", "status").out
    assert "succeeded" in st

    wait_for(lambda: dev.agent.journal() == [], 30, "the queue to drain")
    assert_reports_complete(dev)
    status = dev.agent.status().stdout
    assert "daemon     running" in status and "connected to" in status, status
    assert dev.agent.stop() == 0
