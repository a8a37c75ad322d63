"""A private dockerd for the end-to-end tests, and a small Engine API client.

`Dockerd` starts `dockerd` under a temporary directory (socket, data root, exec root,
pid file, log and daemon.json all live there) so that it cannot collide with a system
daemon or with another test run:

* `--config-file TMP/daemon.json`: never read /etc/docker/daemon.json; the json also moves
  the daemon's trust key (`deprecated-key-path`) out of /etc/docker.
* `--bridge m87e2eN`: the default bridge is a per-run interface that the harness creates
  (dockerd refuses to create a bridge with a non-default name itself); N is a "slot"
  held with an flock under /tmp/m87e2e.slots, so concurrent runs get distinct names and
  subnets (bridge 10.199.N.0/24, user networks from --default-address-pool 10.(200+N)/16).
* `--iptables=false --ip-forward=false --ip-masq=false`: leave the host firewall,
  ip_forward and the FORWARD policy alone (a second daemon would otherwise fight over the
  DOCKER chains); published ports still work through docker-proxy, host<->container
  traffic goes straight over the bridge. Because br_netfilter passes bridged frames
  through FORWARD (whose policy another dockerd may have set to DROP), the harness adds
  two commented ACCEPT rules for bridged traffic of its own subnets and removes them at
  stop.
* `--shutdown-timeout 5`: a bounded stop.

`DockerClient` speaks HTTP over the Unix socket with http.client (no docker CLI).
"""

import errno
import fcntl
import http.client
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import urllib.parse

from . import procs

DOCKERD = os.environ.get("M87_TEST_DOCKERD", "/usr/sbin/dockerd")
IP = shutil.which("ip") or "/sbin/ip"
IPTABLES = shutil.which("iptables") or (
    "/usr/sbin/iptables" if os.access("/usr/sbin/iptables", os.X_OK) else None)
SLOT_DIR = "/tmp/m87e2e.slots"
MAX_SLOTS = 50
BRIDGE_PREFIX = "m87e2e"


class DockerError(RuntimeError):
    """An Engine API call failed (status >= 400 or an error object in a stream)."""

    def __init__(self, message, status=None, body=None):
        super().__init__(message)
        self.status = status
        self.body = body


# ---------------------------------------------------------------- client


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client.HTTPConnection over a Unix stream socket."""

    def __init__(self, unix_path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = unix_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _decode_body(headers, data):
    ctype = (headers.get("Content-Type") or "").split(";")[0].strip()
    if data and ctype == "application/json":
        try:
            return json.loads(data)
        except ValueError:
            return data
    return data


def split_ref(ref):
    """'host:port/name:tag' -> ('host:port/name', 'tag'); tag defaults to 'latest'."""
    if "@" in ref:
        name, digest = ref.split("@", 1)
        return name, digest
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:]
    return ref, "latest"


class DockerClient:
    """Minimal Engine API client: request(), stream_json(), pull(), logs()."""

    def __init__(self, sock_path, timeout=60):
        self.sock_path = sock_path
        self.timeout = timeout

    def _send(self, method, path, body, headers, timeout):
        conn = UnixHTTPConnection(self.sock_path, timeout=timeout or self.timeout)
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        if body is None and method in ("POST", "PUT"):
            body = b""
        conn.request(method, path, body=body, headers=hdrs)
        return conn, conn.getresponse()

    def request(self, method, path, body=None, headers=None, timeout=None):
        """One API call. Returns (status, parsed JSON or raw bytes)."""
        conn, resp = self._send(method, path, body, headers, timeout)
        try:
            data = resp.read()
            return resp.status, _decode_body(resp.headers, data)
        finally:
            conn.close()

    def request_full(self, method, path, body=None, headers=None, timeout=None):
        """Like request() but returns (status, headers, raw bytes)."""
        conn, resp = self._send(method, path, body, headers, timeout)
        try:
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def check(self, method, path, body=None, ok=(200, 201, 204, 304), timeout=None):
        """request() that raises DockerError unless the status is in `ok`."""
        status, data = self.request(method, path, body, timeout=timeout)
        if status not in ok:
            msg = data.get("message") if isinstance(data, dict) else data
            raise DockerError("%s %s -> %d: %s" % (method, path, status, msg), status, data)
        return data

    def stream_json(self, method, path, body=None, timeout=600):
        """Read a JSON-message stream (pull, push, events...) to EOF.
        Returns (status, [objects])."""
        conn, resp = self._send(method, path, body, None, timeout)
        try:
            if resp.status >= 400:
                data = resp.read()
                return resp.status, [_decode_body(resp.headers, data)]
            decoder = json.JSONDecoder()
            buf, out = "", []
            while True:
                chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
                if not chunk:
                    break
                buf += chunk.decode("utf-8", "replace")
                while True:
                    buf = buf.lstrip()
                    if not buf:
                        break
                    try:
                        obj, end = decoder.raw_decode(buf)
                    except ValueError:
                        break
                    out.append(obj)
                    buf = buf[end:]
            if buf.strip():
                out.append({"error": "trailing garbage in stream: %r" % buf[:200]})
            return resp.status, out
        finally:
            conn.close()

    def ping(self):
        status, headers, data = self.request_full("GET", "/_ping", timeout=5)
        return status, headers, data

    def pull(self, ref, timeout=600):
        """POST /images/create for `ref`; returns the messages, raises on any error."""
        name, tag = split_ref(ref)
        q = urllib.parse.urlencode({"fromImage": name, "tag": tag})
        status, msgs = self.stream_json("POST", "/images/create?" + q, timeout=timeout)
        errors = [m for m in msgs if isinstance(m, dict) and ("error" in m or "errorDetail" in m
                                                               or "message" in m and status >= 400)]
        if status != 200 or errors:
            raise DockerError("pull %s failed (status %d): %r" % (ref, status, errors or msgs),
                              status, msgs)
        return msgs

    def logs(self, container, stdout=True, stderr=True, timeout=30):
        """Container logs, demultiplexed: (stdout bytes, stderr bytes).
        Works for non-TTY containers (8-byte frame headers); TTY output goes to stdout."""
        q = urllib.parse.urlencode({"stdout": int(stdout), "stderr": int(stderr)})
        status, headers, data = self.request_full(
            "GET", "/containers/%s/logs?%s" % (container, q), timeout=timeout)
        if status != 200:
            raise DockerError("logs %s -> %d: %r" % (container, status, data), status, data)
        if (headers.get("Content-Type") or "").startswith("application/vnd.docker.raw-stream") \
                and not _looks_multiplexed(data):
            return data, b""
        out, err, i = [], [], 0
        while i + 8 <= len(data):
            kind, size = data[i], int.from_bytes(data[i + 4:i + 8], "big")
            payload = data[i + 8:i + 8 + size]
            (err if kind == 2 else out).append(payload)
            i += 8 + size
        return b"".join(out), b"".join(err)

    def remove_all_containers(self, timeout=60):
        """Force-remove every container (and its anonymous volumes). Returns the ids."""
        status, items = self.request("GET", "/containers/json?all=1", timeout=timeout)
        removed = []
        if status != 200 or not isinstance(items, list):
            return removed
        for c in items:
            st, _ = self.request("DELETE", "/containers/%s?force=1&v=1" % c["Id"],
                                 timeout=timeout)
            if st in (204, 404):
                removed.append(c["Id"])
        return removed

    def prune_networks_and_volumes(self, timeout=60):
        self.request("POST", "/networks/prune", timeout=timeout)
        self.request("POST", "/volumes/prune", timeout=timeout)


def ping_ok(client):
    """True when the Engine API of client answers /_ping with OK, else what it answered (for
    procs.wait_ready; dockerd's and the podman service's)."""
    status, _, body = client.ping()
    if status == 200 and body.strip() == b"OK":
        return True
    return "status %d body %r" % (status, body[:200])


def _looks_multiplexed(data):
    return len(data) >= 8 and data[0] in (0, 1, 2) and data[1:4] == b"\0\0\0"


# ---------------------------------------------------------------- slots


class Slot:
    """A per-run network identity: bridge name, bridge address and address pool,
    held by an flock for as long as the daemon runs."""

    def __init__(self, n, lock_fd):
        self.n = n
        self.lock_fd = lock_fd
        self.bridge = "%s%d" % (BRIDGE_PREFIX, n)
        self.bridge_cidr = "10.199.%d.1/24" % n
        self.pool = "10.%d.0.0/16" % (200 + n)
        self.problems = []

    def networks(self):
        return [ipaddress.ip_network("10.199.%d.0/24" % self.n), ipaddress.ip_network(self.pool)]

    def release(self):
        if self.lock_fd is not None:
            try:
                fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
            finally:
                os.close(self.lock_fd)
                self.lock_fd = None


def _ip(*args, check=True):
    return subprocess.run([IP] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, check=check)


def _host_ipv4_interfaces():
    """[(ifname, ip_interface)] for every IPv4 address on the host."""
    out = _ip("-4", "-o", "addr", "show", check=False).stdout
    res = []
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            try:
                res.append((parts[1], ipaddress.ip_interface(parts[parts.index("inet") + 1])))
            except ValueError:
                pass
    return res


def _link_exists(name):
    return os.path.exists("/sys/class/net/%s" % name)


def _slot_in_use_by_process(bridge, table):
    for _, _, cmd in table.values():
        words = cmd.split()
        for i, w in enumerate(words):
            if w == "--bridge=" + bridge or (w == "--bridge" and i + 1 < len(words)
                                              and words[i + 1] == bridge):
                return True
    return False


def _forward_rules(slot):
    """ACCEPT rules for bridged (same-bridge, L2) traffic of the slot's networks, so
    containers on one network reach each other even when the host's FORWARD policy is
    DROP (another dockerd with iptables enabled sets that, and br_netfilter sends
    bridged frames through FORWARD). Routed traffic between networks is not opened."""
    comment = ["-m", "comment", "--comment", "m87e2e-slot-%d" % slot.n]
    return [["-s", str(net), "-m", "physdev", "--physdev-is-bridged"] + comment
            + ["-j", "ACCEPT"] for net in slot.networks()]


def install_forward_rules(slot):
    """Insert the slot's FORWARD rules (once). Returns a list of problems."""
    if not IPTABLES:
        return []
    problems = []
    for rule in _forward_rules(slot):
        if subprocess.run([IPTABLES, "-w", "-C", "FORWARD"] + rule, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False).returncode == 0:
            continue
        res = subprocess.run([IPTABLES, "-w", "-I", "FORWARD", "1"] + rule,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             check=False)
        if res.returncode != 0:
            problems.append("iptables -I FORWARD %s: %s" % (" ".join(rule), res.stderr.strip()))
    return problems


def remove_forward_rules(slot):
    if not IPTABLES:
        return
    for rule in _forward_rules(slot):
        for _ in range(10):
            if subprocess.run([IPTABLES, "-w", "-D", "FORWARD"] + rule,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              check=False).returncode != 0:
                break


def delete_slot_interfaces(slot):
    """Delete the slot's bridge and any br-* left by dockerd inside the slot's subnets."""
    nets = slot.networks()
    for ifname, iface in _host_ipv4_interfaces():
        if ifname.startswith("br-") and any(iface.ip in n for n in nets):
            _ip("link", "del", ifname, check=False)
    if _link_exists(slot.bridge):
        _ip("link", "del", slot.bridge, check=False)
    remove_forward_rules(slot)


def slot_leftovers(slot):
    """The slot's bridge and any br-* inside its subnets that still exist."""
    nets = slot.networks()
    left = [ifname for ifname, iface in _host_ipv4_interfaces()
            if ifname.startswith("br-") and any(iface.ip in n for n in nets)]
    return left + ([slot.bridge] if _link_exists(slot.bridge) else [])


def allocate_slot():
    """Take the first free slot, clean what a dead run left in it, create its bridge."""
    os.makedirs(SLOT_DIR, mode=0o700, exist_ok=True)
    table = procs.process_table()
    host_addrs = _host_ipv4_interfaces()
    for n in range(MAX_SLOTS):
        fd = os.open(os.path.join(SLOT_DIR, "slot-%d.lock" % n), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                continue
            raise
        slot = Slot(n, fd)
        # An orphaned dockerd of a killed run may still use this bridge: skip it.
        if _slot_in_use_by_process(slot.bridge, table):
            slot.release()
            continue
        # A foreign network on the host overlapping ours: skip the slot.
        nets = slot.networks()
        if any(ifname != slot.bridge and not ifname.startswith("br-")
               and any(iface.network.overlaps(net) for net in nets)
               for ifname, iface in host_addrs):
            slot.release()
            continue
        try:
            delete_slot_interfaces(slot)  # stale leftovers of a dead run
            _ip("link", "add", "name", slot.bridge, "type", "bridge")
            _ip("addr", "add", slot.bridge_cidr, "dev", slot.bridge)
            _ip("link", "set", slot.bridge, "up")
            slot.problems = install_forward_rules(slot)
        except subprocess.CalledProcessError as exc:
            delete_slot_interfaces(slot)
            slot.release()
            raise RuntimeError("cannot create bridge %s: %s" % (slot.bridge, exc.stderr.strip()))
        except BaseException:
            slot.release()
            raise
        os.ftruncate(fd, 0)
        os.write(fd, ("%d\n" % os.getpid()).encode())
        return slot
    raise RuntimeError("no free m87e2e network slot (all %d in use under %s)"
                       % (MAX_SLOTS, SLOT_DIR))


# ---------------------------------------------------------------- daemon


class EngineService:
    """What the private dockerd and the podman service (harness/podman.py) share: a `client` of
    their Engine API, their process `proc`, the network `slot` they took and `_tree`, {pid:
    starttime} of every process they were seen with."""

    def _clean_through_api(self, timeout):
        """Remove containers, networks and volumes while the daemon runs (best effort before the
        signals); returns the problem, if any, in a list."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.client.remove_all_containers(timeout=timeout)
                self.client.prune_networks_and_volumes(timeout=timeout)
            except Exception as exc:  # noqa: BLE001 - best effort before the signals
                return ["cleanup through the API: %r" % (exc,)]
        return []

    def _free_slot(self, delete_interfaces):
        """delete_interfaces(), then release the slot (if it has one); the problem in a list."""
        problems = []
        if self.slot is not None:
            try:
                delete_interfaces()
            except Exception as exc:  # noqa: BLE001
                problems.append("deleting interfaces: %r" % (exc,))
            # checked while the slot is still ours: once released, another environment (suites
            # run side by side) may take it and make its bridge again at once
            left = slot_leftovers(self.slot)
            if left:
                problems.append("interfaces left behind: %s" % ", ".join(sorted(set(left))))
            self.slot.release()
            self.slot = None
        return problems

    def all_pids(self):
        """Every pid this daemon has been seen with (for leak checks in tests)."""
        if self.proc is not None and self.proc.poll() is None:
            self._tree.update(self.related_processes())
        return dict(self._tree)


class Dockerd(EngineService):
    """One private dockerd rooted at `root`. start() / stop(); `client` for API calls."""

    def __init__(self, root, storage_driver=None, extra_args=(), log_level="warn"):
        self.root = root
        self.sock = os.path.join(root, "docker.sock")
        self.data_root = os.path.join(root, "data")
        self.exec_root = os.path.join(root, "exec")
        self.pidfile = os.path.join(root, "docker.pid")
        self.log_path = os.path.join(root, "dockerd.log")
        self.config_path = os.path.join(root, "daemon.json")
        self.storage_driver = storage_driver or os.environ.get("M87_TEST_STORAGE_DRIVER")
        self.extra_args = list(extra_args)
        self.log_level = log_level
        self.proc = None
        self.slot = None
        self.client = DockerClient(self.sock)
        self._tree = {}  # {pid: starttime} of dockerd, containerd, shims, containers

    @property
    def host(self):
        return "unix://" + self.sock

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def argv(self):
        argv = [
            DOCKERD,
            "--host", self.host,
            "--data-root", self.data_root,
            "--exec-root", self.exec_root,
            "--pidfile", self.pidfile,
            "--config-file", self.config_path,
            "--log-level", self.log_level,
            "--bridge", self.slot.bridge,
            "--default-address-pool", "base=%s,size=24" % self.slot.pool,
            "--iptables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            "--shutdown-timeout", "5",
            # a cut layer is tried 5 times by default, 5, 10, 15 and 20 s apart: two
            # attempts still show a retry and keep the fault tests to seconds
            "--max-download-attempts", "2",
        ]
        if self.storage_driver:
            argv += ["--storage-driver", self.storage_driver]
        return argv + self.extra_args

    def start(self, timeout=60):
        """Take a network slot (bridge + address pool) and start the daemon."""
        if len(self.sock) >= 100:
            raise RuntimeError("socket path too long for AF_UNIX: %s" % self.sock)
        os.makedirs(self.root, exist_ok=True)
        with open(self.config_path, "w") as f:
            json.dump({"deprecated-key-path": os.path.join(self.root, "key.json")}, f)
        self.slot = allocate_slot()
        try:
            self.start_daemon(timeout)
        except BaseException:
            self.stop()
            raise

    def start_daemon(self, timeout=60):
        """(Re)start the dockerd process on the existing slot and data root."""
        if self.proc is not None and self.proc.poll() is None:
            return
        if self.slot is None:
            raise RuntimeError("start_daemon() before start() / after stop()")
        self.proc = procs.spawn(self.argv(), self.log_path, signal.SIGTERM)
        self._tree.update(procs.snapshot([self.proc.pid]))
        self.wait_ready(timeout)

    def stop_daemon(self, timeout=20, sig=signal.SIGTERM):
        """Stop only the dockerd process (`sig`, then SIGKILL after `timeout`), keeping
        the slot, data root and containers' definitions: for "daemon down" tests. With
        SIGKILL, containerd and the shims may keep running until stop()."""
        if self.proc is not None and self.proc.poll() is None:
            self._tree.update(self.related_processes())
            procs.stop_popen(self.proc, timeout, sig)

    def restart(self, timeout=60):
        self.stop_daemon()
        self.start_daemon(timeout)

    def wait_ready(self, timeout):
        procs.wait_ready(self.proc, lambda: ping_ok(self.client), timeout, self.log_path,
                         ("dockerd", "answer /_ping"))

    def related_processes(self):
        """Snapshot of dockerd and everything it spawned or that runs on its root:
        containerd, shims, container processes."""
        table = procs.process_table()
        roots = procs.processes_referencing(
            [self.data_root + "/", self.exec_root + "/", self.sock], table)
        if self.proc is not None and self.proc.poll() is None:
            roots.add(self.proc.pid)
        return procs.snapshot(roots | procs.descendants(roots, table), table)

    def stop(self, timeout=20):
        """Remove containers, stop the daemon (SIGTERM, then SIGKILL), kill whatever it
        left (containerd, shims, container processes), delete the slot's interfaces.
        Safe to call more than once and after a failed start."""
        errors = self._clean_through_api(30)
        snap = self.related_processes()
        self._tree.update(snap)
        graceful = self.proc is not None and self.proc.poll() is None
        procs.stop_popen(self.proc, timeout)
        if graceful:
            # containerd normally exits with dockerd; give it a moment, then force.
            try:
                procs.wait_for(lambda: not procs.alive_in_snapshot(self._tree), 5,
                               what="dockerd children to exit")
            except TimeoutError:
                pass
        errors += procs.kill_remaining(self._tree, self.related_processes, "killed processes")
        errors += self._free_slot(lambda: delete_slot_interfaces(self.slot))
        return errors
