"""pytest fixtures for the end-to-end tests.

`env` (session scope): a started harness.TestEnv shared by all tests: private dockerd,
private registry, pushed test images. If M87_TEST_DOCKER_HOST / M87_TEST_REGISTRY /
M87_TEST_IMAGE_* are set (e.g. from `python3 -m harness`), those are reused instead.
`containers` (function scope): a list to append container ids to; they are force-removed
after the test.
"""

import fcntl
import os
import shutil
import tempfile
import warnings

import pytest

from harness import TestEnv
from harness.dockerd import DOCKERD
from harness.images import BUSYBOX
from harness.registry import REGISTRY_BIN


def _missing_prerequisites(env):
    missing = []
    if not env._external_docker:
        if os.geteuid() != 0:
            missing.append("root (to run dockerd)")
        if not os.access(DOCKERD, os.X_OK):
            missing.append(DOCKERD)
        if not shutil.which("ip"):
            missing.append("ip (iproute2)")
    if not env._external_registry and not os.access(REGISTRY_BIN, os.X_OK):
        missing.append(REGISTRY_BIN)
    if not os.access(BUSYBOX, os.X_OK):
        missing.append(BUSYBOX + " (busybox-static)")
    return missing


@pytest.fixture(scope="session")
def env():
    """The shared TestEnv (see harness/env.py for its attributes)."""
    test_env = TestEnv.from_environ()
    missing = _missing_prerequisites(test_env)
    if missing:
        pytest.skip("end-to-end prerequisites missing: " + ", ".join(missing))
    test_env.start()
    try:
        yield test_env
    finally:
        problems = test_env.stop()
        for problem in problems:
            warnings.warn("e2e teardown: %s" % problem)


@pytest.fixture
def containers(env):
    """Append container ids; each is force-removed when the test ends."""
    ids = []
    yield ids
    for cid in ids:
        env.remove_container(cid)


def podman_lock():
    """Hold /run/lock/m87-test-podman.lock: one Podman service on the machine at a time. Podman
    and netavark share host-wide state between services (bridges named podmanN, aardvark-dns's
    per-host server), so the suite and the suite under the sanitizers, which scripts/test.sh
    runs side by side, must not run theirs at once (DNS between containers broke when they did).
    The lock goes when the last holder in this process closes it (or the process is gone);
    the rootful and the rootless fixture of one module share it."""
    return _PodmanLock()


class _PodmanLock:
    held = None  # the open lock file while a fixture of this process holds it
    users = 0

    def __init__(self):
        if _PodmanLock.users == 0:
            f = open("/run/lock/m87-test-podman.lock", "w")
            fcntl.flock(f, fcntl.LOCK_EX)
            _PodmanLock.held = f
        _PodmanLock.users += 1

    def close(self):
        _PodmanLock.users -= 1
        if _PodmanLock.users == 0:
            _PodmanLock.held.close()
            _PodmanLock.held = None


@pytest.fixture(scope="module")
def podman(env):
    """A private rootful Podman service (harness/podman.py) with the test images pulled, as a
    PodmanEnv: pass it where a helper takes `env`. Skipped when podman is not installed."""
    from harness.podman import PODMAN, PodmanEnv, PodmanService
    if not os.access(PODMAN, os.X_OK):
        pytest.skip("podman is not installed (%s); scripts/install-deps.sh installs it" % PODMAN)
    root = tempfile.mkdtemp(prefix="podman-", dir=env.tmpdir)
    service = PodmanService(root, registry=env.registry)
    lock = podman_lock()
    try:
        service.start()
        for ref in (env.small_image, env.small_image_2):
            service.pull(ref)
        yield PodmanEnv(env, service)
    finally:
        for problem in service.stop():
            warnings.warn("podman teardown: %s" % problem)
        shutil.rmtree(root, ignore_errors=True)
        lock.close()


@pytest.fixture(scope="module")
def podman_rootless(env):
    """Like `podman`, but the service runs as the user M87_TEST_PODMAN_USER (default m87pm),
    rootless. Skipped when podman or that user (with /etc/subuid and /etc/subgid ranges) is
    missing: `useradd -m m87pm` makes one."""
    from harness.podman import PODMAN, PodmanEnv, PodmanService, rootless_problem
    user = os.environ.get("M87_TEST_PODMAN_USER", "m87pm")
    if not os.access(PODMAN, os.X_OK):
        pytest.skip("podman is not installed (%s); scripts/install-deps.sh installs it" % PODMAN)
    problem = rootless_problem(user)
    if problem:
        pytest.skip(problem)
    # not under env.tmpdir, which only root may enter
    root = tempfile.mkdtemp(prefix="m87podman-rootless-", dir="/tmp")
    service = PodmanService(root, registry=env.registry, user=user)
    lock = podman_lock()
    try:
        service.start()
        service.pull(env.small_image)
        yield PodmanEnv(env, service)
    finally:
        for problem in service.stop():
            warnings.warn("rootless podman teardown: %s" % problem)
        shutil.rmtree(root, ignore_errors=True)
        lock.close()
