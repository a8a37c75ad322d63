"""Health-change reports of the device daemon: a container of an applied job that turns
unhealthy and back produces exactly two "health" records (unhealthy, then running), not one per
look; a restarted daemon does not report again what it reported before."""

import time


from agent_util import device, exec_in, own_server, running_ids, wait_for  # noqa: F401 (fixtures)
from compose_util import API, unique_name


def health_status(env, cid):
    status, data = env.docker_api("GET", API + "/containers/%s/json" % cid)
    assert status == 200, data
    return data["State"]["Health"]["Status"]


def health_records(dev, job):
    return [r for r in dev.reports(kind="health", job=job)]


def test_unhealthy_and_back_gives_two_records(env, device):
    dev = device
    project = unique_name("hl")
    src = dev.compose_dir(project, {"web": {
        "image": env.small_image, "restart": "always",
        # the check is instant; the long timeout keeps a slow docker exec on a busy dockerd
        # from counting as a failed check (retries 1: one would make it unhealthy)
        "healthcheck": {"test": ["CMD", "sh", "-c", "! test -e /tmp/sick"],
                        "interval": "1s", "timeout": "10s", "retries": 1}}})
    dev.agent.start()
    dev.m87("deployment", "new", "--active")
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.wait_applied()
    [cid] = running_ids(dev.agent, project)
    assert health_status(env, cid) == "healthy"
    time.sleep(3)  # several looks at a healthy container: no record
    assert health_records(dev, project) == []

    exec_in(env, cid, ["touch", "/tmp/sick"])
    wait_for(lambda: health_records(dev, project), 60, "a health record\n" +
             dev.agent.log()[-3000:])
    exec_in(env, cid, ["rm", "/tmp/sick"])
    wait_for(lambda: len(health_records(dev, project)) >= 2, 60, "the second health record")
    time.sleep(3)  # healthy again for a while: nothing more
    recs = health_records(dev, project)
    assert [r["state"] for r in recs] == ["unhealthy", "running"], recs
    assert all(r["service"] == "web" and r["container_id"] == cid for r in recs)
    assert "is unhealthy" in recs[0]["message"]

    # a restart looks again and finds nothing new to say
    assert dev.agent.stop() == 0
    dev.agent.start()
    dev.agent.wait_log("applied revision")
    wait_for(lambda: dev.agent.journal() == [] and
             (dev.agent.daemon_state() or {}).get("connected"), 60, "the queue to drain")
    time.sleep(3)
    assert [r["state"] for r in health_records(dev, project)] == ["unhealthy", "running"]
