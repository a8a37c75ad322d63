"""Helpers of the remote access tests (test_remote_*.py, test_audit.py; docs/remote.md): a device's
agent connected with some remote access allowed, the device's audit trail, the m87 CLI on a
pseudo-terminal, and a TCP echo server with a forward to it."""

import contextlib
import fcntl
import json
import os
import pty
import signal
import socket
import struct
import subprocess
import termios
import threading

from agent_util import wait_for
from cli_util import M87, read_until
from server_util import free_port


def connect(dev, remote=None):
    """Start the device's agent (allowing `remote`, e.g. "exec, shell", when given) and wait until
    it is connected to its server; returns dev."""
    if remote is not None:
        dev.agent.config["remote"] = remote
    dev.agent.start()
    wait_for(lambda: (dev.agent.daemon_state() or {}).get("connected"), 60,
             "the agent to connect")
    return dev


def audit_entries(dev, *extra):
    """`m87 DEVICE audit --json` (with extra options) by the device's admin CLI: its entries."""
    r = dev.cli.run(dev.name, "audit", "--json", *extra)
    assert r.rc == 0, r
    return json.loads(r.out)["audit"]


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


@contextlib.contextmanager
def m87_on_a_terminal(env, *args, size=None):
    """The m87 CLI with args on a new pseudo-terminal (of size (rows, cols) when given), in the
    environment env: yields (its pid, the terminal's fd). At the end it is killed (should it
    still run) and reaped, and the terminal closed."""
    pid, fd = pty.fork()
    if pid == 0:
        if size:
            set_size(0, *size)
        os.execve(str(M87), [str(M87)] + [str(a) for a in args], env)
    try:
        yield pid, fd
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


class EchoServer:
    """A TCP server on addr that answers each connection with what it reads, upper-cased, and
    closes after the client's half-close."""

    def __init__(self, addr="127.0.0.1"):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    @staticmethod
    def serve(c):
        with c:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                c.sendall(b.upper())

    def close(self):
        self.sock.close()


def talk(port, data, timeout=60):
    """Send data to 127.0.0.1:port, half-close, read until the other side closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            b = s.recv(65536)
            if not b:
                return got
            got += b


class EchoForward:
    """What echo_forward yields: the local port, the echo server, the CLI's process and, once the
    forward ended, its stderr."""

    def __init__(self, local, echo, proc):
        self.local, self.echo, self.proc, self.err = local, echo, proc, None


@contextlib.contextmanager
def echo_forward(dev, cli):
    """`m87 DEVICE forward` by cli from a free local port to a new echo server on the device's
    side, entered once the CLI says it forwards; on leaving, the CLI is interrupted (SIGINT) and
    waited for, and the echo server closed."""
    echo = EchoServer()
    local = free_port()
    p = subprocess.Popen([str(M87), dev.name, "forward", "%d:%d" % (local, echo.port)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli.env())
    fw = EchoForward(local, echo, p)
    try:
        read_until(p, r"^forwarding ", stream="stderr")
        yield fw
    finally:
        p.send_signal(signal.SIGINT)
        fw.err = p.communicate(timeout=60)[1]
        echo.close()


def forward_once(dev, cli, data):
    """`m87 DEVICE forward` by cli of one connection to an echo server on the device's side, which
    must answer data upper-cased; returns the echo server's port."""
    with echo_forward(dev, cli) as fw:
        assert talk(fw.local, data) == data.upper()
    return fw.echo.port
