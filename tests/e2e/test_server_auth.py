"""The authorization matrix on every endpoint: the admin token, the device's own token, another
device's token, no token and an unknown token; 401 versus 403 as docs/api.md says."""

import hashlib
import time

from server_util import SPEC_DB, Server, metric, server  # noqa: F401 (fixture)

PRINCIPALS = ["none", "bad", "other", "own", "admin"]

# the matrix fails authentication on purpose far more often than the default limit of failed
# authentications per source allows; the limit has its own server below
SERVER_ARGS = ["--auth-fail-limit", "0"]

BUNDLE = b"\x1f\x8b not really a tar.gz, the server only hashes it"
DIGEST = "sha256:" + hashlib.sha256(BUNDLE).hexdigest()


def setup_world(server):
    tokens = {
        "none": None,
        "bad": "m87a_" + "A" * 43,
        "admin": server.admin,
        "own": server.add_device("gw"),
        "other": server.add_device("other"),
    }
    dep = server.new_deployment("gw", active=True)
    spec = {"jobs": [{"id": "app", "bundle": DIGEST, "steps": [{"name": "up", "run": "true"}]}]}
    server.put_jobs("gw", dep["id"], spec)
    spare = server.new_deployment("gw")
    server.new_deployment("other", active=True)
    r = server.admin_req("PUT", f"/v1/bundles/{DIGEST}", raw=BUNDLE,
                         headers={"Content-Type": "application/gzip"})
    assert r.status == 201, r
    return tokens, dep["id"], spare["id"]


def endpoints(dep, spare):
    """(method, path, body or raw bytes, {principal: expected status}) in an order in which
    each admin call leaves what the later rows need."""
    admin_only = lambda ok: {"none": 401, "bad": 401, "other": 403, "own": 403,  # noqa: E731
                             "admin": ok}
    anyone = {p: 200 for p in PRINCIPALS}
    d = f"/v1/devices/gw/deployments/{dep}"
    counter = iter(range(1000))
    return [
        ("GET", "/healthz", None, anyone),
        ("GET", "/metrics", None, anyone),
        ("POST", "/v1/devices", lambda: {"name": f"new-{next(counter)}"}, admin_only(201)),
        ("GET", "/v1/devices", None, admin_only(200)),
        ("GET", "/v1/devices/gw", None, admin_only(200)),
        ("GET", "/v1/devices/gw/status", None, admin_only(200)),
        ("GET", "/v1/devices/gw/reports", None, admin_only(200)),
        ("POST", "/v1/devices/gw/deployments", {}, admin_only(201)),
        ("GET", "/v1/devices/gw/deployments", None, admin_only(200)),
        ("GET", d, None, admin_only(200)),
        ("GET", d + "/revisions", None, admin_only(200)),
        ("POST", d + "/jobs", SPEC_DB, admin_only(200)),
        ("DELETE", d + "/jobs/db", None, admin_only(200)),
        ("POST", d + "/activate", {}, admin_only(200)),
        ("DELETE", f"/v1/devices/gw/deployments/{spare}", None, admin_only(204)),
        ("PUT", f"/v1/bundles/{DIGEST}", BUNDLE, admin_only(200)),
        ("GET", f"/v1/bundles/{DIGEST}", None,
         {"none": 401, "bad": 401, "other": 403, "own": 200, "admin": 200}),
        ("HEAD", f"/v1/bundles/{DIGEST}", None,
         {"none": 401, "bad": 401, "other": 403, "own": 200, "admin": 200}),
        ("POST", "/v1/agent/sync", {"applied": None, "wait": 0},
         {"none": 401, "bad": 401, "other": 200, "own": 200, "admin": 403}),
        ("DELETE", "/v1/devices/gw", None, admin_only(204)),
    ]


def call(server, method, path, body, token):
    if callable(body):
        body = body()
    if isinstance(body, bytes):
        return server.request(method, path, token=token, raw=body,
                              headers={"Content-Type": "application/gzip"})
    return server.request(method, path, token=token, body=body)


def test_authorization_matrix(server):
    tokens, dep, spare = setup_world(server)
    failures = []
    for method, path, body, expected in endpoints(dep, spare):
        for who in PRINCIPALS:
            r = call(server, method, path, body, tokens[who])
            if r.status != expected[who]:
                failures.append(f"{method} {path} as {who}: {r.status} != {expected[who]}: "
                                f"{r.body[:200]!r}")
                continue
            if r.status in (401, 403) and method != "HEAD":
                code = "unauthorized" if r.status == 401 else "forbidden"
                if r.json["error"]["code"] != code:
                    failures.append(f"{method} {path} as {who}: code {r.json}")
    assert not failures, "\n".join(failures)


def test_401_and_403_do_not_reveal_what_exists(server):
    tokens, dep, spare = setup_world(server)
    # a device asking for a bundle that does not exist gets 403, as for one that exists
    missing = "sha256:" + "0" * 64
    r = server.request("GET", f"/v1/bundles/{missing}", token=tokens["own"])
    assert r.status == 403
    # no token on a device that does not exist: 401, not 404
    assert server.request("GET", "/v1/devices/nope").status == 401
    assert server.request("GET", "/v1/devices/nope", token=tokens["own"]).status == 403
    assert server.request("GET", "/v1/devices/nope", token=tokens["admin"]).status == 404


def test_malformed_authorization_headers(server):
    setup_world(server)
    for value in ["", "Bearer", "Bearer ", "Basic " + server.admin, server.admin,
                  "Bearer " + server.admin + "x", "Bearer " + server.admin[:-1]]:
        r = server.request("GET", "/v1/devices", headers={"Authorization": value})
        assert r.status == 401, value
        assert r.json["error"]["code"] == "unauthorized"
    r = server.request("GET", "/v1/devices", headers={"Authorization": "bearer " + server.admin})
    assert r.status == 200


def test_failed_authentications_are_limited_per_source(tmp_path):
    s = Server(tmp_path / "limited", extra_args=["--auth-fail-limit", "6"])  # one in 10 s
    s.init()
    s.start()
    try:
        bad = "m87a_" + "B" * 43
        # (a slow limit: the failures and refusals below must all fall before one refill)
        for i in range(6):
            r = s.request("GET", "/v1/devices", token=bad if i % 2 else None)
            assert r.status == 401, (i, r)
        # the 7th failure in a row: refused before the token is looked at, even a good one
        for token in (bad, s.admin):
            r = s.request("GET", "/v1/devices", token=token)
            assert r.status == 429 and r.error_code() == "too_many_requests", r
            assert 1 <= int(r.header("Retry-After")) <= 10, r
        # what needs no token still answers
        assert s.request("GET", "/healthz").status == 200
        assert metric(s, "m87_auth_failures_total") == 6
        assert metric(s, "m87_auth_throttled_total") == 2
        # the bucket refills at the limit's rate: 10 s later the admin gets in again
        deadline = time.monotonic() + 30
        while s.request("GET", "/v1/devices", token=s.admin).status == 429:
            assert time.monotonic() < deadline, "still refused after 30 s"
            time.sleep(0.2)
        assert s.request("GET", "/v1/devices", token=s.admin).status == 200
    finally:
        assert s.stop() in (0, None), s.read_log()
