"""Helpers of the `m87` CLI end-to-end tests (tests/e2e/test_cli_*.py).

`Server` runs a real build/bin/m87-server (M87_BUILD or ./build) on a private data directory
and a free loopback port: `m87-server init --data DIR` gives the admin token on stdout,
`m87-server serve --data DIR --listen 127.0.0.1:PORT [--tls-cert --tls-key]` serves it.
`Cli` runs build/bin/m87 with its own HOME and XDG_CONFIG_HOME, so that every test has its own
config file, and M87_SERVER / M87_TOKEN only when asked. `Server.api()` talks to the API
directly (as an agent would, for the sync endpoint) with urllib.
"""

import json
import os
import pathlib
import re
import select
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid

from harness.postgres import server_db_args

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("M87_BUILD", REPO / "build"))
M87 = BUILD / "bin" / "m87"
SERVER = BUILD / "bin" / "m87-server"
FIXTURES = REPO / "fixtures" / "cli"


def unique(prefix="d"):
    return "%s%s" % (prefix, uuid.uuid4().hex[:8])


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__("HTTP %d: %s" % (status, body))
        self.status = status
        self.body = body


class Server:
    """One m87-server process with its data directory."""

    def __init__(self, tmp, tls=None, db_url=None):
        """db_url: a PostgreSQL database for --db; None: the backend of M87_TEST_DB."""
        self.data = pathlib.Path(tmp) / "data"
        self.log_path = pathlib.Path(tmp) / "server.log"
        self.tls = tls  # (cert, key, ca) paths or None
        self.proc = None
        self.extra_env = {}  # more environment for `serve` (the test-only knobs)
        self.extra_args = []  # more `serve` options
        # ["--db", URL] on PostgreSQL
        self.db_args = ["--db", db_url] if db_url else server_db_args()
        out = subprocess.run([str(SERVER), "init", "--data", str(self.data)] + self.db_args,
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise RuntimeError("m87-server init failed (%d): %s" % (out.returncode, out.stderr))
        self.token = out.stdout.strip()
        self.port = free_port()
        scheme = "https" if tls else "http"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.port)

    def start(self):
        args = [str(SERVER), "serve", "--data", str(self.data),
                "--listen", "127.0.0.1:%d" % self.port] + self.db_args
        if self.tls:
            args += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        args += self.extra_args
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **self.extra_env))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("m87-server exited %d: %s" % (self.proc.returncode,
                                                                self.log_path.read_text()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("m87-server did not listen on port %d" % self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None

    def _context(self):
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=str(self.tls[2]))

    def request(self, method, path, body=None, token=None, raw=None, headers=None):
        """(status, headers, body bytes) of one request; no exception for HTTP errors."""
        data = raw
        hdrs = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        tok = self.token if token is None else token
        if tok:
            hdrs["Authorization"] = "Bearer " + tok
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=30, context=self._context()) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def api(self, method, path, body=None, token=None):
        """The JSON answer of a 2xx request; ApiError otherwise."""
        status, _, data = self.request(method, path, body=body, token=token)
        if status < 200 or status > 299:
            raise ApiError(status, data.decode(errors="replace"))
        return json.loads(data) if data else None

    def sync(self, device_token, reports=(), applied=None, wait=0):
        """POST /v1/agent/sync as the device."""
        body = {"applied": applied, "agent_version": "0.1.0-test", "reports": list(reports),
                "wait": wait}
        return self.api("POST", "/v1/agent/sync", body=body, token=device_token)


SANITIZER_MARKS = ("runtime error:", "AddressSanitizer", "LeakSanitizer")


def check_sanitizers(stderr):
    """A sanitizer build (M87_BUILD=build-asan-*) reports on stderr: any report fails."""
    for mark in SANITIZER_MARKS:
        assert mark not in stderr, stderr


def read_until(proc, pattern, timeout=60, stream="stdout"):
    """Lines of proc's stdout (or stderr) until one matches the regex pattern; the match.
    proc.seen[stream] keeps the lines read, proc.pending[stream] what came after the last whole
    one. It reads the pipe itself: a buffered readline would hold bytes that communicate() in
    read_rest never sees."""
    deadline = time.monotonic() + timeout
    if not hasattr(proc, "seen"):
        proc.seen, proc.pending = {"stdout": [], "stderr": []}, {"stdout": "", "stderr": ""}
    seen = proc.seen[stream]
    fd = getattr(proc, stream).fileno()
    while time.monotonic() < deadline:
        while "\n" in proc.pending[stream]:
            line, proc.pending[stream] = proc.pending[stream].split("\n", 1)
            seen.append(line + "\n")
            m = re.search(pattern, line)
            if m:
                return m
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        data = os.read(fd, 65536)
        if not data:
            break
        proc.pending[stream] += data.decode()
    raise AssertionError("no line matching %r in %r" % (pattern, seen))


def read_rest(proc, timeout=60, with_seen=False):
    """(stdout, stderr) of proc once it ended: what read_until read past its last line and the
    rest, and with_seen the lines it returned before that too."""
    out, err = proc.communicate(timeout=timeout)
    seen = getattr(proc, "seen", {"stdout": [], "stderr": []})
    pending = getattr(proc, "pending", {"stdout": "", "stderr": ""})

    def before(stream):
        return ("".join(seen[stream]) if with_seen else "") + pending[stream]
    return before("stdout") + out, before("stderr") + err


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        check_sanitizers(self.err)

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return "rc=%d\nstdout:\n%s\nstderr:\n%s" % (self.rc, self.out, self.err)


class Cli:
    """Runs m87 with a private HOME; logged in through the environment unless login() is used."""

    def __init__(self, tmp, server=None):
        self.home = pathlib.Path(tmp) / "home"
        self.xdg = self.home / "xdg"
        self.home.mkdir(parents=True, exist_ok=True)
        self.server = server
        self.use_env = server is not None
        self.extra_env = {}

    def env(self):
        e = {k: v for k, v in os.environ.items() if not k.startswith("M87_")}
        e["HOME"] = str(self.home)
        e["XDG_CONFIG_HOME"] = str(self.xdg)
        e["M87_INSECURE_HTTP"] = "1"  # the tests' servers are plain http unless tls= is given
        if self.use_env and self.server:
            e["M87_SERVER"] = self.server.url
            e["M87_TOKEN"] = self.server.token
            if self.server.tls:
                e["M87_CA_FILE"] = str(self.server.tls[2])
        e.update(self.extra_env)
        return e

    def run(self, *args, cwd=None, timeout=60, input=None):
        proc = subprocess.run([str(M87)] + [str(a) for a in args], capture_output=True,
                              text=True, env=self.env(), cwd=cwd, timeout=timeout, input=input)
        return Result(proc)

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.rc == 0, r
        return r

    def popen(self, *args):
        return subprocess.Popen([str(M87)] + [str(a) for a in args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env())

    @property
    def config_path(self):
        return self.xdg / "m87" / "config"


def add_device(cli, name=None):
    """Register a device through the CLI; (name, token)."""
    name = name or unique("gw-")
    r = cli.ok("devices", "add", name, "--json")
    return name, r.json()["token"]


def new_deployment(cli, device, active=True):
    args = [device, "deployment", "new", "--json"] + (["--active"] if active else [])
    return cli.ok(*args).json()["id"]


RUNSPEC_TWO = """\
jobs:
  - id: app
    files:
      docker-compose.yml: |
        services:
          web:
            image: busybox
    steps:
      - name: pull
        run: docker compose pull
        timeout: 15m
      - name: up
        run: docker compose up -d
        undo: {run: docker compose down}
    stop:
      steps: [{name: down, run: docker compose down}]
  - id: backup
    type: job
    steps:
      - name: copy
        run: [/bin/true]
"""


def write(path, text):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ---- pytest fixtures: import them into a test module (`from cli_util import server, cli`) ----

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A started m87-server shared by the tests of a module."""
    s = Server(tmp_path_factory.mktemp("m87-server")).start()
    yield s
    s.stop()


@pytest.fixture
def cli(server, tmp_path):
    """m87 logged in to the module's server through M87_SERVER / M87_TOKEN."""
    return Cli(tmp_path, server)
