"""A hostile client against a real m87-server (issue 15, "Trust holes"): idle sockets that never
send their headers, many held syncs of one device, held syncs whose client left. Each test fails
against a server without the defence it checks."""

import json
import os
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
