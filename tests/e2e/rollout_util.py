"""Helpers of the agent's rollout tests (test_agent_rollback.py, test_security_fleet_releases.py;
test_security_hostile_server.py's proxy is a RewriteProxy too).

The server side that places rollouts and fleet releases is not needed to drive the agent: a
rewriting HTTP proxy between the agent and a real m87-server adds the sync target's `rollout`
and `fleets` members (docs/api.md) as such a server would, and may drop the agent's `waiting`
field so that the server sends a target again on every sync. While the server is stopped the
proxy answers 502, as a load balancer in front of a dead server would.
"""

import http.client
import http.server
import json
import threading
import urllib.parse


class RewriteProxy:
    """Forwards every request to upstream. A sync answer goes through answer_rewrite(doc), a
    sync request through request_rewrite(doc), when set. syncs counts sync requests."""

    def __init__(self, upstream):
        self.upstream = urllib.parse.urlparse(upstream)
        self.answer_rewrite = None
        self.request_rewrite = None
        self.syncs = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, headers, data):
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                sync = self.path.startswith("/v1/agent/sync")
                if sync and body:
                    body = proxy.request(body)
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port,
                                                  timeout=400)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "content-length")}
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except OSError:
                    self.reply(502, [("Content-Type", "text/plain")], b"no upstream\n")
                    return
                finally:
                    conn.close()
                if sync and resp.status == 200:
                    data = proxy.answer(data)
                try:
                    self.reply(resp.status, resp.getheaders(), data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the agent ended a held long-poll: it has news to send

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def request(self, body):
        with self.lock:
            self.syncs += 1
            if not self.request_rewrite:
                return body
            return json.dumps(self.request_rewrite(json.loads(body))).encode()

    def answer(self, data):
        doc = json.loads(data)
        with self.lock:
            if self.answer_rewrite:
                doc = self.answer_rewrite(doc)
        return json.dumps(doc).encode()

    def set(self, answer=None, request=None):
        with self.lock:
            self.answer_rewrite = answer
            self.request_rewrite = request

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def with_rollout(rollout, unless=()):
    """An answer rewrite: every target whose hash is not in unless gets rollout."""
    def rewrite(doc):
        t = doc.get("target")
        if t and t.get("hash") not in unless:
            t["rollout"] = dict(rollout)
        return doc
    return rewrite


def without_waiting(doc):
    """A request rewrite: the agent's "waiting" is dropped (the server then sends its target on
    every sync, as a server that ignores it would)."""
    doc.pop("waiting", None)
    return doc
