"""The user's commands across replicas (issue 18's end-to-end check, docs/operations.md Replicas).

Real parts: the harness's PostgreSQL 15 and three `m87-server serve --db URL` replicas on it
(replica_util.Cluster), the real `m87` CLI, real `m87-agent run` daemons on the harness's
dockerd. With the agent on replica A only and the CLI on replica B only: `m87 DEVICE deploy`,
`m87 DEVICE deployment status --follow` (our command for the issue's "status --follow"), the
sessions (`docker ps`, `docker logs` and `docker logs -f`, `sessions`, `sessions show`) and the
container logs the agent ships all work through B. Then a fleet rollout to three real agents,
each on `server = A, B, C` in its own order, whose driving replica is killed with SIGKILL
between two waves: another replica takes the rollout over and ends it (`m87 fleet F rollout show
ID --follow` on a replica that stays follows it to the end), the agents on the dead one move
on, every agent's reports reach the server once each, and each device applies the release's
revision once."""

import os
import re
import signal
import subprocess
import threading
import time

from agent_util import (Device, assert_reports_complete, counter_container, log_texts,
                        session_child, wait_for)
from cli_util import read_rest, read_until, write
from compose_util import unique_name
from harness.postgres import PG_BIN, PG_USER
from replica_util import Via, cluster  # noqa: F401  (fixture)

COUNTER = "i=0; while :; do i=$$((i+1)); echo line $$i; sleep 0.3; done"


def url_of(replica):
    return "http://127.0.0.1:%d" % replica.port


def agent_lines(replica):
    """The replica's access log lines of the agent protocol."""
    return [ln for ln in replica.read_log().splitlines() if " /v1/agent/" in ln]


def finish(proc, timeout=120):
    """(returncode, stdout with the lines read_until saw, stderr) once proc ended."""
    try:
        out, err = read_rest(proc, timeout, with_seen=True)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


def test_agent_on_a_cli_on_b_deploy_follow_sessions_logs(env, cluster, tmp_path):
    a, b, _ = cluster.replicas
    dev = Device(env, Via(url_of(b), cluster.admin), tmp_path, server_url=url_of(a))
    project = unique_name("rep")
    flag = tmp_path / "gate-open"
    try:
        dev.agent.start()
        wait_for(lambda: (dev.agent.daemon_state() or {}).get("connected"), 60,
                 lambda: "the agent to connect to A\n" + dev.agent.log()[-2000:])
        dev.m87("deployment", "new", "--active")
        # a job that waits for the test, so that --follow sees the revision settle
        gate = write(tmp_path / "gate.yml", (
            "jobs:\n  - id: gate\n    type: job\n    steps:\n      - name: wait\n"
            "        run: [sh, -c, 'while [ ! -e %s ]; do sleep 0.2; done']\n") % flag)
        dev.m87("deploy", gate)
        src = dev.compose_dir(project, {"web": {"image": env.small_image, "restart": "always",
                                                "command": ["sh", "-c", COUNTER]}})
        out = dev.m87("deploy", "docker-compose.yml", cwd=src).out
        assert "deployed job '%s' to %s" % (project, dev.name) in out, out
        rev = int(re.search(r"is at revision (\d+)", out).group(1))

        proc = dev.cli.popen(dev.name, "deployment", "status", "--follow", "--timeout", "4m")
        read_until(proc, "^device      ", timeout=60)  # the first look, the gate still closed
        flag.touch()
        rc, out, err = finish(proc, timeout=300)
        assert rc == 0, (out, err)
        assert "deployment  " in out and "revision %d" % rev in out, out
        assert re.search(r"^\d\d:\d\d:\d\d gate: succeeded$", out, re.M), out  # a change seen
        final = out[out.rindex("device      "):]
        for job in ("gate", project):
            assert re.search(r"^%s +succeeded" % job, final, re.M), final
        assert dev.wait_applied(60) == dev.active_hash()

        # the container's output shipped as reports by the agent on A, read on B
        wait_for(lambda: len(log_texts(dev, project)) >= 5, 60,
                 lambda: "shipped lines\n" + dev.agent.log()[-2000:])
        assert all(re.fullmatch(r"line \d+", t) for t in log_texts(dev, project))

        # sessions made on B, run by the agent that talks to A, their output read on B
        r = dev.cli.run(dev.name, "docker", "ps", timeout=120)
        rows = [ln for ln in r.out.splitlines() if ln.endswith("%s-web-1" % project)]
        assert r.rc == 0 and len(rows) == 1 and " - " in rows[0], r  # not interactive
        cid = rows[0].split()[0]
        ids = [c["Id"] for c in dev.agent.containers(project)]
        assert len(ids) == 1 and ids[0].startswith(cid), (ids, r.out)
        r = dev.cli.run(dev.name, "docker", "logs", "-n", "2", cid, timeout=120)
        assert r.rc == 0 and len(r.out.splitlines()) == 2, r
        assert all(re.fullmatch(r"line \d+", ln) for ln in r.out.splitlines()), r
        last = int(r.out.splitlines()[-1].split()[1])
        proc = dev.cli.popen(dev.name, "docker", "logs", "-f", cid)
        # a line the container had not written when the command began: it follows, live
        read_until(proc, r"^line %d$" % (last + 5), timeout=120)
        proc.send_signal(signal.SIGINT)
        rc, out, err = finish(proc)
        assert rc == 130, (out, err)
        listed = dev.server.api("GET", "/v1/devices/%s/sessions" % dev.name)["sessions"]
        assert [(s["command"], s["state"]) for s in listed] == [
            ("ps", "exited"), ("logs", "exited"), ("logs", "cancelled")], listed
        assert listed[2]["cancel_requested"] is True, listed
        out = dev.m87("sessions").out
        assert all(s["id"] in out for s in listed), out
        out = dev.m87("sessions", "show", listed[0]["id"]).out
        assert "state     exited, exit code 0" in out and "%s-web-1" % project in out, out

        # the agent spoke to A only, the CLI to B only
        assert any(" /v1/agent/sync " in ln for ln in agent_lines(a))
        assert any(" /v1/agent/sessions/" in ln for ln in agent_lines(a))
        assert agent_lines(b) == []
        assert " /v1/devices/%s" % dev.name not in a.read_log()
        for path in ("/status", "/sessions", "/reports"):
            assert " /v1/devices/%s%s" % (dev.name, path) in b.read_log(), path
    finally:
        dev.agent.stop()
        dev.agent.remove_project(project)


RELEASE = """\
jobs:
  - id: app
    type: job
    steps:
      - name: wait
        run: [sleep, "2"]
      - name: mark
        run: ["true"]
"""


def rollout(dev, fleet, rid):
    return dev.server.api("GET", "/v1/fleets/%s/rollouts/%s" % (fleet, rid))


def test_a_rollout_to_real_agents_survives_its_driver_killed_between_waves(env, cluster,
                                                                          tmp_path):
    driver = cluster.driver()
    others = [s for s in cluster.replicas if s is not driver]
    order = [driver] + others
    t = unique_name("t")
    devs = []
    follow = None
    try:
        for i in range(3):
            # the CLI on a replica that stays; the agents on all three, each from its own first,
            # the first agent on the driver
            urls = ", ".join(url_of(s) for s in order[i:] + order[:i])
            dev = Device(env, Via(url_of(others[0]), cluster.admin), tmp_path / ("d%d" % i),
                         server_url=urls)
            devs.append(dev)
            dev.cli.ok("devices", "label", dev.name, "t=" + t)
            dev.agent.start()
        for dev in devs:
            wait_for(lambda: dev.server.api("GET", "/v1/devices/" + dev.name)["online"], 60,
                     lambda: "%s online\n%s" % (dev.name, dev.agent.log()[-2000:]))
        cli = devs[0].cli
        fleet = unique_name("f-")
        cli.ok("fleets", "add", fleet, "--select", "t=" + t)
        doc = cli.ok("fleet", fleet, "deploy", write(tmp_path / "release.yml", RELEASE),
                     "--waves", "1,2,100%", "--health-window", "5s", "--json").json()
        rid = doc["rollout"]["id"]
        assert doc["rollout"]["waves"] == [1, 2, 3]
        # followed on a replica that stays, across the driver's death
        follow = cli.popen("fleet", fleet, "rollout", "show", rid, "--follow")

        def rows():
            return {d["wave"]: d for d in rollout(devs[0], fleet, rid)["devices"]}

        # between waves: the first wave's device has applied (its health window runs), the
        # second has nothing yet
        wait_for(lambda: rows()[1].get("applied") and rows()[2]["state"] == "pending", 120,
                 lambda: "wave 1 applied: %s" % rows())
        driver.proc.send_signal(signal.SIGKILL)
        driver.proc.wait()
        driver.proc = None
        driver.log.close()
        ro = rollout(devs[0], fleet, rid)
        assert ro["state"] == "running" and {d["wave"]: d["state"] for d in ro["devices"]}[3] \
            == "pending", ro
        new = cluster.driver(timeout=60, not_=driver)
        assert new in others
        # the remaining waves are placed by the new driver
        wait_for(lambda: rollout(devs[0], fleet, rid)["state"] == "done", 240,
                 lambda: "the rollout to end: %s\n%s" % (
                     rollout(devs[0], fleet, rid),
                     "\n".join(d.agent.log()[-1500:] for d in devs)))
        final = {d["device"]: d for d in rollout(devs[0], fleet, rid)["devices"]}
        assert {d["state"] for d in final.values()} == {"healthy"}, final
        rc, out, err = finish(follow)
        assert rc == 0, (out, err)
        assert re.search(r"^rollout %s of fleet %s: release 1, running" % (rid, fleet), out,
                         re.M), out
        last = out[out.rindex("rollout %s of fleet" % rid):]
        assert last.startswith("rollout %s of fleet %s: release 1, done" % (rid, fleet)), out
        # the first agent spoke to the dead driver and moved on
        assert "trying %s" % url_of(order[1]) in devs[0].agent.log(), devs[0].agent.log()
        for dev in devs:
            h = final[dev.name]["revision"]
            wait_for(lambda: dev.agent.applied() == h and dev.agent.journal() == [], 60,
                     lambda: "%s to settle\n%s" % (dev.name, dev.agent.log()[-2000:]))
            assert_reports_complete(dev)  # none lost, none twice
            done = {}
            for r in dev.reports(kind="job", job="app"):
                if r["state"] == "succeeded":
                    done[r["revision"]] = done.get(r["revision"], 0) + 1
            assert done == {h: 1}, (dev.name, done)  # applied once
            waits = [r for r in dev.reports(kind="step", job="app")
                     if r.get("step") == "wait" and r["state"] == "succeeded"]
            assert len(waits) == 1, waits
    finally:
        if follow is not None and follow.poll() is None:
            follow.kill()
            follow.communicate()
        for dev in devs:
            dev.agent.stop()


class RowLock:
    """A transaction of the test's own on the cluster's PostgreSQL that holds one session's row
    (FOR UPDATE) until release(): a commit on the row that takes as long as the test wants, so
    that the replicas' own transactions on it queue up behind it in a known order."""

    def __init__(self, pg, public_id):
        self.proc = subprocess.Popen(
            ["runuser", "-u", PG_USER, "--", os.path.join(PG_BIN, "psql"), "-X", "-q", "-A",
             "-t", "-v", "ON_ERROR_STOP=1", "-h", pg.socket_dir, "-p", str(pg.port),
             "-d", pg.database],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            cwd="/")
        self.proc.stdin.write("BEGIN;\nSELECT 'locked' FROM sessions WHERE public_id = '%s' "
                              "FOR UPDATE;\n" % public_id)
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line.strip() == "locked", line + self.proc.stdout.read()

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("COMMIT;\n")
            self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0, self.proc.stdout.read()


def lock_waiters(pg):
    """How many of the cluster's connections wait for a row now (for the transaction holding it,
    or behind the first waiter)."""
    return int(pg.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' "
                       "AND wait_event_type = 'Lock' AND wait_event IN ('transactionid', 'tuple')"
                       % pg.database).strip())


def test_a_session_cancelled_on_b_ends_cancelled_while_a_is_slow_and_is_lost_when_the_agent_dies(
        env, cluster, containers, tmp_path):
    """The agent reports on a `docker logs -f` session to A, the admin cancels it on B. Each
    replica writes the session's row (A the agent's output and the time of its last report, B the
    cancel and the time of the last read): a replica must never write back what it read before
    the other committed (a report undone makes the session lost while its agent reports on; a
    cancel undone is never seen by the agent)."""
    a, b, _ = cluster.replicas
    dev = Device(env, Via(url_of(b), cluster.admin), tmp_path, server_url=url_of(a))
    base = "/v1/devices/%s/sessions" % dev.name
    cid = counter_container(env, containers)

    def get(sid):
        return dev.server.api("GET", "%s/%s" % (base, sid))

    def follow():
        """A new `docker logs -f` session on B, once the agent on A reports its output."""
        sid = dev.server.api("POST", base, {"command": "logs", "args": ["-f", cid]})["id"]
        wait_for(lambda: get(sid)["state"] == "running" and get(sid)["output_bytes"] > 0, 60,
                 lambda: "session %s to run: %s\n%s" % (sid, get(sid), dev.agent.log()[-2000:]))
        return sid

    def ended(sid):
        """The session once it ended (the agent confirms a cancel within seconds; a session
        without reports is lost after 15 s)."""
        wait_for(lambda: get(sid)["state"] not in ("pending", "running"), 180,
                 lambda: "session %s to end: %s\n%s" % (sid, get(sid), dev.agent.log()[-2000:]))
        return get(sid)

    def cancel(sid, answers):
        answers.append(dev.server.api("POST", "%s/%s/cancel" % (base, sid)))

    def lines(sid):
        out = dev.server.api("GET", "%s/%s/output?after=0" % (base, sid))["output"]
        return [int(n) for n in re.findall(r"^line (\d+)$", "".join(
            c["text"] for c in out if c["stream"] == "stdout"), re.M)]

    try:
        dev.agent.start()
        wait_for(lambda: (dev.agent.daemon_state() or {}).get("connected"), 60,
                 lambda: "the agent to connect to A\n" + dev.agent.log()[-2000:])

        # 1. the cancel made on B while A's commit of the agent's report waits: A's report is
        # first in the row's queue, the cancel second
        sid = follow()
        lock = RowLock(cluster.pg, sid)
        answers = []
        canceller = threading.Thread(target=cancel, args=(sid, answers))
        try:
            wait_for(lambda: lock_waiters(cluster.pg) == 1, 60,
                     lambda: "the agent's report on A to wait\n" + dev.agent.log()[-2000:])
            canceller.start()
            wait_for(lambda: lock_waiters(cluster.pg) == 2, 60, "the cancel on B to wait")
        finally:
            lock.release()
            if canceller.ident:
                canceller.join(60)
        assert answers and answers[0]["cancel_requested"] is True, answers
        s = ended(sid)
        assert s["state"] == "cancelled" and s["cancel_requested"] is True, s
        assert s["message"] == "cancelled", s  # the agent's word, not the server's unread timeout
        dev.agent.wait_log("session %s ended" % sid, 60)
        # every line the container wrote while it was followed, once, in order
        got = lines(sid)
        assert got and got == list(range(1, len(got) + 1)), got

        # 2. the cancel made while the device is frozen for a few seconds (a slow link): it
        # reaches the agent when it reports again
        sid = follow()
        child = session_child(dev.agent)
        os.kill(dev.agent.proc.pid, signal.SIGSTOP)
        os.kill(child, signal.SIGSTOP)
        try:
            assert dev.server.api("POST", "%s/%s/cancel" % (base, sid))["cancel_requested"]
            time.sleep(3)  # the freeze, well within the lost threshold (15 s)
        finally:
            os.kill(child, signal.SIGCONT)
            os.kill(dev.agent.proc.pid, signal.SIGCONT)
        s = ended(sid)
        assert s["state"] == "cancelled" and s["message"] == "cancelled", s
        dev.agent.wait_log("session %s ended" % sid, 60)

        # 3. an agent that really went away (daemon and session child killed): lost
        sid = follow()
        child = session_child(dev.agent)
        os.kill(child, signal.SIGKILL)
        dev.agent.kill()
        s = ended(sid)
        assert s["state"] == "lost" and "stopped reporting" in s["message"], s
        assert s["cancel_requested"] is False, s
    finally:
        dev.agent.stop()
