"""The harness's private haproxy (harness/haproxy.py), which the tests of several m87-server
replicas stand on: it spreads requests over its backends, takes one that stops out of the
rotation within seconds (requests keep being answered by the other), and leaves nothing
behind."""

import http.server
import os
import threading
import urllib.request

import pytest

from harness import procs
from harness.haproxy import Haproxy, HaproxyError


class Backend:
    """An HTTP server on a free port answering /healthz and /who with its name."""

    def __init__(self, name):
        me = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = me.name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.name = name
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def who(url):
    with urllib.request.urlopen(url + "/who", timeout=5) as r:
        return r.read().decode()


@pytest.fixture
def backends():
    bs = [Backend("a"), Backend("b")]
    yield bs
    for b in bs:
        try:
            b.stop()
        except OSError:
            pass


def test_round_robin_and_a_stopped_backend_leaves_the_rotation(backends):
    with Haproxy([("127.0.0.1", b.port) for b in backends]) as hp:
        procs.wait_for(lambda: {who(hp.url) for _ in range(4)} == {"a", "b"}, 30,
                       what="both backends answering")
        backends[0].stop()
        # retries and redispatch hide the dead one at once; the health check drops it within
        # about a second (inter 500ms, fall 2)
        answers = [who(hp.url) for _ in range(20)]
        assert answers == ["b"] * 20
        procs.wait_for(lambda: "Server replicas/r0 is DOWN" in open(hp.log).read(), 10,
                       what="haproxy's health check to mark r0 down")
        d = hp.dir
    assert not os.path.exists(d)


def test_no_backend_is_an_error():
    with pytest.raises(HaproxyError):
        Haproxy([]).start()
