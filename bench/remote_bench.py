#!/usr/bin/python3
"""Remote access over loopback: keystroke round trip and stream throughput through
`m87 DEVICE exec`, against direct loopback TCP on the same machine; memory meanwhile.

    /usr/bin/python3 bench/remote_bench.py [--keys 300] [--megabytes 200] [--conns 100]
                                           [--only forward] [--json FILE]
                                           [--replicas local|relayed]

Starts its own test environment (tests/e2e/harness) unless M87_TEST_DOCKER_HOST and friends point
at a running one, a real m87-server on loopback, and `m87-agent run` for one registered device
with `remote = exec, shell`. Needs build/bin/* (`make`), or $M87_BUILD.

Measured:

1. Keystroke round trip through `m87 DEVICE exec -it -- sh -c 'stty raw -echo; exec cat'`,
   driven from a pseudo-terminal of our own (python's pty module, as a user's terminal): one
   byte written to our terminal, timed until the same byte comes back out of it (our terminal,
   the CLI, the server, the agent, the device's pseudo-terminal, cat, and all the way back).
   --keys samples, 5 ms apart, after 20 unmeasured ones. The same with a TCP echo server on
   127.0.0.1 (one byte, Nagle off), as the floor. Reported: p50, p99, max (goal: p99 < 20 ms).
2. Throughput of one stream: `m87 DEVICE exec -- head -c N /dev/zero` read by us from the
   CLI's stdout, N = --megabytes MiB, from the start of the CLI to its exit (so the channel's
   setup is in it), against N MiB sent through one loopback TCP connection between two threads
   of this script (python's recv/sendall, 256 KiB buffers).
3. Memory during 1: VmRSS of m87-server, of the agent daemon, and of the agent's process of the
   channel (a fork of m87-agent that is not the daemon), sampled once while the exec runs.
4. `m87 DEVICE forward`: one connection reading --megabytes MiB from a source server on the
   device's side (from connect to EOF); then --conns connections at once, each reading 64 KiB,
   timed until all ended, with the memory 0.3 s in (the server, the daemon, the number of the
   agent's channel processes and their summed VmRSS, which counts shared pages once each).

`--only forward` measures 4 alone, with the loopback TCP of 2 as its reference.

`--replicas relayed` runs the same on two m87-server replicas on one PostgreSQL (the harness's,
tests/e2e/replica_util.py): the agent talks to replica A, the CLI to replica B, so that every
stream of the agent's is relayed by A to B, which holds the channel (docs/remote.md, Channels
across replicas); `--replicas local` the same two replicas with the agent and the CLI both on
A (no relay), the reference for it. The memory figures are then A's (relayed: B's).

This is a measurement, not a test: nothing is asserted.
"""

import argparse
import json
import os
import pathlib
import pty
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from agent_util import Device, wait_for  # noqa: E402
from cli_util import BUILD, M87, Server  # noqa: E402
from harness import TestEnv  # noqa: E402
import replica_util  # noqa: E402
from replica_util import Via  # noqa: E402

PATH_ENV = "PATH=/usr/bin:/bin"  # the harness gives the agent a PATH of its own


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def summary(samples):
    return {"p50_ms": round(pct(samples, 50), 3), "p99_ms": round(pct(samples, 99), 3),
            "max_ms": round(max(samples), 3), "n": len(samples)}


def read_exact(fd, want, timeout=10.0):
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < len(want) or want not in got:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError("timed out waiting for %r, got %r" % (want, got))
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError("the terminal closed")
            got += chunk
    return got


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def agent_channel_pids(daemon_pid):
    """Processes running the agent binary other than the daemon: the channel's process."""
    exe = os.path.realpath(str(BUILD / "bin" / "m87-agent"))
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == daemon_pid:
            continue
        try:
            if os.path.realpath("/proc/%s/exe" % name) == exe:
                out.append(int(name))
        except OSError:
            pass
    return out


def keystrokes_exec(dev, server, n):
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(str(M87), [str(M87), dev.name, "exec", "-it", "-e", PATH_ENV, "--", "sh", "-c",
                             "stty raw -echo; echo ready; exec cat"], dev.cli.env())
    samples, mem = [], {}
    try:
        read_exact(fd, b"ready")
        time.sleep(0.2)
        for i in range(n + 20):
            key = bytes([ord("a") + i % 26])
            t0 = time.perf_counter()
            os.write(fd, key)
            read_exact(fd, key)
            if i >= 20:
                samples.append((time.perf_counter() - t0) * 1000.0)
            if i == 20 + n // 2:
                mem = {"server_rss_kb": rss_kb(server.proc.pid),
                       "agent_daemon_rss_kb": rss_kb(dev.agent.proc.pid),
                       "agent_channel_rss_kb": [rss_kb(p) for p in
                                                agent_channel_pids(dev.agent.proc.pid)]}
            time.sleep(0.005)
        os.kill(pid, 15)  # the device's terminal is raw: no key ends cat; the channel breaks
        os.waitpid(pid, 0)
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
    return samples, mem


def keystrokes_tcp(n):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def echo():
        c, _ = srv.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            b = c.recv(4096)
            if not b:
                break
            c.sendall(b)
        c.close()
    t = threading.Thread(target=echo)
    t.start()
    cl = socket.create_connection(srv.getsockname())
    cl.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples = []
    for i in range(n + 20):
        t0 = time.perf_counter()
        cl.sendall(b"x")
        cl.recv(1)
        if i >= 20:
            samples.append((time.perf_counter() - t0) * 1000.0)
        time.sleep(0.005)
    cl.close()
    t.join()
    srv.close()
    return samples


def throughput_exec(dev, mib):
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(M87), dev.name, "exec", "-e", PATH_ENV, "--", "head", "-c",
                             str(mib * 1024 * 1024), "/dev/zero"], stdout=subprocess.PIPE,
                            env=dev.cli.env())
    total = 0
    while True:
        b = proc.stdout.read1(1 << 20)
        if not b:
            break
        total += len(b)
    proc.wait()
    secs = time.perf_counter() - t0
    if total != mib * 1024 * 1024 or proc.returncode != 0:
        raise RuntimeError("exec gave %d bytes, exit %d" % (total, proc.returncode))
    return total / secs / 1e6


def throughput_tcp(mib):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    total = mib * 1024 * 1024

    def send():
        c, _ = srv.accept()
        block = bytes(256 * 1024)
        left = total
        while left > 0:
            c.sendall(block[:min(left, len(block))])
            left -= min(left, len(block))
        c.close()
    t = threading.Thread(target=send)
    t0 = time.perf_counter()
    t.start()
    cl = socket.create_connection(srv.getsockname())
    got = 0
    while True:
        b = cl.recv(256 * 1024)
        if not b:
            break
        got += len(b)
    secs = time.perf_counter() - t0
    t.join()
    cl.close()
    srv.close()
    return got / secs / 1e6


def source_server(total):
    """A TCP server that sends total zero bytes to each connection, then closes it."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(256)

    def serve(c):
        block = bytes(256 * 1024)
        left = total
        while left > 0:
            c.sendall(block[:min(left, len(block))])
            left -= min(left, len(block))
        c.close()

    def loop():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
    return srv


def start_forward(dev, spec):
    proc = subprocess.Popen([str(M87), dev.name, "forward", spec], stderr=subprocess.PIPE,
                            env=dev.cli.env())
    line = proc.stderr.readline()
    if not line.startswith(b"forwarding"):
        raise RuntimeError("forward did not start: %r" % line)
    return proc


def read_all(port):
    with socket.create_connection(("127.0.0.1", port)) as c:
        got = 0
        while True:
            b = c.recv(256 * 1024)
            if not b:
                return got
            got += len(b)


def forward_runs(dev, server, mib, conns):
    """Throughput of one forwarded connection (mib MiB from a source on the device's side), and
    conns connections at once (64 KiB each), with the memory meanwhile."""
    src = source_server(mib * 1024 * 1024)
    local = socket.socket()
    local.bind(("127.0.0.1", 0))
    lport = local.getsockname()[1]
    local.close()
    proc = start_forward(dev, "%d:%d" % (lport, src.getsockname()[1]))
    out = {}
    try:
        t0 = time.perf_counter()
        got = read_all(lport)
        out["forward_one_MBps"] = round(got / (time.perf_counter() - t0) / 1e6, 1)
        if got != mib * 1024 * 1024:
            raise RuntimeError("forward gave %d bytes" % got)
    finally:
        proc.send_signal(2)
        proc.wait(timeout=60)
        src.close()
    src = source_server(64 * 1024)
    proc = start_forward(dev, "%d:%d" % (lport, src.getsockname()[1]))
    try:
        results, mem = [], {}
        t0 = time.perf_counter()

        def one():
            results.append(read_all(lport))
        threads = [threading.Thread(target=one) for _ in range(conns)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        chans = agent_channel_pids(dev.agent.proc.pid)
        mem = {"server_rss_kb": rss_kb(server.proc.pid),
               "agent_daemon_rss_kb": rss_kb(dev.agent.proc.pid),
               "agent_channel_processes": len(chans),
               "agent_channel_rss_kb_sum": sum(rss_kb(p) or 0 for p in chans)}
        for t in threads:
            t.join()
        out["forward_%d_conns_s" % conns] = round(time.perf_counter() - t0, 2)
        out["forward_%d_conns_ok" % conns] = sum(1 for r in results if r == 64 * 1024)
        out["memory_during_%d_conns" % conns] = mem
    finally:
        proc.send_signal(2)
        proc.wait(timeout=60)
        src.close()
    return out


def url_of(replica):
    return "http://127.0.0.1:%d" % replica.port


def replicas(tmp, n):
    """replica_util.Cluster's n replicas on the harness's PostgreSQL, without the cap of
    connections per address (as the single server above)."""
    orig = replica_util.Server

    class Uncapped(orig):
        def __init__(self, d, extra_args=()):
            super().__init__(d, extra_args=list(extra_args) +
                             ["--max-connections-per-address", "0"])
    replica_util.Server = Uncapped
    try:
        return replica_util.Cluster(tmp, n)
    finally:
        replica_util.Server = orig


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keys", type=int, default=300)
    ap.add_argument("--megabytes", type=int, default=200)
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--only", choices=["forward"],
                    help="measure only this (and direct loopback TCP, its reference)")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--replicas", choices=["local", "relayed"],
                    help="two replicas on PostgreSQL; the CLI on the agent's (local) or the other")
    args = ap.parse_args()
    for path in (BUILD / "bin" / "m87", BUILD / "bin" / "m87-server",
                 BUILD / "bin" / "m87-agent"):
        if not os.access(path, os.X_OK):
            sys.exit("remote_bench: %s is missing; run `make` first" % path)
    env = TestEnv.from_environ()
    env.start()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="m87-remote-bench-"))
    server = dev = cluster = None
    res = {}
    try:
        if args.replicas:
            cluster = replicas(tmp, 2)
            a, b = cluster.replicas
            server = b if args.replicas == "relayed" else a
            dev = Device(env, Via(url_of(server), cluster.admin), tmp, server_url=url_of(a))
        else:
            # every connection comes from 127.0.0.1 here: the CLI's and the agent's 2 or 3 per
            # forwarded connection would pass the default 256 per address
            server = Server(tmp)
            server.extra_args = ["--max-connections-per-address", "0"]
            server.start()
            dev = Device(env, server, tmp)
        dev.agent.config["remote"] = "exec, shell, forward"
        dev.agent.start()
        wait_for(lambda: (dev.agent.daemon_state() or {}).get("connected"), 60,
                 "the agent to connect")
        time.sleep(2.0)
        if not args.only:
            ex, mem = keystrokes_exec(dev, server, args.keys)
            res["keystroke_exec_t"] = summary(ex)
            res["keystroke_tcp"] = summary(keystrokes_tcp(args.keys))
            res["memory_during_exec"] = mem
            res["throughput_exec_MBps"] = round(throughput_exec(dev, args.megabytes), 1)
        res["throughput_tcp_MBps"] = round(throughput_tcp(args.megabytes), 1)
        res.update(forward_runs(dev, server, args.megabytes, args.conns))
    finally:
        if dev:
            dev.cleanup()
        if cluster:
            cluster.close()
        elif server:
            server.stop()
        env.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
    if args.only:
        print("loopback TCP (python): %.1f MB/s" % res["throughput_tcp_MBps"])
    else:
        print_all(res)
    print("one forwarded connection: %.1f MB/s (goal: half of direct TCP and >= 50 MB/s)"
          % res["forward_one_MBps"])
    n = args.conns
    print("%d forwarded connections at once (64 KiB each): %d complete in %.2f s; memory: %s"
          % (n, res["forward_%d_conns_ok" % n], res["forward_%d_conns_s" % n],
             json.dumps(res["memory_during_%d_conns" % n])))


def print_all(res):
    k, t = res["keystroke_exec_t"], res["keystroke_tcp"]
    print("keystroke round trip, exec -t:   p50 %.2f ms  p99 %.2f ms  max %.2f ms  (goal: p99 < 20)"
          % (k["p50_ms"], k["p99_ms"], k["max_ms"]))
    print("keystroke round trip, TCP echo:  p50 %.2f ms  p99 %.2f ms  max %.2f ms"
          % (t["p50_ms"], t["p99_ms"], t["max_ms"]))
    print("one stream, exec stdout: %.1f MB/s; loopback TCP (python): %.1f MB/s"
          % (res["throughput_exec_MBps"], res["throughput_tcp_MBps"]))
    print("memory during exec -t: %s" % json.dumps(res["memory_during_exec"]))


if __name__ == "__main__":
    main()
