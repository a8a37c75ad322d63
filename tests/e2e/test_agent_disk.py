"""The free-space check before pulls: with min_free_bytes above what is free where dockerd
keeps its images, a new revision is refused with a job report saying so, nothing is pulled and
the running workload is left alone; with room again, the same revision applies."""


from agent_util import device, own_server, running_ids, wait_for  # noqa: F401 (fixtures)
from compose_util import API, unique_name


def image_present(env, ref):
    status, _ = env.docker_api("GET", API + "/images/%s/json" % ref)
    return status == 200


def test_apply_refused_without_free_space(env, device):
    dev = device
    project = unique_name("disk")
    src = dev.compose_dir(project, {"web": {"image": env.small_image, "restart": "always"}})
    dev.agent.start()
    dev.m87("deployment", "new", "--active")
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.wait_applied()
    before = running_ids(dev.agent, project)
    assert len(before) == 1

    assert dev.agent.stop() == 0
    dev.agent.config["min_free_bytes"] = "1000TiB"
    dev.agent.start()
    new = env.build_small_image(3, tag=unique_name("d")).ref
    assert not image_present(env, new)
    src = dev.compose_dir(project, {"web": {"image": new, "restart": "always"}})
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    want = dev.active_hash()

    def refused():
        return [r for r in dev.reports(kind="job", job=project)
                if r["state"] == "failed" and r["revision"] == want]
    recs = wait_for(refused, 120, "the refusal\n" + dev.agent.log()[-3000:])
    status, info = env.docker_api("GET", API + "/info")
    assert status == 200
    msg = recs[0]["message"]
    assert msg.startswith("not enough free space on %s: " % info["DockerRootDir"]), msg
    assert msg.endswith(" free, 1000.0 TiB needed"), msg
    assert "apply refused: not enough free space" in dev.agent.log()
    assert not image_present(env, new)  # nothing pulled
    assert running_ids(dev.agent, project) == before  # nothing stopped
    assert dev.agent.applied() != want  # and tried again later

    assert dev.agent.stop() == 0
    dev.agent.config["min_free_bytes"] = "0"
    dev.agent.start()
    dev.wait_applied()
    wait_for(lambda: dev.reports(kind="job", job=project)[-1]["state"] == "succeeded", 120,
             "the job to succeed\n" + dev.agent.log()[-3000:])
    assert image_present(env, new)
