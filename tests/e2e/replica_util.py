"""Helpers of the tests of several m87-server replicas on one PostgreSQL
(test_server_replicas.py, test_server_replicas_cli.py): `Cluster` starts the harness's
PostgreSQL, `m87-server init --db URL` once and n `serve --db URL` replicas on one data
directory, and haproxy in front on demand; `cluster` is the fixture of three replicas; `Via` is
what Device and Cli use of a server, for one replica's URL or the load balancer's."""

import json
import os
import subprocess
import urllib.request

import pytest

from agent_util import wait_for
from harness.haproxy import Haproxy
from harness.postgres import Postgres, server_backend
from server_util import SERVER_BIN, Server

DRIVES = "rollouts: this replica"


class Cluster:
    """One PostgreSQL database, n replicas of m87-server on it sharing one data directory."""

    def __init__(self, tmp_path, n):
        self.pg = Postgres().start()
        self.url = self.pg.url()
        data = str(tmp_path / "data")
        r = subprocess.run([SERVER_BIN, "init", "--data", data, "--db", self.url],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        self.admin = r.stdout.strip()
        self.replicas = []
        for i in range(n):
            d = tmp_path / ("replica-%d" % i)
            d.mkdir()
            s = Server(d, extra_args=["--db", self.url])
            s.data = data
            s.admin = self.admin
            s.start()
            self.replicas.append(s)
        self.lb = None

    def start_lb(self):
        self.lb = Haproxy([("127.0.0.1", s.port) for s in self.replicas]).start()
        return self.lb

    def driver(self, timeout=30, not_=None):
        """The live replica whose log says last that it drives the rollouts (exactly one)."""
        def drives(s):  # its last word on the rollouts
            said = [ln for ln in s.read_log().splitlines()
                    if DRIVES in ln or "drives them;" in ln or "does not drive them" in ln]
            return bool(said) and DRIVES in said[-1]

        def drivers():
            return [s for s in self.replicas
                    if s.proc is not None and s is not not_ and drives(s)]
        wait_for(lambda: len(drivers()) >= 1, timeout, "a replica to drive the rollouts")
        found = drivers()
        assert len(found) == 1, [s.log_path for s in found]
        return found[0]

    def close(self):
        if self.lb:
            self.lb.close()
        for s in self.replicas:
            if s.proc is not None:
                s.stop()
        self.pg.close()


def cluster_of(tmp_path, n):
    """A fixture's body: a Cluster of n replicas, yielded, then closed. Fails when m87-server is
    not built; skipped under M87_TEST_DB=postgres."""
    if not os.access(SERVER_BIN, os.X_OK):
        pytest.fail(f"{SERVER_BIN} is not built")
    if server_backend() == "postgres":  # `make check-pg`: these start their own PostgreSQL
        pytest.skip("runs on a PostgreSQL of its own in the default pass")
    c = Cluster(tmp_path, n)
    yield c
    c.close()


@pytest.fixture
def cluster(tmp_path):
    yield from cluster_of(tmp_path, 3)



class Via:
    """What Device and Cli use of a server (cli_util.Server's shape): a replica's URL or the
    load balancer's."""

    def __init__(self, url, admin):
        self.url = url
        self.token = admin
        self.tls = None

    def api(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": "Bearer " + self.token,
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
        return json.loads(raw) if raw else None
