"""A hostile client against a real m87-server (issue 15, "Trust holes"): idle sockets that never
send their headers, many held syncs of one device, held syncs whose client left. Each test fails
against a server without the defence it checks."""

import json
import os
import re
import resource
import socket
import subprocess
import sys
import time

import pytest

from server_util import HeldSync, Server, metric

# The hostile client connects from another loopback address than the good clients (the whole of
# 127/8 is the loopback), as an attacker would from an address of its own.
HOSTILE_ADDR = "127.0.0.2"

HOSTILE = r"""
import json, resource, socket, sys, time
port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = []
for _ in range(n):
    s = socket.socket()
    s.bind(("%s", 0))
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        # a request line and one header, and then nothing: the slow-headers attack
        s.sendall(b"POST /v1/agent/sync HTTP/1.1\r\nHost: m87\r\n")
    except OSError:
        s.close()
        continue
    socks.append(s)
print("ready", flush=True)
time.sleep(hold)
alive = 0
for s in socks:
    s.setblocking(False)
    try:
        alive += s.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        alive += 1
    except OSError:
        pass
print(json.dumps({"opened": len(socks), "alive": alive}), flush=True)
""" % HOSTILE_ADDR


def start(tmp_path, args=(), nofile=None):
    s = Server(tmp_path, extra_args=args)
    if nofile:
        s.preexec = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    s.init()
    s.start()
    return s


@pytest.fixture
def servers():
    started = []
    yield started
    for s in started:
        rc = s.stop()
        assert rc in (0, None), "m87-server exit status %r: %s" % (rc, s.read_log())


def test_idle_sockets_of_one_address_leave_room_for_everyone(tmp_path, servers):
    # 512 descriptors: the hostile client's 700 sockets would take them all without the limit of
    # connections per address (default 256)
    server = start(tmp_path, nofile=512)
    servers.append(server)
    token = server.add_device("gw")
    hostile = subprocess.Popen([sys.executable, "-c", HOSTILE, str(server.port), "700", "4"],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert hostile.stdout.readline().strip() == "ready"
        for _ in range(20):
            assert server.request("GET", "/healthz", timeout=5).status == 200
            r = server.sync(token, {"applied": None, "wait": 0}, timeout=5)
            assert r.status == 200 and r.json == {"ack": 0}
        held = HeldSync(server, token, {"applied": None, "wait": 30})
        held.wait_held()
        dep = server.new_deployment("gw", active=True)
        assert held.join().json["target"]["deployment"] == dep["id"]
        seen = json.loads(hostile.stdout.readline())
    finally:
        hostile.kill()
        hostile.wait()
    assert seen["opened"] > 256 and seen["alive"] <= 256, seen
    assert server.request("GET", "/healthz").status == 200


def test_a_low_descriptor_limit_still_leaves_room(tmp_path, servers):
    # the reproduction of issue 15: 128 descriptors, 150 sockets sending a request line and one
    # header; one address gets at most half of the connections the server can take
    server = start(tmp_path, nofile=128)
    servers.append(server)
    hostile = subprocess.Popen([sys.executable, "-c", HOSTILE, str(server.port), "150", "3"],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert hostile.stdout.readline().strip() == "ready"
        for _ in range(10):
            assert server.request("GET", "/healthz", timeout=5).status == 200
        seen = json.loads(hostile.stdout.readline())
    finally:
        hostile.kill()
        hostile.wait()
    assert seen["alive"] <= 32, seen
    assert "connections per address: 32 (half of the 64 this process can take)" in \
        server.read_log()


def test_max_connections_per_address_option(tmp_path, servers):
    server = start(tmp_path, args=["--max-connections-per-address", "20"])
    servers.append(server)
    hostile = subprocess.Popen([sys.executable, "-c", HOSTILE, str(server.port), "60", "2"],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert hostile.stdout.readline().strip() == "ready"
        assert server.request("GET", "/healthz", timeout=5).status == 200
        seen = json.loads(hostile.stdout.readline())
    finally:
        hostile.kill()
        hostile.wait()
    assert seen["alive"] <= 20, seen
    for bad in ("-1", "60001", "x", ""):
        r = subprocess.run([server_bin(), "serve", "--data", server.data, "--listen",
                            "127.0.0.1:1", "--max-connections-per-address", bad],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2, r
        assert "--max-connections-per-address: expected 0 to 60000" in r.stderr


def server_bin():
    from server_util import SERVER_BIN
    return SERVER_BIN


def test_a_request_without_its_headers_is_closed_soon(tmp_path, servers):
    server = start(tmp_path)
    servers.append(server)
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: m87\r\n")
    t0 = time.monotonic()
    s.settimeout(40)
    try:
        data = s.recv(4096)
    except ConnectionResetError:
        data = b""
    took = time.monotonic() - t0
    s.close()
    assert data == b"" and 10 <= took <= 25, (data, took)
    # a client that sends its headers in time is answered
    assert server.request("GET", "/healthz").status == 200


def test_held_syncs_of_one_device_are_bounded(tmp_path, servers):
    server = start(tmp_path)
    servers.append(server)
    token = server.add_device("gw")
    other = server.add_device("other")
    kept = HeldSync(server, other, {"applied": None, "wait": 60})
    kept.wait_held()
    held = []
    for i in range(10):
        held.append(HeldSync(server, token, {"applied": None, "wait": 60}))
        time.sleep(0.05)
    # the newest win: the older ones are answered at once, four stay held (and the other
    # device's)
    deadline = time.monotonic() + 10
    while sum(h.thread.is_alive() for h in held) > 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sum(h.thread.is_alive() for h in held) == 4
    assert metric(server, "m87_longpolls_held") == 5
    for h in held[:6]:
        r = h.join()
        assert r.status == 200 and r.json == {"ack": 0}
        assert h.finished - h.started < 10
    assert kept.thread.is_alive()
    dep = server.new_deployment("gw", active=True)
    for h in held[6:]:
        assert h.join().json["target"]["deployment"] == dep["id"]
    assert metric(server, "m87_longpolls_held") == 1


def test_a_held_sync_whose_client_left_is_released_at_once(tmp_path, servers):
    server = start(tmp_path)
    servers.append(server)
    token = server.add_device("gw")
    body = json.dumps({"applied": None, "wait": 120}).encode()
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(b"POST /v1/agent/sync HTTP/1.1\r\nHost: m87\r\nAuthorization: Bearer " +
                  token.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: " +
                  str(len(body)).encode() + b"\r\n\r\n" + body)
        for _ in range(500):
            if metric(server, "m87_longpolls_held") == 1:
                break
            time.sleep(0.01)
        assert metric(server, "m87_longpolls_held") == 1
        s.close()
        t0 = time.monotonic()
        while metric(server, "m87_longpolls_held") != 0 and time.monotonic() - t0 < 5:
            time.sleep(0.02)
        assert metric(server, "m87_longpolls_held") == 0
        assert time.monotonic() - t0 < 1
    assert "POST /v1/agent/sync 200" in server.read_log()
    assert server.request("GET", "/healthz").status == 200


# ---- reports: bounded by age, by size per device, by an ingest limit, by the disk ----------

def flood(seq0, n=60, size=60 * 1024):
    return [{"seq": seq0 + i, "kind": "log", "output": "x" * (size - 100)} for i in range(n)]


def stored(server, device):
    r = server.admin_req("GET", f"/v1/devices/{device}/reports?limit=1000")
    assert r.status == 200, r
    return [x["seq"] for x in r.json["reports"]]


def wait_for(cond, timeout=20):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_report_flood_is_bounded_per_device(tmp_path, servers):
    server = start(tmp_path, args=["--report-max-per-device", "1MB",
                                   "--report-ingest-limit", "0"])
    servers.append(server)
    token = server.add_device("gw")
    quiet = server.add_device("quiet")
    assert server.sync(quiet, {"reports": flood(1, n=3, size=1000), "wait": 0}).json == {"ack": 3}
    seq = 1
    for _ in range(8):  # 8 x 60 x 60 KB = 28 MB
        r = server.sync(token, {"reports": flood(seq), "wait": 0})
        assert r.status == 200 and r.json == {"ack": seq + 59}, r
        seq += 60
        wait_for(lambda: len(stored(server, "gw")) <= 17)
    kept = stored(server, "gw")
    # the newest are kept, the oldest went first; the ack stays the highest seq
    assert kept == list(range(seq - len(kept), seq)) and len(kept) >= 10
    assert server.sync(token, {"wait": 0}).json == {"ack": seq - 1}
    assert stored(server, "quiet") == [1, 2, 3]
    assert metric(server, "m87_reports_pruned_total") == seq - 1 - len(kept)
    # the database reuses the pages freed: it stays near the limit, not the 28 MB sent (SQLite;
    # PostgreSQL frees a deleted row's space at its autovacuum's pace)
    if not server.db_args:
        assert os.path.getsize(os.path.join(server.data, "m87.db")) < 12 * 1024 * 1024


def test_reports_older_than_the_retention_are_pruned(tmp_path, servers):
    server = start(tmp_path, args=["--report-retention", "3s"])
    servers.append(server)
    token = server.add_device("gw")
    assert server.sync(token, {"reports": flood(1, n=5, size=500), "wait": 0}).json == {"ack": 5}
    assert stored(server, "gw") == [1, 2, 3, 4, 5]
    wait_for(lambda: stored(server, "gw") == [], timeout=15)
    # the ack survives its reports, and a resend of them is a duplicate
    assert server.sync(token, {"wait": 0}).json == {"ack": 5}
    assert server.sync(token, {"reports": flood(6, n=1, size=500), "wait": 0}).json == {"ack": 6}
    assert stored(server, "gw") == [6]


def test_report_ingest_limit_refuses_with_429_and_stores_nothing(tmp_path, servers):
    server = start(tmp_path, args=["--report-ingest-limit", "1MB"])
    servers.append(server)
    token = server.add_device("gw")
    other = server.add_device("other")
    r = server.sync(token, {"reports": flood(1, n=12, size=60 * 1024), "wait": 0})
    assert r.status == 200 and r.json == {"ack": 12}
    r = server.sync(token, {"reports": flood(13, n=12, size=60 * 1024), "wait": 0})
    assert r.status == 429 and r.error_code() == "too_many_requests", r
    assert "device 'gw' sent more reports than its limit" in r.json["error"]["message"]
    assert 1 <= int(r.header("Retry-After")) <= 60
    assert stored(server, "gw") == list(range(1, 13))
    # a sync without reports still gets its answer; other devices are not limited
    assert server.sync(token, {"wait": 0}).json == {"ack": 12}
    assert server.sync(other, {"reports": flood(1, n=12), "wait": 0}).json == {"ack": 12}
    assert metric(server, "m87_reports_refused_total") == 1
    # a small sync goes through once the bucket refills a little
    wait_for(lambda: server.sync(token, {"reports": flood(13, n=1, size=1000),
                                         "wait": 0}).status == 200, timeout=10)
    assert stored(server, "gw")[-1] == 13


def test_reports_refused_when_the_disk_is_nearly_full(tmp_path, servers):
    # a reserve larger than any disk: the disk is "nearly full"
    server = start(tmp_path, args=["--disk-reserve", "1000000TB"])
    servers.append(server)
    token = server.add_device("gw")
    r = server.sync(token, {"reports": flood(1, n=2, size=500), "wait": 0})
    assert r.status == 507 and r.error_code() == "insufficient_storage", r
    assert "the server's disk is nearly full" in r.json["error"]["message"]
    assert r.header("Retry-After") == "60"
    assert stored(server, "gw") == []
    dep = server.new_deployment("gw", active=True)
    r = server.sync(token, {"wait": 0})
    assert r.status == 200 and r.json["target"]["deployment"] == dep["id"]


@pytest.mark.parametrize("opt,bad,msg", [
    ("--report-retention", "soon", "--report-retention: expected a duration like 30d"),
    ("--report-retention", "500ms", "--report-retention: expected a duration like 30d"),
    ("--report-retention", "-1s", "--report-retention: expected a duration like 30d"),
    ("--report-max-per-device", "lots", "--report-max-per-device: expected a size like 64MB"),
    ("--report-ingest-limit", "-1", "--report-ingest-limit: expected a size like 4MB"),
    ("--disk-reserve", "1X", "--disk-reserve: expected a size like 256MB"),
])
def test_bad_report_options_are_refused(tmp_path, opt, bad, msg):
    r = subprocess.run([server_bin(), "serve", "--data", str(tmp_path), "--listen",
                        "127.0.0.1:1", opt, bad], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and msg in r.stderr, r


def steps_job(job, n, size):
    """A job of n steps, each printing size bytes."""
    return "jobs:\n  - id: %s\n    type: job\n    steps:\n" % job + "".join(
        "      - name: s%d\n        run: [sh, -c, \"printf '%%0%dd\\\\n' 0\"]\n" % (i, size)
        for i in range(n))


def test_agent_keeps_reports_refused_by_the_ingest_limit(env, tmp_path):
    """A real agent against a server whose ingest limit its reports exceed: refused syncs (429)
    leave them in its journal, and every one arrives later, once, in order."""
    from agent_util import Device, assert_reports_complete, wait_for as agent_wait
    from cli_util import Server as CliServer
    from compose_util import unique_name

    server = CliServer(tmp_path / "server")
    server.extra_args = ["--report-ingest-limit", "40k"]  # 680 bytes a second
    server.start()
    dev = Device(env, server, tmp_path)

    def log():
        return dev.agent.log()[-3000:]
    try:
        dev.agent.start()
        dev.m87("deployment", "new", "--active")
        # about 46 KB of reports: more than the bucket holds, taken whole as it is full
        big, small = unique_name("big"), unique_name("small")
        spec = tmp_path / "big.yml"
        spec.write_text(steps_job(big, 10, 4000))
        dev.m87("deploy", str(spec))
        dev.wait_applied(timeout=120)
        agent_wait(lambda: dev.agent.journal() == [], 60, log)
        # the next reports find the bucket empty: refused until it refills, kept meanwhile
        spec = tmp_path / "small.yml"
        spec.write_text(steps_job(small, 3, 1000))
        dev.m87("deploy", str(spec))
        agent_wait(lambda: "HTTP 429" in dev.agent.log(), 60, log)
        assert "HTTP 429: device '%s' sent more reports than its limit" % dev.name in \
            dev.agent.log()
        # the refused request's reports stay in the journal (said by the agent as it refuses
        # them: reading the journal afterwards races with the bucket refilling)
        kept = [int(n) for n in re.findall(r"HTTP 429: [^\n]*; (\d+) reports kept for a later sync",
                                           dev.agent.log())]
        assert kept and max(kept) > 0, log()
        dev.wait_applied(timeout=120)
        agent_wait(lambda: dev.agent.journal() == [], 120, log)
        seqs = assert_reports_complete(dev)
        steps = [(r["job"], r["step"], r["state"]) for r in dev.reports(kind="step")]
        assert (big, "s9", "succeeded") in steps and (small, "s2", "succeeded") in steps
        assert len(seqs) >= 30, steps
        assert "POST /v1/agent/sync 429" in server.log_path.read_text()
    finally:
        dev.cleanup()
        server.stop()
