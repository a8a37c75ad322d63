"""m87 DEVICE deployment status against reports posted as a device through POST /v1/agent/sync."""

import json
import re
import time

from cli_util import (RUNSPEC_TWO, Cli, Server, add_device, check_sanitizers,  # noqa: F401
                      new_deployment, read_rest, read_until, write, cli, server)


class Device:
    """A device with an active deployment holding RUNSPEC_TWO's jobs (app, backup)."""

    def __init__(self, cli, server, tmp_path):
        self.cli, self.server = cli, server
        self.name, self.token = add_device(cli)
        self.dep = new_deployment(cli, self.name)
        d = cli.ok(self.name, "deploy", write(tmp_path / "rs.yml", RUNSPEC_TWO), "--json").json()
        self.hash, self.revision = d["hash"], d["revision"]
        self.seq = 0

    def report(self, kind, job, state, **fields):
        self.seq += 1
        r = {"seq": self.seq, "kind": kind, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                    time.gmtime()),
             "revision": self.hash, "job": job, "state": state}
        r.update(fields)
        return r

    def step(self, job, step, state, attempt=1, exit_code=None, ms=None, output=None,
             phase="steps"):
        return self.report("step", job, state, phase=phase, step=step, attempt=attempt,
                           exit_code=exit_code, duration_ms=ms, output=output)

    def sync(self, *reports, applied=True):
        return self.server.sync(self.token, reports=reports,
                                applied=self.hash if applied else None)

    def status(self, *extra):
        return self.cli.run(self.name, "deployment", "status", *extra)


def rows(out):
    """The status table: first cell (job, or '  step') -> the rest split on blanks."""
    lines = out.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("JOB/STEP"))
    table = {}
    for line in lines[start + 1:]:
        if not line.strip():
            break
        cells = line.split()
        key = ("  " + cells[0]) if line.startswith("  ") else cells[0]
        table[key] = cells[1:]
    return table


def test_never_connected(cli, server, tmp_path):
    dev = Device(cli, server, tmp_path)
    r = dev.status()
    assert r.rc == 0, r
    assert "waiting: the device has never connected" in r.out
    t = rows(r.out)
    assert t["app"] == ["pending"] and t["backup"] == ["pending"]
    assert "deployment  %s revision %d" % (dev.dep, dev.revision) in r.out


def test_not_picked_up_says_last_seen(cli, server, tmp_path):
    dev = Device(cli, server, tmp_path)
    dev.sync(applied=False)
    r = dev.status()
    assert r.rc == 0, r
    assert ("waiting: the device has not picked up revision %d yet; it was last seen "
            % dev.revision) in r.out
    assert "s ago" in r.out
    assert "online" in r.out.splitlines()[0]


def test_failed_job_exit_1_with_steps_and_logs(cli, server, tmp_path):
    dev = Device(cli, server, tmp_path)
    dev.sync(
        dev.step("app", "pull", "succeeded", exit_code=0, ms=5120, output="pulled busybox\n"),
        dev.step("app", "up", "running", attempt=1),
        dev.step("app", "up", "failed", attempt=3, exit_code=1, ms=2000,
                 output="port is already allocated"),
        dev.report("job", "app", "failed", step="up", exit_code=1, attempts=3,
                   message="step up failed"),
        dev.step("backup", "copy", "succeeded", exit_code=0, ms=40),
        dev.report("job", "backup", "succeeded"),
    )
    r = dev.status()
    assert r.rc == 1, r
    assert "waiting" not in r.out
    t = rows(r.out)
    assert t["app"] == ["failed", "3", "1", "step", "up", "failed"]
    assert t["  pull"] == ["steps", "succeeded", "1", "0", "5.1s"]
    assert t["  up"] == ["steps", "failed", "3", "1", "2.0s"]
    assert t["backup"] == ["succeeded"]
    assert t["  copy"] == ["steps", "succeeded", "1", "0", "40ms"]
    assert "pulled busybox" not in r.out
    r = dev.status("--logs")
    assert r.rc == 1, r
    assert "--- app/pull (steps, attempt 1) ---\npulled busybox\n" in r.out
    assert "--- app/up (steps, attempt 3) ---\nport is already allocated\n" in r.out
    j = dev.status("--json")
    assert j.rc == 1, j
    doc = j.json()
    assert doc["picked_up"] is True
    assert [x["state"] for x in doc["jobs"]] == ["failed", "succeeded"]


def test_all_succeeded_exit_0(cli, server, tmp_path):
    dev = Device(cli, server, tmp_path)
    dev.sync(dev.step("app", "up", "succeeded", exit_code=0, ms=100),
             dev.report("job", "app", "succeeded"),
             dev.report("job", "backup", "succeeded"))
    r = dev.status()
    assert r.rc == 0, r
    assert rows(r.out)["app"] == ["succeeded"]


def test_status_of_other_deployment(cli, server, tmp_path):
    dev = Device(cli, server, tmp_path)
    other = new_deployment(cli, dev.name, active=False)
    r = dev.status("--deployment-id", other)
    assert r.rc == 0, r
    assert "deployment  %s revision 1" % other in r.out
    assert "no jobs: add one with: m87 %s deploy docker-compose.yml" % dev.name in r.out


def test_follow_until_settled(cli, server, tmp_path):
    dev = Device(cli, server, tmp_path)
    proc = cli.popen(dev.name, "deployment", "status", "--follow", "--timeout", "120s", "--logs")
    try:
        # --follow looks every 2 s and prints what changed between two looks: each state is
        # sent only once the CLI showed the one before, or a slow look could miss it
        read_until(proc, "^device      ")  # the first look, before the device reported anything
        dev.sync(dev.step("app", "pull", "running"))
        read_until(proc, re.escape("app/pull: running (attempt 1)") + "$")
        dev.sync(dev.step("app", "pull", "succeeded", exit_code=0, ms=900, output="ok\n"),
                 dev.report("job", "app", "succeeded"),
                 dev.report("job", "backup", "failed", message="copy failed"))
        out, err = read_rest(proc, with_seen=True)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    check_sanitizers(err)
    assert proc.returncode == 1, (out, err)  # backup failed
    assert "the device picked up revision %d" % dev.revision in out
    assert "app/pull: running (attempt 1)" in out
    assert "app/pull: succeeded (attempt 1, exit 0, 900ms)" in out
    assert "backup: failed: copy failed" in out
    assert "--- app/pull (steps, attempt 1) ---\nok\n" in out
    final = out[out.rindex("device      "):]
    assert rows(final)["app"] == ["succeeded"]
    assert rows(final)["backup"] == ["failed", "copy", "failed"]


def test_follow_timeout_exit_1(cli, server, tmp_path):
    dev = Device(cli, server, tmp_path)
    r = dev.status("--follow", "--timeout", "3s")
    assert r.rc == 1, r
    assert "gave up after 3s" in r.err


def test_follow_json_lines(cli, server, tmp_path):
    dev = Device(cli, server, tmp_path)
    dev.sync(dev.report("job", "app", "succeeded"), dev.report("job", "backup", "succeeded"))
    r = dev.status("--follow", "--json")
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["picked_up"] is True


def test_follow_rides_out_a_server_restart(tmp_path):
    """The server stops and comes back (its data kept): --follow warns and goes on polling."""
    srv = Server(tmp_path / "srv").start()
    try:
        c = Cli(tmp_path / "cli", srv)
        dev = Device(c, srv, tmp_path)
        proc = c.popen(dev.name, "deployment", "status", "--follow", "--timeout", "120s")
        try:
            # the first look must get through (a server unreachable at the start is an error)
            deadline = time.monotonic() + 60
            while "/v1/devices/%s/status 200" % dev.name not in srv.log_path.read_text():
                assert time.monotonic() < deadline, "the CLI never asked for the status"
                time.sleep(0.1)
            srv.stop()
            # back only once a look found it gone (they come every 2 s)
            read_until(proc, "polling again", stream="stderr")
            srv.start()
            dev.sync(dev.report("job", "app", "succeeded"),
                     dev.report("job", "backup", "succeeded"))
            out, err = read_rest(proc, with_seen=True)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        check_sanitizers(err)
        assert proc.returncode == 0, (out, err)
        assert "cannot reach the server at %s" % srv.url in err
        assert "polling again" in err
        assert "app: succeeded" in out and "backup: succeeded" in out
    finally:
        srv.stop()
