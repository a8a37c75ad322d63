"""Offline operation of the device daemon, with a real server stopped and started: a clean stop
shows the device offline at once; a deployment made while the agent is stopped is applied when
it starts; a server that goes away while the agent applies gets every report once it is back
(seqs 1..N, none missing, none twice)."""


from agent_util import (assert_reports_complete, device, own_server,  # noqa: F401 (fixtures)
                        start_slow_apply, wait_for)
from compose_util import unique_name


def test_deployment_made_while_the_agent_is_stopped(env, device):
    dev = device
    # the agent ran once (it knows the server) and is stopped before the deployment is made
    dev.agent.start()
    wait_for(lambda: (dev.agent.daemon_state() or {}).get("connected"), 30, "the first sync")
    assert dev.server.api("GET", "/v1/devices/%s" % dev.name)["online"] is True
    assert dev.agent.stop() == 0
    # a clean stop tells the server: offline at once, not after the long-poll's wait
    assert "told the server that the device goes offline" in dev.agent.log()
    assert dev.server.api("GET", "/v1/devices/%s" % dev.name)["online"] is False
    dev.m87("deployment", "new", "--active")
    project = unique_name("off")
    src = dev.compose_dir(project, {"web": {"image": env.small_image, "restart": "always"}})
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    status = dev.m87("deployment", "status").out
    assert "has not picked up revision" in status, status
    assert dev.agent.containers(project) == []

    dev.agent.start()
    dev.wait_applied()
    running = [c for c in dev.agent.containers(project) if c["State"] == "running"]
    assert len(running) == 1
    wait_for(lambda: dev.agent.journal() == [], 30, "the queue to drain")
    assert_reports_complete(dev)


def test_server_down_while_applying_gets_every_report(env, device, tmp_path):
    dev = device
    server = dev.server
    job, want = start_slow_apply(dev, tmp_path, "slow")
    server.stop()

    # the apply goes on without the server; its reports wait in the journal
    wait_for(lambda: dev.agent.applied() == want, 60, "the apply to end\n" + dev.agent.log())
    queued = dev.agent.journal()
    assert queued, "no report was queued while the server was down"
    steps = [(r["step"], r["state"]) for r in queued if r["kind"] == "step"]
    assert ("third", "succeeded") in steps, queued
    assert all(r["revision"] == want for r in queued)
    state = wait_for(lambda: (lambda st: st if not st["connected"] and st["queue"] == len(
        queued) else None)(dev.agent.daemon_state()), 30, "daemon.json to show the outage")
    assert state["last_error"] and state["applying"] is None, state
    assert "sync:" in dev.agent.log()
    text = dev.agent.status().stdout
    assert "not connected to" in text and "%d reports" % len(queued) in text, text

    server.start()
    wait_for(lambda: dev.agent.journal() == [], 60, "the queue to drain\n" + dev.agent.log())
    seqs = assert_reports_complete(dev)
    assert set(r["seq"] for r in queued) <= set(seqs)
    mine = [r for r in dev.reports(job=job) if r["kind"] == "step"]
    for name in ("first", "second", "third"):
        states = [r["state"] for r in mine if r["step"] == name]
        assert states == ["running", "succeeded"], (name, mine)
    dev.wait_applied(60)
    st = dev.m87("deployment", "status", "--logs").out
    assert "second done" in st and "first ends" in st, st


def test_reset_state_directory_goes_on_after_the_servers_seqs(env, device, tmp_path):
    """A device whose state directory was wiped (a reinstall) keeps its token: the server
    already has seqs 1..N, so the agent numbers its new reports after N instead of having
    them dropped as duplicates."""
    import shutil
    dev = device
    dev.agent.start()
    dev.m87("deployment", "new", "--active")
    job = unique_name("re")
    spec = tmp_path / "job.yml"
    spec.write_text("jobs:\n  - id: %s\n    type: job\n    steps:\n"
                    "      - {name: hello, run: echo hello}\n" % job)
    dev.m87("deploy", str(spec))
    dev.wait_applied()
    wait_for(lambda: dev.agent.journal() == [], 30, "the queue to drain")
    first = assert_reports_complete(dev)
    assert dev.agent.stop() == 0

    shutil.rmtree(dev.agent.state)
    dev.agent.start()
    dev.wait_applied()
    wait_for(lambda: dev.agent.journal() == [] and dev.agent.acked() > len(first), 30,
             "the new reports to be acknowledged")
    seqs = assert_reports_complete(dev)
    runs = [r for r in dev.reports(job=job, kind="step") if r["state"] == "succeeded"]
    assert len(runs) == 2, runs  # the job ran again on the fresh state, and that was stored
    assert len(seqs) > len(first)
    assert "numbering goes on after it" in dev.agent.log()
