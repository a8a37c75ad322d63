"""Tests of the end-to-end harness itself: the private dockerd answers, the registry
holds the pushed images, dockerd can pull and run them, the layers image has the
requested shape, reuse through M87_TEST_* works, and a stopped instance leaves no
processes, mounts, interfaces or files behind."""

import fcntl
import gzip
import hashlib
import io
import ipaddress
import json
import os
import subprocess
import tarfile
import time
import urllib.request

import pytest

from harness import TestEnv
from harness import procs
from harness.dockerd import SLOT_DIR
from harness.registry import MEDIA_CONFIG, MEDIA_LAYER, MEDIA_MANIFEST_V2


def _version_tuple(v):
    return tuple(int(x) for x in v.split("."))


def test_dockerd_ping_and_api_version(env):
    status, headers, body = env.docker.request_full("GET", "/_ping")
    assert status == 200
    assert body == b"OK"
    assert _version_tuple(headers["Api-Version"]) >= (1, 41)
    status, version = env.docker_api("GET", "/version")
    assert status == 200
    assert _version_tuple(version["ApiVersion"]) >= (1, 41)
    assert version["Os"] == "linux"


def test_dockerd_is_private(env):
    if env.dockerd is None:
        pytest.skip("reusing an external dockerd")
    status, info = env.docker_api("GET", "/info")
    assert status == 200
    assert info["DockerRootDir"] == os.path.join(env.tmpdir, "data")
    assert env.docker_sock.startswith(env.tmpdir + "/")
    assert len(env.docker_sock) < 108
    assert env.docker_host == "unix://" + env.docker_sock
    # The default bridge is the slot's own interface, not docker0.
    status, bridge = env.docker_api("GET", "/networks/bridge")
    assert status == 200
    assert bridge["Options"]["com.docker.network.bridge.name"] == env.dockerd.slot.bridge
    assert env.dockerd.slot.problems == []  # FORWARD rules in place


def test_registry_catalog_lists_pushed_repos(env):
    repos = env.registry_client.catalog()
    assert "m87test/small" in repos
    assert "m87test/layers" in repos
    assert {"1", "2"} <= set(env.registry_client.tags("m87test/small"))
    assert env.small_image == env.registry + "/m87test/small:1"
    assert env.small_image_2 == env.registry + "/m87test/small:2"
    assert env.layers_image.startswith(env.registry + "/m87test/layers:")


def test_small_image_manifest_is_schema2(env):
    manifest, digest, ctype = env.registry_client.get_manifest("m87test/small", "1")
    assert ctype == MEDIA_MANIFEST_V2
    assert manifest["schemaVersion"] == 2
    assert manifest["config"]["mediaType"] == MEDIA_CONFIG
    assert all(layer["mediaType"] == MEDIA_LAYER for layer in manifest["layers"])
    config = json.loads(env.registry_client.get_blob("m87test/small",
                                                     manifest["config"]["digest"]))
    assert config["os"] == "linux"
    assert config["rootfs"]["type"] == "layers"
    assert len(config["rootfs"]["diff_ids"]) == len(manifest["layers"])
    assert config["config"]["Cmd"][0] == "sh"
    # diff_id = sha256 of the uncompressed tar, digest = sha256 of the gzip blob.
    blob = env.registry_client.get_blob("m87test/small", manifest["layers"][-1]["digest"])
    assert "sha256:" + hashlib.sha256(blob).hexdigest() == manifest["layers"][-1]["digest"]
    raw = gzip.decompress(blob)
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == config["rootfs"]["diff_ids"][-1]
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        assert tf.extractfile("etc/m87test-version").read() == b"1\n"


def test_pull_and_run_small_image(env, containers):
    msgs = env.pull(env.small_image)
    assert not [m for m in msgs if "error" in m or "errorDetail" in m]
    assert any("Status" in m or "status" in m for m in msgs)
    status, image = env.docker_api("GET", "/images/%s/json" % env.small_image)
    assert status == 200
    assert image["Config"]["Labels"]["org.m87.test.version"] == "1"

    cid = env.run_container(env.small_image, wait_for_log="m87test-small v1 started",
                            timeout=20)
    containers.append(cid)
    status, info = env.docker_api("GET", "/containers/%s/json" % cid)
    assert status == 200 and info["State"]["Running"]
    out, err = env.docker.logs(cid)
    assert b"m87test-small v1 started\n" in out
    assert err == b""

    # The image's command exits promptly and cleanly on SIGTERM.
    t0 = time.monotonic()
    status, _ = env.docker_api("POST", "/containers/%s/stop?t=10" % cid, timeout=30)
    assert status == 204
    assert time.monotonic() - t0 < 9  # under the 10 s grace period: no SIGKILL was needed
    status, info = env.docker_api("GET", "/containers/%s/json" % cid)
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 0

    status, _ = env.docker_api("DELETE", "/containers/%s" % cid)
    assert status == 204
    status, _ = env.docker_api("GET", "/containers/%s/json" % cid)
    assert status == 404


def test_small_image_2_differs_in_a_file(env, containers):
    env.pull(env.small_image_2)
    status, created = env.docker_api("POST", "/containers/create",
                                     {"Image": env.small_image_2})
    assert status == 201
    containers.append(created["Id"])
    status, data = env.docker_api("GET", "/containers/%s/archive?path=/etc/m87test-version"
                                  % created["Id"])
    assert status == 200
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert tf.extractfile("m87test-version").read() == b"2\n"
    _, img1 = env.docker_api("GET", "/images/%s/json" % env.small_image)
    _, img2 = env.docker_api("GET", "/images/%s/json" % env.small_image_2)
    assert img1["RootFS"]["Layers"][0] == img2["RootFS"]["Layers"][0]  # shared base
    assert img1["Id"] != img2["Id"]


def test_busybox_applets_work_in_container(env, containers):
    env.pull(env.small_image)
    cid = env.run_container(env.small_image,
                            cmd=["sh", "-c", "id -un; id -u nobody; id -g nobody; "
                                             "ls -d /tmp; echo done"])
    containers.append(cid)
    status, result = env.docker_api("POST", "/containers/%s/wait" % cid, timeout=30)
    assert status == 200 and result["StatusCode"] == 0
    out, _ = env.docker.logs(cid)
    assert out.split() == [b"root", b"65534", b"65534", b"/tmp", b"done"]


def test_layers_image_has_requested_layers(env):
    name, tag = env.layers_image.split("/", 1)[1].rsplit(":", 1)
    manifest, _, _ = env.registry_client.get_manifest(name, tag)
    info = env.images.get("layers")
    n_random = info.layer_count - 1 if info else env.layers_count - 1
    assert len(manifest["layers"]) == n_random + 1 == env.layers_count
    if info:
        assert tag == "4x1048576"
        # Random data does not compress: every non-base blob is at least its payload.
        assert all(layer["size"] >= 1024 * 1024 for layer in manifest["layers"][1:])
        assert manifest["layers"][0]["digest"] == env.images["small"].layers[0].digest


def test_build_layers_image_on_demand_and_pull(env):
    info = env.build_layers_image(3, 256 * 1024, tag="t3")
    assert info.layer_count == 4
    manifest, digest, _ = env.registry_client.get_manifest("m87test/layers", "t3")
    assert digest == info.manifest_digest
    assert [layer["digest"] for layer in manifest["layers"]] == \
        [layer.digest for layer in info.layers]
    assert len({layer["digest"] for layer in manifest["layers"]}) == 4
    # Same tag and seed -> same digests (idempotent); another seed -> new blobs.
    again = env.build_layers_image(3, 256 * 1024, tag="t3")
    assert again.manifest_digest == info.manifest_digest
    fresh = env.build_layers_image(3, 256 * 1024, tag="t3-fresh", seed=os.urandom(8).hex())
    assert not {layer.digest for layer in fresh.layers[1:]} & \
        {layer.digest for layer in info.layers[1:]}
    env.pull(info.ref)
    status, image = env.docker_api("GET", "/images/%s/json" % info.ref)
    assert status == 200
    assert len(image["RootFS"]["Layers"]) == 4
    assert image["RepoDigests"] == ["%s/m87test/layers@%s" % (env.registry, digest)]


def test_user_networks_get_subnets_from_the_private_pool(env):
    if env.dockerd is None:
        pytest.skip("reusing an external dockerd")
    status, created = env.docker_api("POST", "/networks/create", {"Name": "m87e2e-net-test"})
    assert status == 201
    try:
        status, net = env.docker_api("GET", "/networks/%s" % created["Id"])
        subnet = ipaddress.ip_network(net["IPAM"]["Config"][0]["Subnet"])
        assert subnet.subnet_of(ipaddress.ip_network(env.dockerd.slot.pool))
        assert subnet.prefixlen == 24
    finally:
        status, _ = env.docker_api("DELETE", "/networks/%s" % created["Id"])
        assert status == 204


def test_containers_on_a_user_network_reach_each_other_by_name(env, containers):
    env.pull(env.small_image)
    suffix = os.urandom(3).hex()
    status, net = env.docker_api("POST", "/networks/create", {"Name": "m87e2e-talk-" + suffix})
    assert status == 201
    try:
        srv = env.run_container(
            env.small_image, name="srv-" + suffix,
            cmd=["sh", "-c", "echo hello-from-srv > /tmp/index.html; "
                             "exec httpd -f -p 8080 -h /tmp"],
            HostConfig={"NetworkMode": net["Id"]})
        containers.append(srv)
        cli = env.run_container(
            env.small_image, name="cli-" + suffix,
            cmd=["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do "
                             "timeout 3 wget -q -O - http://srv-%s:8080/index.html && exit 0; "
                             "sleep 0.3; done; exit 1" % suffix],
            HostConfig={"NetworkMode": net["Id"]})
        containers.append(cli)
        status, result = env.docker_api("POST", "/containers/%s/wait" % cli, timeout=60)
        assert status == 200
        out, err = env.docker.logs(cli)
        assert result["StatusCode"] == 0, (out, err)
        assert out == b"hello-from-srv\n"
        # And the host reaches the container directly over the bridge.
        _, info = env.docker_api("GET", "/containers/%s/json" % srv)
        ip = info["NetworkSettings"]["Networks"]["m87e2e-talk-" + suffix]["IPAddress"]
        with urllib.request.urlopen("http://%s:8080/index.html" % ip, timeout=5) as resp:
            assert resp.read() == b"hello-from-srv\n"
    finally:
        for cid in containers:
            env.remove_container(cid)
        env.docker_api("DELETE", "/networks/%s" % net["Id"])


def test_as_environ(env):
    e = env.as_environ()
    assert e["M87_TEST_DOCKER_HOST"] == e["DOCKER_HOST"] == env.docker_host
    assert e["DOCKER_HOST"].startswith("unix:///")
    assert e["M87_TEST_REGISTRY"] == env.registry
    assert e["M87_TEST_IMAGE_SMALL"] == env.small_image
    assert e["M87_TEST_IMAGE_LAYERS"] == env.layers_image
    assert int(e["M87_TEST_IMAGE_LAYERS_COUNT"]) == env.layers_count
    assert e["M87_TEST_TMPDIR"] == env.tmpdir and os.path.isdir(env.tmpdir)
    assert all(isinstance(v, str) for v in e.values())


def test_reuse_from_environ_starts_nothing_and_stops_nothing(env):
    reused = TestEnv.from_environ(env.as_environ())
    reused.start()
    try:
        assert reused.reused
        assert reused.dockerd is None and reused.registry_server is None
        assert reused.docker_host == env.docker_host
        assert reused.small_image == env.small_image
        assert reused.layers_count == env.layers_count
        assert reused.docker_api("GET", "/_ping")[0] == 200
    finally:
        reused.stop()
    # The shared environment survives the reusing instance's stop().
    assert env.docker_api("GET", "/_ping") == (200, b"OK")
    assert env.registry_client.ping() == 200
    assert os.path.isdir(env.tmpdir)


def test_registry_can_be_stopped_and_restarted_on_the_same_port(env):
    if env.registry_server is None:
        pytest.skip("reusing an external registry")
    old_pid = env.registry_server.pid
    env.registry_server.stop()
    assert not procs.pid_alive(old_pid)
    with pytest.raises(OSError):
        env.registry_client.ping()
    env.registry_server.start()
    assert env.registry_server.addr == env.registry
    assert env.registry_client.ping() == 200
    assert "m87test/small" in env.registry_client.catalog()  # storage survived


def test_second_env_stop_leaves_no_processes_mounts_or_files():
    other = TestEnv(build_images=False)
    other.start()
    try:
        tmpdir = other.tmpdir
        slot = other.dockerd.slot
        info = other.build_small_image(7)
        other.pull(info.ref)
        cid = other.run_container(info.ref, wait_for_log="m87test-small v7 started")
        status, created = other.docker_api("POST", "/networks/create", {"Name": "leak-check"})
        assert status == 201
        status, _ = other.docker_api("POST", "/networks/%s/connect" % created["Id"],
                                     {"Container": cid})
        assert status == 200
        # A daemon restart keeps the container definition (restarted daemon, new pid).
        first_dockerd = other.dockerd.pid
        other.dockerd.restart()
        assert other.dockerd.pid != first_dockerd
        status, info = other.docker_api("GET", "/containers/%s/json" % cid)
        assert status == 200 and info["State"]["Status"] == "exited"
        assert other.docker_api("POST", "/containers/%s/start" % cid)[0] == 204
        pids = other.process_ids()
        assert first_dockerd in pids
        # dockerd, containerd, registry, shim and the container's sh at least.
        assert len(pids) >= 5, pids
        assert other.dockerd.pid in pids and other.registry_server.pid in pids
        assert procs.mounts_under(tmpdir), "expected dockerd mounts while running"
        assert os.path.exists("/sys/class/net/%s" % slot.bridge)
    except BaseException:
        other.stop()
        raise
    problems = other.stop()
    assert problems == []
    assert procs.alive_in_snapshot(pids) == []
    assert procs.mounts_under(tmpdir) == []
    assert not os.path.exists(tmpdir)
    # The slot is free again: its lock can be taken, and with it held nothing of the slot is
    # left. Suites run side by side: another environment may have taken the free slot at once
    # and made its bridge again (stop() checked the interfaces before it let the slot go: the
    # problems above).
    fd = os.open(os.path.join(SLOT_DIR, "slot-%d.lock" % slot.n), os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # another environment's now: what it holds is its own
        else:
            try:
                assert not os.path.exists("/sys/class/net/%s" % slot.bridge)
                assert not [i for i in os.listdir("/sys/class/net") if i.startswith("br-")
                            and any(ipaddress.ip_interface(a).ip in ipaddress.ip_network(slot.pool)
                                    for a in _ipv4_addrs(i))]
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    # stop() is idempotent.
    assert other.stop() == []


def _ipv4_addrs(ifname):
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", ifname],
                         stdout=subprocess.PIPE, text=True, check=False).stdout
    return [line.split()[3] for line in out.splitlines() if "inet" in line.split()]
