"""A device that restarts: after a normal restart of the agent nothing is touched (same
containers, not restarted); after the agent and the workload's containers were killed (a
reboot without dockerd's restart) and the agent starts while the server is unreachable, the
workload comes back from local state alone, with the same containers (started, not
recreated)."""


import pytest

from agent_util import assert_reports_complete, device, own_server, running_ids, wait_for  # noqa: F401 (fixtures)
from compose_util import API, unique_name


def started_at(env, cids):
    out = {}
    for cid in cids:
        status, data = env.docker_api("GET", API + "/containers/%s/json" % cid)
        assert status == 200, data
        out[cid] = data["State"]["StartedAt"]
    return out


def test_restart_and_reboot_offline(env, device):
    dev = device
    dev.agent.start()
    dev.m87("deployment", "new", "--active")
    project = unique_name("rb")
    src = dev.compose_dir(project, {
        "web": {"image": env.small_image, "restart": "always"},
        "db": {"image": env.small_image_2, "restart": "always"}})
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    want = dev.wait_applied()
    ids = running_ids(dev.agent, project)
    assert len(ids) == 2
    started = started_at(env, ids)

    # a normal restart: the stored target is applied again, nothing is touched
    assert dev.agent.stop() == 0
    dev.agent.start()
    dev.agent.wait_log("applied revision")
    assert "unchanged" in dev.agent.log()
    assert running_ids(dev.agent, project) == ids
    assert started_at(env, ids) == started

    # a reboot: agent and containers die, the server is gone when the agent comes back
    dev.agent.kill()
    for cid in ids:
        status, data = env.docker_api("POST", API + "/containers/%s/kill" % cid)
        assert status == 204, data
    wait_for(lambda: running_ids(dev.agent, project) == [], 30, "the containers to die")
    dev.server.stop()
    dev.agent.start()
    dev.agent.wait_log("applied revision", timeout=180)
    log = dev.agent.log()
    assert "stored target revision" in log
    assert "running its steps again" in log, log
    assert "sync:" in log and "connected to" not in log, log  # the server was never reached
    assert running_ids(dev.agent, project) == ids  # started again, not recreated
    assert all(started_at(env, ids)[c] != started[c] for c in ids)
    assert dev.agent.daemon_state()["applied"]["hash"] == want

    # the server comes back: the reports of the offline apply reach it
    dev.server.start()
    wait_for(lambda: dev.agent.journal() == [], 60, "the queue to drain\n" + dev.agent.log())
    assert_reports_complete(dev)
    assert running_ids(dev.agent, project) == ids


def test_removed_containers_come_back_at_start(env, device):
    """Containers removed while the agent was down (by hand, or a dockerd that lost them) are
    made again at its next start: the job had them when it succeeded."""
    dev = device
    dev.agent.start()
    dev.m87("deployment", "new", "--active")
    project = unique_name("rm")
    src = dev.compose_dir(project, {"web": {"image": env.small_image, "restart": "always"}})
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.wait_applied()
    [old] = running_ids(dev.agent, project)

    assert dev.agent.stop() == 0
    status, data = env.docker_api("DELETE", API + "/containers/%s?force=1" % old)
    assert status == 204, data
    dev.agent.start()
    dev.agent.wait_log("applied revision")
    log = dev.agent.log()
    assert "its containers are gone (it had 1); running its steps again" in log, log
    [new] = running_ids(dev.agent, project)
    assert new != old


def test_reboot_with_dockerd_restarted(env, device):
    """A whole reboot: the agent dies, dockerd stops and starts again (its containers stopped,
    none restarts itself), the server is unreachable; the agent brings the workload back from
    local state, starting the same containers, not recreating them."""
    if env.dockerd is None:
        pytest.skip("the tests use a dockerd they did not start: it cannot be restarted")
    dev = device
    dev.agent.start()
    dev.m87("deployment", "new", "--active")
    project = unique_name("dr")
    src = dev.compose_dir(project, {"web": {"image": env.small_image, "restart": "no"}})
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    want = dev.wait_applied()
    ids = running_ids(dev.agent, project)

    dev.agent.kill()
    dev.server.stop()
    env.dockerd.restart()
    assert running_ids(dev.agent, project) == []
    dev.agent.start()
    dev.agent.wait_log("applied revision", timeout=180)
    log = dev.agent.log()
    assert "running its steps again" in log and "connected to" not in log, log
    assert running_ids(dev.agent, project) == ids
    assert dev.agent.daemon_state()["applied"]["hash"] == want
