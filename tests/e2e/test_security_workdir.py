"""Workdirs and what the agent may delete (docs/runspec.md, Job): an ephemeral workdir is always
created by the agent under its state directory and removed when the job stops; a run spec that
gives an ephemeral workdir a `path` is refused, so that a directory the agent did not create is
never deleted; a job record stored by an earlier version with such a workdir is still stopped,
without removing that directory."""

import json

import pytest

from compose_util import AGENT
from runner_util import runner, shell_job, unique_id  # noqa: F401

pytestmark = pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built")

REFUSAL = ("jobs[0].workdir.path: an ephemeral workdir is created by the agent; a path needs "
           "mode persistent")


def precious_dir(tmp_path):
    d = tmp_path / "precious"
    d.mkdir()
    (d / "keep.txt").write_text("mine\n")
    return d


def test_ephemeral_workdir_with_a_path_is_refused(runner, tmp_path):  # noqa: F811
    data = precious_dir(tmp_path)
    marker = tmp_path / "ran"
    spec = ("jobs:\n"
            "  - id: cache\n"
            "    type: job\n"
            "    workdir:\n"
            "      mode: ephemeral\n"
            "      path: %s\n"
            "    steps: [{name: s, run: touch %s}]\n" % (data, marker))
    proc = runner.apply(spec, check=2)
    assert proc.err.startswith("m87-agent: %s:6:13: %s" % (runner.spec, REFUSAL)), proc.err
    # without a mode the workdir is ephemeral: refused too, naming the mode it needs
    proc = runner.apply(spec.replace("      mode: ephemeral\n", ""), check=2)
    assert proc.err.startswith("m87-agent: %s:5:13: %s" % (runner.spec, REFUSAL)), proc.err
    assert not marker.exists()
    assert not (runner.state / "jobs").exists()
    # nothing ran, nothing to stop: the directory and its file stay
    runner.apply([], check=0)
    assert (data / "keep.txt").read_text() == "mine\n"
    # the same directory as a persistent workdir is used, and kept when the job stops
    job = shell_job("cache", ("s", "touch made"), workdir={"mode": "persistent",
                                                           "path": str(data)})
    runner.apply([job], check=0)
    assert (data / "made").exists()
    runner.apply([], check=0)
    assert (data / "keep.txt").read_text() == "mine\n" and (data / "made").exists()


def test_ephemeral_workdir_lives_under_the_state_dir_and_goes_when_stopped(runner,  # noqa: F811
                                                                          tmp_path):
    jid = unique_id()
    out = tmp_path / "pwd"
    job = shell_job(jid, ("where", "pwd > %s" % out), files={"conf/a.txt": "A\n"})
    runner.apply([job], check=0)
    wd = runner.workdir(jid)
    assert out.read_text().strip() == str(wd)
    assert wd.parent == runner.state / "workdirs"
    assert (wd / "conf" / "a.txt").read_text() == "A\n"
    assert runner.job_record(jid)["workdir"] == str(wd)
    # disabled: stopped, its workdir removed
    job["enabled"] = False
    runner.apply([job], check=0)
    assert not wd.exists()
    # enabled again: made again; removed from the spec: gone with the job's state
    job["enabled"] = True
    runner.apply([job], check=0)
    assert (wd / "conf" / "a.txt").exists()
    runner.apply([], check=0)
    assert not wd.exists() and runner.job_record(jid) is None


def test_stored_ephemeral_job_at_a_path_stops_without_removing_it(runner, tmp_path):  # noqa: F811
    """A job record written before the refusal (ephemeral, at a path) is stopped and removed;
    the directory it named is not the agent's and stays."""
    data = precious_dir(tmp_path)
    jid = unique_id()
    job = shell_job(jid, ("s", "touch made"), workdir={"mode": "persistent", "path": str(data)},
                    stop={"steps": [{"name": "bye", "run": "echo bye > bye"}]})
    runner.apply([job], check=0)
    # what an earlier agent stored for the same job with mode ephemeral
    path = runner.state / "jobs" / jid / "job.json"
    rec = json.loads(path.read_text())
    assert rec["ephemeral"] is False and rec["workdir"] == str(data)
    rec["ephemeral"] = True
    spec = json.loads(rec["spec"])
    spec["jobs"][0]["workdir"]["mode"] = "ephemeral"
    rec["spec"] = json.dumps(spec)
    path.write_text(json.dumps(rec))
    runner.apply([], check=0)
    assert runner.job_record(jid) is None
    assert (data / "bye").read_text() == "bye\n"
    assert (data / "keep.txt").read_text() == "mine\n" and (data / "made").exists()
