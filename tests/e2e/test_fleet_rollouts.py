"""Fleet releases and staged rollouts (docs/fleets.md) end to end.

The first tests speak the agent protocol to a real m87-server directly (POST /v1/agent/sync with
"job" and "health" records), which makes the gate's steps visible one by one; the errors of
`m87 fleet NAME deploy` and of the API come next. The last tests run three real agents, each on
a private dockerd of its own, against one server: a good release rolls out wave by wave, a bad
one halts after its first wave and is rolled back, an offline member catches up, a relabelled
device joins, a restarted server resumes."""

import base64
import json
import shutil
import tempfile

import pytest
import yaml

from agent_util import Agent, wait_for
from cli_util import Cli, Server, unique
from compose_util import API, PROJECT_LABEL, filters
from harness.dockerd import Dockerd


@pytest.fixture
def srv(tmp_path):
    s = Server(tmp_path / "server").start()
    yield s
    s.stop()


def fleet_with(server, cli, n, t=None):
    """A fleet of n new devices labelled t=T; (fleet, [(name, token)] by name)."""
    t = t or unique("t")
    devs = []
    for i in range(n):
        name = "%s-%d" % (t, i)
        r = cli.ok("devices", "add", name, "--label", "t=" + t, "--json").json()
        devs.append((name, r["token"]))
    fleet = unique("f-")
    cli.ok("fleets", "add", fleet, "--select", "t=" + t)
    return fleet, sorted(devs)


def release(server, fleet, job="app", **opts):
    spec = {"jobs": [{"id": job, "steps": [{"name": "hello", "run": ["true"]}]}]}
    return server.api("POST", "/v1/fleets/%s/releases" % fleet, dict(spec=spec, **opts))


def rollout(server, fleet, rid):
    return server.api("GET", "/v1/fleets/%s/rollouts/%s" % (fleet, rid))


def states(server, fleet, rid):
    return {d["device"]: d["state"] for d in rollout(server, fleet, rid)["devices"]}


def target_of(server, token, applied=None):
    return server.sync(token, applied=applied).get("target")


def report_ok(server, token, target, seq, health=None):
    """The device applied target: a succeeded "job" record per job (and a health record)."""
    recs = []
    for job in [j["id"] for j in target["spec"]["jobs"]]:
        recs.append({"seq": seq, "kind": "job", "revision": target["hash"], "job": job,
                     "state": "succeeded"})
        seq += 1
    if health:
        recs.append({"seq": seq, "kind": "health", "revision": target["hash"],
                     "job": target["spec"]["jobs"][0]["id"], "state": health,
                     "message": "container 'x' is %s" % health})
        seq += 1
    server.sync(token, reports=recs, applied=target["hash"])
    return seq


def test_waves_by_the_protocol(srv, tmp_path):
    cli = Cli(tmp_path, srv)
    fleet, devs = fleet_with(srv, cli, 3)
    for _, tok in devs:  # online
        srv.sync(tok)
    doc = release(srv, fleet, waves="1,2,100%", health_window=2)
    ro = doc["rollout"]
    assert doc["release"]["release"] == 1 and ro["id"].startswith("r-")
    assert ro["waves"] == [1, 2, 3] and ro["state"] == "running"
    rid = ro["id"]
    names = [n for n, _ in devs]
    wait_for(lambda: states(srv, fleet, rid)[names[0]] == "applying", 10, "wave 1 to start")
    assert states(srv, fleet, rid) == {names[0]: "applying", names[1]: "pending",
                                       names[2]: "pending"}
    # wave 1's device has a target carrying the release, watched by the rollout
    t0 = target_of(srv, devs[0][1])
    assert t0["rollout"] == {"id": rid, "fleet": fleet, "release": 1, "health_window": 2}
    [entry] = t0["fleets"]
    assert entry["fleet"] == fleet and entry["release"] == 1 and entry["jobs"] == ["app"]
    assert "signature" not in entry
    # the second device has nothing yet
    assert target_of(srv, devs[1][1]) is None
    report_ok(srv, devs[0][1], t0, 1)
    # healthy only after the window: wave 2 waits for it
    wait_for(lambda: states(srv, fleet, rid)[names[0]] == "healthy", 15, "wave 1 healthy")
    wait_for(lambda: states(srv, fleet, rid)[names[1]] == "applying", 10, "wave 2 to start")
    assert states(srv, fleet, rid)[names[2]] == "pending"
    t1 = target_of(srv, devs[1][1])
    assert t1["rollout"]["id"] == rid
    report_ok(srv, devs[1][1], t1, 1)
    wait_for(lambda: states(srv, fleet, rid)[names[2]] == "applying", 15, "wave 3 to start")
    t2 = target_of(srv, devs[2][1])
    report_ok(srv, devs[2][1], t2, 1)
    wait_for(lambda: rollout(srv, fleet, rid)["state"] == "done", 15, "the rollout to end")
    assert set(states(srv, fleet, rid).values()) == {"healthy"}
    # done: the target no longer says a rollout watches it
    assert "rollout" not in target_of(srv, devs[0][1])

    # the next release replaces the job; its own rollout; the text of show
    doc = release(srv, fleet, job="app2", waves="100%", health_window=1)
    rid2 = doc["rollout"]["id"]
    assert doc["release"]["release"] == 2
    wait_for(lambda: states(srv, fleet, rid2)[names[0]] == "applying", 10, "release 2")
    t = target_of(srv, devs[0][1], applied=t0["hash"])
    assert [j["id"] for j in t["spec"]["jobs"]] == ["app2"]
    assert [f["release"] for f in t["fleets"]] == [2]
    out = cli.ok("fleet", fleet, "rollout", "show", rid2).out
    assert out.splitlines()[0] == "rollout %s of fleet %s: release 2, running, wave 1 of 1" % (
        rid2, fleet)
    assert "wave 1 (3 devices):" in out
    lst = cli.ok("fleet", fleet, "rollouts", "--json").json()["rollouts"]
    assert [r["id"] for r in lst] == [rid2, rid]


def test_bad_release_halts_and_rolls_back(srv, tmp_path):
    cli = Cli(tmp_path, srv)
    fleet, devs = fleet_with(srv, cli, 3)
    names = [n for n, _ in devs]
    seqs = {}
    # release 1 everywhere
    rid = release(srv, fleet, waves="100%", health_window=1)["rollout"]["id"]
    wait_for(lambda: set(states(srv, fleet, rid).values()) == {"applying"}, 10, "release 1")
    good = {}
    for name, tok in devs:
        good[name] = target_of(srv, tok)
        seqs[name] = report_ok(srv, tok, good[name], 1)
    wait_for(lambda: rollout(srv, fleet, rid)["state"] == "done", 15, "release 1 done")
    # release 2 fails its health check on the first device
    rid2 = release(srv, fleet, job="bad", waves="1,100%", health_window=30)["rollout"]["id"]
    wait_for(lambda: states(srv, fleet, rid2)[names[0]] == "applying", 10, "wave 1")
    bad = target_of(srv, devs[0][1], applied=good[names[0]]["hash"])
    assert bad["hash"] != good[names[0]]["hash"]
    report_ok(srv, devs[0][1], bad, seqs[names[0]], health="unhealthy")
    wait_for(lambda: rollout(srv, fleet, rid2)["state"] == "halted", 15, "the halt")
    ro = rollout(srv, fleet, rid2)
    assert ro["message"] == "wave 1: 1 of 1 devices failed (at most 0 may)"
    by = {d["device"]: d for d in ro["devices"]}
    assert by[names[0]]["state"] == "rolled-back"
    assert by[names[1]]["state"] == "pending" and by[names[2]]["state"] == "pending"
    # the first device's target is release 1 again, same hash, at once
    back = target_of(srv, devs[0][1], applied=bad["hash"])
    assert back["hash"] == good[names[0]]["hash"] and back["now"] is True
    assert [f["release"] for f in back["fleets"]] == [1]
    # the others never got release 2
    assert target_of(srv, devs[1][1], applied=good[names[1]]["hash"]) is None
    r = cli.run("fleet", fleet, "rollout", "show", rid2)
    assert r.rc == 1 and "halted" in r.out.splitlines()[0]
    st = cli.run("fleet", fleet, "status", "--json")
    assert st.rc == 1


def test_release_a_member_runs_already(srv, tmp_path):
    """A release whose revision a member runs already (same jobs): no new report will come, the
    window starts at once."""
    cli = Cli(tmp_path, srv)
    fleet, devs = fleet_with(srv, cli, 1)
    (name, tok), = devs
    srv.sync(tok)
    rid = release(srv, fleet, waves="100%", health_window=1)["rollout"]["id"]
    wait_for(lambda: states(srv, fleet, rid)[name] == "applying", 10, "release 1")
    t = target_of(srv, tok)
    report_ok(srv, tok, t, 1)
    wait_for(lambda: rollout(srv, fleet, rid)["state"] == "done", 15, "release 1 done")
    rid2 = release(srv, fleet, waves="100%", health_window=1)["rollout"]["id"]
    wait_for(lambda: rollout(srv, fleet, rid2)["state"] == "done", 15, "release 2 done")
    row = rollout(srv, fleet, rid2)["devices"][0]
    assert row["state"] == "healthy" and row["revision"] == t["hash"] == row["previous"]
    assert srv.sync(tok, applied=t["hash"]).get("target") is None
    # the revision carries release 2 of the fleet now, not both
    assert [f["release"] for f in srv.sync(tok)["target"]["fleets"]] == [2]


def test_pause_resume_abort(srv, tmp_path):
    cli = Cli(tmp_path, srv)
    fleet, devs = fleet_with(srv, cli, 2)
    names = [n for n, _ in devs]
    for _, tok in devs:
        srv.sync(tok)
    rid = release(srv, fleet, waves="1,100%", health_window=1)["rollout"]["id"]
    wait_for(lambda: states(srv, fleet, rid)[names[0]] == "applying", 10, "wave 1")
    out = cli.ok("fleet", fleet, "pause", rid).out
    assert out == "rollout %s is paused\n" % rid
    r = cli.run("fleet", fleet, "rollout", "pause", rid)
    assert r.rc == 2 and "rollout %s is paused: only a running one pauses" % rid in r.err
    # a paused rollout still watches its devices, and starts no wave
    report_ok(srv, devs[0][1], target_of(srv, devs[0][1]), 1)
    wait_for(lambda: states(srv, fleet, rid)[names[0]] == "healthy", 15, "wave 1 healthy")
    assert states(srv, fleet, rid)[names[1]] == "pending"
    assert rollout(srv, fleet, rid)["state"] == "paused"
    assert cli.ok("fleet", fleet, "resume", rid).out == "rollout %s is running\n" % rid
    wait_for(lambda: states(srv, fleet, rid)[names[1]] == "applying", 15, "wave 2")
    out = cli.ok("fleet", fleet, "rollout", "abort", rid, "--rollback").out
    assert out.startswith("rollout %s is aborted: the devices it changed get" % rid)
    wait_for(lambda: set(states(srv, fleet, rid).values()) == {"rolled-back"}, 15, "rollback")
    ro = rollout(srv, fleet, rid)
    assert ro["state"] == "aborted" and ro["rollback_pending"] is False
    # both devices' targets are their revision from before the release: empty
    for _, tok in devs:
        assert target_of(srv, tok)["spec"]["jobs"] == []
    r = cli.run("fleet", fleet, "resume", rid)
    assert r.rc == 2 and "only a paused one resumes" in r.err
    # the fleet may have its next release now
    assert release(srv, fleet, waves="100%")["release"]["release"] == 2


def test_signed_release(srv, tmp_path):
    """With a signing key the CLI signs the release once; every member's target carries the
    signature, which verifies over the release's bytes with the public key."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    cli = Cli(tmp_path, srv)
    r = cli.ok("keys", "generate")
    key_id = r.out.split()[3]
    fleet, devs = fleet_with(srv, cli, 2)
    src = tmp_path / "rel"
    src.mkdir()
    (src / "spec.yml").write_text("jobs:\n  - id: app\n    steps:\n      - name: s\n"
                                  "        run: [\"true\"]\n")
    out = cli.run("fleet", fleet, "deploy", "spec.yml", "--waves", "100%", "--json", cwd=src)
    assert out.rc == 0, out
    assert "signing release 1" in out.err and key_id in out.err
    doc = json.loads(out.out)
    assert doc["release"]["signed"] is True and doc["release"]["fleet"] == fleet
    assert doc["release"]["jobs"] == ["app"] and doc["release"]["release"] == 1
    rid = doc["rollout"]["id"]
    wait_for(lambda: "pending" not in states(srv, fleet, rid).values(), 10, "placement")
    pub = load_pem_public_key((cli.xdg / "m87" / "signing.pub").read_bytes())
    for _, tok in devs:
        [entry] = target_of(srv, tok)["fleets"]
        sig = entry["signature"]
        assert sig["v"] == 1 and sig["key"] == key_id and entry["hash"] == doc["release"]["hash"]
        payload = ("m87-fleet-release-signature-v1\nfleet %s\nrelease 1\nhash %s\ntime %d\n" % (
            fleet, entry["hash"], sig["time"])).encode()
        pub.verify(base64.b64decode(sig["sig"]), payload)  # raises when it does not verify


def test_bad_input(srv, tmp_path):
    cli = Cli(tmp_path, srv)
    fleet, devs = fleet_with(srv, cli, 2)
    base = "/v1/fleets/%s/releases" % fleet
    spec = {"jobs": [{"id": "app", "steps": [{"name": "s", "run": ["true"]}]}]}

    def refused(body, status, headers=None, path=base):
        code, _, data = srv.request("POST", path, body=body, headers=headers)
        assert code == status, data
        return json.loads(data)["error"]["message"]

    assert "waves: 'x' is not a count" in refused({"spec": spec, "waves": "1,x"}, 400)
    assert "waves: '0%'" in refused({"spec": spec, "waves": "0%"}, 400)
    assert "waves: '101%'" in refused({"spec": spec, "waves": "101%"}, 400)
    assert "max_failed" in refused({"spec": spec, "max_failed": "-1"}, 400)
    assert "offline" in refused({"spec": spec, "offline": "later"}, 400)
    assert "spec: a release needs at least one job" in refused({"spec": {"jobs": []}}, 400)
    assert refused({"spec": spec}, 404, path="/v1/fleets/nope/releases") == \
        "fleet 'nope' not found"
    sig = {"M87-Release-Signature": "v1 abc 1 2 k s"}
    assert "M87-Release-Signature: expected" in refused({"spec": spec}, 400, headers=sig)
    good_form = "v1 %s 7 1700000000 %s %s" % ("a" * 64, "b" * 16, "A" * 86 + "==")
    msg = refused({"spec": spec}, 409, headers={"M87-Release-Signature": good_form})
    assert "made for release 7" in msg
    assert srv.api("GET", "/v1/fleets/%s/rollouts" % fleet)["rollouts"] == []

    # a second fleet with the same job id on the same devices is refused, naming both
    other = unique("g-")
    cli.ok("fleets", "add", other, "--select", srv.api("GET", "/v1/fleets/%s" % fleet)["selector"])
    rid = release(srv, fleet, waves="100%", health_window=0)["rollout"]["id"]
    wait_for(lambda: "pending" not in states(srv, fleet, rid).values(), 10, "placement")
    msg = refused({"spec": spec}, 409, path="/v1/fleets/%s/releases" % other)
    assert "job 'app' of fleet '%s' is on device '%s' from fleet '%s'" % (
        other, devs[0][0], fleet) in msg, msg
    # a second release while one runs is refused
    msg = refused({"spec": spec}, 409)
    assert "has rollout %s running" % rid in msg
    # the CLI checks its options first
    r = cli.run("fleet", fleet, "deploy", "nofile.yml", "--offline", "later")
    assert r.rc == 2 and "--offline: expected 'wait' or 'skip'" in r.err
    r = cli.run("fleet", fleet, "rollout", "show", "r-00000000")
    assert r.rc == 2 and "has no rollout 'r-00000000'" in r.err
    assert cli.ok("fleet", fleet, "deploy", "--help").out.startswith("usage: m87 fleet NAME deploy")


# ---------------------------------------------------------------- three real agents

SERVICE_LABEL = "com.docker.compose.service"


class OwnDocker:
    """What Agent needs of the harness, for a private dockerd: its socket and its API."""

    def __init__(self, dockerd):
        self.dockerd = dockerd

    @property
    def docker_host(self):
        return self.dockerd.host

    def docker_api(self, method, path, body=None, headers=None, timeout=None):
        return self.dockerd.client.request(method, path, body, headers=headers, timeout=timeout)


class Member:
    def __init__(self, name, agent, docker):
        self.name, self.agent, self.docker = name, agent, docker

    def services(self, project):
        """{service: state} of the project's containers on this device's dockerd."""
        status, data = self.docker.docker_api("GET", API + "/containers/json?all=1&filters=%s" % (
            filters(label=["%s=%s" % (PROJECT_LABEL, project)])))
        assert status == 200, data
        return {c["Labels"][SERVICE_LABEL]: c["State"] for c in data}


@pytest.fixture
def fleet3(env, tmp_path):
    """One server, three devices labelled t=T in fleet F, each agent on its own dockerd:
    (server, cli, fleet, [Member] by name)."""
    server = Server(tmp_path / "server").start()
    cli = Cli(tmp_path, server)
    t = unique("t")
    fleet = unique("f-")
    cli.ok("fleets", "add", fleet, "--select", "t=" + t)
    roots, dockerds, members = [], [], []
    try:
        for i in range(3):
            root = tempfile.mkdtemp(prefix="m87fd", dir="/tmp")
            roots.append(root)
            d = Dockerd(root)
            dockerds.append(d)
            d.start()
            name = "%s-%d" % (t, i)
            token = cli.ok("devices", "add", name, "--label", "t=" + t, "--json").json()["token"]
            (tmp_path / name).mkdir()
            agent = Agent(OwnDocker(d), tmp_path / name, server.url, token)
            members.append(Member(name, agent.start(), OwnDocker(d)))
        for m in members:
            wait_for(lambda: server.api("GET", "/v1/devices/%s" % m.name)["online"], 60,
                     "%s online" % m.name)
        yield server, cli, fleet, members
    finally:
        for m in members:
            m.agent.stop()
        for d in dockerds:
            d.stop()
        for r in roots:
            shutil.rmtree(r, ignore_errors=True)
        server.stop()


def compose(tmp_path, name, services):
    d = tmp_path / name / "app"
    d.mkdir(parents=True)
    (d / "docker-compose.yml").write_text(yaml.safe_dump({"services": services}))
    return d


def good_services(env):
    return {"web": {"image": env.small_image, "restart": "always",
                    "healthcheck": {"test": ["CMD", "true"], "interval": "1s",
                                    "timeout": "10s", "retries": 3}}}


def healthy_since(server, row):
    """When the server took the member as healthy: its gate's deadline, or the arrival of the
    agent's `healthy` record for the revision if that came first (RFC 3339 UTC text)."""
    recs = server.api("GET", "/v1/devices/%s/reports?kind=rollout&revision=%s&limit=1000" % (
        row["device"], row["revision"]))["reports"]
    times = [rec["received"] for rec in recs if rec.get("state") == "healthy"]
    return min([row["healthy_at"]] + times)


def rows(server, fleet, rid):
    return {d["device"]: d for d in rollout(server, fleet, rid)["devices"]}


def deploy(cli, fleet, src, *opts):
    doc = cli.ok("fleet", fleet, "deploy", "docker-compose.yml", "--json", *opts,
                 cwd=src).json()
    return doc["rollout"]["id"]


def wait_state(server, fleet, rid, state, timeout=180, members=()):
    wait_for(lambda: rollout(server, fleet, rid)["state"] == state, timeout,
             lambda: "rollout %s to be %s: %s\n%s" % (
                 rid, state, json.dumps(rollout(server, fleet, rid), indent=1),
                 "\n".join(m.agent.log()[-2000:] for m in members)))


def test_good_release_wave_by_wave(env, fleet3, tmp_path):
    server, cli, fleet, members = fleet3
    src = compose(tmp_path, "rel1", good_services(env))
    rid = deploy(cli, fleet, src, "--waves", "1,2,100%", "--health-window", "3s")
    wait_state(server, fleet, rid, "done", members=members)
    r = rows(server, fleet, rid)
    names = [m.name for m in members]
    assert [r[n]["wave"] for n in names] == [1, 2, 3]
    assert all(r[n]["state"] == "healthy" for n in names)
    # a wave's devices got their revision only once the wave before was healthy: by the
    # server's gate (healthy_at: its window counted from the job reports' arrival) or by the
    # agent's own `rollout` record `healthy` (its window counted from the end of its apply, so
    # it may come a second before healthy_at), whichever came first
    for prev, nxt in ((0, 1), (1, 2)):
        assert r[names[nxt]]["placed"] >= healthy_since(server, r[names[prev]]), r
    for m in members:
        assert m.services("app") == {"web": "running"}
        assert m.agent.applied() == r[m.name]["revision"]
    st = cli.run("fleet", fleet, "status")
    assert st.rc == 0, st
    assert st.out.splitlines()[0] == "fleet %s: release 1 (rollout %s done)" % (fleet, rid)
    assert st.out.splitlines()[-1] == ("3 members: 3 on the current release and healthy, "
                                       "0 failing, 0 offline, 0 waiting for a window")


def test_bad_release_halts_and_the_changed_device_runs_the_previous_one(env, fleet3, tmp_path):
    server, cli, fleet, members = fleet3
    rid = deploy(cli, fleet, compose(tmp_path, "rel1", good_services(env)), "--waves", "100%",
                 "--health-window", "1s")
    wait_state(server, fleet, rid, "done", members=members)
    before = {m.name: m.agent.applied() for m in members}
    bad = {"crash": {"image": env.small_image, "command": ["sh", "-c", "exit 3"]},
           "sick": {"image": env.small_image,
                    "healthcheck": {"test": ["CMD", "false"], "interval": "1s",
                                    "timeout": "10s", "retries": 1}}}
    rid2 = deploy(cli, fleet, compose(tmp_path, "rel2", bad), "--waves", "1,100%",
                  "--health-window", "20s")
    wait_state(server, fleet, rid2, "halted", members=members)
    r = rows(server, fleet, rid2)
    first, rest = members[0], members[1:]
    assert r[first.name]["state"] == "rolled-back"
    assert all(r[m.name]["state"] == "pending" for m in rest)
    # the first device runs release 1 again, nothing of release 2 is left on its dockerd
    wait_for(lambda: first.agent.applied() == before[first.name] and
             first.services("app") == {"web": "running"}, 180,
             lambda: "release 1 back on %s: %s\n%s" % (first.name, first.services("app"),
                                                       first.agent.log()[-3000:]))
    for m in rest:
        assert m.agent.applied() == before[m.name]
        assert m.services("app") == {"web": "running"}
    out = cli.run("fleet", fleet, "rollout", "show", rid2)
    assert out.rc == 1
    assert out.out.splitlines()[1] == "message: wave 1: 1 of 1 devices failed (at most 0 may)"


def test_offline_member_relabel_and_server_restart(env, fleet3, tmp_path):
    server, cli, fleet, members = fleet3
    last = members[2]
    assert last.agent.stop() == 0  # says goodbye: offline at once
    rid = deploy(cli, fleet, compose(tmp_path, "rel1", good_services(env)), "--waves", "1,100%",
                 "--health-window", "2s", "--offline", "skip")
    wait_state(server, fleet, rid, "done", members=members)
    assert rows(server, fleet, rid)[last.name]["state"] == "offline"
    last.agent.start()
    wait_for(lambda: rows(server, fleet, rid)[last.name]["state"] == "healthy", 180,
             lambda: "the offline member to catch up\n" + last.agent.log()[-3000:])
    assert last.services("app") == {"web": "running"}

    # a device relabelled into the fleet gets the fleet's current release
    t = members[0].name.rsplit("-", 1)[0]
    extra = unique("x-")
    token = cli.ok("devices", "add", extra, "--json").json()["token"]
    assert server.sync(token).get("target") is None
    out = cli.ok("devices", "label", extra, "t=" + t).out
    assert "%s joins fleet %s" % (extra, fleet) in out
    target = server.sync(token)["target"]
    assert [f["fleet"] for f in target["fleets"]] == [fleet]
    assert [j["id"] for j in target["spec"]["jobs"]] == ["app"]
    # and one relabelled out loses the fleet's jobs
    cli.ok("devices", "label", extra, "t-")
    assert server.sync(token, applied=target["hash"])["target"]["spec"]["jobs"] == []
    cli.ok("devices", "rm", extra)

    # a server restarted in the middle of a rollout resumes it
    src = compose(tmp_path, "rel2", dict(good_services(env), extra={
        "image": env.small_image, "restart": "always"}))
    rid2 = deploy(cli, fleet, src, "--waves", "1,100%", "--health-window", "5s")
    wait_for(lambda: rows(server, fleet, rid2)[members[0].name]["state"] == "applying", 60,
             "wave 1")
    server.stop()
    server.start()
    wait_state(server, fleet, rid2, "done", members=members)
    assert set(d["state"] for d in rows(server, fleet, rid2).values()) == {"healthy"}
    for m in members:
        assert m.services("app") == {"web": "running", "extra": "running"}


def test_unhealthy_within_the_window_is_rolled_back(env, fleet3, tmp_path):
    """The job succeeds, then a container turns unhealthy inside the health window: the server's
    gate fails the device from the agent's health record, the rollout halts and rolls back."""
    server, cli, fleet, members = fleet3
    rid = deploy(cli, fleet, compose(tmp_path, "rel1", good_services(env)), "--waves", "100%",
                 "--health-window", "1s")
    wait_state(server, fleet, rid, "done", members=members)
    before = members[0].agent.applied()
    sick_later = {"web": {
        "image": env.small_image, "restart": "always",
        "command": ["sh", "-c", "touch /tmp/ok; sleep 15; rm /tmp/ok; exec sleep 3600"],
        "healthcheck": {"test": ["CMD", "test", "-e", "/tmp/ok"], "interval": "1s",
                        "timeout": "10s", "retries": 1}}}
    rid2 = deploy(cli, fleet, compose(tmp_path, "rel2", sick_later), "--waves", "1,100%",
                  "--health-window", "60s")
    wait_state(server, fleet, rid2, "halted", members=members)
    row = rows(server, fleet, rid2)[members[0].name]
    assert row["state"] == "rolled-back"
    assert row["applied"] is not None  # every job had succeeded before
    assert "unhealthy" in row["message"]
    wait_for(lambda: members[0].agent.applied() == before, 180,
             lambda: "release 1 back\n" + members[0].agent.log()[-3000:])
