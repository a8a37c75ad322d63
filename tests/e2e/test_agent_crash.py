"""The agent killed with SIGKILL at 20 random moments while it deploys, updates and undeploys a
compose stack: after each restart the device converges to the target (exactly one running
container per service, the target's configuration, no orphans, nothing left after an undeploy)
and the server holds every report the agent journaled exactly once (seqs 1..N)."""

import random
import time

import pytest

from agent_util import Device, assert_reports_complete, wait_for
from cli_util import server  # noqa: F401  (pytest fixture)
from compose_util import API, unique_name

# (what, version, services, kills while the agent works on it): 20 kills in all
ROUNDS = [("deploy", "v1", ("web", "db"), 3), ("update", "v2", ("web", "db"), 3),
          ("update", "v3", ("web", "cache"), 3), ("undeploy", None, (), 3),
          ("deploy", "v4", ("web", "db"), 3), ("update", "v5", ("web", "db"), 3),
          ("undeploy", None, (), 2)]


@pytest.fixture
def device(env, server, tmp_path):  # noqa: F811
    dev = Device(env, server, tmp_path)
    yield dev
    dev.cleanup()


def services(env, version, names):
    images = {"web": env.small_image, "db": env.small_image_2, "cache": env.small_image}
    return {n: {"image": images[n], "restart": "always", "environment": {"VERSION": version}}
            for n in names}


def check_converged(env, dev, project, version, names):
    containers = dev.agent.containers(project)
    by_service = {}
    for c in containers:
        by_service.setdefault(c["Labels"]["com.docker.compose.service"], []).append(c)
    assert sorted(by_service) == sorted(names), by_service  # no orphans, nothing missing
    for name, cs in by_service.items():
        assert len(cs) == 1, (name, cs)
        assert cs[0]["State"] == "running", cs
        status, data = env.docker_api("GET", API + "/containers/%s/json" % cs[0]["Id"])
        assert status == 200
        assert "VERSION=%s" % version in data["Config"]["Env"], data["Config"]["Env"]


def test_sigkill_at_random_moments(env, device):
    dev = device
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    print("random seed %d" % seed)  # shown with a failure, to replay the kill moments
    dev.agent.start()
    dev.m87("deployment", "new", "--active")
    project = unique_name("cr")
    src = dev.tmp / "src" / project
    kills = 0
    for what, version, names, n_kills in ROUNDS:
        if what == "undeploy":
            dev.m87("undeploy", project)
        else:
            dev.compose_dir(project, services(env, version, names))
            dev.m87("deploy", "docker-compose.yml", cwd=src)
        for _ in range(n_kills):
            time.sleep(rng.uniform(0.05, 2.0))
            dev.agent.kill()
            kills += 1
            dev.agent.start()
        dev.wait_applied(240)
        if what == "undeploy":
            wait_for(lambda: dev.agent.containers(project) == [], 30, "the stack to go")
        else:
            check_converged(env, dev, project, version, names)
        jobs = [r for r in dev.reports(kind="job", job=project)]
        assert jobs and jobs[-1]["state"] in ("succeeded", "removed"), (seed, jobs[-3:])
    assert kills == 20
    wait_for(lambda: dev.agent.journal() == [], 60, "the queue to drain")
    assert_reports_complete(dev)
