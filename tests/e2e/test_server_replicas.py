"""Several m87-server replicas on one PostgreSQL act as one server (docs/operations.md, Replicas).

Real parts: the harness's PostgreSQL 15, three `m87-server serve --db URL` on it (one data
directory for the bundles and the sealing key, different ports), haproxy in front for the CLI,
and a real agent on the harness's dockerd. What one replica learns the others act on: a change
made on B (or through haproxy) wakes a sync held on A, a session made on B reaches the device on
A and its output is read live on B (NOTIFY inside the change's transaction, each replica's
listener thread); an agent on `server = A, B` moves to B when A is killed with SIGKILL in the
middle of an apply, with every report once and the revision applied once; a fleet rollout goes
on from another replica when the one that drives it (the holder of the advisory lock) is killed;
after a database outage the listeners and the driver come back."""

import signal
import threading
import time

from agent_util import Device, assert_reports_complete, wait_for
from cli_util import Cli, add_device, write
from replica_util import Via, cluster  # noqa: F401  (fixture)
from server_util import SPEC_APP, HeldSync, metric


def test_a_change_on_one_replica_wakes_a_sync_held_on_another(cluster):
    a, b, _ = cluster.replicas
    token = b.add_device("gw")
    held = HeldSync(a, token, {"applied": None, "wait": 300})
    held.wait_held()
    dep = b.new_deployment("gw")
    assert metric(a, "m87_longpolls_held") == 1  # an inactive deployment changes nothing
    started = time.monotonic()
    b.admin_req("POST", f"/v1/devices/gw/deployments/{dep['id']}/activate")
    # woken by B's change, not by the end of its 300 s wait
    wait_for(lambda: held.finished is not None, 60, "the held sync on A to be answered")
    print("A answered %.3f s after the activate on B" % (held.finished - started))
    r = held.join()
    assert r.status == 200 and r.json["target"]["deployment"] == dep["id"]

    # and the other way round, with jobs deployed on A to a sync held on B
    first = r.json["target"]["hash"]
    held = HeldSync(b, token, {"applied": first, "wait": 300})
    held.wait_held()
    d = a.put_jobs("gw", dep["id"], SPEC_APP)
    wait_for(lambda: held.finished is not None, 60, "the held sync on B to be answered")
    r = held.join()
    assert r.json["target"]["hash"] == d["hash"] and r.json["target"]["revision"] == 2
    # every replica listens, and none holds a sync that is gone
    for s in cluster.replicas:
        assert "notify: listening for the other replicas' changes" in s.read_log()
        assert metric(s, "m87_longpolls_held") == 0


def test_the_cli_through_the_load_balancer_wakes_the_replica_holding_the_sync(cluster, tmp_path):
    lb = cluster.start_lb()
    a = cluster.replicas[0]
    cli = Cli(tmp_path, Via(lb.url, cluster.admin))
    name, token = add_device(cli)
    held = HeldSync(a, token, {"applied": None, "wait": 300})
    held.wait_held()
    dep = cli.ok(name, "deployment", "new", "--active", "--json").json()["id"]
    wait_for(lambda: held.finished is not None, 60, "the held sync on A to be answered")
    assert held.join().json["target"]["deployment"] == dep
    shown = cli.ok("devices", "show", name, "--json").json()
    assert shown["active_deployment"]["id"] == dep
    # the CLI's requests went through haproxy to more than one replica (round robin)
    served = [s for s in cluster.replicas if " /v1/devices" in s.read_log()]
    assert len(served) >= 2, [s.log_path for s in served]


def fleet_of(server, n):
    """n devices labelled t=r and a fleet of them; [(name, token)] by name."""
    devs = []
    for i in range(n):
        name = "gw-%d" % i
        r = server.admin_req("POST", "/v1/devices", {"name": name, "labels": {"t": "r"}})
        assert r.status == 201, r
        devs.append((name, r.json["token"]))
    r = server.admin_req("POST", "/v1/fleets", {"name": "f", "selector": "t=r"})
    assert r.status == 201, r
    return sorted(devs)


def states(server, rid):
    r = server.admin_req("GET", "/v1/fleets/f/rollouts/" + rid)
    assert r.status == 200, r
    return {d["device"]: d["state"] for d in r.json["devices"]}


def report_ok(server, token, target):
    recs = [{"seq": 1, "kind": "job", "revision": target["hash"], "job": "app",
             "state": "succeeded"}]
    r = server.sync(token, {"applied": target["hash"], "reports": recs, "wait": 0})
    assert r.status == 200, r


def test_a_rollout_goes_on_from_another_replica_when_its_driver_is_killed(cluster):
    driver = cluster.driver()
    others = [s for s in cluster.replicas if s is not driver]
    for s in others:  # every other replica knows it does not drive
        wait_for(lambda: "another replica drives them" in s.read_log(), 30, "the others to wait")
    devs = fleet_of(driver, 3)
    for _, tok in devs:
        r = driver.sync(tok, {"applied": None, "wait": 0})
        assert r.status == 200
    spec = {"jobs": [{"id": "app", "steps": [{"name": "hello", "run": ["true"]}]}]}
    r = others[0].admin_req("POST", "/v1/fleets/f/releases",
                            {"spec": spec, "waves": "1,2,100%", "health_window": 1})
    assert r.status in (200, 201), r
    rid = r.json["rollout"]["id"]
    names = [n for n, _ in devs]
    # asked on another replica, placed by the driver
    wait_for(lambda: states(others[0], rid)[names[0]] == "applying", 30, "wave 1 to start")
    t0 = others[0].sync(devs[0][1], {"applied": None, "wait": 0}).json["target"]
    report_ok(others[0], devs[0][1], t0)
    wait_for(lambda: states(others[0], rid)[names[1]] == "applying", 30, "wave 2 to start")

    # the driver dies in the middle of the rollout: its session ends, the lock frees
    driver.proc.send_signal(signal.SIGKILL)
    driver.proc.wait()
    driver.proc = None
    driver.log.close()
    new = cluster.driver(timeout=60, not_=driver)
    assert new in others
    t1 = others[0].sync(devs[1][1], {"applied": None, "wait": 0}).json["target"]
    report_ok(others[1], devs[1][1], t1)
    wait_for(lambda: states(others[1], rid)[names[2]] == "applying", 60, "wave 3 from the new driver")
    t2 = others[1].sync(devs[2][1], {"applied": None, "wait": 0}).json["target"]
    report_ok(others[0], devs[2][1], t2)
    wait_for(lambda: others[0].admin_req("GET", "/v1/fleets/f/rollouts/" + rid).json["state"]
             == "done", 60, "the rollout to end")
    assert set(states(others[1], rid).values()) == {"healthy"}
    # placed once each: the new driver gave no device another revision
    for (_, tok), t in zip(devs, (t0, t1, t2)):
        r = others[1].sync(tok, {"applied": t["hash"], "wait": 0})
        assert "target" not in r.json, r.json


def test_a_session_made_on_b_reaches_the_device_on_a_and_its_output_is_read_live_on_b(cluster):
    a, b, _ = cluster.replicas
    token = b.add_device("gw")
    a.sync(token, {"applied": None, "wait": 0})
    held = HeldSync(a, token, {"applied": None, "wait": 300})
    held.wait_held()
    r = b.admin_req("POST", "/v1/devices/gw/sessions", {"command": "ps", "args": ["-a"]})
    assert r.status == 201, r
    sid = r.json["id"]
    # the new session wakes the device's sync held on A
    wait_for(lambda: held.finished is not None, 60, "the held sync on A to be answered")
    assert [x["id"] for x in held.join().json["sessions"]] == [sid]
    r = a.request("POST", "/v1/agent/sessions/" + sid, token=token, body={})
    assert r.status == 200 and r.json["state"] == "running", r

    # a reader on B waits for output; the device writes it on A
    base = "/v1/devices/gw/sessions/%s/output" % sid
    got = {}

    def read():
        got["answer"] = b.admin_req("GET", base + "?after=0&wait=60", timeout=90)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_for(lambda: metric(b, "m87_longpolls_held") >= 1, 30, "the read on B to be held")
    assert "answer" not in got
    r = a.request("POST", "/v1/agent/sessions/" + sid, token=token,
                  body={"output": [{"stream": "stdout", "text": "one\n"}]})
    assert r.status == 200, r
    reader.join(30)  # less than its 60 s wait: woken, not timed out
    assert not reader.is_alive(), "the read on B was not woken by the output written on A"
    out = got["answer"].json
    assert [(c["seq"], c["text"]) for c in out["output"]] == [(1, "one\n")]
    assert out["state"] == "running"


SLOW = """\
jobs:
  - id: slow
    type: job
    steps:
      - name: wait
        run: [/bin/sleep, "6"]
      - name: mark
        run: [/bin/true]
"""


def test_the_agent_moves_to_b_when_a_is_killed_mid_apply(env, cluster, tmp_path):
    a, b, _ = cluster.replicas
    via_b = Via("http://127.0.0.1:%d" % b.port, cluster.admin)
    urls = "http://127.0.0.1:%d, http://127.0.0.1:%d" % (a.port, b.port)
    dev = Device(env, via_b, tmp_path, server_url=urls)  # the CLI on B, the agent on A then B
    try:
        dev.agent.start()
        dev.m87("deployment", "new", "--active")
        wait_for(lambda: "POST /v1/agent/sync" in a.read_log(), 60, "the agent to sync with A")
        h = dev.m87("deploy", write(tmp_path / "slow.yml", SLOW), "--json").json()["hash"]
        # A's held sync is woken by the deploy on B; the apply starts; A dies in its middle
        wait_for(dev.agent.runner_locked, 60, "the apply to start\n" + dev.agent.log()[-2000:])
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        a.proc = None
        a.log.close()
        assert dev.wait_applied(180) == h
        assert "trying http://127.0.0.1:%d" % b.port in dev.agent.log()
        wait_for(lambda: dev.agent.journal() == [], 60, "the agent's queue to drain on B")
        assert_reports_complete(dev)
        jobs = [r for r in dev.reports(kind="job", job="slow")
                if r["revision"] == h and r["state"] == "succeeded"]
        waits = [r for r in dev.reports(kind="step", job="slow")
                 if r["revision"] == h and r.get("step") == "wait" and r["state"] == "succeeded"]
        assert len(jobs) == 1 and len(waits) == 1, (jobs, waits)  # applied once
    finally:
        dev.agent.stop()


def test_after_a_database_outage_the_listeners_and_the_driver_come_back(cluster):
    a, b, _ = cluster.replicas
    driver = cluster.driver()
    token = b.add_device("gw")
    dep = b.new_deployment("gw")
    cluster.pg.stop()
    for s in (a, b):
        wait_for(lambda: "notify: " in s.read_log() and "reconnecting" in s.read_log(), 30,
                 "the listener to lose the database")
    wait_for(lambda: "drive them until it can take the lock again" in driver.read_log(), 30,
             "the driver to lose its lock")
    cluster.pg.start_again()
    for s in (a, b):
        wait_for(lambda: s.read_log().count("notify: listening for the other replicas'") >= 2,
                 60, "the listener to listen again")
    cluster.driver(timeout=60)  # one replica drives again (the lock was free while no one held it)

    # the store's own connection comes back with the first requests (503 until then)
    def synced():
        r = a.sync(token, {"applied": None, "wait": 0})
        return r.status == 200
    wait_for(synced, 60, "A to answer again")
    wait_for(lambda: b.admin_req("GET", "/v1/devices/gw").status == 200, 60, "B to answer again")
    held = HeldSync(a, token, {"applied": None, "wait": 300})
    held.wait_held()
    r = b.admin_req("POST", f"/v1/devices/gw/deployments/{dep['id']}/activate")
    assert r.status == 200, r
    wait_for(lambda: held.finished is not None, 60, "the held sync on A to be woken from B")
    assert held.join().json["target"]["deployment"] == dep["id"]
