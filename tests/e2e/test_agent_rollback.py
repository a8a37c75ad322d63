"""The agent's own guard of a revision a rollout placed on it (docs/agent.md, "Rollouts"): a
revision whose container exits within the health window is reported failed and the agent goes
back to the revision before by itself, with the server stopped; it does not apply the failed
revision again while the server keeps sending it; a good revision is reported healthy after its
window and the revision before is no longer kept; a daemon restarted in the window goes on
with the same window. The rollout member of the sync target is added by a rewriting proxy
(rollout_util.py), as the server's rollouts would."""

import json
import time

from agent_util import Device, running_ids, wait_for
from agent_util import own_server  # noqa: F401 (fixture)
from compose_util import API, unique_name
from rollout_util import RewriteProxy, with_rollout, without_waiting

ROLLOUT = {"id": "r-0000abcd", "fleet": "edge", "release": 2}


def compose(dev, env, project, value, command=None, restart="always"):
    web = {"image": env.small_image, "restart": restart, "environment": {"V": value}}
    if command:
        web["command"] = command
    return dev.compose_dir(project, {"web": web})


def env_values(dev, project):
    """{container id: (state, V)} of the project's containers on dockerd."""
    out = {}
    for c in dev.agent.containers(project):
        status, data = dev.env.docker_api("GET", API + "/containers/%s/json" % c["Id"])
        assert status == 200, data
        env = dict(e.split("=", 1) for e in data["Config"]["Env"])
        out[c["Id"]] = (data["State"]["Status"], env.get("V"))
    return out


def rollout_records(records):
    return [r for r in records if r["kind"] == "rollout"]


def rollout_state(dev):
    path = dev.agent.state / "rollout.json"
    return json.loads(path.read_text()) if path.exists() else None


def start(env, server, tmp_path, project):
    proxy = RewriteProxy(server.url)
    dev = Device(env, server, tmp_path / "dev", server_url=proxy.url)
    dev.m87("deployment", "new", "--active")
    src = compose(dev, env, project, "1")
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.agent.start()
    first = dev.wait_applied()
    return proxy, dev, src, first


def test_failed_revision_rolls_back_with_the_server_stopped(env, own_server, tmp_path):  # noqa: F811
    project = unique_name("rb")
    proxy, dev, src, first = start(env, own_server, tmp_path, project)
    try:
        assert len(running_ids(dev.agent, project)) == 1
        proxy.set(answer=with_rollout(dict(ROLLOUT, health_window=600), unless=(first,)))
        # the bad revision: its container exits a while after it started
        compose(dev, env, project, "2", command=["sh", "-c", "sleep 15; exit 3"], restart="no")
        dev.m87("deploy", "docker-compose.yml", cwd=src)
        bad = dev.active_hash()
        dev.agent.wait_log("rollout r-0000abcd: revision %s applied; watching it" % bad[:12])
        kept = rollout_state(dev)
        assert kept["revision"] == bad and kept["previous"]["hash"] == first, kept
        own_server.stop()

        dev.agent.wait_log("the revision before applied again")
        # all of it happened offline: the records wait in the journal
        queued = rollout_records(dev.agent.journal())
        assert [r["state"] for r in queued] == ["failed", "rolled-back"], queued
        failed, back = queued
        assert failed["revision"] == bad and failed["rollout"] == ROLLOUT["id"]
        assert "container '%s-web-1' of job '%s' is exited" % (project, project) in \
            failed["message"], failed
        assert back["revision"] == bad and back["previous"] == first and \
            back["rollout"] == ROLLOUT["id"], back
        # daemon.json is written right after the log line
        wait_for(lambda: dev.agent.applied() == first, 30, "daemon.json to say so")
        # dockerd runs the revision before, and nothing of the bad one is left
        states = env_values(dev, project)
        assert list(states.values()) == [("running", "1")], states
        assert rollout_state(dev)["bad"] == bad

        own_server.start()
        got = wait_for(lambda: len(rollout_records(dev.reports(kind="rollout"))) >= 2 and
                       rollout_records(dev.reports(kind="rollout")), 120,
                       lambda: "the rollout records\n" + dev.agent.log()[-3000:])
        assert [(r["state"], r["revision"]) for r in got] == [("failed", bad),
                                                              ("rolled-back", bad)], got
        assert got[1]["previous"] == first
        wait_for(lambda: own_server_applied(dev) == first, 60, "the server to see the rollback")

        # the server goes on sending the bad revision: it is not applied again, and the agent
        # does not ask in a loop
        proxy.set(answer=with_rollout(dict(ROLLOUT, health_window=600), unless=(first,)),
                  request=without_waiting)
        before = proxy.syncs
        time.sleep(10)
        assert dev.agent.applied() == first
        after = dev.agent.log().split("the revision before applied again")[-1]
        assert "(%s) of" % bad[:12] not in after.replace("new target revision", ""), after
        assert proxy.syncs - before < 100, proxy.syncs - before  # a busy loop makes thousands
        assert list(env_values(dev, project).values()) == [("running", "1")]

        # another target is applied (and ends the refusal of the bad one)
        proxy.set()
        compose(dev, env, project, "4")
        dev.m87("deploy", "docker-compose.yml", cwd=src)
        dev.wait_applied()
        wait_for(lambda: list(env_values(dev, project).values()) == [("running", "4")], 60,
                 "the new revision to run")
        assert rollout_state(dev) is None
    finally:
        proxy.close()
        dev.cleanup()


def own_server_applied(dev):
    return dev.server.api("GET", "/v1/devices/%s" % dev.name)["applied_revision"]


def test_good_revision_is_healthy_after_its_window_across_a_restart(env, own_server,  # noqa: F811
                                                                     tmp_path):
    project = unique_name("rg")
    proxy, dev, src, first = start(env, own_server, tmp_path, project)
    try:
        proxy.set(answer=with_rollout(dict(ROLLOUT, health_window=20), unless=(first,)))
        compose(dev, env, project, "2")
        dev.m87("deploy", "docker-compose.yml", cwd=src)
        good = dev.active_hash()
        dev.agent.wait_log("revision %s applied; watching it for 20 s" % good[:12])
        kept = rollout_state(dev)
        assert kept["revision"] == good and kept["previous"]["hash"] == first
        assert kept["deadline"] > 0

        # a restart in the window goes on with the same window
        assert dev.agent.stop() == 0
        dev.agent.start()
        dev.agent.wait_log("rollout r-0000abcd: watching revision %s" % good[:12])
        assert rollout_state(dev)["deadline"] == kept["deadline"]

        got = wait_for(lambda: rollout_records(dev.reports(kind="rollout")), 120,
                       lambda: "the healthy record\n" + dev.agent.log()[-3000:])
        assert [(r["state"], r["revision"], r["rollout"]) for r in got] == [
            ("healthy", good, ROLLOUT["id"])], got
        assert time.time() >= kept["deadline"]
        # the revision before is no longer kept
        assert rollout_state(dev) is None
        assert dev.agent.applied() == good
        assert list(env_values(dev, project).values()) == [("running", "2")]
    finally:
        proxy.close()
        dev.cleanup()


def test_restarting_container_fails_the_window(env, own_server, tmp_path):  # noqa: F811
    project = unique_name("rr")
    proxy, dev, src, first = start(env, own_server, tmp_path, project)
    try:
        proxy.set(answer=with_rollout(dict(ROLLOUT, health_window=600), unless=(first,)))
        # restart: always brings it back at once; its RestartCount goes up
        compose(dev, env, project, "2", command=["sh", "-c", "sleep 5; exit 1"])
        dev.m87("deploy", "docker-compose.yml", cwd=src)
        bad = dev.active_hash()
        got = wait_for(lambda: len(rollout_records(dev.reports(kind="rollout"))) >= 2 and
                       rollout_records(dev.reports(kind="rollout")), 180,
                       lambda: "the rollout records\n" + dev.agent.log()[-3000:])
        assert [r["state"] for r in got] == ["failed", "rolled-back"], got
        assert "restarted" in got[0]["message"] or "restarting" in got[0]["message"], got[0]
        assert got[1]["previous"] == first
        wait_for(lambda: list(env_values(dev, project).values()) == [("running", "1")], 60,
                 "the revision before to run")
        assert dev.agent.applied() == first
        assert bad != first
    finally:
        proxy.close()
        dev.cleanup()


def test_rollback_cut_short_goes_on_at_the_start(env, own_server, tmp_path):  # noqa: F811
    """A daemon stopped after it decided to go back but before target.json said so (the state
    file is written first): its next start goes back."""
    project = unique_name("rc")
    proxy, dev, src, first = start(env, own_server, tmp_path, project)
    try:
        proxy.set(answer=with_rollout(dict(ROLLOUT, health_window=600), unless=(first,)))
        compose(dev, env, project, "2")
        dev.m87("deploy", "docker-compose.yml", cwd=src)
        bad = dev.active_hash()
        dev.agent.wait_log("revision %s applied; watching it for 600 s" % bad[:12])
        assert dev.agent.stop() == 0
        # the state the rollback writes before target.json: target.json still names the revision
        st = rollout_state(dev)
        st.update({"rollout": None, "revision": None, "deadline": 0, "rolling_back": True,
                   "refusing": True, "bad": bad, "bad_rollout": ROLLOUT["id"]})
        (dev.agent.state / "rollout.json").write_text(json.dumps(st))
        assert json.loads((dev.agent.state / "target.json").read_text())["hash"] == bad
        dev.agent.start()
        dev.agent.wait_log("going back to the revision before %s (cut short)" % bad[:12])
        got = wait_for(lambda: rollout_records(dev.reports(kind="rollout")), 120,
                       lambda: "the rolled-back record\n" + dev.agent.log()[-3000:])
        assert [(r["state"], r["revision"], r["previous"]) for r in got] == [
            ("rolled-back", bad, first)], got
        wait_for(lambda: list(env_values(dev, project).values()) == [("running", "1")], 60,
                 "the revision before to run")
        assert dev.agent.applied() == first
    finally:
        proxy.close()
        dev.cleanup()


def test_failed_job_fails_the_window(env, own_server, tmp_path):  # noqa: F811
    """A job of the revision that fails at its apply (its image cannot be pulled) fails the
    rollout at once: the message names the job, and the revision before runs again."""
    project = unique_name("rj")
    proxy, dev, src, first = start(env, own_server, tmp_path, project)
    try:
        proxy.set(answer=with_rollout(dict(ROLLOUT, health_window=600), unless=(first,)))
        dev.compose_dir(project, {"web": {"image": "%s/m87/no-such-image:1" % env.registry,
                                          "restart": "always", "environment": {"V": "2"}}})
        dev.m87("deploy", "docker-compose.yml", cwd=src)
        bad = dev.active_hash()
        got = wait_for(lambda: len(rollout_records(dev.reports(kind="rollout"))) >= 2 and
                       rollout_records(dev.reports(kind="rollout")), 300,
                       lambda: "the rollout records\n" + dev.agent.log()[-3000:])
        assert [(r["state"], r["revision"]) for r in got] == [("failed", bad),
                                                              ("rolled-back", bad)], got
        assert "job '%s'" % project in got[0]["message"] and "failed" in got[0]["message"], got
        wait_for(lambda: list(env_values(dev, project).values()) == [("running", "1")], 60,
                 "the revision before to run")
        assert dev.agent.applied() == first
    finally:
        proxy.close()
        dev.cleanup()
