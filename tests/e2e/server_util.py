"""Helpers for the m87-server end-to-end tests: run `m87-server init` and `serve` in a temporary
directory on a free 127.0.0.1 port, and talk HTTP to it with http.client.

Import the fixtures into a test module (`from server_util import server, admin`) to use them.
"""

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from harness.postgres import server_db_args

BUILD = os.environ.get("M87_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SERVER_BIN = os.path.join(BUILD, "bin", "m87-server")

SPEC_APP = {"jobs": [{"id": "app", "steps": [{"name": "up", "run": "echo app"}]}]}
SPEC_DB = {"jobs": [{"id": "db", "steps": [{"name": "up", "run": "echo db"}]}]}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def error_code(self):
        return self.json["error"]["code"]

    def __repr__(self):
        return f"Response({self.status}, {self.body[:300]!r})"


class Server:
    """One m87-server data directory and, while started, its serving process."""

    def __init__(self, tmp_path, tls=None, longpoll_max=None, extra_args=()):
        self.data = str(tmp_path / "data")
        self.tls = tls  # (cert, key, ca) paths or None
        self.longpoll_max = longpoll_max
        self.extra_args = list(extra_args)  # more `serve` options
        self.preexec = None  # run in the child before exec (resource limits)
        self.proc = None
        self.port = None
        self.log_path = str(tmp_path / "server.log")
        self.admin = None
        self.db_args = []  # ["--db", URL] on PostgreSQL (M87_TEST_DB=postgres)

    def init(self):
        self.db_args = server_db_args()
        r = subprocess.run([SERVER_BIN, "init", "--data", self.data] + self.db_args,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        self.admin = r.stdout.strip()
        assert r.stdout == self.admin + "\n"
        return self.admin

    def start(self):
        self.port = free_port()
        args = [SERVER_BIN, "serve", "--data", self.data, "--listen", f"127.0.0.1:{self.port}"]
        args += self.db_args
        if self.tls:
            args += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
        if self.longpoll_max is not None:
            args += ["--longpoll-max", str(self.longpoll_max)]
        args += self.extra_args
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log,
                                     preexec_fn=self.preexec)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "m87-server exited: " + self.read_log()
            try:
                if self.request("GET", "/healthz").status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("m87-server did not answer /healthz: " + self.read_log())

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("m87-server did not stop on a signal")
        self.proc = None
        self.log.close()
        return rc

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def connection(self, timeout=30):
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.tls[2])
            return http.client.HTTPSConnection("localhost", self.port, timeout=timeout,
                                               context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, token=None, body=None, raw=None, headers=None,
                timeout=30):
        """body: a JSON value to send; raw: bytes sent as they are."""
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return Response(resp.status, resp.getheaders(), resp.read())
        finally:
            conn.close()

    def headers_only(self, method, path, headers, token=None):
        """Send a request's headers (announcing a body) and read the answer without sending the
        body: what a server that refuses early answers."""
        conn = self.connection()
        try:
            conn.putrequest(method, path)
            if token is not None:
                conn.putheader("Authorization", "Bearer " + token)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.endheaders()
            resp = conn.getresponse()
            return Response(resp.status, resp.getheaders(), resp.read())
        finally:
            conn.close()

    # shorthands for the admin
    def admin_req(self, method, path, body=None, **kw):
        return self.request(method, path, token=self.admin, body=body, **kw)

    def add_device(self, name):
        r = self.admin_req("POST", "/v1/devices", {"name": name})
        assert r.status == 201, r
        return r.json["token"]

    def new_deployment(self, device, active=False, clone=None):
        body = {"active": active}
        if clone is not None:
            body["clone"] = clone
        r = self.admin_req("POST", f"/v1/devices/{device}/deployments", body)
        assert r.status == 201, r
        return r.json

    def put_jobs(self, device, dep_id, spec):
        r = self.admin_req("POST", f"/v1/devices/{device}/deployments/{dep_id}/jobs", spec)
        assert r.status == 200, r
        return r.json

    def sync(self, token, body, timeout=30):
        return self.request("POST", "/v1/agent/sync", token=token, body=body, timeout=timeout)


def metric(server, name):
    """The value of a gauge or counter without labels in /metrics."""
    return metric_in(server.request("GET", "/metrics").body.decode(), name)


def metric_in(text, name):
    """The value of a gauge or counter without labels in the text of /metrics."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    raise AssertionError(f"no metric {name}")


class HeldSync:
    """A sync running in a thread; wait_held() returns once the server holds it."""

    def __init__(self, server, token, body):
        self.server = server
        self.result = None
        self.error = None
        self.started = time.monotonic()
        self.finished = None
        self.thread = threading.Thread(target=self._run, args=(token, body), daemon=True)
        self.thread.start()

    def _run(self, token, body):
        try:
            self.result = self.server.sync(token, body, timeout=body.get("wait", 60) + 30)
        except Exception as e:  # reported by join()
            self.error = e
        self.finished = time.monotonic()

    def wait_held(self, count=1):
        for _ in range(500):
            if metric(self.server, "m87_longpolls_held") >= count:
                return
            assert self.thread.is_alive(), self.result
            time.sleep(0.01)
        raise AssertionError("the sync was not held")

    def join(self):
        self.thread.join(120)
        assert not self.thread.is_alive()
        if self.error:
            raise self.error
        return self.result


@pytest.fixture
def server(request, tmp_path):
    """An initialised and started server; stopped (and checked to exit 0) afterwards. A module's
    SERVER_ARGS adds `serve` options."""
    if not os.access(SERVER_BIN, os.X_OK):
        pytest.fail(f"{SERVER_BIN} is not built")
    s = Server(tmp_path, extra_args=getattr(request.module, "SERVER_ARGS", ()))
    s.init()
    s.start()
    yield s
    rc = s.stop()
    assert rc in (0, None), "m87-server exit status %r: %s" % (rc, s.read_log())
