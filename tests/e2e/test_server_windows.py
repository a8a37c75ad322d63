"""Maintenance windows, the prefetch setting and `now` on m87-server: the endpoints, what the
sync's target and the status answer carry, and held syncs woken by a change of any of them."""

import sqlite3
import time

from server_util import SPEC_APP, SPEC_DB, HeldSync, server  # noqa: F401 (fixture)

WIN = "/v1/devices/gw/windows"


def setup_device(server, jobs=True):
    """Device gw with an active deployment (holding app when jobs); (token, deployment)."""
    token = server.add_device("gw")
    dep = server.new_deployment("gw", active=True)
    if jobs:
        dep = server.put_jobs("gw", dep["id"], SPEC_APP)
    return token, dep


def add_window(server, rule, device="gw"):
    r = server.admin_req("POST", f"/v1/devices/{device}/windows", {"rule": rule})
    assert r.status == 201, r
    return r.json


def target(server, token, **body):
    body.setdefault("wait", 0)
    r = server.sync(token, body)
    assert r.status == 200, r
    return r.json.get("target")


def report(seq, dep_hash, state, **fields):
    rec = {"seq": seq, "kind": "window", "revision": dep_hash, "state": state,
           "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    rec.update(fields)
    return rec


def test_windows_add_list_remove(server):
    server.add_device("gw")
    w1 = add_window(server, "  SAT,Sun 00:00-06:00 ")
    assert w1["rule"] == "sat,sun 00:00-06:00" and w1["id"] >= 1 and w1["created"]
    w2 = add_window(server, "fri-mon 22:00-00:00 Europe/Berlin")
    assert w2["rule"] == "mon,fri-sun 22:00-24:00 Europe/Berlin"
    r = server.admin_req("GET", WIN)
    assert r.status == 200
    assert [w["rule"] for w in r.json["windows"]] == [w1["rule"], w2["rule"]]
    assert r.json["prefetch"] == "always"
    dev = server.admin_req("GET", "/v1/devices/gw").json
    assert [w["id"] for w in dev["windows"]] == [w1["id"], w2["id"]]
    assert dev["prefetch"] == "always"

    r = server.admin_req("DELETE", f"{WIN}/{w1['id']}")
    assert r.status == 204 and r.body == b""
    assert [w["id"] for w in server.admin_req("GET", WIN).json["windows"]] == [w2["id"]]
    r = server.admin_req("DELETE", f"{WIN}/{w1['id']}")
    assert r.status == 404 and f"no window {w1['id']}" in r.json["error"]["message"]
    assert server.admin_req("DELETE", f"{WIN}/abc").status == 404
    # a removed id is never given again
    assert add_window(server, "daily 01:00-02:00")["id"] > w2["id"]
    # another device cannot remove gw's window
    server.add_device("other")
    assert server.admin_req("DELETE", f"/v1/devices/other/windows/{w2['id']}").status == 404
    assert server.admin_req("GET", "/v1/devices/nope/windows").status == 404
    # a device token may not touch windows
    token = server.add_device("gw2")
    assert server.request("GET", "/v1/devices/gw2/windows", token=token).status == 403


def test_bad_window_rules(server):
    server.add_device("gw")
    cases = [
        ({"rule": "sa 02:00-04:00"}, "rule: unknown day 'sa'"),
        ({"rule": "daily 25:00-04:00"}, "rule: start time '25:00': must be 00:00 to 23:59"),
        ({"rule": "daily 02:00-04:00 Mars/Olympus"}, "rule: unknown time zone 'Mars/Olympus'"),
        ({"rule": "daily 02:00-02:00"}, "start and end are the same"),
        ({"rule": ""}, "rule: empty rule"),
        ({"rule": 5}, "rule: expected a string"),
        ({}, "rule: expected a string"),
        ({"rule": "daily 02:00-04:00", "zone": "UTC"}, "unknown field 'zone'"),
    ]
    for body, msg in cases:
        r = server.admin_req("POST", WIN, body)
        assert r.status == 400, (body, r)
        assert msg in r.json["error"]["message"], (body, r)
    assert server.admin_req("GET", WIN).json["windows"] == []
    add_window(server, "daily 02:00-04:00")
    r = server.admin_req("POST", WIN, {"rule": "DAILY 02:00-04:00 UTC"})
    assert r.status == 409 and "has the rule 'daily 02:00-04:00' already" in r.body.decode()
    for hour in range(31):
        add_window(server, f"mon {hour % 24:02d}:{hour // 24 * 10 + 1:02d}-23:59")
    r = server.admin_req("POST", WIN, {"rule": "tue 01:00-02:00"})
    assert r.status == 413 and "at most 32 windows" in r.body.decode()


def test_prefetch_setting(server):
    server.add_device("gw")
    r = server.admin_req("PATCH", "/v1/devices/gw", {"prefetch": "window"})
    assert r.status == 200 and r.json["prefetch"] == "window" and r.json["name"] == "gw"
    assert server.admin_req("GET", "/v1/devices").json["devices"][0]["prefetch"] == "window"
    for body, msg in [({"prefetch": "never"}, "prefetch: expected"),
                      ({"prefetch": None}, "prefetch: expected"),
                      ({"name": "x"}, "unknown field 'name'")]:
        r = server.admin_req("PATCH", "/v1/devices/gw", body)
        assert r.status == 400 and msg in r.json["error"]["message"], (body, r)
    assert server.admin_req("GET", "/v1/devices/gw").json["prefetch"] == "window"
    assert server.admin_req("PATCH", "/v1/devices/nope", {"prefetch": "window"}).status == 404


def test_target_carries_policy(server):
    token, dep = setup_device(server)
    t = target(server, token, applied=None)
    assert t["hash"] == dep["hash"]
    assert t["windows"] == [] and t["prefetch"] == "always" and t["now"] is False
    p0 = t["policy"]
    add_window(server, "mon-fri 22:00-02:00")
    t = target(server, token, applied=None)
    assert t["windows"] == ["mon-fri 22:00-02:00"] and t["policy"] > p0
    p1 = t["policy"]
    # an agent that has this policy and this revision gets nothing; one that does not say which
    # policy it has is only sent revisions
    assert target(server, token, applied=dep["hash"], policy=p1) is None
    assert target(server, token, applied=dep["hash"]) is None
    t = target(server, token, applied=dep["hash"], policy=p0)
    assert t["hash"] == dep["hash"] and t["policy"] == p1
    # an unchanged prefetch setting is no change
    server.admin_req("PATCH", "/v1/devices/gw", {"prefetch": "always"})
    assert target(server, token, applied=dep["hash"], policy=p1) is None
    server.admin_req("PATCH", "/v1/devices/gw", {"prefetch": "window"})
    t = target(server, token, applied=dep["hash"], policy=p1)
    assert t["prefetch"] == "window" and t["policy"] > p1
    for bad in [-1, "1", 1.5]:
        r = server.sync(token, {"applied": None, "policy": bad, "wait": 0})
        assert r.status == 400 and "policy: expected an integer" in r.body.decode(), bad


def test_policy_change_wakes_held_sync(server):
    token, dep = setup_device(server)
    policy = target(server, token, applied=None)["policy"]

    def held_change(change):
        held = HeldSync(server, token, {"applied": dep["hash"], "policy": policy, "wait": 60})
        held.wait_held()
        change()
        r = held.join()
        assert r.status == 200 and "target" in r.json, r
        return r.json["target"]

    t = held_change(lambda: add_window(server, "daily 02:00-04:00 Europe/Berlin"))
    assert t["windows"] == ["daily 02:00-04:00 Europe/Berlin"] and t["hash"] == dep["hash"]
    policy = t["policy"]
    t = held_change(lambda: server.admin_req("PATCH", "/v1/devices/gw", {"prefetch": "window"}))
    assert t["prefetch"] == "window"
    policy = t["policy"]
    wid = server.admin_req("GET", WIN).json["windows"][0]["id"]
    t = held_change(lambda: server.admin_req("DELETE", f"{WIN}/{wid}"))
    assert t["windows"] == []
    policy = t["policy"]
    # --now on the active deployment: same revision, now true
    t = held_change(lambda: server.admin_req(
        "POST", f"/v1/devices/gw/deployments/{dep['id']}/activate?now=1"))
    assert t["now"] is True and t["hash"] == dep["hash"]


def test_now_flag(server):
    token, dep = setup_device(server, jobs=False)
    jobs = f"/v1/devices/gw/deployments/{dep['id']}/jobs"
    r = server.admin_req("POST", jobs + "?now=1", SPEC_APP)
    assert r.status == 200
    t = target(server, token, applied=None)
    assert t["hash"] == r.json["hash"] and t["now"] is True
    # a later change without now is not applied at once
    r = server.admin_req("POST", jobs, SPEC_DB)
    t = target(server, token, applied=None)
    assert t["hash"] == r.json["hash"] and t["now"] is False
    # the status answer says so too
    st = server.admin_req("GET", "/v1/devices/gw/status").json
    assert st["now"] is False and st["windows"] == [] and st["prefetch"] == "always"
    r = server.admin_req("POST", jobs + "?now=true", SPEC_DB)
    assert server.admin_req("GET", "/v1/devices/gw/status").json["now"] is True

    # a clone activated now (the rollback), and one activated later without
    r = server.admin_req("POST", "/v1/devices/gw/deployments?now=1",
                         {"active": True, "clone": {"id": dep["id"], "revision": 2}})
    assert r.status == 201, r
    t = target(server, token, applied=None)
    assert t["deployment"] == r.json["id"] and t["now"] is True
    assert server.admin_req("POST", f"/v1/devices/gw/deployments/{dep['id']}/activate").status \
        == 200
    t = target(server, token, applied=None)
    assert t["deployment"] == dep["id"] and t["now"] is False


def test_now_refused(server):
    token, dep = setup_device(server)
    other = server.new_deployment("gw")
    before = server.admin_req("GET", f"/v1/devices/gw/deployments/{other['id']}").json
    r = server.admin_req("POST", f"/v1/devices/gw/deployments/{other['id']}/jobs?now=1", SPEC_DB)
    assert r.status == 409 and "is not active" in r.json["error"]["message"]
    after = server.admin_req("GET", f"/v1/devices/gw/deployments/{other['id']}").json
    assert after["revision"] == before["revision"]  # nothing half-applied
    r = server.admin_req("POST", "/v1/devices/gw/deployments?now=1", {"active": False})
    assert r.status == 400 and 'now: needs "active": true' in r.json["error"]["message"]
    r = server.admin_req("POST", f"/v1/devices/gw/deployments/{dep['id']}/activate?now=yes")
    assert r.status == 400 and "now: expected 1 or 0" in r.json["error"]["message"]
    r = server.admin_req("POST", f"/v1/devices/gw/deployments/{dep['id']}/activate?later=1")
    assert r.status == 400 and "unknown query parameter 'later'" in r.json["error"]["message"]
    assert len(server.admin_req("GET", "/v1/devices/gw/deployments").json["deployments"]) == 2


def test_window_reports_in_status(server):
    token, dep = setup_device(server)
    add_window(server, "sat,sun 00:00-06:00")
    st = server.admin_req("GET", "/v1/devices/gw/status").json
    assert st["window"] is None and st["windows"] == ["sat,sun 00:00-06:00"]
    nxt = "2026-11-28T00:00:00Z"
    r = server.sync(token, {"applied": None, "wait": 0, "reports": [
        report(1, dep["hash"], "waiting", next=nxt, prefetch={"done": 1, "total": 2})]})
    assert r.status == 200 and r.json["ack"] == 1
    w = server.admin_req("GET", "/v1/devices/gw/status").json["window"]
    assert w["state"] == "waiting" and w["next"] == nxt and w["prefetch"] == {"done": 1, "total": 2}
    server.sync(token, {"applied": dep["hash"], "wait": 0,
                        "reports": [report(2, dep["hash"], "open", next=None)]})
    assert server.admin_req("GET", "/v1/devices/gw/status").json["window"]["state"] == "open"
    got = server.admin_req("GET", "/v1/devices/gw/reports?kind=window").json["reports"]
    assert [g["seq"] for g in got] == [1, 2]
    for bad, msg in [({"state": "later"}, "reports[0].state: must be waiting or open"),
                     ({"state": None}, "reports[0].state: must be waiting or open"),
                     ({"next": 5}, "reports[0].next: expected a string or null")]:
        rec = report(3, dep["hash"], "waiting")
        rec.update(bad)
        r = server.sync(token, {"applied": None, "wait": 0, "reports": [rec]})
        assert r.status == 400 and msg in r.json["error"]["message"], (bad, r)


def test_windows_kept_across_restart(server):
    server.add_device("gw")
    add_window(server, "daily 02:00-04:00 +02:00")
    server.admin_req("PATCH", "/v1/devices/gw", {"prefetch": "window"})
    assert server.stop() == 0
    if not server.db_args:  # SQLite in the data directory (not M87_TEST_DB=postgres)
        db = sqlite3.connect(server.data + "/m87.db")
        assert db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] >= 2
        db.close()
    server.start()
    dev = server.admin_req("GET", "/v1/devices/gw").json
    assert [w["rule"] for w in dev["windows"]] == ["daily 02:00-04:00 +02:00"]
    assert dev["prefetch"] == "window"
    # removing the device removes its windows
    assert server.admin_req("DELETE", "/v1/devices/gw").status == 204
    server.add_device("gw")
    assert server.admin_req("GET", WIN).json["windows"] == []
