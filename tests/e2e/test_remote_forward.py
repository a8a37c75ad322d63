"""`m87 DEVICE forward` end to end (docs/remote.md) through the real m87 CLI, m87-server and
m87-agent daemon: TCP to a port on the device and to a second address it reaches, a half-close
carried through, 100 concurrent connections, a refused connection on the device's side closing
the local one, a device that does not allow forwarding, UDP (datagrams of every size, two local
peers, a second address, TCP and UDP in one command, a peer dropped when idle), signed grants
under trusted keys, and the audit trail of it."""

import signal
import socket
import subprocess
import threading

import pytest

from agent_util import device, wait_for  # noqa: F401  (fixtures)
from cli_util import M87, Server, check_sanitizers, read_until
from remote_util import EchoServer, connect, echo_forward, talk
from server_util import free_port


@pytest.fixture
def own_server(tmp_path):
    """The device's server, without its cap of connections per address: every connection of
    these tests comes from 127.0.0.1, and each forwarded connection holds two of the CLI's and
    three of the agent's while it lasts (docs/remote.md)."""
    s = Server(tmp_path / "server")
    s.extra_args = ["--max-connections-per-address", "0"]
    s.start()
    yield s
    s.stop()


@pytest.fixture
def forwarding(device):  # noqa: F811
    connect(device, "forward")
    procs = []

    def start(*specs):
        p = subprocess.Popen([str(M87), device.name, "forward"] + list(specs),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=device.cli.env())
        procs.append(p)
        for _ in specs:
            read_until(p, r"^forwarding ", stream="stderr")
        return p
    yield device, start
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            check_sanitizers(p.communicate(timeout=60)[1].decode())


def test_forward_tcp_and_second_address(forwarding):
    dev, start = forwarding
    echo = EchoServer("127.0.0.1")
    other = EchoServer("127.0.0.2")  # another address the device reaches
    l1, l2 = free_port(), free_port()
    p = start(str(l1) + ":" + str(echo.port), "%d:127.0.0.2:%d" % (l2, other.port))
    big = bytes(range(256)) * 4096  # 1 MiB, more than the server buffers per stream
    assert talk(l1, b"hello") == b"HELLO"
    assert talk(l1, big) == big.upper()
    assert talk(l2, b"second address") == b"SECOND ADDRESS"
    assert echo.accepted == 2 and other.accepted == 1
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    audit = dev.server.api("GET", "/v1/devices/%s/audit" % dev.name)["audit"]
    fw = [a for a in audit if a["what"] == "forward"]
    assert len(fw) == 3, audit
    assert fw[0]["command"] == ["127.0.0.1", str(echo.port), "tcp"], fw
    assert fw[0]["exit_code"] == 0, fw
    assert fw[0]["bytes"] == {"stdin": 5, "stdout": 5, "stderr": 0}, fw
    assert fw[2]["command"] == ["127.0.0.2", str(other.port), "tcp"], fw
    echo.close()
    other.close()


def test_forward_100_concurrent_connections(forwarding):
    dev, start = forwarding
    echo = EchoServer()
    local = free_port()
    start("%d:%d" % (local, echo.port))
    results = {}

    def one(i):
        results[i] = talk(local, b"connection %d " % i * 100)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(results) == 100
    for i in range(100):
        assert results[i] == (b"connection %d " % i * 100).upper(), i
    assert echo.accepted == 100
    echo.close()


def test_forward_refused_on_the_device_closes_the_local_connection(forwarding):
    dev, start = forwarding
    closed = free_port()  # nothing listens there
    local = free_port()
    p = start("%d:%d" % (local, closed))
    with socket.create_connection(("127.0.0.1", local), timeout=60) as s:
        assert s.recv(100) == b""  # closed without a byte
    read_until(p, r"Connection refused", stream="stderr")


def test_forward_bad_specs(forwarding):
    dev, _ = forwarding
    for spec, why in (("http", "expected [LOCALADDR:]LOCALPORT"), ("0:80", "ports from 1"),
                      ("70000", "ports from 1"), ("70000/udp", "ports from 1"),
                      ("53/sctp", "unknown protocol 'sctp' (expected tcp or udp)"),
                      ("3000::53/udp", "empty host"), ("a:b:c:d:e", "expected")):
        r = dev.cli.run(dev.name, "forward", spec)
        assert r.rc == 2 and why in r.err, (spec, r)
    r = dev.cli.run(dev.name, "forward")
    assert r.rc == 2 and "missing SPEC" in r.err, r


def test_forward_not_allowed(device):  # noqa: F811
    dev = device
    connect(dev, "exec")
    with echo_forward(dev, dev.cli) as fw:
        with socket.create_connection(("127.0.0.1", fw.local), timeout=60) as s:
            assert s.recv(100) == b""
        read_until(fw.proc, r"forward is not allowed on this device \(it allows: exec",
                   stream="stderr")
        assert fw.echo.accepted == 0


class UdpEcho:
    """A UDP server on addr that answers each datagram with it upper-cased, prefixed with the
    port of the socket it came from (so a test sees that the device used a socket per peer)."""

    def __init__(self, addr="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((addr, 0))
        self.port = self.sock.getsockname()[1]
        self.sources = set()
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                data, src = self.sock.recvfrom(65535)
            except OSError:
                return
            self.sources.add(src)
            self.sock.sendto(b"%d:" % src[1] + data.upper(), src)

    def close(self):
        self.sock.close()


def udp_peer():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(60)
    return s


def ask(s, port, data):
    """Send one datagram to 127.0.0.1:port from s; the reply, its sender's port and the echo's
    source port. UDP may lose a datagram: it is sent again when no reply came in 5 s."""
    for _ in range(12):
        s.sendto(data, ("127.0.0.1", port))
        s.settimeout(5)
        try:
            reply, src = s.recvfrom(65535)
        except socket.timeout:
            continue
        head, _, body = reply.partition(b":")
        return body, src[1], int(head)
    raise AssertionError("no reply to a datagram of %d bytes" % len(data))


def test_forward_udp_sizes_peers_and_second_address(forwarding):
    dev, start = forwarding
    echo = UdpEcho("127.0.0.1")
    other = UdpEcho("127.0.0.2")
    l1, l2 = free_port(), free_port()
    p = start("%d:%d/udp" % (l1, echo.port), "%d:127.0.0.2:%d/udp" % (l2, other.port))
    a, b = udp_peer(), udp_peer()
    sizes = [5, 0, 1, 1400, 20000, 60 * 1024, 65507 - 6]  # the reply adds "PORT:"
    src_a = set()
    for n in sizes:
        data = bytes((i * 7 + n) % 256 for i in range(n))
        body, sender, src = ask(a, l1, data)
        assert body == data.upper() and sender == l1, n  # the reply from the port it asked
        src_a.add(src)
    # a second peer at the same time: its own replies, from its own socket on the device
    body_b, _, src_b = ask(b, l1, b"peer b")
    body_a, _, src = ask(a, l1, b"peer a again")
    assert body_b == b"PEER B" and body_a == b"PEER A AGAIN"
    src_a.add(src)
    assert len(src_a) == 1 and src_b not in src_a, (src_a, src_b)
    assert ask(b, l2, b"second address")[0] == b"SECOND ADDRESS"
    a.close()
    b.close()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    check_sanitizers(err.decode())

    def forwards():
        audit = dev.server.api("GET", "/v1/devices/%s/audit" % dev.name)["audit"]
        return [x for x in audit if x["what"] == "forward"]
    # the bytes are the device's count, written when its end arrives, after the CLI exited
    wait_for(lambda: all(x["ended"] is not None for x in forwards()), 60,
             "every peer's channel to end")
    fw = forwards()
    assert len(fw) == 3, fw
    assert fw[0]["command"] == ["127.0.0.1", str(echo.port), "udp"], fw
    assert fw[2]["command"] == ["127.0.0.2", str(other.port), "udp"], fw
    # peer a's bytes: every datagram and its 2-byte length, at least once (UDP may resend)
    sent = sum(sizes) + len(b"peer a again") + 2 * (len(sizes) + 1)
    assert fw[0]["bytes"]["stdin"] >= sent and fw[0]["bytes"]["stdout"] >= sent, fw
    echo.close()
    other.close()


def test_forward_tcp_and_udp_in_one_command(forwarding):
    dev, start = forwarding
    tcp = EchoServer()
    udp = UdpEcho()
    lt, lu = free_port(), free_port()
    start("%d:%d" % (lt, tcp.port), "%d:%d/udp" % (lu, udp.port))
    s = udp_peer()
    assert ask(s, lu, b"over udp")[0] == b"OVER UDP"
    assert talk(lt, b"over tcp") == b"OVER TCP"
    assert ask(s, lu, b"")[0] == b""
    s.close()
    audit = dev.server.api("GET", "/v1/devices/%s/audit" % dev.name)["audit"]
    assert sorted(x["command"][2] for x in audit if x["what"] == "forward") == ["tcp", "udp"]
    tcp.close()
    udp.close()


def test_forward_udp_idle_peer_is_dropped_and_comes_back(forwarding):
    """A peer without a datagram either way for 60 s: its channel ends well (exit 0); its next
    datagram opens a new one."""
    dev, start = forwarding
    echo = UdpEcho()
    local = free_port()
    start("%d:%d/udp" % (local, echo.port))
    s = udp_peer()
    assert ask(s, local, b"before")[0] == b"BEFORE"

    def forwards():
        audit = dev.server.api("GET", "/v1/devices/%s/audit" % dev.name)["audit"]
        return [x for x in audit if x["what"] == "forward"]
    wait_for(lambda: forwards()[0]["exit_code"] == 0, 150, "the idle peer's channel to end")
    assert len(forwards()) == 1
    assert ask(s, local, b"after")[0] == b"AFTER"
    fw = forwards()
    assert len(fw) == 2 and fw[1]["exit_code"] is None, fw  # a new channel, open
    s.close()
    echo.close()


def test_forward_udp_and_tcp_signed_under_trust(device):  # noqa: F811
    """With trusted keys, each peer's and connection's channel carries a grant the CLI signed
    (a UDP one covers its protocol), and the device runs it."""
    dev = device
    dev.cli.ok("keys", "generate")
    dev.agent.config["trust"] = str(dev.cli.xdg / "m87" / "signing.pub")
    connect(dev, "forward")
    udp, tcp = UdpEcho(), EchoServer()
    lu, lt = free_port(), free_port()
    p = subprocess.Popen([str(M87), dev.name, "forward", "%d:%d/udp" % (lu, udp.port),
                          "%d:%d" % (lt, tcp.port)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dev.cli.env())
    try:
        read_until(p, r"^forwarding .*/udp", stream="stderr")
        read_until(p, r"^forwarding ", stream="stderr")
        s = udp_peer()
        assert ask(s, lu, b"signed datagram")[0] == b"SIGNED DATAGRAM"
        s.close()
        assert talk(lt, b"signed stream") == b"SIGNED STREAM"
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    assert err.decode().count("signing the remote request with key") >= 2, err
    check_sanitizers(err.decode())
    udp.close()
    tcp.close()
