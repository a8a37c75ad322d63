"""The registry out of reach, through the fault proxy in front of the harness's registry (the
images are referenced by the proxy's address, 127.0.0.1:PORT, which dockerd treats as an
insecure registry like every loopback address):

- a device restarted while the registry refuses connections, its workload's containers killed,
  brings the workload back from the images it has (the job's `pull` step does not stop it);
- a new revision applied while the registry refuses connections is retried by the daemon on
  its own and succeeds once the registry answers again."""


from agent_util import device, own_server, registry_proxy, running_ids, wait_for  # noqa: F401 (fixtures)
from compose_util import API, unique_name

DEVICE_BACKOFF_MAX_MS = 300


def fresh_image(env, proxy, version):
    """A tag no dockerd has seen, referenced through the proxy."""
    info = env.build_small_image(version, tag=unique_name("t"))
    return info.ref.replace(env.registry, "127.0.0.1:%d" % proxy.port, 1)


def job_state(dev, job):
    jobs = {j["id"]: j for j in dev.agent.status_json()["jobs"]}
    return jobs.get(job)


def image_of(env, cid):
    status, data = env.docker_api("GET", API + "/containers/%s/json" % cid)
    assert status == 200, data
    return data["Config"]["Image"]


def test_restart_offline_with_registry_refused(env, device, registry_proxy):
    dev = device
    project = unique_name("reg")
    image = fresh_image(env, registry_proxy, 1)
    src = dev.compose_dir(project, {"web": {"image": image, "restart": "always"}})
    dev.agent.start()
    dev.m87("deployment", "new", "--active")
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.wait_applied()
    ids = running_ids(dev.agent, project)
    assert len(ids) == 1

    dev.agent.kill()
    for cid in ids:
        status, data = env.docker_api("POST", API + "/containers/%s/kill" % cid)
        assert status == 204, data
    wait_for(lambda: running_ids(dev.agent, project) == [], 30, "the container to die")
    registry_proxy.refuse()
    dev.agent.start()
    dev.agent.wait_log("applied revision", timeout=180)
    log = dev.agent.log()
    assert "running its steps again" in log, log
    assert "using the images present" in log, log  # the pull was tried, and refused
    assert running_ids(dev.agent, project) == ids  # started again, not recreated
    assert job_state(dev, project)["state"] == "succeeded"


def test_pull_completes_after_the_registry_returns(env, device, registry_proxy):
    dev = device
    project = unique_name("reg")
    old = fresh_image(env, registry_proxy, 1)
    src = dev.compose_dir(project, {"web": {"image": old, "restart": "always"}})
    dev.agent.start()
    dev.m87("deployment", "new", "--active")
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.wait_applied()
    first = running_ids(dev.agent, project)

    registry_proxy.refuse()
    new = fresh_image(env, registry_proxy, 2)
    src = dev.compose_dir(project, {"web": {"image": new, "restart": "always"}})
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    want = dev.active_hash()
    # the pull fails while the registry refuses; the old container is left running
    def refused():
        return [r for r in dev.reports(kind="step", job=project) if r["revision"] == want and
                r["step"] == "pull" and r["state"] == "failed"]
    failed = wait_for(refused, 120, "a refused pull\n" + dev.agent.log()[-3000:])
    assert "connection refused" in failed[0]["output"], failed[0]
    assert running_ids(dev.agent, project) == first
    assert image_of(env, first[0]) == old

    registry_proxy.pass_through()

    def converged():
        job = job_state(dev, project)
        ids = running_ids(dev.agent, project)
        return (job and job["state"] == "succeeded" and dev.agent.applied() == want and
                len(ids) == 1 and image_of(env, ids[0]) == new)
    wait_for(converged, 240, "the new revision to run\n" + dev.agent.log()[-4000:])
    steps = [r for r in dev.agent.status_json()["jobs"] if r["id"] == project][0]["steps"]
    assert [s["state"] for s in steps if s["name"] == "pull"] == ["succeeded"]
