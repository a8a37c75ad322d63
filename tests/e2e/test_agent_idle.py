"""An idle device: the daemon long-polls with a long wait, and news it has while the server holds
the request (here a container turning unhealthy) ends the wait instead of waiting for it."""

import time

from agent_util import device, exec_in, own_server, running_ids, wait_for  # noqa: F401 (fixtures)
from compose_util import unique_name


def metrics(server):
    status, _, body = server.request("GET", "/metrics")
    assert status == 200
    return body.decode().splitlines()


def answered(server):
    """Sync answers (and every other request) the server has given so far."""
    return sum(int(line.split()[1]) for line in metrics(server)
               if line.startswith("m87_http_requests_total{"))


def wait_quiet(dev, seconds):
    """Until no request has been answered for `seconds` while a sync is held: the agent is in
    its long idle wait (the 2 s waits of a device whose logs flow answer every 2 s)."""
    def quiet():
        before = answered(dev.server)
        time.sleep(seconds)
        # the metrics request itself is answered once per look
        # (a request the agent ended counts as held until its wait is over: libmicrohttpd does
        # not watch the socket of a suspended connection)
        return answered(dev.server) == before + 1 and held(dev.server) >= 1
    wait_for(quiet, 120, "an idle long-poll held\n" + dev.agent.log()[-3000:], interval=0)


def held(server):
    for line in metrics(server):
        if line.startswith("m87_longpolls_held "):
            return int(line.split()[1])
    raise AssertionError("no m87_longpolls_held")


def test_a_health_change_ends_the_held_long_poll(env, device):
    dev = device
    project = unique_name("idle")
    src = dev.compose_dir(project, {"web": {
        "image": env.small_image, "restart": "always", "command": ["sleep", "100000"],
        # the check is instant; the long timeout keeps a slow docker exec on a busy dockerd
        # from counting as a failed check (retries 1: one would make it unhealthy)
        "healthcheck": {"test": ["CMD", "sh", "-c", "! test -e /tmp/sick"],
                        "interval": "1s", "timeout": "10s", "retries": 1}}})
    # the short waits while logs flow last 30 s after an apply; 3 s here, as nothing logs
    dev.agent.extra_env["M87_AGENT_LOGS_ACTIVE_MS"] = "3000"
    dev.agent.start("--debug")
    dev.m87("deployment", "new", "--active")
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.wait_applied()
    [cid] = running_ids(dev.agent, project)

    wait_quiet(dev, 5)
    exec_in(env, cid, ["touch", "/tmp/sick"])
    # the wait asked for is 120 s: the record comes before it ends, on a new request
    wait_for(lambda: dev.reports(kind="health", job=project), 110, "a health record\n" +
             dev.agent.log()[-3000:])
    assert "long-poll ended early: records to send" in dev.agent.log()
    rec = dev.reports(kind="health", job=project)[0]
    assert rec["state"] == "unhealthy" and rec["container_id"] == cid
    # and the daemon goes back to its idle wait afterwards, on one request at a time
    wait_quiet(dev, 5)
