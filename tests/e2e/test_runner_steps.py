"""`m87-agent apply` with shell steps: retries, on_exit_codes, undo in reverse order, timeouts
that kill the whole process group, SIGKILL of the runner mid-step and in a retry's backoff with
a rerun that converges, the state lock, bad input, and `status`."""

import json
import os
import signal
import subprocess

import pytest

from compose_util import AGENT, TARGET_CC
from runner_util import kill_quietly, pid_gone, runner, shell_job, unique_id  # noqa: F401

pytestmark = pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built")


def _lines(path):
    return path.read_text().splitlines() if path.exists() else []


def test_retries_on_exit_codes_and_undo_in_reverse(runner, tmp_path):
    log = tmp_path / "log"
    jid = unique_id()
    job = shell_job(
        jid,
        {"name": "a", "run": "echo a >> %s" % log, "undo": {"run": "echo undo-a >> %s" % log}},
        {"name": "b", "run": "echo b >> %s" % log},
        {"name": "c", "run": ["sh", "-c", "echo c >> %s; echo tried c; exit 3" % log],
         "retry": {"attempts": 3, "backoff": "10ms", "on_exit_codes": [3, 7]},
         "undo": {"run": "echo undo-c >> %s" % log, "timeout": "1m"}},
        {"name": "d", "run": "echo d >> %s" % log, "undo": {"run": "echo undo-d >> %s" % log}})
    runner.apply([job], check=1)
    # c tried three times, then the undo of c and a (b has none, d never ran), newest first
    assert _lines(log) == ["a", "b", "c", "c", "c", "undo-c", "undo-a"]
    assert runner.steps_run() == [(jid, "steps", "a", 1), (jid, "steps", "b", 1),
                                  (jid, "steps", "c", 1), (jid, "steps", "c", 2),
                                  (jid, "steps", "c", 3), (jid, "undo", "c", 1),
                                  (jid, "undo", "a", 1)]
    ends = [r for r in runner.journal() if r["kind"] == "step" and r["state"] != "running"]
    assert [(r["step"], r["state"], r["exit_code"]) for r in ends if r["phase"] == "steps"] == [
        ("a", "succeeded", 0), ("b", "succeeded", 0), ("c", "failed", 3), ("c", "failed", 3),
        ("c", "failed", 3)]
    assert ends[2]["output"] == "tried c\n" and ends[2]["duration_ms"] >= 0
    last = runner.journal()[-1]
    assert (last["kind"], last["state"], last["step"], last["exit_code"], last["attempts"]) == (
        "job", "failed", "c", 3, 3)
    assert last["output"] == "tried c\n"

    # status: text names the failure and shows the output; --json has every step
    st = runner.status(check=1)
    assert "%s  failed" % jid in st.out
    assert "step 'c' failed with exit code 3 after 3 attempts" in st.out
    assert "| tried c" in st.out
    js = runner.status_json(check=1)[jid]
    assert (js["state"], js["step"], js["exit_code"], js["attempts"]) == ("failed", "c", 3, 3)
    assert [(s["phase"], s["name"], s["state"], s["attempts"]) for s in js["steps"]] == [
        ("steps", "a", "succeeded", 1), ("steps", "b", "succeeded", 1),
        ("steps", "c", "failed", 3), ("undo", "c", "succeeded", 1),
        ("undo", "a", "succeeded", 1)]
    assert js["workdir"] == str(runner.workdir(jid)) and len(js["hash"]) == 64

    # an exit code not listed fails at once; on_failure none undoes nothing; a failed job with an
    # unchanged hash is tried again by the next apply
    log.unlink()
    job["steps"][2]["run"] = ["sh", "-c", "echo c >> %s; exit 4" % log]
    job["on_failure"] = {"undo": "none"}
    runner.apply([job], check=1)
    assert _lines(log) == ["a", "b", "c"]
    runner.apply(check=1)
    assert _lines(log) == ["a", "b", "c", "a", "b", "c"]


def test_timeout_kills_the_whole_group(runner, tmp_path):
    pids = tmp_path / "pids"
    jid = unique_id()
    script = "sleep 1000 & echo $! >> %s; (sleep 1000; echo never) & echo $! >> %s; " \
             "echo $$ >> %s; echo waiting; wait" % (pids, pids, pids)
    # the timeout leaves a slow start of sh (a loaded machine) time to write the pids and the
    # line before it fires
    job = shell_job(jid, {"name": "hang", "run": script, "timeout": "5s"})
    runner.apply([job], check=1, timeout=120)
    listed = [int(p) for p in _lines(pids)]
    assert len(listed) == 3
    runner.wait_for(lambda: all(pid_gone(p) for p in listed), 30, "the step's processes to go")
    js = runner.status_json(check=1)[jid]
    step = js["steps"][0]
    assert step["state"] == "timeout" and step["exit_code"] == 128 + signal.SIGTERM
    assert step["output"] == "waiting\n"


NO_PIDFD = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>
/* a kernel before 5.3: no pidfd_open; a file says it was asked */
int pidfd_open(pid_t pid, unsigned int flags)
{
    (void)pid, (void)flags;
    const char *mark = getenv("NO_PIDFD_MARK");
    if (mark)
        close(open(mark, O_WRONLY | O_CREAT, 0600));
    errno = ENOSYS;
    return -1;
}
/* the agent's alone: its steps are the host's programs (under qemu-user, of another
 * architecture than this library), so they do not inherit it */
__attribute__((constructor)) static void agent_only(void)
{
    unsetenv("LD_PRELOAD");
}
"""


def test_steps_without_pidfd_open(runner, tmp_path):
    """Kernels before 5.3 (old vendor kernels of gateways) have no pidfd_open: the runner
    watches its steps by asking waitpid, exit statuses and timeouts as usual."""
    src, shim, mark = tmp_path / "nopidfd.c", tmp_path / "nopidfd.so", tmp_path / "asked"
    src.write_text(NO_PIDFD)
    subprocess.run([TARGET_CC, "-shared", "-fPIC", "-o", str(shim), str(src)], check=True)
    asan = os.environ.get("ASAN_OPTIONS", "")
    runner.extra_env = {"LD_PRELOAD": shim, "NO_PIDFD_MARK": mark,
                        "ASAN_OPTIONS": asan + (":" if asan else "") + "verify_asan_link_order=0"}
    jid = unique_id()
    job = shell_job(jid, ("one", "echo one"), ("two", "exit 0"),
                    {"name": "three", "run": "exit 4", "retry": {"attempts": 2, "backoff": "10ms",
                                                                 "on_exit_codes": [4]}})
    runner.apply([job], check=1)
    assert mark.exists()
    js = runner.status_json(check=1)[jid]
    assert [(s["name"], s["state"], s["exit_code"], s["attempts"]) for s in js["steps"]] == [
        ("one", "succeeded", 0, 1), ("two", "succeeded", 0, 1), ("three", "failed", 4, 2)]
    assert js["steps"][0]["output"] == "one\n"
    job = shell_job(jid, {"name": "hang", "run": "echo waiting; sleep 1000", "timeout": "5s"})
    runner.apply([job], check=1)
    step = runner.status_json(check=1)[jid]["steps"][0]
    assert step["state"] == "timeout" and step["exit_code"] == 128 + signal.SIGTERM, step
    assert step["output"] == "waiting\n"


def test_timeout_escalates_to_sigkill(runner, tmp_path):
    pidfile = tmp_path / "pid"
    jid = unique_id()
    # TERM ignored by the shell and (inherited) by its sleep: only SIGKILL ends them (the
    # timeout leaves a slow start of sh time to set the trap first)
    job = shell_job(jid, {"name": "stubborn", "timeout": "5s",
                          "run": "trap '' TERM; echo $$ > %s; sleep 1000; sleep 1000" % pidfile})
    runner.apply([job], check=1)
    step = runner.status_json(check=1)[jid]["steps"][0]
    assert step["state"] == "timeout" and step["exit_code"] == 128 + signal.SIGKILL
    assert pid_gone(int(pidfile.read_text()))


def test_sigkill_mid_step_and_in_backoff_then_converge(runner, tmp_path):
    first, second = unique_id("a"), unique_id("b")
    count = {n: tmp_path / n for n in ("a", "b1", "b2", "b3")}
    pid2 = tmp_path / "pid2"
    job_a = shell_job(first, ("only", "echo x >> %s" % count["a"]))
    job_b = shell_job(
        second,
        ("s1", "echo x >> %s" % count["b1"]),
        ("s2", "echo x >> %s; echo $$ > %s; [ -e %s ] || exec sleep 1000" % (
            count["b2"], pid2, tmp_path / "go2")),
        {"name": "s3", "run": "echo x >> %s; [ -e %s ]" % (count["b3"], tmp_path / "go3"),
         "retry": {"attempts": 2, "backoff": "1h"}})

    # killed in the middle of s2: the step's process goes with the runner
    proc = runner.start_apply([job_a, job_b])
    try:
        runner.wait_for(lambda: _lines(count["b2"]) and pid2.exists() and pid2.read_text(),
                        60, "step s2 to start")
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        kill_quietly(proc.pid)
    runner.wait_for(lambda: pid_gone(int(pid2.read_text())), 10, "s2's process to die")
    assert runner.job_record(second)["state"] == "running"

    # rerun: a is not run again, b resumes at s2; then killed in s3's backoff after its 1st try
    (tmp_path / "go2").touch()
    proc = runner.start_apply()
    try:
        runner.wait_for(lambda: any(r["kind"] == "step" and r["step"] == "s3" and
                                    r["state"] == "failed" for r in runner.journal()),
                        60, "s3's first attempt to fail")
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        kill_quietly(proc.pid)

    # rerun: s3 runs again and succeeds; nothing else ran again
    (tmp_path / "go3").touch()
    runner.apply(check=0)
    assert {n: len(_lines(p)) for n, p in count.items()} == {"a": 1, "b1": 1, "b2": 2, "b3": 2}
    st = runner.status_json(check=0)
    assert st[first]["state"] == "succeeded" and st[second]["state"] == "succeeded"
    assert [(s["name"], s["state"]) for s in st[second]["steps"]] == [
        ("s1", "succeeded"), ("s2", "succeeded"), ("s3", "succeeded")]

    # and once more: finished jobs are not run again
    seq = runner.last_seq()
    runner.apply(check=0)
    assert runner.steps_run(after=seq) == []


def test_second_runner_is_refused(runner, tmp_path):
    go = tmp_path / "go"
    started = tmp_path / "started"
    jid = unique_id()
    job = shell_job(jid, ("wait", "touch %s; while [ ! -e %s ]; do sleep 0.05; done" % (
        started, go)))
    proc = runner.start_apply([job])
    try:
        runner.wait_for(started.exists, 60, "the first runner's step")
        second = runner.apply(check=1)
        assert "another runner holds '%s/lock'" % runner.state in second.err
        go.touch()
        assert proc.wait(60) == 0
    finally:
        kill_quietly(proc.pid)
    # the refused runner changed nothing: one run of the step
    assert runner.steps_run() == [(jid, "steps", "wait", 1)]


def test_bad_spec_runs_nothing(runner, tmp_path):
    marker = tmp_path / "marker"
    runner.write("jobs:\n  - id: x\n    steps:\n      - name: a\n        runn: touch %s\n" %
                 marker)
    proc = runner.apply(check=2)
    assert proc.err.startswith("m87-agent: %s:5:9: jobs[0].steps[0]: unknown field 'runn'" %
                               runner.spec), proc.err
    assert not marker.exists()
    assert not (runner.state / "jobs").exists()
    proc = runner.apply(None, "--bogus", check=2)
    assert "unknown option '--bogus'" in proc.err


def test_env_workdir_files_and_journal_across_runs(runner, tmp_path):
    jid = unique_id()
    out = tmp_path / "out"
    job = shell_job(jid, ("show", "echo \"$GREETING $HOME_X\" > %s; pwd >> %s; cat conf/a.txt "
                                  ">> %s" % (out, out, out)),
                    env={"GREETING": "hi there", "HOME_X": "1"},
                    files={"conf/a.txt": "A\n", "b.txt": "B\n"})
    runner.apply([job], check=0)
    wd = runner.workdir(jid)
    assert _lines(out) == ["hi there 1", str(wd), "A"]
    assert (wd / "b.txt").read_text() == "B\n"
    (wd / "data").write_text("kept")
    # b.txt dropped from files: removed; unlisted files the job made are kept
    del job["files"]["b.txt"]
    job["files"]["conf/a.txt"] = "A2\n"
    seq = runner.last_seq()
    runner.apply([job], check=0)
    assert not (wd / "b.txt").exists() and (wd / "data").read_text() == "kept"
    assert _lines(out)[-1] == "A2"
    assert all(r["seq"] > seq for r in runner.journal() if r["seq"] > seq)
    # a symlink planted in the workdir is replaced, never written through
    victim = tmp_path / "victim"
    victim.write_text("safe")
    (wd / "conf" / "a.txt").unlink()
    os.symlink(victim, wd / "conf" / "a.txt")
    job["files"]["conf/a.txt"] = "A3\n"
    runner.apply([job], check=0)
    assert victim.read_text() == "safe" and (wd / "conf" / "a.txt").read_text() == "A3\n"
    # a symlinked parent directory is refused
    os.rename(wd / "conf", tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", wd / "conf")
    job["files"]["conf/a.txt"] = "A4\n"
    runner.apply([job], check=1)
    assert (tmp_path / "elsewhere" / "a.txt").read_text() == "A3\n"
    assert "a parent directory is a symlink" in runner.status_json(check=1)[jid]["message"]


def test_persistent_workdir_path_stays(runner, tmp_path):
    jid = unique_id()
    wd = tmp_path / "pwd"
    job = shell_job(jid, ("mk", "echo data > made"), workdir={"mode": "persistent",
                                                              "path": str(wd)},
                    files={"f": "x"}, stop={"steps": [{"name": "bye", "run": "echo bye > bye"}]})
    runner.apply([job], check=0)
    assert (wd / "made").exists()
    runner.apply([], check=0)
    assert (wd / "made").exists() and (wd / "bye").read_text() == "bye\n"
    assert runner.job_record(jid) is None
    recs = [json.dumps(r) for r in runner.journal() if r["kind"] == "job"]
    assert '"state": "removed"' in recs[-1]


def test_moved_workdir_whose_stop_fails_is_stopped_later(runner, tmp_path):
    jid = unique_id()
    block = tmp_path / "block"
    stop = {"steps": [{"name": "bye", "run": "[ ! -e %s ] && echo bye > bye" % block}]}
    job = shell_job(jid, ("mk", "echo data > made"), stop=stop,
                    workdir={"mode": "persistent", "path": str(tmp_path / "one")})
    runner.apply([job], check=0)
    # the job moves, and the old workdir's stop fails: the job does not run in the new one, and
    # its record keeps the old workdir, so that the stop is tried again
    block.touch()
    job["workdir"]["path"] = str(tmp_path / "two")
    runner.apply([job], check=1)
    assert not (tmp_path / "two" / "made").exists()
    rec = runner.job_record(jid)
    assert rec["workdir"] == str(tmp_path / "one") and rec["state"] == "stopping", rec
    block.unlink()
    runner.apply([job], check=0)
    assert (tmp_path / "one" / "bye").read_text() == "bye\n"
    assert (tmp_path / "two" / "made").exists()
    assert runner.job_record(jid)["workdir"] == str(tmp_path / "two")


def test_sigkill_during_undo_finishes_the_undo(runner, tmp_path):
    log = tmp_path / "log"
    go = tmp_path / "go"
    jid = unique_id()
    job = shell_job(
        jid,
        {"name": "a", "run": "echo a >> %s" % log, "undo": {"run": "echo undo-a >> %s" % log}},
        {"name": "b", "run": "echo b >> %s" % log,
         "undo": {"run": "echo undo-b >> %s; [ -e %s ] || exec sleep 1000; echo undo-b-done >> %s"
                         % (log, go, log)}},
        {"name": "c", "run": ["sh", "-c", "echo c >> %s; echo broken; exit 5" % log]})
    proc = runner.start_apply([job])
    try:
        runner.wait_for(lambda: "undo-b" in _lines(log), 60, "the undo of b")
        proc.kill()
        proc.wait(30)
    finally:
        kill_quietly(proc.pid)
    assert runner.job_record(jid)["state"] == "running"
    go.touch()
    runner.apply(check=1)
    # the undo of b runs again, then a's; no step runs again
    assert _lines(log) == ["a", "b", "c", "undo-b", "undo-b", "undo-b-done", "undo-a"]
    js = runner.status_json(check=1)[jid]
    assert (js["state"], js["step"], js["exit_code"], js["attempts"]) == ("failed", "c", 5, 1)
    assert js["output"] == "broken\n"
