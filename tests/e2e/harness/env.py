"""TestEnv: one dockerd + one registry + the pushed test images under a temp dir.

    env = TestEnv()            # or TestEnv.from_environ() to reuse a running one
    env.start()
    ... env.docker_api("GET", "/_ping") ... env.as_environ() ...
    env.stop()

stop() is idempotent and may be re-run after an interruption. Every started instance is
also stopped by an atexit hook, and SIGTERM/SIGHUP turn into KeyboardInterrupt so that
pytest unwinds its fixtures; the children get PR_SET_PDEATHSIG as a last resort.
A run killed with SIGKILL leaves its /tmp/m87e2e-* directory behind: the next start
removes such directories (owner lock free, no process using them).
"""

import atexit
import fcntl
import glob
import os
import shutil
import signal
import tempfile
import threading

from . import procs
from .dockerd import DockerClient, Dockerd, split_ref
from .images import ImageBuilder
from .registry import Registry, RegistryClient

DEFAULT_LAYERS = (4, 1024 * 1024)  # 4 random layers of 1 MiB (+ the busybox base)

TMP_PREFIX = "m87e2e-"
OWNER_LOCK = ".owner.lock"

_live = []
_live_lock = threading.Lock()
_hooks_installed = False


def _stop_all_live():
    for env in list(_live):
        try:
            env.stop()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass


def _on_signal(signum, frame):
    # Unwind normally (pytest fixtures, finally blocks); atexit finishes the job.
    signal.signal(signum, signal.SIG_DFL)
    raise KeyboardInterrupt("signal %d" % signum)


def _install_hooks():
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_stop_all_live)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _on_signal)


def _take_owner_lock(tmpdir):
    """flock TMP/.owner.lock for the life of the instance. The lock is taken on a
    temporary name and renamed into place, so a sweeper never sees it unlocked."""
    tmp_name = os.path.join(tmpdir, OWNER_LOCK + ".new")
    fd = os.open(tmp_name, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, ("%d\n" % os.getpid()).encode())
    os.rename(tmp_name, os.path.join(tmpdir, OWNER_LOCK))
    return fd


def sweep_stale_tmpdirs(parent="/tmp"):
    """Remove /tmp/m87e2e-* directories left by runs that died (SIGKILL): those with an
    owner lock nobody holds and that no live process mentions. Directories without an
    owner lock are left alone. Returns the removed paths."""
    removed = []
    table = None
    for path in glob.glob(os.path.join(parent, TMP_PREFIX + "*")):
        lock = os.path.join(path, OWNER_LOCK)
        try:
            fd = os.open(lock, os.O_RDWR)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # owner alive
            if table is None:
                table = procs.process_table()
            if procs.processes_referencing(path + "/", table):
                continue  # an orphaned daemon still runs there: leave it
            if procs.unmount_all_under(path):
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        finally:
            os.close(fd)
    return removed


class TestEnv:
    """Fixture object. Attributes once started:

    tmpdir (str), docker_sock (str), docker_host ("unix://..."), registry ("127.0.0.1:P"),
    small_image / small_image_2 (refs), layers_image (ref), layers_count (int, layers in
    its manifest = random layers + 1), images ({name: ImageInfo}), docker (DockerClient),
    registry_client (RegistryClient), dockerd (Dockerd or None if reused),
    registry_server (Registry or None if reused), reused (bool).
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, tmpdir=None, build_images=True, layers=DEFAULT_LAYERS,
                 keep_tmpdir=None):
        self.build_images_on_start = build_images
        self.default_layers = layers
        self.keep_tmpdir = (os.environ.get("M87_TEST_KEEP_TMPDIR") == "1"
                            if keep_tmpdir is None else keep_tmpdir)
        self.tmpdir = tmpdir
        self._own_tmpdir = tmpdir is None
        self.dockerd = None
        self.registry_server = None
        self.docker_sock = None
        self.docker = None
        self.registry = None
        self.registry_client = None
        self.builder = None
        self.images = {}
        self.small_image = None
        self.small_image_2 = None
        self.layers_image = None
        self.layers_count = None
        self.reused = False
        self._external_docker = None
        self._external_registry = None
        self._external_images = {}
        self._owner_fd = None
        self._started = False
        self._stopped = False

    # ------------------------------------------------------------ construction

    @classmethod
    def from_environ(cls, environ=None, **kwargs):
        """A TestEnv that reuses whatever M87_TEST_* variables point at: an existing
        dockerd (M87_TEST_DOCKER_HOST=unix://...), registry (M87_TEST_REGISTRY) and
        images (M87_TEST_IMAGE_SMALL, M87_TEST_IMAGE_LAYERS + _COUNT). Missing parts are
        started or built as usual."""
        environ = os.environ if environ is None else environ
        env = cls(tmpdir=environ.get("M87_TEST_TMPDIR") or None, **kwargs)
        host = environ.get("M87_TEST_DOCKER_HOST")
        if host:
            if not host.startswith("unix://"):
                raise ValueError("M87_TEST_DOCKER_HOST must be unix:///path, got %r" % host)
            env._external_docker = host[len("unix://"):]
        env._external_registry = environ.get("M87_TEST_REGISTRY") or None
        for key in ("M87_TEST_IMAGE_SMALL", "M87_TEST_IMAGE_SMALL_2", "M87_TEST_IMAGE_LAYERS",
                    "M87_TEST_IMAGE_LAYERS_COUNT"):
            if environ.get(key):
                env._external_images[key] = environ[key]
        env.reused = bool(env._external_docker or env._external_registry)
        return env

    # ------------------------------------------------------------ lifecycle

    def start(self):
        if self._started:
            return self
        self._started = True
        _install_hooks()
        with _live_lock:
            _live.append(self)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        if self.tmpdir is None:
            sweep_stale_tmpdirs()
            self.tmpdir = tempfile.mkdtemp(prefix=TMP_PREFIX, dir="/tmp")
            self._owner_fd = _take_owner_lock(self.tmpdir)
        else:
            os.makedirs(self.tmpdir, exist_ok=True)
        # Registry first: it is quick, and a slow dockerd start overlaps nothing anyway.
        if self._external_registry:
            self.registry = self._external_registry
            self.registry_client = RegistryClient(self.registry)
        else:
            self.registry_server = Registry(self.tmpdir)
            self.registry_server.start()
            self.registry = self.registry_server.addr
            self.registry_client = self.registry_server.client
        if self._external_docker:
            self.docker_sock = self._external_docker
        else:
            # an extra runtime name, so that a service's `runtime:` is seen to reach dockerd
            self.dockerd = Dockerd(self.tmpdir, extra_args=["--add-runtime", "m87-runc=runc"])
            self.dockerd.start()
            self.docker_sock = self.dockerd.sock
        self.docker = DockerClient(self.docker_sock)
        self.builder = ImageBuilder(self.registry_client, os.path.join(self.tmpdir, "blobs"))
        ext = self._external_images
        if "M87_TEST_IMAGE_SMALL" in ext and "M87_TEST_IMAGE_LAYERS" in ext:
            self.small_image = ext["M87_TEST_IMAGE_SMALL"]
            self.small_image_2 = ext.get("M87_TEST_IMAGE_SMALL_2")
            self.layers_image = ext["M87_TEST_IMAGE_LAYERS"]
            self.layers_count = int(ext.get("M87_TEST_IMAGE_LAYERS_COUNT") or 0) or None
        elif self.build_images_on_start:
            self.build_default_images()

    def build_default_images(self):
        small1 = self.builder.build_small_image(1)
        small2 = self.builder.build_small_image(2)
        layers = self.build_layers_image(*self.default_layers)
        self.images.update(small=small1, small_2=small2, layers=layers)
        self.small_image, self.small_image_2 = small1.ref, small2.ref
        self.layers_image, self.layers_count = layers.ref, layers.layer_count

    def stop(self):
        """Stop what this instance started (containers, dockerd and its children,
        registry), unmount leftovers under tmpdir and remove it. Returns a list of
        problems met (empty when clean)."""
        if self._stopped:
            return []
        problems = []
        if self.dockerd is not None:
            problems += self.dockerd.stop()
        if self.registry_server is not None:
            self.registry_server.stop()
        if self.tmpdir and (self._own_tmpdir or self.dockerd is not None) \
                and os.path.isdir(self.tmpdir):
            left = procs.unmount_all_under(self.tmpdir)
            if left:
                problems.append("still mounted under %s: %r" % (self.tmpdir, left))
            elif self._own_tmpdir and not self.keep_tmpdir:
                shutil.rmtree(self.tmpdir, ignore_errors=True)
        if self._owner_fd is not None:
            os.close(self._owner_fd)
            self._owner_fd = None
        self._stopped = True
        with _live_lock:
            if self in _live:
                _live.remove(self)
        return problems

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------ helpers

    @property
    def docker_host(self):
        return "unix://" + self.docker_sock if self.docker_sock else None

    def docker_api(self, method, path, body=None, headers=None, timeout=None):
        """One Engine API call over the socket: (status, parsed JSON or bytes).
        `path` is used as given ("/_ping", "/v1.41/containers/json", ...);
        a dict/list body is sent as JSON."""
        return self.docker.request(method, path, body, headers=headers, timeout=timeout)

    def build_layers_image(self, n_layers, layer_bytes, tag=None, seed=None):
        """Build and push m87test/layers:<tag> (n_layers random layers of layer_bytes on
        the busybox base); returns ImageInfo (ref, layer_count = n_layers + 1, ...)."""
        info = self.builder.build_layers_image(n_layers, layer_bytes, tag=tag, seed=seed)
        self.images["layers:%s" % info.tag] = info
        return info

    def build_small_image(self, version, tag=None):
        info = self.builder.build_small_image(version, tag=tag)
        self.images["small:%s" % info.tag] = info
        return info

    def pull(self, ref, timeout=600):
        """Pull `ref` into dockerd; returns the stream messages, raises on error."""
        return self.docker.pull(ref, timeout=timeout)

    def run_container(self, image, cmd=None, name=None, wait_for_log=None, timeout=30,
                      **create_extra):
        """Create and start a container; optionally wait until its stdout contains
        `wait_for_log`. Returns the container id. The caller removes it (or stop()
        does, with everything else)."""
        body = {"Image": image}
        if cmd is not None:
            body["Cmd"] = list(cmd)
        body.update(create_extra)
        path = "/containers/create"
        if name:
            path += "?name=" + name
        created = self.docker.check("POST", path, body)
        cid = created["Id"]
        self.docker.check("POST", "/containers/%s/start" % cid)
        if wait_for_log:
            needle = wait_for_log.encode() if isinstance(wait_for_log, str) else wait_for_log
            procs.wait_for(lambda: needle in self.docker.logs(cid)[0], timeout,
                           interval=0.1, what="%r in logs of %s" % (wait_for_log, cid[:12]))
        return cid

    def remove_container(self, cid):
        status, _ = self.docker.request("DELETE", "/containers/%s?force=1&v=1" % cid)
        return status in (204, 404)

    def as_environ(self):
        """The M87_TEST_* variables (plus DOCKER_HOST) for C test binaries."""
        env = {
            "M87_TEST_DOCKER_HOST": self.docker_host,
            "DOCKER_HOST": self.docker_host,
            "M87_TEST_REGISTRY": self.registry,
            "M87_TEST_IMAGE_SMALL": self.small_image,
            "M87_TEST_IMAGE_SMALL_2": self.small_image_2,
            "M87_TEST_IMAGE_LAYERS": self.layers_image,
            "M87_TEST_IMAGE_LAYERS_COUNT": (str(self.layers_count)
                                            if self.layers_count is not None else None),
            "M87_TEST_TMPDIR": self.tmpdir,
        }
        return {k: v for k, v in env.items() if v is not None}

    def subprocess_env(self, **extra):
        """os.environ + as_environ() + extra, ready for subprocess.run(env=...)."""
        env = dict(os.environ)
        env.update(self.as_environ())
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def process_ids(self):
        """{pid: starttime} of every process this instance started (dockerd, containerd,
        shims, containers, registry)."""
        pids = {}
        if self.dockerd is not None:
            pids.update(self.dockerd.all_pids())
        if self.registry_server is not None and self.registry_server.proc is not None:
            snap = procs.snapshot([self.registry_server.pid])
            pids.update(snap)
        return pids

    def __repr__(self):
        return "TestEnv(tmpdir=%r, docker_host=%r, registry=%r)" % (
            self.tmpdir, self.docker_host, self.registry)


__all__ = ["TestEnv", "split_ref", "DEFAULT_LAYERS"]
