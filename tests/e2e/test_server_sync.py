"""POST /v1/agent/sync end to end: targets only when they differ, reports acknowledged, the
long-poll held until the device's target changes or the wait ends, validation."""

from server_util import SPEC_APP, SPEC_DB, HeldSync, metric, server  # noqa: F401 (fixture)


def test_target_only_when_it_differs(server):
    token = server.add_device("gw")
    # no active deployment, nothing applied: nothing to say
    r = server.sync(token, {"applied": None, "agent_version": "0.1.0", "wait": 0})
    assert r.status == 200 and r.json == {"ack": 0}
    dep = server.new_deployment("gw", active=True)
    d = server.put_jobs("gw", dep["id"], SPEC_APP)
    r = server.sync(token, {"applied": None, "wait": 0})
    t = r.json["target"]
    assert t["deployment"] == dep["id"] and t["revision"] == 2 and t["hash"] == d["hash"]
    assert [j["id"] for j in t["spec"]["jobs"]] == ["app"]
    assert t["spec"]["jobs"][0]["steps"][0]["run"] == "echo app"
    r = server.sync(token, {"applied": d["hash"], "wait": 0})
    assert r.json == {"ack": 0}
    # an outdated applied hash gets the target again
    r = server.sync(token, {"applied": "0" * 64, "wait": 0})
    assert r.json["target"]["hash"] == d["hash"]
    dev = server.admin_req("GET", "/v1/devices/gw").json
    assert dev["agent_version"] == "0.1.0" and dev["applied_revision"] == "0" * 64
    assert dev["last_seen"] is not None and dev["online"] is True


def test_no_active_deployment_and_something_applied_means_stop(server):
    token = server.add_device("gw")
    r = server.sync(token, {"applied": "a" * 64, "wait": 0})
    assert r.json == {"ack": 0, "target": None}


def test_held_until_activate(server):
    token = server.add_device("gw")
    held = HeldSync(server, token, {"applied": None, "wait": 60})
    held.wait_held()
    dep = server.new_deployment("gw")
    assert metric(server, "m87_longpolls_held") == 1  # an inactive deployment changes nothing
    server.admin_req("POST", f"/v1/devices/gw/deployments/{dep['id']}/activate")
    r = held.join()
    assert r.status == 200
    assert r.json["target"]["deployment"] == dep["id"]
    assert held.finished - held.started < 60  # answered before the wait expired


def test_held_until_deploy_to_the_active_deployment(server):
    token = server.add_device("gw")
    dep = server.new_deployment("gw", active=True)
    first = server.sync(token, {"applied": None, "wait": 0}).json["target"]["hash"]
    held = HeldSync(server, token, {"applied": first, "wait": 60})
    held.wait_held()
    d = server.put_jobs("gw", dep["id"], SPEC_APP)
    r = held.join()
    assert r.json["target"]["hash"] == d["hash"] and r.json["target"]["revision"] == 2
    assert held.finished - held.started < 60

    # undeploy wakes it too
    held = HeldSync(server, token, {"applied": d["hash"], "wait": 60})
    held.wait_held()
    r = server.admin_req("DELETE", f"/v1/devices/gw/deployments/{dep['id']}/jobs/app")
    assert r.status == 200
    r = held.join()
    assert r.json["target"]["spec"] == {"jobs": []} and r.json["target"]["revision"] == 3


def test_other_devices_changes_do_not_wake_it(server):
    token = server.add_device("gw")
    server.add_device("other")
    held = HeldSync(server, token, {"applied": None, "wait": 60})
    held.wait_held()
    other = server.new_deployment("other", active=True)
    server.put_jobs("other", other["id"], SPEC_DB)
    assert metric(server, "m87_longpolls_held") == 1
    assert held.thread.is_alive()
    server.new_deployment("gw", active=True)
    assert "target" in held.join().json


def test_answered_at_the_end_of_the_wait(server):
    token = server.add_device("gw")
    dep = server.new_deployment("gw", active=True)
    h = server.sync(token, {"applied": None, "wait": 0}).json["target"]["hash"]
    held = HeldSync(server, token, {"applied": h, "wait": 1,
                                    "agent_version": "0.2.0"})
    r = held.join()
    assert r.status == 200 and r.json == {"ack": 0}
    assert server.admin_req("GET", "/v1/devices/gw").json["agent_version"] == "0.2.0"
    assert dep["active"]


def test_reports_are_answered_at_once_and_acked(server):
    token = server.add_device("gw")
    reports = [{"seq": i, "kind": "log", "output": f"l{i}"} for i in range(1, 4)]
    r = server.sync(token, {"applied": None, "wait": 300, "reports": reports})
    assert r.json == {"ack": 3}
    r = server.sync(token, {"applied": None, "wait": 0, "reports": []})
    assert r.json == {"ack": 3}


def test_device_removed_while_held(server):
    token = server.add_device("gw")
    held = HeldSync(server, token, {"applied": None, "wait": 60})
    held.wait_held()
    assert server.admin_req("DELETE", "/v1/devices/gw").status == 204
    assert held.join().status == 200
    assert server.sync(token, {"applied": None, "wait": 0}).status == 401


def test_offline_sync_of_a_stopping_agent(server):
    token = server.add_device("gw")
    held = HeldSync(server, token, {"applied": None, "wait": 120})
    held.wait_held()

    def device():
        return server.admin_req("GET", "/v1/devices/gw").json
    assert device()["online"] is True
    # the agent stops: its last sync says so, with its last reports, and is answered at once
    reports = [{"seq": 1, "kind": "log", "output": "bye"}]
    r = server.sync(token, {"applied": None, "wait": 60, "reports": reports, "offline": True})
    assert r.status == 200 and r.json == {"ack": 1}
    assert device()["online"] is False and device()["last_seen"] is not None
    # the hold of its request is released (the agent closed it), and does not undo the goodbye
    assert held.join().status == 200
    assert metric(server, "m87_longpolls_held") == 0
    assert metric(server, "m87_devices_online") == 0
    assert device()["online"] is False
    # the next start's first sync brings it back
    r = server.sync(token, {"applied": None, "wait": 0, "offline": False})
    assert r.status == 200 and device()["online"] is True
    assert metric(server, "m87_devices_online") == 1


def test_shutdown_answers_held_syncs(tmp_path):
    from server_util import Server
    s = Server(tmp_path)
    s.init()
    s.start()
    try:
        token = s.add_device("gw")
        helds = [HeldSync(s, token, {"applied": None, "wait": 120}) for _ in range(3)]
        helds[0].wait_held(3)
    finally:
        rc = s.stop()
    assert rc == 0
    for h in helds:
        r = h.join()
        assert r.status == 200 and r.json == {"ack": 0}
    assert "stopped" in s.read_log()


def test_longpoll_max_caps_the_wait(tmp_path):
    from server_util import Server
    s = Server(tmp_path, longpoll_max=1)
    s.init()
    s.start()
    try:
        token = s.add_device("gw")
        held = HeldSync(s, token, {"applied": None, "wait": 300})
        r = held.join()
        assert r.json == {"ack": 0}
        assert held.finished - held.started < 300
    finally:
        assert s.stop() == 0


def test_sync_validation(server):
    token = server.add_device("gw")
    cases = [
        ({"applied": None, "wait": 301}, 400, "wait: expected an integer from 0 to 300"),
        ({"applied": None, "wait": -1}, 400, "wait:"),
        ({"applied": None, "wait": 1.5}, 400, "wait:"),
        ({"applied": "abc"}, 400, "applied: expected a revision hash"),
        ({"applied": None, "colour": 1}, 400, "unknown field 'colour'"),
        ({"applied": None, "offline": "yes"}, 400, "offline: expected true or false"),
        ({"applied": None, "agent_version": "x" * 65}, 400, "agent_version:"),
        ({"reports": {}}, 400, "reports: expected an array"),
        ({"reports": [1]}, 400, "reports[0]: expected an object"),
        ({"reports": [{"kind": "log"}]}, 400, "reports[0].seq: must be a positive integer"),
        ({"reports": [{"seq": 0, "kind": "log"}]}, 400, "reports[0].seq:"),
        ({"reports": [{"seq": 1, "kind": "x"}]}, 400, "reports[0].kind:"),
        ({"reports": [{"seq": 1, "kind": "step", "phase": "later"}]}, 400, "reports[0].phase:"),
        ({"reports": [{"seq": 1, "kind": "step", "exit_code": "1"}]}, 400,
         "reports[0].exit_code: expected an integer"),
        ({"reports": [{"seq": 1, "kind": "step", "job": 5}]}, 400, "reports[0].job:"),
        ({"reports": [{"seq": 1e300, "kind": "log"}]}, 400, "reports[0]: a number is out of range"),
        ({"reports": [{"seq": 1, "kind": "log", "x": [1, {"y": 1e300}]}]}, 400,
         "reports[0]: a number is out of range"),
        ({"reports": [{"seq": i, "kind": "log"} for i in range(1, 502)]}, 413,
         "reports: 501 records exceed the limit of 500"),
        ({"reports": [{"seq": 1, "kind": "log", "output": "x" * (65 * 1024)}]}, 413,
         "reports[0]: record of"),
    ]
    for body, status, message in cases:
        r = server.sync(token, body)
        assert r.status == status, (body, r)
        assert message in r.json["error"]["message"], r
    # a batch with one bad record stores none of it
    bad = [{"seq": 1, "kind": "log"}, {"seq": 2, "kind": "nope"}]
    assert server.sync(token, {"reports": bad}).status == 400
    assert server.sync(token, {"applied": None, "wait": 0}).json == {"ack": 0}
    # an empty body is {}: applied null, default wait; reports make it answer at once
    r = server.sync(token, {"reports": [{"seq": 7, "kind": "health", "state": "ok"}]})
    assert r.json == {"ack": 7}


def test_rollout_records(server):
    """The agent's verdict on a rollout's revision (docs/api.md, report records): accepted with
    its three states, refused with another state or a rollout or previous that is no string."""
    token = server.add_device("gw")
    for body, message in [
        ({"seq": 1, "kind": "rollout", "state": "fine"},
         "reports[0].state: must be healthy, failed or rolled-back"),
        ({"seq": 1, "kind": "rollout"}, "reports[0].state: must be healthy, failed or rolled-back"),
        ({"seq": 1, "kind": "rollout", "state": "failed", "rollout": 5}, "reports[0].rollout:"),
        ({"seq": 1, "kind": "rollout", "state": "rolled-back", "previous": []},
         "reports[0].previous:"),
    ]:
        r = server.sync(token, {"reports": [body]})
        assert r.status == 400, (body, r)
        assert message in r.json["error"]["message"], r
    good = [{"seq": i + 1, "kind": "rollout", "state": s, "rollout": "r-0000abcd",
             "revision": "a" * 64, "previous": p, "message": s}
            for i, (s, p) in enumerate([("healthy", None), ("failed", "b" * 64),
                                        ("rolled-back", "b" * 64)])]
    assert server.sync(token, {"reports": good}).json == {"ack": 3}
    got = server.admin_req("GET", "/v1/devices/gw/reports?kind=rollout").json["reports"]
    assert [(r["state"], r["previous"]) for r in got] == [("healthy", None), ("failed", "b" * 64),
                                                         ("rolled-back", "b" * 64)]
