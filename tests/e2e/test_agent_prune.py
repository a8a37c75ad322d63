"""Image pruning after a successful apply: with keep_previous = 1 (the default), after a third
revision with another image the second revision's image is kept and the first one's removed;
images the agent's jobs never used are left alone; a rollback to the second revision while the
registry refuses connections succeeds from the kept image."""


from agent_util import device, own_server, registry_proxy, running_ids, wait_for  # noqa: F401 (fixtures)
from compose_util import API, unique_name

DEVICE_BACKOFF_MAX_MS = 300


def image_present(env, ref):
    status, _ = env.docker_api("GET", API + "/images/%s/json" % ref)
    return status == 200


def deploy(dev, project, image):
    src = dev.compose_dir(project, {"web": {"image": image, "restart": "always"}})
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    want = dev.active_hash()

    def done():
        jobs = [r for r in dev.reports(kind="job", job=project) if r["revision"] == want]
        return dev.agent.applied() == want and jobs and jobs[-1]["state"] == "succeeded"
    wait_for(done, 180, "revision %s to succeed\n%s" % (want, dev.agent.log()[-3000:]))
    [cid] = running_ids(dev.agent, project)
    status, data = dev.env.docker_api("GET", API + "/containers/%s/json" % cid)
    assert data["Config"]["Image"] == image
    return want


def test_prune_keeps_previous_and_rollback_needs_no_pull(env, device, registry_proxy):
    dev = device
    project = unique_name("pr")
    via = "127.0.0.1:%d" % registry_proxy.port
    a, b, c, other = (env.build_small_image(v, tag=unique_name("p")).ref.replace(
        env.registry, via, 1) for v in (1, 2, 3, 4))
    env.pull(other)  # on the device, but no job of the agent's uses it
    dev.agent.start()
    dev.m87("deployment", "new", "--active")
    deploy(dev, project, a)
    deploy(dev, project, b)
    assert image_present(env, a) and image_present(env, b)  # a is the kept previous one
    deploy(dev, project, c)
    wait_for(lambda: not image_present(env, a), 30, "image a to go\n" + dev.agent.log()[-3000:])
    assert "removed image %s" % a in dev.agent.log()
    assert image_present(env, b) and image_present(env, c)
    assert image_present(env, other)

    registry_proxy.refuse()
    deploy(dev, project, b)  # the rollback: no pull needed
    assert "using the images present" in dev.agent.log()
    assert image_present(env, c)  # now the previous revision's
    assert image_present(env, other)
