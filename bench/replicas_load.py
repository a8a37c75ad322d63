#!/usr/bin/python3
"""One SQLite m87-server against several replicas on one PostgreSQL, under long-polling devices.

    /usr/bin/python3 bench/replicas_load.py [--sqlite-devices 10000] [--pg-devices 30000]
        [--replicas 3] [--wait 30] [--steady 60] [--sample 500] [--only sqlite|postgres] [--json]
        [--db-pool N]

In one run, one setup after the other (never both at once: they share the machine's cores):

1. SQLite: `m87-server init` and `serve` on a fresh data directory, and one build/bench/server_load
   with --sqlite-devices devices against it (activations on the same server).
2. PostgreSQL: a private PostgreSQL 15 (tests/e2e/harness/postgres.py, as the e2e tests start
   it), `m87-server init --db URL`, --replicas replicas `serve --db URL` on it sharing one data
   directory, and one server_load per replica, each with its share of --pg-devices devices. Each
   client makes its devices through its own replica and its devices hold their syncs on that
   replica; it sends its activations to the NEXT replica (--activate-via), so that every
   activate -> target sample is a wakeup across replicas (a NOTIFY through PostgreSQL).

The clients of a setup make their devices and connect them at the same time; when all devices
are held, this script reads each server's memory and the database's backends, then lets the
clients go on together (--hold-until): --steady seconds of syncs counted, then --sample
activations per client, one after the other, 50 ms apart. Reported per setup: devices, setup
time (the slowest client's devices and deployments made through the API), connect time, each
server's VmRSS with every device held and at the end and its VmHWM, PostgreSQL's backends in the
database (pg_stat_activity), activate -> target p50/p99/max over all clients' samples, syncs
answered per second (sum over the clients) and errors.

Servers run with --max-connections-per-address 0 (every simulated device connects from
127.0.0.1) and --longpoll-max 300; a server raises its open-file limit to the hard limit by
itself, and so do this script (for its children) and server_load. A client needs one descriptor
per device, a server one per held connection plus its reserve (src/server/limits.h): more
devices per client than the hard limit allows fail before anything starts.

A measurement, not a test: nothing is asserted; it fails only when a server or a client does.
"""

import argparse
import json
import os
import pathlib
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("M87_BUILD", ROOT / "build"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from harness.postgres import Postgres  # noqa: E402

SERVER = BUILD / "bin" / "m87-server"
LOAD = BUILD / "bench" / "server_load"
FD_RESERVE = 64 + 36  # the server's reserve (limits.h) and the client's own descriptors


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid):
    """VmRSS and VmHWM of pid in MB (None when gone)."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0]) / 1024.0
    except OSError:
        return None
    return out


def raise_nofile(per_process):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if per_process + FD_RESERVE > hard:
        sys.exit("replicas_load: %d devices on one server (and one client) need %d open files, "
                 "the hard limit here is %d: use more --replicas or fewer devices"
                 % (per_process, per_process + FD_RESERVE, hard))
    return hard


class Server:
    def __init__(self, tmp, name, data, db=None, db_pool=None):
        self.name, self.data, self.db, self.db_pool = name, data, db, db_pool
        self.port = free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.log_path = tmp / ("%s.log" % name)
        self.proc = None

    def start(self):
        argv = [str(SERVER), "serve", "--data", str(self.data), "--listen", self.addr,
                "--max-connections-per-address", "0", "--longpoll-max", "300"]
        if self.db:
            argv += ["--db", self.db]
        if self.db and self.db_pool:
            argv += ["--db-pool", str(self.db_pool)]
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT)
        for _ in range(300):
            if self.proc.poll() is not None:
                sys.exit("replicas_load: %s exited: %s" % (self.name, self.log_path.read_text()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        sys.exit("replicas_load: %s does not listen on %s" % (self.name, self.addr))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()


class Client:
    """One server_load; its output lines are kept and echoed to stderr."""

    def __init__(self, tmp, name, server, admin, devices, args, barrier, via=None):
        self.name = name
        self.lat_path = tmp / ("%s.lat" % name)
        argv = [str(LOAD), "--server", server.addr, "--admin", admin, "--devices", str(devices),
                "--wait", str(args.wait), "--steady", str(args.steady), "--sample",
                str(args.sample), "--server-pid", str(server.proc.pid), "--prefix", name,
                "--hold-until", str(barrier), "--latencies", str(self.lat_path)]
        if via:
            argv += ["--activate-via", via.addr]
        self.lines = []
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            log("  [%s] %s" % (self.name, line))

    def said(self, prefix):
        return next((ln for ln in self.lines if ln.startswith(prefix)), None)

    def number(self, prefix, word_before):
        """The number after word_before in the line starting with prefix."""
        ln = self.said(prefix)
        if ln is None:
            return None
        words = ln.replace(",", " ").split()
        return float(words[words.index(word_before) + 1])

    def latencies(self):
        try:
            return [float(x) for x in self.lat_path.read_text().split()]
        except OSError:
            return []


def quantile(sorted_vals, p):
    if not sorted_vals:
        return None
    return sorted_vals[int(p * (len(sorted_vals) - 1) + 0.5)]


def run_setup(kind, servers, admin, devices, args, tmp, pg=None):
    """Clients against servers (one each, devices split evenly), measured as the docstring says."""
    barrier = tmp / ("%s.go" % kind)
    n = len(servers)
    shares = [devices // n + (1 if i < devices % n else 0) for i in range(n)]
    t0 = time.monotonic()
    clients = [Client(tmp, "%s%d" % (kind[:2], i), s, admin, shares[i], args, barrier,
                      via=servers[(i + 1) % n] if n > 1 else None)
               for i, s in enumerate(servers)]
    result = {"setup": kind, "devices": devices, "servers": n}

    def failed():
        return [c for c in clients if c.proc.poll() not in (None, 0)]

    while not all(c.said("holding until") for c in clients):
        if failed() or any(c.proc.poll() is not None for c in clients):
            break
        time.sleep(0.2)
    if all(c.said("holding until") for c in clients):
        result["held_after_s"] = round(time.monotonic() - t0, 1)
        result["rss_held_mb"] = [round(proc_status(s.proc.pid)["VmRSS"], 1) for s in servers]
        if pg:
            result["pg_backends_held"] = pg_backends(pg)
    barrier.touch()
    for c in clients:
        c.proc.wait()
        c.thread.join()
    result["rss_end_mb"], result["hwm_mb"] = [], []
    for s in servers:
        st = proc_status(s.proc.pid) or {}
        result["rss_end_mb"].append(round(st.get("VmRSS", -1), 1))
        result["hwm_mb"].append(round(st.get("VmHWM", -1), 1))
    if pg:
        result["pg_backends_end"] = pg_backends(pg)
    def each(prefix, word):
        return [v for v in (c.number(prefix, word) for c in clients) if v is not None]

    result["setup_s"] = max(each("setup:", "in"), default=None)
    result["connect_s"] = max(each("connect:", "after"), default=None)
    result["syncs_per_s"] = round(sum(each("steady:", "=")), 1)
    result["errors"] = int(sum(each("steady:", "s;")))
    lat = sorted(v for c in clients for v in c.latencies())
    result["samples"] = len(lat)
    result["p50_ms"], result["p99_ms"] = quantile(lat, 0.5), quantile(lat, 0.99)
    result["max_ms"] = lat[-1] if lat else None
    bad = [c.name for c in clients if c.proc.returncode != 0]
    if bad:
        result["failed"] = "%s exited with an error (see above)" % ", ".join(bad)
    return result


def pg_backends(pg):
    out = pg.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'" % pg.database)
    return int(out.strip())


def init(data, db=None):
    argv = [str(SERVER), "init", "--data", str(data)] + (["--db", db] if db else [])
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        sys.exit("replicas_load: %s: %s" % (" ".join(argv), r.stderr))
    return r.stdout.strip()


def sqlite_setup(args, tmp):
    data = tmp / "sqlite-data"
    admin = init(data)
    s = Server(tmp, "sqlite", data).start()
    try:
        return run_setup("sqlite", [s], admin, args.sqlite_devices, args, tmp)
    finally:
        s.stop()


def postgres_setup(args, tmp):
    pg = Postgres().start()
    replicas = []
    try:
        url = pg.url()
        data = tmp / "pg-data"
        admin = init(data, url)
        for i in range(args.replicas):
            replicas.append(Server(tmp, "replica%d" % i, data, url, args.db_pool).start())
        r = run_setup("postgres", replicas, admin, args.pg_devices, args, tmp, pg)
        r["pg_max_connections"] = int(pg.psql("SHOW max_connections").strip())
        return r
    finally:
        for s in replicas:
            s.stop()
        pg.close()


def fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, list):
        return " / ".join(fmt(x) for x in v) + unit
    if isinstance(v, float):
        return ("%.1f" % v) + unit
    return str(v) + unit


def table(results):
    rows = [
        ("devices", lambda r: "{:,}".format(r["devices"])),
        ("servers", lambda r: str(r["servers"])),
        ("setup: devices and deployments made (slowest client)", lambda r: fmt(r["setup_s"], " s")),
        ("all devices held after (from the start)", lambda r: fmt(r.get("held_after_s"), " s")),
        ("RSS per server, all held (MB)", lambda r: fmt(r.get("rss_held_mb"))),
        ("RSS per server, at the end (MB)", lambda r: fmt(r["rss_end_mb"])),
        ("VmHWM per server (MB)", lambda r: fmt(r["hwm_mb"])),
        ("PostgreSQL backends in the database (held / end)",
         lambda r: "%s / %s" % (r.get("pg_backends_held", "-"), r["pg_backends_end"])
         if "pg_backends_end" in r else "-"),
        ("syncs answered per second", lambda r: fmt(r["syncs_per_s"])),
        ("activate -> target samples", lambda r: str(r["samples"])),
        ("activate -> target p50 / p99 / max (ms)",
         lambda r: "%s / %s / %s" % (fmt(r["p50_ms"]), fmt(r["p99_ms"]), fmt(r["max_ms"]))),
        ("errors", lambda r: str(r["errors"]) + (" (%s)" % r["failed"] if "failed" in r else "")),
    ]
    w = max(len(name) for name, _ in rows)
    cols = [[get(r) for r in results] for _, get in rows]
    cw = [max(len(col[i]) for col in cols + [[r["setup"] for r in results]])
          for i in range(len(results))]
    lines = ["%-*s  %s" % (w, "", "  ".join("%-*s" % (cw[i], r["setup"])
                                            for i, r in enumerate(results)))]
    for (name, _), col in zip(rows, cols):
        lines.append("%-*s  %s" % (w, name, "  ".join("%-*s" % (cw[i], v)
                                                     for i, v in enumerate(col))))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="See the top of bench/replicas_load.py for what is measured.")
    ap.add_argument("--sqlite-devices", type=int, default=10000)
    ap.add_argument("--pg-devices", type=int, default=30000)
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--wait", type=int, default=30, help="the devices' sync wait (s)")
    ap.add_argument("--steady", type=int, default=60, help="seconds of syncs counted")
    ap.add_argument("--sample", type=int, default=500, help="activations per client")
    ap.add_argument("--only", choices=("sqlite", "postgres"))
    ap.add_argument("--db-pool", type=int, help="each replica's `serve --db-pool` (default: "
                    "the server's)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    for name in ("sqlite_devices", "pg_devices", "replicas", "wait", "steady", "sample"):
        if getattr(args, name) <= 0:
            ap.error("--%s: expected a positive number" % name.replace("_", "-"))
    for b in (SERVER, LOAD):
        if not b.exists():
            sys.exit("replicas_load: %s is missing: run make bench" % b)
    per = max(args.sqlite_devices if args.only != "postgres" else 0,
              -(-args.pg_devices // args.replicas) if args.only != "sqlite" else 0)
    hard = raise_nofile(per)
    log("replicas_load: open-file limit %d; %d CPUs" % (hard, os.cpu_count()))
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="m87-replicas-bench-"))
    results = []
    try:
        if args.only != "postgres":
            log("== one SQLite server, %d devices" % args.sqlite_devices)
            results.append(sqlite_setup(args, tmp))
        if args.only != "sqlite":
            log("== %d replicas on one PostgreSQL, %d devices" % (args.replicas, args.pg_devices))
            results.append(postgres_setup(args, tmp))
    finally:
        if any("failed" in r for r in results) or sys.exc_info()[0]:
            log("replicas_load: the servers' logs are kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(table(results))
    return 1 if any("failed" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
