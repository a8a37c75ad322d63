"""A private rootful Podman service (`podman system service`) for the end-to-end tests.

`PodmanService` runs Debian's podman 4 with everything under one directory, so that it
touches neither the machine's defaults (/etc/containers, /var/lib/containers) nor another run:

* CONTAINERS_CONF, CONTAINERS_STORAGE_CONF and CONTAINERS_REGISTRIES_CONF point at files
  written there; --root/--runroot, the network config, tmp, static and volume dirs, the events
  log (events_logger "file": no journald here) all live under it.
* Network backend netavark (Debian 12's default for a fresh store) with aardvark-dns for the
  names between services. The subnets come from a harness network slot (dockerd.allocate_slot),
  so they never overlap another run's dockerd: the default network is the last /24 of the
  slot's pool, user networks are /24s of the pool. Netavark installs its own iptables rules
  (NETAVARK_* chains) for them and removes the rules with the networks; it leaves its empty
  chains, their jumps and net.ipv4.ip_forward=1 behind (unlike the harness's dockerd, whose
  --iptables=false touches neither), which nothing else here minds.
* The registry of the TestEnv is listed as insecure (plain HTTP), as dockerd takes 127.0.0.0/8.
* The OCI runtime is crun, except on a host with cgroups v1 and v2 mixed ("hybrid"), which
  Debian's crun 1.8 refuses ("cgroups in hybrid mode not supported, drop all controllers from
  cgroupv2"): there runc, as dockerd uses.
* default_ulimits are the service's own limits: Podman gives a rootful container
  nofile=1048576 (and the service's nproc), which a host without CAP_SYS_RESOURCE in the
  bounding set cannot grant ("crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted").

With `user=NAME` the service is rootless: it runs as that user (who needs /etc/subuid and
/etc/subgid ranges), with XDG_RUNTIME_DIR under the root directory, no network slot, and its
pause process (catatonit -P, found by that XDG_RUNTIME_DIR) killed at stop. Its containers can
use no network here: slirp4netns needs /dev/net/tun, which is mode 0600 on the test machine.

Podman's health checks are systemd timers; without systemd as init they never run by
themselves (the engine layer runs them, see src/engine/engine-podman.c).
"""

import os
import pwd
import resource
import shutil
import signal
import subprocess

from . import procs
from .env import TestEnv
from .dockerd import (DockerClient, EngineService, _host_ipv4_interfaces, allocate_slot,
                      delete_slot_interfaces, ping_ok)

PODMAN = os.environ.get("M87_TEST_PODMAN", shutil.which("podman") or "/usr/bin/podman")


def hybrid_cgroups():
    """True when the host mounts cgroup v1 hierarchies and a v2 one holding controllers
    beside them (what crun 1.8 refuses)."""
    try:
        with open("/sys/fs/cgroup/unified/cgroup.controllers") as f:
            return bool(f.read().strip())
    except OSError:
        return False


def _limits_of(pid):
    """{'nofile': hard, 'nproc': hard} of a running process, from /proc/PID/limits."""
    names = {"Max open files": "nofile", "Max processes": "nproc"}
    out = {}
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            for text, key in names.items():
                if line.startswith(text):
                    hard = line[len(text):].split()[1]
                    out[key] = int(hard) if hard.isdigit() else None
    return out


def _toml_str(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


class PodmanService(EngineService):
    """One private rootful Podman service rooted at `root`. start() / stop(); `client` for
    Engine API calls; `host` is the unix:// URL for DOCKER_HOST."""

    def __init__(self, root, registry=None, user=None):
        self.root = root
        self.user = pwd.getpwnam(user) if user else None  # rootless as this user
        self.sock = os.path.join(root, "podman.sock")
        self.graph_root = os.path.join(root, "storage")
        self.run_root = os.path.join(root, "run")
        self.tmp_dir = os.path.join(root, "tmp")
        self.net_dir = os.path.join(root, "networks")
        self.log_path = os.path.join(root, "podman.log")
        self.events_path = os.path.join(root, "events.log")
        self.containers_conf = os.path.join(root, "containers.conf")
        self.storage_conf = os.path.join(root, "storage.conf")
        self.registries_conf = os.path.join(root, "registries.conf")
        self.registry = registry
        self.runtime = "runc" if hybrid_cgroups() else "crun"
        self.limits = {"nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
                       "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[1]}
        self.proc = None
        self.slot = None
        self.client = DockerClient(self.sock)
        self._tree = {}

    @property
    def host(self):
        return "unix://" + self.sock

    def environ(self):
        """The variables that make a podman command use this service's configuration."""
        env = dict(os.environ)
        env.update(CONTAINERS_CONF=self.containers_conf,
                   CONTAINERS_STORAGE_CONF=self.storage_conf,
                   CONTAINERS_REGISTRIES_CONF=self.registries_conf)
        if self.user:
            env.update(HOME=self.user.pw_dir, USER=self.user.pw_name, LOGNAME=self.user.pw_name,
                       XDG_RUNTIME_DIR=self.xdg_dir)
        return env

    @property
    def xdg_dir(self):
        return os.path.join(self.root, "xdg")

    def _write_configs(self):
        ulimits = ", ".join('"%s=%d:%d"' % (k, v, v) for k, v in sorted(self.limits.items())
                            if v is not None and v >= 0)
        # rootless: no slot (its networks live in a namespace of its own and cannot be used
        # here anyway, see docs/compose.md), Podman's defaults
        pool_base = self.slot.pool if self.slot else "10.89.0.0/16"  # 10.(200+N).0.0/16
        default_subnet = pool_base.replace(".0.0/16", ".255.0/24")
        with open(self.containers_conf, "w") as f:
            f.write("[containers]\n"
                    "default_ulimits = [%s]\n"
                    'log_driver = "k8s-file"\n'
                    "[network]\n"
                    'network_backend = "netavark"\n'
                    "network_config_dir = %s\n"
                    'default_network = "podman"\n'
                    "default_subnet = %s\n"
                    'default_subnet_pools = [{"base" = %s, "size" = 24}]\n'
                    "[engine]\n"
                    "runtime = %s\n"
                    'cgroup_manager = "cgroupfs"\n'
                    'events_logger = "file"\n'
                    "events_logfile_path = %s\n"
                    "tmp_dir = %s\n"
                    "static_dir = %s\n"
                    "volume_path = %s\n"
                    % (ulimits, _toml_str(self.net_dir), _toml_str(default_subnet),
                       _toml_str(pool_base), _toml_str(self.runtime),
                       _toml_str(self.events_path), _toml_str(self.tmp_dir),
                       _toml_str(os.path.join(self.graph_root, "libpod")),
                       _toml_str(os.path.join(self.graph_root, "volumes"))))
        with open(self.storage_conf, "w") as f:
            f.write('[storage]\ndriver = "overlay"\ngraphroot = %s\nrunroot = %s\n'
                    % (_toml_str(self.graph_root), _toml_str(self.run_root)))
        with open(self.registries_conf, "w") as f:
            f.write("unqualified-search-registries = []\n")
            if self.registry:
                f.write("[[registry]]\nlocation = %s\ninsecure = true\n"
                        % _toml_str(self.registry))
        if self.user:
            for dirpath, dirnames, filenames in os.walk(self.root):
                for name in [dirpath] + [os.path.join(dirpath, n) for n in filenames]:
                    os.chown(name, self.user.pw_uid, self.user.pw_gid)

    def argv(self):
        return [PODMAN, "--root", self.graph_root, "--runroot", self.run_root,
                "system", "service", "--time=0", self.host]

    def start(self, timeout=60):
        if len(self.sock) >= 100:
            raise RuntimeError("socket path too long for AF_UNIX: %s" % self.sock)
        for d in (self.root, self.net_dir, self.tmp_dir):
            os.makedirs(d, exist_ok=True)
        if self.user:
            os.makedirs(self.xdg_dir, mode=0o700, exist_ok=True)
        else:
            self.slot = allocate_slot()
        try:
            self._start_service(timeout)
            # The service may run with lower limits than ours (it was seen at nproc 32768
            # when the shell had more); containers may have at most what it has.
            theirs = _limits_of(self.proc.pid)
            if any(theirs.get(k) is not None and theirs[k] < v for k, v in self.limits.items()):
                self.limits = {k: min(v, theirs.get(k) or v) for k, v in self.limits.items()}
                self._stop_service()
                self._start_service(timeout)
        except BaseException:
            self.stop()
            raise

    def _start_service(self, timeout):
        self._write_configs()
        who = {}
        if self.user:
            who = dict(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[],
                       cwd=self.root)
        self.proc = procs.spawn(self.argv(), self.log_path, signal.SIGTERM, env=self.environ(),
                                **who)
        self._tree.update(procs.snapshot([self.proc.pid]))
        procs.wait_ready(self.proc, lambda: ping_ok(self.client), timeout, self.log_path,
                         ("podman service", "answer /_ping"))

    def _stop_service(self):
        if self.proc is not None and self.proc.poll() is None:
            self._tree.update(self.related_processes())
            procs.stop_popen(self.proc, 20)

    def podman(self, *args, check=True, timeout=120):
        """Run the podman command line on this service's storage and configuration."""
        return subprocess.run([PODMAN, "--root", self.graph_root, "--runroot", self.run_root]
                              + list(args), env=self.environ(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, check=check, timeout=timeout)

    def pull(self, ref, timeout=300):
        """Pull ref into this service through its Engine API; returns the stream messages."""
        return self.client.pull(ref, timeout=timeout)

    def related_processes(self):
        """The service, conmon, aardvark-dns and container processes of this root (and the
        rootless pause process, which holds the user namespace)."""
        table = procs.process_table()
        roots = procs.processes_referencing([self.root + "/"], table)
        if self.user:
            roots |= self._user_processes(table)
        if self.proc is not None and self.proc.poll() is None:
            roots.add(self.proc.pid)
        return procs.snapshot(roots | procs.descendants(roots, table), table)

    def _user_processes(self, table):
        """The rootless service's processes whose command line names nothing of root (the
        pause process, catatonit -P): those of the user whose XDG_RUNTIME_DIR is ours."""
        found = set()
        want = ("XDG_RUNTIME_DIR=%s" % self.xdg_dir).encode()
        for pid in table:
            try:
                if os.stat("/proc/%d" % pid).st_uid != self.user.pw_uid:
                    continue
                with open("/proc/%d/environ" % pid, "rb") as f:
                    if want in f.read().split(b"\0"):
                        found.add(pid)
            except OSError:
                continue
        return found

    def _delete_bridges(self):
        """Podman names its bridges podmanN; delete those left with an address of our slot."""
        nets = self.slot.networks()
        for ifname, iface in _host_ipv4_interfaces():
            if ifname.startswith("podman") and any(iface.ip in n for n in nets):
                subprocess.run(["ip", "link", "del", ifname], check=False,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        """Remove containers, networks and volumes, stop the service, kill what it left,
        unmount under root, free the slot. Returns a list of problems."""
        problems = self._clean_through_api(60)
        self._stop_service()
        problems += procs.kill_remaining(self._tree, self.related_processes,
                                         "podman's processes")
        left = procs.unmount_all_under(self.root)
        if left:
            problems.append("still mounted under %s: %r" % (self.root, left))
        problems += self._free_slot(self._delete_interfaces)
        return problems

    def _delete_interfaces(self):
        self._delete_bridges()
        delete_slot_interfaces(self.slot)



class PodmanEnv:
    """A started TestEnv seen through a PodmanService: docker_host, docker_sock, docker,
    docker_api, pull, remove_container and the M87_TEST_* variables point at Podman; the
    registry and the test images are the TestEnv's. Pass it wherever a helper takes `env`
    (compose_util.Project, runner_util.Runner, agent_util.Device)."""

    __test__ = False

    def __init__(self, base, service):
        self._base = base
        self.service = service
        self.docker_sock = service.sock
        self.docker = DockerClient(service.sock)

    def __getattr__(self, name):
        return getattr(self._base, name)

    @property
    def docker_host(self):
        return "unix://" + self.docker_sock

    def docker_api(self, method, path, body=None, headers=None, timeout=None):
        return self.docker.request(method, path, body, headers=headers, timeout=timeout)

    def pull(self, ref, timeout=600):
        return self.docker.pull(ref, timeout=timeout)

    def remove_container(self, cid):
        status, _ = self.docker.request("DELETE", "/containers/%s?force=1&v=1" % cid)
        return status in (204, 404)

    def as_environ(self):
        env = self._base.as_environ()
        env["M87_TEST_DOCKER_HOST"] = env["DOCKER_HOST"] = self.docker_host
        return env

    subprocess_env = TestEnv.subprocess_env  # on this as_environ()

    def process_ids(self):
        return self.service.all_pids()


def rootless_problem(user):
    """Why `user` cannot run rootless Podman here, or None."""
    try:
        pwd.getpwnam(user)
    except KeyError:
        return "no user %r for rootless Podman (useradd -m %s)" % (user, user)
    for path in ("/etc/subuid", "/etc/subgid"):
        try:
            with open(path) as f:
                if not any(line.split(":")[0] == user for line in f):
                    return "user %r has no range in %s" % (user, path)
        except OSError as exc:
            return "cannot read %s: %s" % (path, exc)
    return None
