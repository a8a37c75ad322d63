"""`m87-agent apply` with compose jobs against the real dockerd, with no docker binary on PATH:
the seed document's job applied, applied again (nothing runs), changed (only that job runs),
disabled and removed (stop steps run, ephemeral workdir and containers gone), and a service
whose container exits reported failed."""

import subprocess

import pytest
import yaml

from agent_util import exec_in
from compose_util import AGENT
from runner_util import (failing_service_job, runner, seed_job, shell_job,  # noqa: F401
                         unique_id, with_compose_options)

pytestmark = pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built")


def _env_of(r, container):
    return dict(e.split("=", 1) for e in r.inspect(container["Id"])["Config"]["Env"])


def test_seed_job_apply_reapply_change_remove(env, runner, tmp_path):
    app = unique_id("app")
    other = unique_id("oth")
    marker = tmp_path / "other-runs"
    job = seed_job(app, env.small_image, env={"GREETING": "one"},
                   extra_service={"environment": {"GREETING": "${GREETING}"}})
    plain = shell_job(other, ("note", "echo run >> %s" % marker))

    # first apply: pull and up run natively, the container is there and running
    runner.apply([job, plain], check=0)
    assert runner.steps_run(job=app) == [(app, "steps", "pull", 1), (app, "steps", "up", 1)]
    cs = runner.containers(app)
    assert [c["Names"][0] for c in cs] == ["/%s-web-1" % app]
    assert cs[0]["State"] == "running"
    assert _env_of(runner, cs[0])["GREETING"] == "one"
    assert marker.read_text() == "run\n"
    assert (runner.workdir(app) / "docker-compose.yml").exists()
    st = runner.status_json(check=0)
    assert st[app]["state"] == "succeeded" and st[other]["state"] == "succeeded"
    assert [s["name"] for s in st[app]["steps"]] == ["pull", "up"]
    assert all(s["exit_code"] == 0 and s["attempts"] == 1 for s in st[app]["steps"])
    jobs = [r for r in runner.journal() if r["kind"] == "job" and r["job"] == app]
    assert [r["state"] for r in jobs] == ["running", "succeeded"]
    assert jobs[0]["job_hash"] == st[app]["hash"] and jobs[0]["revision"] is None

    # the same spec again: nothing runs, the container is the same one
    seq = runner.last_seq()
    runner.apply(check=0)
    assert runner.steps_run(after=seq) == []
    assert runner.containers(app)[0]["Id"] == cs[0]["Id"]

    # a changed env: only that job runs, in the same workdir, and the container is recreated
    job["env"]["GREETING"] = "two"
    seq = runner.last_seq()
    runner.apply([job, plain], check=0)
    assert runner.steps_run(after=seq) == [(app, "steps", "pull", 1), (app, "steps", "up", 1)]
    assert marker.read_text() == "run\n"
    cs2 = runner.containers(app)
    assert len(cs2) == 1 and _env_of(runner, cs2[0])["GREETING"] == "two"

    # disabled: the stop step runs, the ephemeral workdir goes, the state says stopped
    job["enabled"] = False
    seq = runner.last_seq()
    runner.apply([job, plain], check=0)
    assert runner.steps_run(after=seq) == [(app, "stop", "down", 1)]
    assert runner.containers(app) == []
    assert not runner.workdir(app).exists()
    st = runner.status_json(check=0)
    assert st[app]["state"] == "stopped" and st[app]["enabled"] is False

    # enabled again, then removed from the spec: stop step, containers and workdir gone
    job["enabled"] = True
    runner.apply([job, plain], check=0)
    assert len(runner.containers(app)) == 1
    seq = runner.last_seq()
    runner.apply([plain], check=0)
    assert runner.steps_run(after=seq) == [(app, "stop", "down", 1)]
    assert runner.containers(app) == []
    assert not runner.workdir(app).exists()
    assert runner.job_record(app) is None
    assert app not in runner.status_json(check=0)
    assert [r["state"] for r in runner.journal() if r["seq"] > seq and r["kind"] == "job"] == [
        "removed"]
    assert marker.read_text() == "run\n"


@pytest.mark.parametrize("naming", ["workdir", "name-field", "dash-p"])
def test_service_whose_container_exits_is_failed(env, runner, naming):
    app = unique_id("ex")
    project = app if naming == "workdir" else unique_id("named")
    job = failing_service_job(app, env.small_image)
    if naming == "name-field":  # the project is named in the compose file
        compose = yaml.safe_load(job["files"]["docker-compose.yml"])
        job["files"]["docker-compose.yml"] = yaml.safe_dump(dict(name=project, **compose))
    elif naming == "dash-p":  # the project is named on the command lines
        with_compose_options(job, "-p %s" % project)
    runner.projects.add(project)
    proc = runner.apply([job], check=1)
    assert len(runner.containers(project)) == 1
    st = runner.status_json(check=1)[app]
    assert st["state"] == "failed"
    # whichever noticed first (up itself, or the runner's watch), the container is named
    text = (st["message"] or "") + (st["output"] or "") + proc.err
    assert "%s-web-1" % project in text, text
    if st["step"] is None:  # the watch after the steps: exit code and the last log lines
        assert "exited (exit code 3)" in st["message"]
        assert "bye from the service" in st["message"]
    last = [r for r in runner.journal() if r["kind"] == "job"][-1]
    assert last["state"] == "failed" and last["message"] == st["message"]
    # removed: the stop step finds the project again
    runner.apply([], check=0)
    assert runner.containers(project) == []


def test_failed_up_is_undone(env, runner):
    app = unique_id("bad")
    job = seed_job(app, env.small_image)
    job["steps"][0] = {"name": "pull", "run": "docker compose pull --bogus"}
    runner.apply([job], check=1)
    st = runner.status_json(check=1)[app]
    assert st["state"] == "failed" and st["step"] == "pull" and st["exit_code"] == 2
    assert "unknown option '--bogus'" in st["output"]
    # pull has no undo: nothing ran after it
    assert runner.steps_run(job=app) == [(app, "steps", "pull", 1)]
    # fixed: the failed job with its new hash runs, and then succeeds
    job["steps"][0] = {"name": "pull", "run": "docker compose pull"}
    runner.apply([job], check=0)
    assert runner.status_json(check=0)[app]["state"] == "succeeded"


def test_sigkill_after_the_last_step_resumes_without_rerunning(env, runner):
    app = unique_id("kil")
    # healthy only once the test says so (no retry count the runner's wait could reach): after
    # up, the runner waits for the health check, and the job is running until then however
    # slowly this test goes
    job = seed_job(app, env.small_image, extra_service={
        "healthcheck": {"test": ["CMD", "sh", "-c", "test -e /tmp/go"],
                        "interval": "1s", "timeout": "10s", "retries": 100000}})
    proc = runner.start_apply([job])
    try:
        # up has finished; the runner is waiting for the container to turn healthy
        runner.wait_for(lambda: any(r["kind"] == "step" and r["step"] == "up" and
                                    r["state"] == "succeeded" for r in runner.journal()),
                        120, "up to succeed")
        proc.kill()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert runner.job_record(app)["state"] == "running"
    [c] = runner.containers(app)
    cid = c["Id"]
    assert runner.inspect(cid)["State"]["Health"]["Status"] == "starting"
    exec_in(env, cid, ["touch", "/tmp/go"])
    seq = runner.last_seq()
    # the rerun reaches dockerd through --docker-host alone: no step runs again, the job is
    # checked (the container turns healthy) and succeeds, the container is the same
    environ = runner.environ()
    environ.pop("DOCKER_HOST")
    done = subprocess.run(runner.argv("--docker-host", env.docker_host, runner.spec),
                          env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    assert "job '%s': resuming" % app in done.stderr.decode()
    assert runner.steps_run(after=seq) == []
    assert runner.status_json(check=0)[app]["state"] == "succeeded"
    assert [c["Id"] for c in runner.containers(app)] == [cid]
