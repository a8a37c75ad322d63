"""A bundle download over a link that the fault proxy cuts every few KB: the agent resumes with
Range where each connection stopped (the server's log shows 206 answers), checks the digest,
and the apply succeeds with the bundled file in place. Bundles no revision or job uses any
more are removed after an apply."""

import hashlib
import os
import re

import pytest

from agent_util import Device, assert_reports_complete, device, wait_for  # noqa: F401 (fixture)
from cli_util import BUILD, Server
from compose_util import unique_name
from faultproxy import FaultProxy

CUT_BYTES = 16384
BUNDLED = 1024 * 1024


@pytest.fixture
def own_server(tmp_path):
    s = Server(tmp_path / "server").start()
    yield s
    s.stop()


def test_bundle_download_resumes_after_cuts(env, own_server, tmp_path):
    proxy_bin = BUILD / "tests" / "tools" / "m87-faultproxy"
    with FaultProxy(proxy_bin, "127.0.0.1", own_server.port) as proxy:
        dev = Device(env, own_server, tmp_path, backoff_max_ms=200,
                     server_url="http://127.0.0.1:%d" % proxy.port)
        try:
            run(env, dev, proxy, own_server)
        finally:
            dev.cleanup()


def run(env, dev, proxy, server):
    project = unique_name("bun")
    src = dev.compose_dir(project, {"web": {
        "image": env.small_image, "restart": "always",
        "volumes": ["./blob.bin:/blob.bin:ro"]}})
    blob = os.urandom(BUNDLED)
    (src / "blob.bin").write_bytes(blob)
    dev.m87("deployment", "new", "--active")
    out = dev.m87("deploy", "docker-compose.yml", cwd=src)
    assert "blob.bin" in out.err, out  # the CLI lists what it bundled
    spec = dev.server.api("GET", "/v1/devices/%s/deployments/%s" % (
        dev.name, dev.server.api("GET", "/v1/devices/%s" % dev.name)["active_deployment"]["id"]))
    digest = spec["spec"]["jobs"][0]["bundle"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)

    proxy.cut(CUT_BYTES)
    dev.agent.start()
    dev.wait_applied(300)

    stats = proxy.stats()
    assert stats["cuts"] >= BUNDLED // CUT_BYTES // 2, stats
    log = server.log_path.read_text()
    ranged = re.findall(r"GET /v1/bundles/%s 206 " % re.escape(digest), log)
    assert len(ranged) >= BUNDLED // CUT_BYTES // 2, log[-3000:]
    assert "download bundle '%s'" % digest in dev.agent.log()

    kept = dev.agent.state / "bundles" / ("sha256-%s.tar.gz" % digest[7:])
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == digest[7:]
    assert not kept.with_name(kept.name + ".part").exists()
    assert (dev.agent.state / "workdirs" / project / "blob.bin").read_bytes() == blob
    running = [c for c in dev.agent.containers(project) if c["State"] == "running"]
    assert len(running) == 1

    proxy.pass_through()
    wait_for(lambda: dev.agent.journal() == [], 60, "the queue to drain")
    assert_reports_complete(dev)
    jobs = [r for r in dev.reports(kind="job", job=project)]
    assert jobs[-1]["state"] == "succeeded", jobs


def bundle_digest(dev):
    dep = dev.server.api("GET", "/v1/devices/%s" % dev.name)["active_deployment"]["id"]
    spec = dev.server.api("GET", "/v1/devices/%s/deployments/%s" % (dev.name, dep))
    return spec["spec"]["jobs"][0]["bundle"]


def test_unused_bundles_are_removed_after_an_apply(env, device):  # noqa: F811
    dev = device
    bundles = dev.agent.state / "bundles"
    project = unique_name("bgc")
    src = dev.compose_dir(project, {"web": {
        "image": env.small_image, "restart": "always", "volumes": ["./a.bin:/a.bin:ro"]}})
    (src / "a.bin").write_bytes(b"\x00one")  # binary: it goes in a bundle
    dev.m87("deployment", "new", "--active")
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.agent.start()
    dev.wait_applied()
    first = "sha256-%s.tar.gz" % bundle_digest(dev)[7:]
    assert sorted(os.listdir(bundles)) == [first]
    # an abandoned partial download of a bundle nobody wants any more
    stale = "sha256-%s.tar.gz.part" % ("e" * 64)
    (bundles / stale).write_bytes(b"partial")

    (src / "a.bin").write_bytes(b"\x00two")
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.wait_applied()
    second = "sha256-%s.tar.gz" % bundle_digest(dev)[7:]
    assert second != first
    wait_for(lambda: sorted(os.listdir(bundles)) == [second], 30,
             lambda: "only the applied bundle: %s\n%s" % (os.listdir(bundles),
                                                           dev.agent.log()[-2000:]))
    assert "removed bundle %s" % first in dev.agent.log()
    assert (dev.agent.state / "workdirs" / project / "a.bin").read_bytes() == b"\x00two"

    dev.m87("undeploy", project)
    dev.wait_applied()
    wait_for(lambda: os.listdir(bundles) == [], 30, lambda: str(os.listdir(bundles)))
    assert dev.agent.containers(project) == []
