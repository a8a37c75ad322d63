#!/usr/bin/python3
"""What the device agent costs: memory, binary size, bytes on the wire, reaction time.

    /usr/bin/python3 bench/agent_bench.py [--idle-seconds 300] [--services 10] [--deploys 5]
                                          [--json FILE]

Starts its own test environment (private dockerd + registry + busybox images, from
tests/e2e/harness) unless M87_TEST_DOCKER_HOST and friends point at a running one, a real
m87-server, and `m87-agent run` for one registered device whose connection to the server goes
through the fault proxy (tests/tools/faultproxy.c, passing everything) so that its bytes can be
counted. Needs build/bin/* and build/tests/tools/m87-faultproxy (`make tests`), or $M87_BUILD.

Measured, in this order:

1. A compose stack of N services (the small busybox image, a quiet `sleep` command, one
   network) is deployed with `m87 DEVICE deploy`; while the agent applies it, /proc is sampled
   every 20 ms: the daemon, and the apply process tree below it (the forked apply child and
   the step processes it forks). Reported: the daemon's peak RSS (VmHWM), the largest peak RSS
   of one process of the apply tree (VmHWM), and the peak of the tree's summed RSS and PSS at
   one sample (RSS counts the pages a forked child shares with the daemon once per process;
   PSS splits them).
2. Idle: with that deployment applied and nothing queued, the daemon's Rss, Pss, Anonymous
   and Private_Clean + Private_Dirty from /proc/PID/smaps_rollup, side by side, and the
   mappings holding the most resident pages (/proc/PID/smaps summed per file: the program, each
   shared library, [heap], [anon], [stack]) with their Rss, Pss and Anonymous. Rss counts every
   page mapped, also the pages of a library that other processes share; Pss splits those among
   the processes mapping them, so it depends on what else runs on the machine; Anonymous is
   the memory only this process can own (heap, stacks, the pages of a library's data that the
   loader's relocations wrote).
3. Bytes on the wire for an idle device: the proxy's byte counters (TCP payload both ways:
   HTTP requests, answers, headers; no TCP/IP/TLS framing) over --idle-seconds with the
   daemon's default 60 s long-poll, extrapolated to an hour, counted from 40 s after the
   daemon went idle (for 30 s after an apply or after shipping log lines it syncs every 2 s,
   which is activity, not idleness). The stack's containers print nothing, so no log lines
   are shipped.
4. Reaction time: --deploys times, a changed environment of one service is deployed; the time
   from `m87 deploy` returning to the daemon's `applying revision` log line (seen by polling
   the log every 2 ms) and to the `time` of the first report the device journaled for that
   revision (its clock is this machine's).
5. The size of build/bin/m87-agent, and of a copy stripped with `strip`; the same for the ARM
   builds in build-arm64/ and build-armhf/ (`make ARCH=arm64`, `make ARCH=armhf`) when they
   are there, stripped with the cross toolchain's strip; absent builds are named in a note.

This is a measurement, not a test: nothing is asserted; the table shows the targets.
"""

import argparse
import datetime
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from agent_util import Device, wait_for  # noqa: E402
from cli_util import BUILD, Server  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402
from harness import TestEnv  # noqa: E402

AGENT = BUILD / "bin" / "m87-agent"
PROXY = BUILD / "tests" / "tools" / "m87-faultproxy"
SAMPLE_S = 0.020
QUIET = '["sh", "-c", "trap \'exit 0\' TERM; sleep 86400 & wait"]'
PROJECT = "benchstack"
KIB = 1024
SETTLE_S = 40
MAPPINGS_SHOWN = 16


# ---------------------------------------------------------------- /proc


def status_kib(pid, *keys):
    """{key: kB} from /proc/PID/status, or None when the process is gone."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in keys:
                    out[k] = int(v.split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return out


def smaps_rollup_kib(pid):
    """{Rss, Pss, Private}: kB from /proc/PID/smaps_rollup, or None."""
    vals = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                    vals[parts[0][:-1]] = int(parts[1])
    except OSError:
        return None
    return {"Rss": vals.get("Rss", 0), "Pss": vals.get("Pss", 0),
            "Anonymous": vals.get("Anonymous", 0),
            "Private": vals.get("Private_Clean", 0) + vals.get("Private_Dirty", 0)}


def smaps_mappings_kib(pid):
    """[(name, Rss, Pss, Anonymous)] in kB from /proc/PID/smaps, summed per mapped file (its
    base name) or kind of anonymous mapping ([heap], [stack], [anon]), most Rss first."""
    per = {}
    cur = None
    try:
        with open("/proc/%d/smaps" % pid) as f:
            for line in f:
                parts = line.split()
                if not parts:
                    continue
                if not parts[0].endswith(":"):  # a mapping's header: range perms off dev inode
                    name = os.path.basename(parts[5]) if len(parts) > 5 else "[anon]"
                    cur = per.setdefault(name, [0, 0, 0])
                elif cur is not None and len(parts) >= 2 and parts[1].isdigit():
                    key = parts[0][:-1]
                    if key in ("Rss", "Pss", "Anonymous"):
                        cur[("Rss", "Pss", "Anonymous").index(key)] += int(parts[1])
    except OSError:
        return []
    return sorted(((n, v[0], v[1], v[2]) for n, v in per.items()), key=lambda r: -r[1])


def children(pid):
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def tree(pid):
    """pid's descendants (pid excluded)."""
    out, todo = [], children(pid)
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children(p)
    return out


class Sampler(threading.Thread):
    """Samples the daemon and its process tree every 20 ms until stop()."""

    def __init__(self, daemon_pid):
        super().__init__(daemon=True)
        self.pid = daemon_pid
        self.halt = threading.Event()
        self.samples = 0
        self.daemon_rss = 0
        self.daemon_hwm = 0
        self.proc_hwm = {}  # pid of the apply tree -> peak VmHWM / VmRSS seen
        self.tree_rss = 0
        self.tree_pss = 0
        self.tree_size = 0

    def run(self):
        while not self.halt.is_set():
            self.sample()
            self.halt.wait(SAMPLE_S)
        self.sample()

    def sample(self):
        st = status_kib(self.pid, "VmRSS", "VmHWM")
        if st:
            self.daemon_rss = max(self.daemon_rss, st.get("VmRSS", 0))
            self.daemon_hwm = max(self.daemon_hwm, st.get("VmHWM", 0))
        rss_sum = pss_sum = 0
        pids = tree(self.pid)
        for p in pids:
            st = status_kib(p, "VmRSS", "VmHWM")
            if not st:
                continue
            rss_sum += st.get("VmRSS", 0)
            peak = max(st.get("VmRSS", 0), st.get("VmHWM", 0))
            self.proc_hwm[p] = max(self.proc_hwm.get(p, 0), peak)
            sm = smaps_rollup_kib(p)
            pss_sum += sm["Pss"] if sm else 0
        self.tree_rss = max(self.tree_rss, rss_sum)
        self.tree_pss = max(self.tree_pss, pss_sum)
        self.tree_size = max(self.tree_size, len(pids))
        self.samples += 1

    def stop(self):
        self.halt.set()
        self.join()


class LogWatcher(threading.Thread):
    """Polls the agent's log every 2 ms and notes when each new line was first seen."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.halt = threading.Event()
        self.lines = []  # (time.time(), line)
        self.offset = path.stat().st_size if path.exists() else 0
        self.partial = b""

    def run(self):
        while not self.halt.is_set():
            self.poll()
            self.halt.wait(0.002)

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return
        if not data:
            return
        now = time.time()
        self.offset += len(data)
        data = self.partial + data
        *complete, self.partial = data.split(b"\n")
        self.lines += [(now, line.decode(errors="replace")) for line in complete]

    def first(self, text, after):
        for t, line in self.lines:
            if t >= after - 1 and text in line:
                return t
        return None

    def stop(self):
        self.halt.set()
        self.join()


# ---------------------------------------------------------------- scenario


def stack(env, n, generation):
    services = {}
    for i in range(n):
        services["svc%02d" % i] = {
            "image": env.small_image, "command": json.loads(QUIET),
            "environment": {"SERVICE_INDEX": str(i), "GENERATION": str(generation if i == 0
                                                                       else 0)},
            "networks": ["net"]}
    return services


def deploy(dev, env, n, generation):
    src = dev.tmp / "src" / PROJECT
    src.mkdir(parents=True, exist_ok=True)
    dev.projects.add(PROJECT)
    doc = {"services": stack(env, n, generation), "networks": {"net": {}}}
    (src / "docker-compose.yml").write_text(json.dumps(doc, indent=1))  # JSON is YAML
    dev.cli.ok(dev.name, "deploy", "docker-compose.yml", cwd=src)
    return time.time()


def wait_idle(dev, timeout=300):
    """Until the active revision is applied, nothing is applying and nothing is queued."""
    dev.wait_applied(timeout)

    def idle():
        st = dev.agent.daemon_state() or {}
        return st.get("applying") is None and st.get("queue", 1) == 0 and st.get("connected")
    wait_for(idle, timeout, "the agent to be idle\n" + dev.agent.log()[-2000:])


def parse_time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def measure_apply(dev, env, n):
    sampler = Sampler(dev.agent.proc.pid)
    sampler.start()
    try:
        deploy(dev, env, n, 0)
        wait_idle(dev)
    finally:
        sampler.stop()
    running = [c for c in dev.agent.containers(PROJECT) if c["State"] == "running"]
    return {
        "services_running": len(running),
        "daemon_peak_rss_kib": max(sampler.daemon_hwm, sampler.daemon_rss),
        "apply_proc_peak_rss_kib": max(sampler.proc_hwm.values(), default=0),
        "apply_tree_peak_rss_sum_kib": sampler.tree_rss,
        "apply_tree_peak_pss_sum_kib": sampler.tree_pss,
        "apply_tree_max_processes": sampler.tree_size,
        "samples": sampler.samples,
    }


def measure_idle_memory(dev):
    time.sleep(3)
    pid = dev.agent.proc.pid
    st = status_kib(pid, "VmRSS")
    sm = smaps_rollup_kib(pid)
    return {"idle_rss_kib": sm["Rss"], "idle_vmrss_kib": st["VmRSS"], "idle_pss_kib": sm["Pss"],
            "idle_anon_kib": sm["Anonymous"], "idle_private_kib": sm["Private"],
            "idle_mappings": smaps_mappings_kib(pid)}


def syncs_logged(server):
    """POST /v1/agent/sync requests the server logged so far (one line each, when answered)."""
    return server.log_path.read_text(errors="replace").count("POST /v1/agent/sync ")


def measure_idle_wire(dev, server, proxy, seconds):
    wait_idle(dev)
    # after an apply or shipped log lines the daemon syncs every 2 s for 30 s
    # (AGENT_LOGS_ACTIVE_MS in src/agent/daemon.h): that is activity, not idleness
    time.sleep(SETTLE_S)
    proxy.reset_stats()
    syncs = syncs_logged(server)
    t0 = time.monotonic()
    time.sleep(seconds)
    stats = proxy.stats()
    elapsed = time.monotonic() - t0
    total = stats["up"] + stats["down"]
    return {"idle_seconds": round(elapsed, 1), "idle_bytes_up": stats["up"],
            "idle_bytes_down": stats["down"], "idle_connections": stats["conns"],
            "idle_syncs": syncs_logged(server) - syncs,
            "idle_bytes_per_hour": int(total * 3600 / elapsed)}


def measure_reaction(dev, env, n, deploys):
    log_ms, report_ms = [], []
    for i in range(deploys):
        wait_idle(dev)
        watcher = LogWatcher(dev.agent.log_path)
        watcher.start()
        try:
            returned = deploy(dev, env, n, i + 1)
            want = dev.active_hash()
            wait_for(lambda: watcher.first("applying revision", returned), 30,
                     "the agent to start applying\n" + dev.agent.log()[-2000:], interval=0.01)
            seen = watcher.first("applying revision", returned)
        finally:
            watcher.stop()
        wait_idle(dev)
        times = [parse_time(r["time"]) for r in dev.reports(revision=want) if r.get("time")]
        log_ms.append((seen - returned) * 1000)
        if times:
            report_ms.append((min(times) - returned) * 1000)
    return {"reaction_log_ms": log_ms, "reaction_report_ms": report_ms}


def stripped_size(path, strip):
    with tempfile.TemporaryDirectory() as d:
        copy = os.path.join(d, "m87-agent")
        shutil.copy(path, copy)
        subprocess.run([strip, copy], check=True)
        return os.path.getsize(copy)


# the cross builds of `make ARCH=...` (Makefile) and the strip of their toolchain
ARM_BUILDS = (("arm64", "build-arm64", "aarch64-linux-gnu-strip"),
              ("armhf", "build-armhf", "arm-linux-gnueabihf-strip"))


def binary_sizes():
    out = {"binary_bytes": os.path.getsize(AGENT), "stripped_bytes": stripped_size(AGENT, "strip"),
           "arm": {}, "arm_notes": []}
    for arch, build, strip in ARM_BUILDS:
        path = ROOT / build / "bin" / "m87-agent"
        if not path.exists():
            out["arm_notes"].append("%s: no %s (build it with `make ARCH=%s`)" % (
                arch, path.relative_to(ROOT), arch))
            continue
        if not shutil.which(strip):
            out["arm_notes"].append("%s: %s is not installed (scripts/install-cross.sh)" % (
                arch, strip))
            continue
        out["arm"][arch] = {"binary_bytes": os.path.getsize(path),
                            "stripped_bytes": stripped_size(path, strip)}
    return out


# ---------------------------------------------------------------- output


def kib(v):
    return "%.1f MiB" % (v / KIB) if v >= 10 * KIB else "%d KiB" % v


def table(r):
    rows = [
        ("agent idle RSS (after a %d-service apply)" % r["services"], kib(r["idle_rss_kib"]),
         "<= 6 MiB"),
        ("agent idle PSS", kib(r["idle_pss_kib"]), "<= 4 MiB"),
        ("agent idle Anonymous / Private (smaps_rollup)", "%s / %s" % (
            kib(r["idle_anon_kib"]), kib(r["idle_private_kib"])), ""),
        ("daemon peak RSS during the %d-service apply" % r["services"],
         kib(r["daemon_peak_rss_kib"]), ""),
        ("apply tree: largest process peak RSS", kib(r["apply_proc_peak_rss_kib"]), ""),
        ("apply tree: peak summed RSS / PSS (max %d procs)" % r["apply_tree_max_processes"],
         "%s / %s" % (kib(r["apply_tree_peak_rss_sum_kib"]),
                      kib(r["apply_tree_peak_pss_sum_kib"])), ""),
        ("m87-agent binary, stripped (unstripped)", "%d KiB (%d KiB)" % (
            r["stripped_bytes"] // KIB, r["binary_bytes"] // KIB), ""),
    ] + [
        ("m87-agent %s binary, stripped (unstripped)" % arch, "%d KiB (%d KiB)" % (
            s["stripped_bytes"] // KIB, s["binary_bytes"] // KIB), "")
        for arch, s in sorted(r["arm"].items())
    ] + [
        ("idle device, bytes on the wire per hour", "%.1f KB" % (r["idle_bytes_per_hour"] / 1000),
         "< 20 KB"),
        ("  measured: bytes up / down, syncs, new connections", "%d / %d in %ds, %d, %d" % (
            r["idle_bytes_up"], r["idle_bytes_down"], r["idle_seconds"], r["idle_syncs"],
            r["idle_connections"]), ""),
        ("deploy returned -> agent logs 'applying' (median, max)", "%.0f ms, %.0f ms" % (
            statistics.median(r["reaction_log_ms"]), max(r["reaction_log_ms"])), "< 1 s"),
    ]
    if r["reaction_report_ms"]:
        rows.append(("deploy returned -> first report of the revision (median, max)",
                     "%.0f ms, %.0f ms" % (statistics.median(r["reaction_report_ms"]),
                                           max(r["reaction_report_ms"])), "< 1 s"))
    w0 = max(len(x[0]) for x in rows)
    w1 = max(len(x[1]) for x in rows)
    lines = ["%-*s  %-*s  %s" % (w0, "measure", w1, "value", "target")]
    lines += ["%-*s  %-*s  %s" % (w0, a, w1, b, c) for a, b, c in rows]
    lines += ["note: %s" % n for n in r["arm_notes"]]
    lines += ["", "idle agent, resident pages per mapping (/proc/PID/smaps, KiB):",
              "%-28s %7s %7s %9s" % ("mapping", "Rss", "Pss", "Anonymous")]
    shown = r["idle_mappings"][:MAPPINGS_SHOWN]
    rest = r["idle_mappings"][MAPPINGS_SHOWN:]
    lines += ["%-28s %7d %7d %9d" % (n[:28], rss, pss, anon) for n, rss, pss, anon in shown]
    if rest:
        lines.append("%-28s %7d %7d %9d" % (
            "%d more mappings" % len(rest), sum(x[1] for x in rest), sum(x[2] for x in rest),
            sum(x[3] for x in rest)))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--idle-seconds", type=int, default=300)
    ap.add_argument("--services", type=int, default=10)
    ap.add_argument("--deploys", type=int, default=5)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    for path in (AGENT, PROXY, BUILD / "bin" / "m87", BUILD / "bin" / "m87-server"):
        if not os.access(path, os.X_OK):
            sys.exit("agent_bench: %s is missing; run `make tests` first" % path)
    results = {"services": args.services}
    results.update(binary_sizes())
    env = TestEnv.from_environ()
    env.start()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="m87-agent-bench-"))
    server = proxy = dev = None
    try:
        server = Server(tmp).start()
        proxy = FaultProxy(PROXY, "127.0.0.1", server.port).start()
        # the default 60 s reconnect cap: no test-only override on the measured daemon
        dev = Device(env, server, tmp, backoff_max_ms=60000,
                     server_url="http://127.0.0.1:%d" % proxy.port)
        dev.agent.start()
        dev.m87("deployment", "new", "--active")
        print("agent_bench: %d-service apply" % args.services, file=sys.stderr)
        results.update(measure_apply(dev, env, args.services))
        results.update(measure_idle_memory(dev))
        print("agent_bench: idle for %d s" % args.idle_seconds, file=sys.stderr)
        results.update(measure_idle_wire(dev, server, proxy, args.idle_seconds))
        print("agent_bench: %d deploys" % args.deploys, file=sys.stderr)
        results.update(measure_reaction(dev, env, args.services, args.deploys))
        dev.m87("undeploy", PROJECT)
        dev.wait_applied()
    finally:
        if dev:
            dev.cleanup()
        if proxy:
            proxy.stop()
        if server:
            server.stop()
        env.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
