"""Tests of m87-faultproxy against a small target server on 127.0.0.1.

The binary comes from $M87_FAULTPROXY, else $M87_BUILD/tests/tools/m87-faultproxy when
it exists, else it is compiled here with cc into a temporary directory.
"""

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from faultproxy import FaultProxy, FaultProxyError

IO_TIMEOUT = 10.0
SOURCE = Path(__file__).resolve().parents[1] / "tools" / "faultproxy.c"
CFLAGS = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-O2"]


@pytest.fixture(scope="session")
def binary(tmp_path_factory):
    if os.environ.get("M87_FAULTPROXY"):
        return os.environ["M87_FAULTPROXY"]
    build = os.environ.get("M87_BUILD")
    if build and os.access(os.path.join(build, "tests/tools/m87-faultproxy"), os.X_OK):
        return os.path.join(build, "tests/tools/m87-faultproxy")
    out = tmp_path_factory.mktemp("faultproxy") / "m87-faultproxy"
    subprocess.run(["cc", *CFLAGS, "-o", str(out), str(SOURCE)], check=True, timeout=120)
    return str(out)


class Target:
    """A TCP server on 127.0.0.1 that runs handler(sock) in a thread per connection."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._threads = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.settimeout(IO_TIMEOUT)
            t = threading.Thread(target=self._run, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _run(self, conn):
        with conn:
            try:
                self.handler(conn)
            except OSError:
                pass  # the proxy cutting or resetting is what many tests are about

    def close(self):
        self._stop.set()
        self._thread.join(IO_TIMEOUT)
        self.sock.close()
        for t in self._threads:
            t.join(IO_TIMEOUT)


def echo(conn):
    while True:
        data = conn.recv(65536)
        if not data:
            conn.shutdown(socket.SHUT_WR)
            return
        conn.sendall(data)


def streamer(payload):
    def handler(conn):
        conn.sendall(payload)
    return handler


@pytest.fixture
def targets():
    made = []

    def make(handler):
        made.append(Target(handler))
        return made[-1]
    yield make
    for t in made:
        t.close()


@pytest.fixture
def proxies(binary):
    """Starts proxies; each must exit 0 on SIGTERM (a sanitizer report would not)."""
    made = []

    def make(target):
        made.append(FaultProxy(binary, "127.0.0.1", target.port).start())
        return made[-1]
    yield make
    for p in made:
        control_dir = p._dir
        assert p.stop() == 0
        assert not os.path.exists(control_dir)


@pytest.fixture
def echo_proxy(targets, proxies):
    return proxies(targets(echo))


def connect(proxy):
    return socket.create_connection(proxy.address, timeout=IO_TIMEOUT)


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise AssertionError("EOF after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def recv_to_eof(sock, limit=1 << 24):
    data = b""
    while len(data) <= limit:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    raise AssertionError("more than %d bytes" % limit)


def wait_for(predicate, timeout=IO_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_help_and_usage(binary):
    r = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=IO_TIMEOUT)
    assert r.returncode == 0 and r.stdout.startswith("usage: m87-faultproxy")
    r = subprocess.run([binary, "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                       timeout=IO_TIMEOUT)
    assert r.returncode == 2 and "required" in r.stderr


def test_pass_both_ways_with_half_close(echo_proxy):
    payload = os.urandom(1 << 20)
    with connect(echo_proxy) as s:
        def send():
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        sender = threading.Thread(target=send)
        sender.start()
        got = recv_to_eof(s)
        sender.join(IO_TIMEOUT)
    assert got == payload


def test_many_concurrent_connections(echo_proxy):
    socks = [connect(echo_proxy) for _ in range(40)]
    try:
        for i, s in enumerate(socks):
            s.sendall(bytes([i]) * 20000)
            s.shutdown(socket.SHUT_WR)
        for i, s in enumerate(socks):
            assert recv_to_eof(s) == bytes([i]) * 20000
    finally:
        for s in socks:
            s.close()
    assert echo_proxy.stats()["conns"] == 40


def test_cut_after_n_bytes(targets, proxies):
    payload = os.urandom(200000)
    proxy = proxies(targets(streamer(payload)))
    proxy.cut(1000)
    for _ in range(3):
        with connect(proxy) as s:
            assert recv_to_eof(s) == payload[:1000]
    assert proxy.stats()["cuts"] == 3


def test_cut_zero_closes_at_accept(echo_proxy):
    echo_proxy.cut(0)
    with connect(echo_proxy) as s:
        assert recv_to_eof(s) == b""


def test_cut_counts_from_connection_start(echo_proxy):
    with connect(echo_proxy) as early, connect(echo_proxy) as late:
        early.sendall(b"a" * 500)
        assert recv_exactly(early, 500) == b"a" * 500
        late.sendall(b"b" * 50)
        assert recv_exactly(late, 50) == b"b" * 50
        echo_proxy.cut(100)
        # early is already past 100 bytes, so it is cut at once
        assert recv_to_eof(early) == b""
        late.sendall(b"c" * 500)
        assert recv_to_eof(late) == b"c" * 50


def test_stall_then_pass(echo_proxy):
    with connect(echo_proxy) as old:
        old.sendall(b"before")
        assert recv_exactly(old, 6) == b"before"
        echo_proxy.stall()
        with connect(echo_proxy) as new:
            old.sendall(b"old")
            new.sendall(b"new")
            new.shutdown(socket.SHUT_WR)
            for s in (old, new):
                s.settimeout(1.0)
                with pytest.raises(socket.timeout):
                    s.recv(1)
                s.settimeout(IO_TIMEOUT)
            echo_proxy.pass_through()
            assert recv_exactly(old, 3) == b"old"
            # the held EOF is passed on too: the echo server closes after it
            assert recv_to_eof(new) == b"new"


def test_stall_holds_bulk_data_without_loss(echo_proxy):
    payload = os.urandom(4 << 20)
    echo_proxy.stall()
    with connect(echo_proxy) as s:
        def send():
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(0.5)
        echo_proxy.pass_through()
        got = recv_to_eof(s)
        sender.join(IO_TIMEOUT)
    assert got == payload


def test_refuse_then_pass(echo_proxy):
    port = echo_proxy.port
    with connect(echo_proxy) as old:
        echo_proxy.refuse()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(echo_proxy.address, timeout=IO_TIMEOUT).close()
        old.sendall(b"still open")
        assert recv_exactly(old, 10) == b"still open"
        echo_proxy.pass_through()
        assert echo_proxy.port == port
        with connect(echo_proxy) as new:
            new.sendall(b"back")
            assert recv_exactly(new, 4) == b"back"


def test_throttle_is_a_lower_bound_on_time(targets, proxies):
    payload = os.urandom(60000)
    proxy = proxies(targets(streamer(payload)))
    proxy.throttle(20000)
    assert proxy.command("mode") == "ok throttle 20000"
    start = time.monotonic()
    with connect(proxy) as s:
        got = recv_to_eof(s)
    elapsed = time.monotonic() - start
    assert got == payload
    assert elapsed >= 2.0


def test_stats_counts(echo_proxy):
    echo_proxy.reset_stats()
    assert echo_proxy.stats() == {"conns": 0, "active": 0, "cuts": 0, "up": 0, "down": 0}
    for _ in range(2):
        with connect(echo_proxy) as s:
            s.sendall(b"x" * 100)
            s.shutdown(socket.SHUT_WR)
            assert recv_to_eof(s) == b"x" * 100
    assert wait_for(lambda: echo_proxy.stats()["active"] == 0)
    assert echo_proxy.stats() == {"conns": 2, "active": 0, "cuts": 0, "up": 200, "down": 200}


def test_bad_commands_answer_error(echo_proxy):
    for bad in ["bogus", "cut", "cut -1", "cut 12x", "throttle 0", "throttle", "pass now",
                "stats please", "", "CUT 5"]:
        assert echo_proxy.command(bad).startswith("error: "), bad
    assert echo_proxy.command("mode") == "ok pass"
    with pytest.raises(FaultProxyError):
        echo_proxy.cut(-5)


def test_several_commands_on_one_control_connection(echo_proxy):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(IO_TIMEOUT)
        c.connect(echo_proxy._control)
        c.sendall(b"stall\nmode\nbogus\r\npass\nmode")
        c.shutdown(socket.SHUT_WR)
        lines = recv_to_eof(c).decode().splitlines()
    assert lines[:2] == ["ok", "ok stall"]
    assert lines[2].startswith("error: unknown command")
    assert lines[3:] == ["ok", "ok pass"]


def test_unreachable_target_closes_client(targets, proxies):
    with socket.create_server(("127.0.0.1", 0)) as gone:
        port = gone.getsockname()[1]
    target = targets(echo)
    target.port = port  # nothing listens there any more
    proxy = proxies(target)
    # the proxy resets the client; the reset may even beat connect() back
    try:
        with connect(proxy) as s:
            assert s.recv(1) == b""
    except ConnectionResetError:
        pass
    assert proxy.stats()["conns"] == 1
