"""Image pruning after a successful apply: with keep_previous = 1 (the default), after a third
revision with another image the second revision's image is kept and the first one's removed;
images the agent's jobs never used are left alone; a rollback to the second revision while the
registry refuses connections succeeds from the kept image."""

import pytest

from agent_util import Device, running_ids, wait_for
from cli_util import BUILD, Server
from compose_util import API, unique_name
from faultproxy import FaultProxy


@pytest.fixture
def own_server(tmp_path):
    s = Server(tmp_path / "server").start()
    yield s
    s.stop()


@pytest.fixture
def proxy(env):
    host, port = env.registry.rsplit(":", 1)
    with FaultProxy(BUILD / "tests" / "tools" / "m87-faultproxy", host, int(port)) as p:
        yield p


@pytest.fixture
def device(env, own_server, tmp_path):
    dev = Device(env, own_server, tmp_path, backoff_max_ms=300)
    yield dev
    dev.cleanup()


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


def test_prune_keeps_previous_and_rollback_needs_no_pull(env, device, proxy):
    dev = device
    project = unique_name("pr")
    via = "127.0.0.1:%d" % proxy.port
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

    proxy.refuse()
    deploy(dev, project, b)  # the rollback: no pull needed
    assert "using the images present" in dev.agent.log()
    assert image_present(env, c)  # now the previous revision's
    assert image_present(env, other)
