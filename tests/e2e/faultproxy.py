"""Drive m87-faultproxy (tests/tools/faultproxy.c) from end-to-end tests.

    with FaultProxy(binary, "127.0.0.1", registry_port) as proxy:
        point the client at 127.0.0.1:proxy.port
        proxy.cut(100_000)      # or proxy.command("cut 100000") for the raw answer
        ...
        proxy.pass_through()
        print(proxy.stats())    # {'conns': 3, 'active': 0, 'cuts': 1, 'up': ..., 'down': ...}

The proxy listens on 127.0.0.1 only and takes commands on a Unix socket in a private
temporary directory. Modes and their exact semantics are described in faultproxy.c.
"""

import os
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import time

START_TIMEOUT = 10.0
COMMAND_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
MAX_ANSWER = 4096


class FaultProxyError(Exception):
    """The proxy failed to start, or answered a command with an error."""


class FaultProxy:
    def __init__(self, binary, target_host, target_port):
        self.binary = os.fspath(binary)
        self.target_host = target_host
        self.target_port = int(target_port)
        self.host = "127.0.0.1"
        self.port = None
        self.returncode = None
        self._proc = None
        self._dir = None
        self._control = None

    @property
    def address(self):
        return (self.host, self.port)

    def start(self):
        if self._proc is not None:
            raise FaultProxyError("fault proxy already started")
        self._dir = tempfile.mkdtemp(prefix="m87-faultproxy-")
        self._control = os.path.join(self._dir, "control.sock")
        target = "%s:%d" % (self._bracket(self.target_host), self.target_port)
        argv = [self.binary, "--listen", "127.0.0.1:0", "--target", target,
                "--control", self._control]
        self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE)
        try:
            line = self._read_banner()
            self.port = self._parse_banner(line)
        except BaseException:
            self.stop()
            raise
        return self

    def command(self, text):
        """Send one command line and return the proxy's one-line answer, without newline."""
        if self._proc is None:
            raise FaultProxyError("fault proxy not started")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(COMMAND_TIMEOUT)
            s.connect(self._control)
            s.sendall(text.encode() + b"\n")
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = s.recv(MAX_ANSWER)
                if not chunk or len(answer) > MAX_ANSWER:
                    raise FaultProxyError("bad answer to %r: %r" % (text, answer))
                answer += chunk
        return answer.decode().rstrip("\n")

    def check(self, text):
        """Like command(), but raise FaultProxyError unless the answer starts with ok."""
        answer = self.command(text)
        if answer != "ok" and not answer.startswith("ok "):
            raise FaultProxyError("%r: %s" % (text, answer))
        return answer

    def pass_through(self):
        self.check("pass")

    def cut(self, nbytes):
        self.check("cut %d" % nbytes)

    def stall(self):
        self.check("stall")

    def refuse(self):
        self.check("refuse")

    def throttle(self, bytes_per_second):
        self.check("throttle %d" % bytes_per_second)

    def reset_stats(self):
        self.check("reset-stats")

    def stats(self):
        answer = self.check("stats")
        return {k: int(v) for k, v in (f.split("=", 1) for f in answer.split()[1:])}

    def stop(self):
        """SIGTERM the proxy and wait for it; returns its exit status. Safe to repeat."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
            proc.stdout.close()
            self.returncode = proc.returncode
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        return self.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    @staticmethod
    def _bracket(host):
        return "[%s]" % host if ":" in host else host

    def _read_banner(self):
        deadline = time.monotonic() + START_TIMEOUT
        data = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            while b"\n" not in data:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FaultProxyError("fault proxy did not start in %gs" % START_TIMEOUT)
                if not sel.select(left):
                    continue
                chunk = os.read(self._proc.stdout.fileno(), 512)
                if not chunk:
                    raise FaultProxyError("fault proxy exited at start (status %s)"
                                          % self._proc.wait(timeout=STOP_TIMEOUT))
                data += chunk
        return data.split(b"\n", 1)[0].decode()

    @staticmethod
    def _parse_banner(line):
        words = line.split()
        if len(words) != 4 or words[0] != "listening" or words[2] != "control":
            raise FaultProxyError("unexpected fault proxy banner %r" % line)
        return int(words[1].rsplit(":", 1)[1])
