"""m87-server admin API end to end: devices, deployments, revisions, clone, jobs, reports,
status, metrics; bad input refused with the field named."""

import hashlib
import json

from server_util import SPEC_APP, SPEC_DB, server  # noqa: F401 (fixture)


def rev_hash(jobs):
    """docs/api.md's revision hash from [(id, job_hash, enabled)]."""
    text = "m87-rev-v1\n" + "".join(f"{i} {h} {'1' if e else '0'}\n" for i, h, e in sorted(jobs))
    return hashlib.sha256(text.encode()).hexdigest()


def test_healthz_and_version(server):
    r = server.request("GET", "/healthz")
    assert r.status == 200 and r.json == {"ok": True}


def test_devices_create_list_show_delete(server):
    r = server.admin_req("POST", "/v1/devices", {"name": "gw-1"})
    assert r.status == 201
    assert r.json["name"] == "gw-1"
    assert r.json["token"].startswith("m87d_") and len(r.json["token"]) == 5 + 43
    assert r.json["created"].endswith("Z")
    server.add_device("gw-0")

    r = server.admin_req("GET", "/v1/devices")
    assert r.status == 200
    names = [d["name"] for d in r.json["devices"]]
    assert names == ["gw-0", "gw-1"]
    d = r.json["devices"][1]
    assert d["last_seen"] is None and d["agent_version"] is None
    assert d["applied_revision"] is None and d["online"] is False

    r = server.admin_req("GET", "/v1/devices/gw-1")
    assert r.status == 200
    assert r.json["active_deployment"] is None
    assert r.json["health"] == {"state": "none", "jobs": {}}

    r = server.admin_req("POST", "/v1/devices", {"name": "gw-1"})
    assert r.status == 409 and r.error_code() == "conflict"

    assert server.admin_req("DELETE", "/v1/devices/gw-1").status == 204
    assert server.admin_req("GET", "/v1/devices/gw-1").status == 404
    r = server.admin_req("DELETE", "/v1/devices/gw-1")
    assert r.status == 404 and r.error_code() == "not_found"
    assert [d["name"] for d in server.admin_req("GET", "/v1/devices").json["devices"]] == ["gw-0"]


def test_device_name_validation(server):
    for bad in ["", "GW", "-gw", "a" * 64, "gw/1", "gw 1", 5, None]:
        r = server.admin_req("POST", "/v1/devices", {"name": bad})
        assert r.status == 400, bad
        assert r.error_code() == "bad_request"
        assert r.json["error"]["message"] == "name: must match [a-z0-9][a-z0-9_.-]{0,62}"
    r = server.admin_req("POST", "/v1/devices", {})
    assert r.status == 400 and r.json["error"]["message"] == "name: missing"
    assert server.admin_req("POST", "/v1/devices", {"name": "a" * 63}).status == 201


def test_deleting_a_device_deletes_its_token_and_deployments(server):
    token = server.add_device("gw")
    dep = server.new_deployment("gw", active=True)
    server.put_jobs("gw", dep["id"], SPEC_APP)
    assert server.admin_req("DELETE", "/v1/devices/gw").status == 204
    assert server.sync(token, {"applied": None, "wait": 0}).status == 401
    server.add_device("gw")
    assert server.admin_req("GET", "/v1/devices/gw/deployments").json == {"deployments": []}


def test_deployments_new_list_show_activate_remove(server):
    server.add_device("gw")
    a = server.new_deployment("gw")
    assert a["id"].startswith("d-") and len(a["id"]) == 10
    assert a["active"] is False and a["revision"] == 1 and a["jobs"] == []
    assert a["hash"] == rev_hash([])
    b = server.new_deployment("gw", active=True)
    assert b["active"] is True

    r = server.admin_req("GET", "/v1/devices/gw/deployments")
    assert [(d["id"], d["active"]) for d in r.json["deployments"]] == [(a["id"], False),
                                                                       (b["id"], True)]
    # activate a: b is deactivated in the same step
    r = server.admin_req("POST", f"/v1/devices/gw/deployments/{a['id']}/activate")
    assert r.status == 200 and r.json["active"] is True
    r = server.admin_req("GET", "/v1/devices/gw/deployments")
    assert [d["active"] for d in r.json["deployments"]] == [True, False]
    assert server.admin_req("GET", "/v1/devices/gw").json["active_deployment"]["id"] == a["id"]

    # the active one cannot be removed, the other can
    r = server.admin_req("DELETE", f"/v1/devices/gw/deployments/{a['id']}")
    assert r.status == 409 and r.error_code() == "conflict"
    assert server.admin_req("DELETE", f"/v1/devices/gw/deployments/{b['id']}").status == 204
    r = server.admin_req("GET", f"/v1/devices/gw/deployments/{b['id']}")
    assert r.status == 404 and "deployment" in r.json["error"]["message"]

    r = server.admin_req("GET", f"/v1/devices/gw/deployments/{a['id']}")
    assert r.status == 200
    assert r.json["spec"] == {"jobs": []} and r.json["revision"] == 1
    assert server.admin_req("GET", "/v1/devices/nope/deployments").status == 404


def test_jobs_make_revisions_and_clone_rolls_back(server):
    server.add_device("gw")
    dep = server.new_deployment("gw", active=True)
    d = server.put_jobs("gw", dep["id"], SPEC_APP)
    assert d["revision"] == 2 and d["jobs"] == ["app"]
    d = server.put_jobs("gw", dep["id"], SPEC_DB)
    assert d["revision"] == 3 and d["jobs"] == ["app", "db"]
    changed = {"jobs": [{"id": "app", "steps": [{"name": "up", "run": "echo v2"}]}]}
    d = server.put_jobs("gw", dep["id"], changed)
    assert d["revision"] == 4 and d["jobs"] == ["app", "db"]  # replaced in place
    r = server.admin_req("DELETE", f"/v1/devices/gw/deployments/{dep['id']}/jobs/db")
    assert r.status == 200 and r.json["revision"] == 5 and r.json["jobs"] == ["app"]
    r = server.admin_req("DELETE", f"/v1/devices/gw/deployments/{dep['id']}/jobs/db")
    assert r.status == 404 and "no job 'db'" in r.json["error"]["message"]

    r = server.admin_req("GET", f"/v1/devices/gw/deployments/{dep['id']}/revisions")
    revs = r.json["revisions"]
    assert [x["revision"] for x in revs] == [1, 2, 3, 4, 5]
    assert [x["jobs"] for x in revs] == [[], ["app"], ["app", "db"], ["app", "db"], ["app"]]
    assert len({x["hash"] for x in revs}) == 5

    # every revision stays readable, spec in the run spec's normalised JSON
    r = server.admin_req("GET", f"/v1/devices/gw/deployments/{dep['id']}?revision=3")
    assert r.status == 200 and r.json["revision"] == 3 and r.json["hash"] == revs[2]["hash"]
    jobs = r.json["spec"]["jobs"]
    assert [j["id"] for j in jobs] == ["app", "db"]
    assert jobs[0]["steps"][0]["run"] == "echo app"
    assert jobs[0]["steps"][0]["timeout"] == "1h"  # defaults written
    r = server.admin_req("GET", f"/v1/devices/gw/deployments/{dep['id']}?revision=9")
    assert r.status == 404
    r = server.admin_req("GET", f"/v1/devices/gw/deployments/{dep['id']}?revision=x")
    assert r.status == 400 and r.json["error"]["message"].startswith("revision:")

    # clone revision 3 as the new active deployment: the rollback
    c = server.new_deployment("gw", active=True, clone={"id": dep["id"], "revision": 3})
    assert c["revision"] == 1 and c["hash"] == revs[2]["hash"] and c["jobs"] == ["app", "db"]
    assert c["active"] is True
    r = server.admin_req("GET", "/v1/devices/gw/deployments")
    assert [x["active"] for x in r.json["deployments"]] == [False, True]
    # clone without a revision takes the newest
    n = server.new_deployment("gw", clone={"id": dep["id"]})
    assert n["hash"] == revs[4]["hash"]
    r = server.admin_req("POST", "/v1/devices/gw/deployments",
                         {"clone": {"id": dep["id"], "revision": 42}})
    assert r.status == 404
    r = server.admin_req("POST", "/v1/devices/gw/deployments", {"clone": {"id": "d-00000000"}})
    assert r.status == 404


def test_revision_hash_formula(server):
    token = server.add_device("gw")
    dep = server.new_deployment("gw", active=True)
    spec = {"jobs": [{"id": "zeta", "enabled": False, "steps": [{"name": "a", "run": "true"}]},
                     {"id": "alpha", "steps": [{"name": "a", "run": ["true"]}]}]}
    d = server.put_jobs("gw", dep["id"], spec)
    status = server.admin_req("GET", "/v1/devices/gw/status").json
    jobs = [(j["id"], j["hash"], j["enabled"]) for j in status["jobs"]]
    assert [j[0] for j in jobs] == ["zeta", "alpha"]
    assert d["hash"] == rev_hash(jobs)
    # the agent is told the same hash
    r = server.sync(token, {"applied": None, "wait": 0})
    assert r.json["target"]["hash"] == d["hash"]


def test_bad_run_spec_refused_with_parser_message(server):
    server.add_device("gw")
    dep = server.new_deployment("gw")
    path = f"/v1/devices/gw/deployments/{dep['id']}/jobs"
    r = server.admin_req("POST", path, {"jobs": [{"id": "app", "stpes": []}]})
    assert r.status == 400 and r.error_code() == "bad_request"
    assert "body:" in r.json["error"]["message"]
    assert "jobs[0]: unknown field 'stpes'" in r.json["error"]["message"]
    r = server.admin_req("POST", path, raw=b"jobs: []\n", headers={"Content-Type":
                                                                  "application/json"})
    assert r.status == 400 and r.json["error"]["message"].startswith("invalid json")
    # nothing was stored
    assert server.admin_req("GET", f"/v1/devices/gw/deployments/{dep['id']}").json["revision"] == 1


def test_bad_json_and_unknown_fields(server):
    cases = [
        ("POST", "/v1/devices", b"{\"name\":", "invalid json"),
        ("POST", "/v1/devices", b"[1]", "body: expected a json object"),
        ("POST", "/v1/devices", b"{\"name\":\"a\",\"color\":1}", "unknown field 'color'"),
        ("POST", "/v1/devices", b"[" * 1000 + b"]" * 1000, "nested deeper"),
    ]
    server.add_device("gw")
    cases += [
        ("POST", "/v1/devices/gw/deployments", b"{\"activ\":true}", "unknown field 'activ'"),
        ("POST", "/v1/devices/gw/deployments", b"{\"active\":1}", "active: expected"),
        ("POST", "/v1/devices/gw/deployments", b"{\"clone\":{\"id\":\"d-1\",\"rev\":1}}",
         "clone: unknown field 'rev'"),
        ("POST", "/v1/devices/gw/deployments", b"{\"clone\":{\"id\":\"d-1\",\"revision\":0}}",
         "clone.revision: expected an integer >= 1"),
    ]
    for method, path, raw, message in cases:
        r = server.admin_req(method, path, raw=raw, headers={"Content-Type": "application/json"})
        assert r.status == 400, (path, raw, r)
        assert r.error_code() == "bad_request"
        assert message in r.json["error"]["message"], r
    r = server.admin_req("POST", "/v1/devices", raw=b"name=x",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 415 and r.error_code() == "unsupported_media_type"
    r = server.admin_req("GET", "/v1/devices/gw/reports?colour=1")
    assert r.status == 400 and "unknown query parameter 'colour'" in r.json["error"]["message"]


def test_oversized_bodies_refused(server):
    server.add_device("gw")
    # refused on Content-Length, before the body
    r = server.headers_only("POST", "/v1/devices", {"Content-Type": "application/json",
                                                    "Content-Length": str(70 * 1024)},
                            token=server.admin)
    assert r.status == 413 and r.error_code() == "too_large"
    assert "65536" in r.json["error"]["message"]
    # chunked, without Content-Length: counted while it streams
    conn = server.connection()
    conn.putrequest("POST", "/v1/devices")
    conn.putheader("Authorization", "Bearer " + server.admin)
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b"x" * 8192
    for _ in range(10):
        conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    conn.send(b"0\r\n\r\n")
    resp = conn.getresponse()
    assert resp.status == 413
    assert json.loads(resp.read())["error"]["code"] == "too_large"
    conn.close()
    # the run spec endpoint takes more than 64 KiB, up to 4 MiB
    dep = server.new_deployment("gw")
    content = "y" * (100 * 1024)
    spec = {"jobs": [{"id": "big", "files": {"f.txt": content},
                      "steps": [{"name": "a", "run": "true"}]}]}
    assert server.put_jobs("gw", dep["id"], spec)["jobs"] == ["big"]
    r = server.headers_only("POST", f"/v1/devices/gw/deployments/{dep['id']}/jobs",
                            {"Content-Type": "application/json",
                             "Content-Length": str(4 * 1024 * 1024 + 1)}, token=server.admin)
    assert r.status == 413


def test_unknown_routes_and_methods(server):
    r = server.admin_req("GET", "/v1/nothing")
    assert r.status == 404 and r.error_code() == "not_found"
    r = server.admin_req("PATCH", "/v1/devices")
    assert r.status == 405 and r.error_code() == "method_not_allowed"
    assert r.header("Allow") == "POST, GET"
    r = server.admin_req("GET", "/v1/devices/")
    assert r.status == 404


def test_reports_query_and_pagination(server):
    token = server.add_device("gw")
    dep = server.new_deployment("gw", active=True)
    d = server.put_jobs("gw", dep["id"], SPEC_APP)
    reports = []
    for seq in range(1, 26):
        reports.append({"seq": seq, "kind": "step", "time": "2026-01-01T00:00:00Z",
                        "revision": d["hash"], "job": "app", "phase": "steps",
                        "step": "pull" if seq % 2 else "up", "attempt": 1,
                        "state": "succeeded", "exit_code": 0, "duration_ms": seq,
                        "output": f"line {seq}", "extra": {"kept": seq}})
    r = server.sync(token, {"applied": d["hash"], "reports": reports, "wait": 0})
    assert r.status == 200 and r.json == {"ack": 25}

    base = "/v1/devices/gw/reports"
    got, after = [], 0
    pages = 0
    while True:
        r = server.admin_req("GET", f"{base}?limit=10&after={after}")
        assert r.status == 200
        got += r.json["reports"]
        pages += 1
        if r.json["next"] is None:
            break
        after = r.json["next"]
    assert pages == 3
    assert [x["seq"] for x in got] == list(range(1, 26))
    assert got[0]["extra"] == {"kept": 1}  # unknown fields kept
    assert got[0]["deployment"] == dep["id"] and got[0]["received"].endswith("Z")

    r = server.admin_req("GET", f"{base}?step=up&job=app&deployment={dep['id']}&limit=1000")
    assert [x["seq"] for x in r.json["reports"]] == list(range(2, 26, 2))
    assert r.json["next"] is None
    assert server.admin_req("GET", f"{base}?job=other").json["reports"] == []
    assert server.admin_req("GET", f"{base}?kind=job").json["reports"] == []
    assert server.admin_req("GET", f"{base}?deployment=d-00000000").status == 404
    for bad in ["limit=0", "limit=1001", "after=-1", "limit=abc"]:
        r = server.admin_req("GET", f"{base}?{bad}")
        assert r.status == 400, bad

    # a resend of the same seqs is acknowledged and not stored twice
    r = server.sync(token, {"applied": d["hash"], "reports": reports[:5], "wait": 0})
    assert r.json["ack"] == 25
    assert len(server.admin_req("GET", f"{base}?limit=1000").json["reports"]) == 25


def test_status_and_health_from_reports(server):
    token = server.add_device("gw")
    r = server.admin_req("GET", "/v1/devices/gw/status")
    assert r.status == 404
    assert r.json["error"]["message"] == "device 'gw' has no active deployment"
    dep = server.new_deployment("gw", active=True)
    d = server.put_jobs("gw", dep["id"], {"jobs": SPEC_APP["jobs"] + SPEC_DB["jobs"]})

    s = server.admin_req("GET", "/v1/devices/gw/status").json
    assert s["picked_up"] is False and s["applied_revision"] is None and s["last_seen"] is None
    assert s["deployment"] == {"id": dep["id"], "revision": 2, "hash": d["hash"]}
    assert [(j["id"], j["state"], j["steps"]) for j in s["jobs"]] == [("app", "pending", []),
                                                                     ("db", "pending", [])]
    assert server.admin_req("GET", "/v1/devices/gw").json["health"]["state"] == "pending"

    h = d["hash"]
    reports = [
        {"seq": 1, "kind": "step", "revision": h, "job": "app", "phase": "steps", "step": "up",
         "attempt": 1, "state": "running"},
        {"seq": 2, "kind": "step", "revision": h, "job": "app", "phase": "steps", "step": "up",
         "attempt": 1, "state": "failed", "exit_code": 3, "duration_ms": 12, "output": "boom"},
        {"seq": 3, "kind": "step", "revision": h, "job": "app", "phase": "undo", "step": "up",
         "attempt": 1, "state": "succeeded", "exit_code": 0},
        {"seq": 4, "kind": "job", "revision": h, "job": "app", "state": "failed", "step": "up",
         "exit_code": 3, "attempts": 1, "message": "step up failed"},
        {"seq": 5, "kind": "job", "revision": h, "job": "db", "state": "succeeded"},
    ]
    assert server.sync(token, {"applied": h, "agent_version": "0.1.0", "reports": reports,
                               "wait": 0}).json == {"ack": 5}
    s = server.admin_req("GET", "/v1/devices/gw/status").json
    assert s["picked_up"] is True and s["applied_revision"] == h
    assert s["device"]["agent_version"] == "0.1.0" and s["device"]["online"] is True
    app, db = s["jobs"]
    assert app["state"] == "failed" and app["message"] == "step up failed"
    assert app["exit_code"] == 3 and app["step"] == "up" and app["attempts"] == 1
    assert [(x["name"], x["phase"], x["state"]) for x in app["steps"]] == [
        ("up", "steps", "failed"), ("up", "undo", "succeeded")]
    assert app["steps"][0]["output"] == "boom" and app["steps"][0]["exit_code"] == 3
    assert db["state"] == "succeeded"
    g = server.admin_req("GET", "/v1/devices/gw").json
    assert g["health"] == {"state": "failing", "jobs": {"app": "failed", "db": "succeeded"}}
    assert g["applied_revision"] == h and g["online"] is True
    # another deployment by id
    other = server.new_deployment("gw")
    s = server.admin_req("GET", f"/v1/devices/gw/status?deployment={other['id']}").json
    assert s["deployment"]["id"] == other["id"] and s["jobs"] == []


def test_metrics(server):
    token = server.add_device("gw")
    server.sync(token, {"applied": None, "wait": 0,
                        "reports": [{"seq": 1, "kind": "log", "output": "x"}]})
    server.admin_req("GET", "/v1/nothing")
    r = server.request("GET", "/metrics")
    assert r.status == 200
    assert r.header("Content-Type").startswith("text/plain")
    lines = dict(line.rsplit(" ", 1) for line in r.body.decode().splitlines()
                 if not line.startswith("#"))
    assert int(lines['m87_http_requests_total{code="201"}']) >= 1
    assert int(lines['m87_http_requests_total{code="404"}']) >= 1
    assert lines["m87_devices_online"] == "1"
    assert lines["m87_longpolls_held"] == "0"
    assert lines["m87_reports_stored_total"] == "1"


def test_garbage_never_crashes_the_server(server):
    token = server.add_device("gw")
    dep = server.new_deployment("gw", active=True)
    bodies = [b"", b"\x00", b"\xff\xfe", b"{", b"}", b"null", b"1e400", b"\"x\"", b"[]",
              b"{\"a\":" * 40, b"{\"name\":\"gw2\"}\x00", b"{\"name\":\"\\ud800\"}",
              b"{\"applied\":null,\"reports\":[{\"seq\":1e300,\"kind\":\"log\"}]}",
              b"{\"reports\":[{\"seq\":99999999999999999999999,\"kind\":\"log\"}]}",
              b"{\"reports\":[{\"seq\":5,\"kind\":\"log\",\"x\":1e400,\"y\":-1e999}]}",
              b"{\"jobs\":[{\"id\":\"a\",\"steps\":[{\"name\":\"s\",\"run\":[" + b"1," * 5000
              + b"1]}]}]}",
              b"{\"wait\":1e400}", b"{\"wait\":-0}", b"{\"active\":null}",
              b"{\"clone\":{\"id\":\"" + b"x" * 5000 + b"\"}}"]
    paths = [("POST", "/v1/devices", server.admin),
             ("POST", "/v1/devices/gw/deployments", server.admin),
             ("POST", f"/v1/devices/gw/deployments/{dep['id']}/activate", server.admin),
             ("POST", f"/v1/devices/gw/deployments/{dep['id']}/jobs", server.admin),
             ("POST", "/v1/agent/sync", token)]
    for method, path, tok in paths:
        for body in bodies:
            r = server.request(method, path, token=tok, raw=body,
                               headers={"Content-Type": "application/json"})
            assert r.status < 500, (path, body[:80], r)
            assert server.request("GET", "/healthz").status == 200
    # the odd numbers that were accepted come back as valid JSON
    r = server.admin_req("GET", "/v1/devices/gw/reports")
    assert r.status == 200
    for path in ["/v1/devices/%2e%2e/status", "/v1/devices/gw%00/status",
                 "/v1/devices/" + "a" * 5000, "/v1/bundles/sha256:" + "0" * 5000]:
        r = server.admin_req("GET", path)
        assert 400 <= r.status < 500, (path, r)
