"""A private haproxy (Debian's) in front of several m87-server replicas, for the tests of
m87-server on PostgreSQL: a config file and a log under a temporary directory, one frontend on
a free port of 127.0.0.1, round robin over the given backends with a health check of
`GET /healthz` every 500 ms, so that a replica that dies is out of the rotation within about a
second. Timeouts suit the server's traffic: long-polls held for minutes, remote-access streams
open for as long as a session lasts.
"""

import os
import subprocess
import urllib.error
import urllib.request

from . import procs

HAPROXY_BIN = os.environ.get("M87_TEST_HAPROXY", "/usr/sbin/haproxy")

CONFIG = """\
global
    maxconn {maxconn}
    pidfile {dir}/haproxy.pid

defaults
    mode http
    option httplog
    timeout connect 2s
    timeout client 10m
    timeout server 10m
    timeout tunnel 1h
    timeout http-request 30s
    retries 2
    option redispatch

frontend m87
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /healthz
    default-server inter 500ms fall 2 rise 1
{servers}
"""


class HaproxyError(RuntimeError):
    pass


class Haproxy(procs.Daemon):
    """haproxy in front of backends, a list of (host, port)."""

    dir_prefix = "m87haproxy-"

    def __init__(self, backends, port=None, maxconn=4000):
        super().__init__()
        self.backends = list(backends)
        self.port = port or procs.free_port()
        self.maxconn = maxconn

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def log(self):
        return os.path.join(self.dir, "haproxy.log")

    def _config(self):
        servers = "\n".join("    server r%d %s:%d check" % (i, host, port)
                            for i, (host, port) in enumerate(self.backends))
        return CONFIG.format(maxconn=self.maxconn, dir=self.dir, port=self.port, servers=servers)

    def start(self, timeout=30):
        if not self.backends:
            raise HaproxyError("haproxy needs at least one backend")
        self.make_dir()
        path = os.path.join(self.dir, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(self._config())
        check = subprocess.run([HAPROXY_BIN, "-c", "-q", "-f", path], capture_output=True,
                               text=True, timeout=30)
        if check.returncode != 0:
            raise HaproxyError("haproxy refused its config: %s" % (check.stderr or check.stdout))
        # -db: stay in the foreground, so that the test owns the process
        self.start_process([HAPROXY_BIN, "-db", "-f", path], self.log, timeout,
                           ("haproxy", "listen on %d" % self.port), HaproxyError)
        return self

    def _ready(self):
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answers (503 while no backend is up yet)
