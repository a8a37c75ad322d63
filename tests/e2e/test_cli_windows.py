"""m87 DEVICE window add|list|rm, prefetch-policy, --now on deploy / activate / clone, and the
window lines of `deployment status` (from a window report posted through /v1/agent/sync)."""

import time

from cli_util import (RUNSPEC_TWO, add_device, check_sanitizers, new_deployment, write,
                      cli, server)  # noqa: F401


def target(server, token):
    """The target the device gets when it has nothing applied."""
    return server.sync(token, applied=None)["target"]


def test_window_add_list_rm(cli, server):
    dev, _ = add_device(cli)
    cli.extra_env["TZ"] = "Europe/Berlin"
    r = cli.ok(dev, "window", "add", "SAT,sun 00:00-06:00")
    assert r.out.startswith(f"added window ") and f"to {dev}: sat,sun 00:00-06:00\n" in r.out
    # the next start is shown in the local zone of the machine running m87
    assert "next start: " in r.out and (" CET" in r.out or " CEST" in r.out)
    w = cli.ok(dev, "window", "add", "mon-fri 22:00-02:00 +02:00", "--json").json()
    assert w["rule"] == "mon-fri 22:00-02:00 +02:00"

    r = cli.ok(dev, "window", "list")
    lines = r.out.splitlines()
    assert lines[0].split() == ["ID", "RULE", "NEXT", "START", "CREATED"]
    assert "sat,sun 00:00-06:00" in lines[1] and "mon-fri 22:00-02:00 +02:00" in lines[2]
    assert lines[-1] == "prefetch: always"
    listed = cli.ok(dev, "window", "list", "--json").json()
    assert [x["rule"] for x in listed["windows"]] == ["sat,sun 00:00-06:00",
                                                      "mon-fri 22:00-02:00 +02:00"]

    r = cli.ok(dev, "window", "rm", str(w["id"]))
    assert r.out == f"removed window {w['id']} from {dev}\n"
    r = cli.run(dev, "window", "rm", str(w["id"]))
    assert r.rc == 2 and f"has no window {w['id']}" in r.err
    assert len(cli.ok(dev, "window", "list", "--json").json()["windows"]) == 1
    # a duplicate rule, in another spelling
    r = cli.run(dev, "window", "add", "sun,sat 00:00-06:00 UTC")
    assert r.rc == 2 and "has the rule 'sat,sun 00:00-06:00' already" in r.err


def test_no_windows(cli, server):
    dev, _ = add_device(cli)
    r = cli.ok(dev, "window", "list")
    assert r.out == f"no windows: {dev} switches to a new revision at once\nprefetch: always\n"


def test_bad_rules_refused_locally(cli, server):
    dev, _ = add_device(cli)
    cases = [
        ("sa 02:00-04:00", "unknown day 'sa'"),
        ("daily 02:00-25:00", "end time '25:00': must be 00:00 to 24:00"),
        ("daily 02:00-04:00 Europe/Nowhere", "unknown time zone 'Europe/Nowhere'"),
        ("daily", "missing time range"),
    ]
    for rule, msg in cases:
        r = cli.run(dev, "window", "add", rule)
        assert r.rc == 2, r
        assert r.err.startswith(f"m87: window add: '{rule}': ") and msg in r.err, r
    # nothing reached the server: the server's log has no POST of windows
    assert "POST /v1/devices/%s/windows" % dev not in server.log_path.read_text()
    assert cli.ok(dev, "window", "list", "--json").json()["windows"] == []
    for args, msg in [(["rm", "x"], "'x' is not a window id"), (["rm"], "missing operand"),
                      (["add"], "missing operand"), (["frob"], "unknown command 'frob'")]:
        r = cli.run(dev, "window", *args)
        assert r.rc == 2 and msg in r.err, r
    r = cli.run("nodevice", "window", "list")
    assert r.rc == 2 and "device 'nodevice' not found" in r.err


def test_window_help(cli):
    r = cli.ok("gw", "window", "add", "--help")
    assert "DAYS START-END [ZONE]" in r.out and "mon-fri 22:00-02:00" in r.out
    assert "window add|list|rm" in cli.ok("--help").out


def test_prefetch_policy(cli, server):
    dev, token = add_device(cli)
    r = cli.ok(dev, "prefetch-policy")
    assert r.out.startswith(f"prefetch policy of {dev}: always ")
    r = cli.ok(dev, "prefetch-policy", "window")
    assert r.out.startswith(f"prefetch policy of {dev}: window ")
    assert cli.ok(dev, "prefetch-policy", "--json").json()["prefetch"] == "window"
    assert cli.ok(dev, "window", "list").out.endswith("prefetch: window\n")
    r = cli.run(dev, "prefetch-policy", "sometimes")
    assert r.rc == 2 and "'sometimes': expected always or window" in r.err
    # the agent gets it with its target
    new_deployment(cli, dev)
    assert target(server, token)["prefetch"] == "window"


def test_deploy_now(cli, server, tmp_path):
    dev, token = add_device(cli)
    dep = new_deployment(cli, dev)
    cli.ok(dev, "window", "add", "daily 02:00-04:00")
    spec = write(tmp_path / "rs.yml", RUNSPEC_TWO)
    r = cli.ok(dev, "deploy", spec, "--now")
    assert "the device applies it at once" in r.out
    t = target(server, token)
    assert t["now"] is True and t["windows"] == ["daily 02:00-04:00"]
    cli.ok(dev, "undeploy", "backup")
    assert target(server, token)["now"] is False
    # --now on the active deployment: its newest revision stops waiting
    r = cli.ok(dev, "deployment", "activate", dep, "--now")
    assert "the device applies it at once" in r.out
    assert target(server, token)["now"] is True
    # not on a deployment that is not active: refused, nothing changed
    other = new_deployment(cli, dev, active=False)
    r = cli.run(dev, "deploy", spec, "--deployment-id", other, "--now")
    assert r.rc == 2 and "is not active" in r.err
    revs = cli.ok(dev, "deployment", "show", other, "--json").json()
    assert revs["revision"] == 1


def test_clone_now_and_activate_later(cli, server, tmp_path):
    dev, token = add_device(cli)
    dep = new_deployment(cli, dev)
    cli.ok(dev, "deploy", write(tmp_path / "rs.yml", RUNSPEC_TWO))
    r = cli.ok(dev, "deployment", "clone", dep + "@1", "--active", "--now")
    assert "the device applies it at once" in r.out
    t = target(server, token)
    assert t["now"] is True and t["deployment"] != dep
    cli.ok(dev, "deployment", "activate", dep)
    t = target(server, token)
    assert t["deployment"] == dep and t["now"] is False
    r = cli.run(dev, "deployment", "clone", dep, "--now")
    assert r.rc == 2 and "--now needs --active" in r.err


class Device:
    def __init__(self, cli, server, tmp_path):
        self.cli, self.server = cli, server
        self.name, self.token = add_device(cli)
        new_deployment(cli, self.name)
        d = cli.ok(self.name, "deploy", write(tmp_path / "rs.yml", RUNSPEC_TWO), "--json").json()
        self.hash = d["hash"]
        self.seq = 0

    def record(self, kind, **fields):
        self.seq += 1
        rec = {"seq": self.seq, "kind": kind, "revision": self.hash,
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        rec.update(fields)
        return rec

    def window_report(self, state, **fields):
        self.server.sync(self.token, reports=[self.record("window", state=state, **fields)],
                         applied=None)


def test_status_waiting_for_window(cli, server, tmp_path):
    dev = Device(cli, server, tmp_path)
    cli.ok(dev.name, "window", "add", "sat,sun 00:00-06:00")
    cli.ok(dev.name, "window", "add", "daily 02:00-04:00 Europe/Berlin")
    cli.ok(dev.name, "prefetch-policy", "window")
    r = cli.ok(dev.name, "deployment", "status")
    assert ("windows     sat,sun 00:00-06:00; daily 02:00-04:00 Europe/Berlin "
            "(prefetch: window)\n") in r.out
    assert "waiting for window" not in r.out

    cli.extra_env["TZ"] = "Europe/Berlin"
    dev.window_report("waiting", next="2026-11-28T00:00:00Z", prefetch={"done": 1, "total": 3})
    r = cli.ok(dev.name, "deployment", "status")
    assert ("waiting for window (next: 2026-11-28 01:00 CET); prefetched 1 of 3 images\n"
            in r.out), r
    cli.extra_env["TZ"] = "America/New_York"
    dev.window_report("waiting", next="2026-07-04T06:00:00Z")
    r = cli.ok(dev.name, "deployment", "status")
    assert "waiting for window (next: 2026-07-04 02:00 EDT)\n" in r.out, r
    st = cli.ok(dev.name, "deployment", "status", "--json").json()
    assert st["window"]["state"] == "waiting" and st["window"]["next"] == "2026-07-04T06:00:00Z"

    # the window opened: no more waiting
    dev.window_report("open")
    r = cli.ok(dev.name, "deployment", "status")
    assert "waiting for window" not in r.out and "windows     " in r.out


def test_status_now_hides_the_wait(cli, server, tmp_path):
    dev = Device(cli, server, tmp_path)
    cli.ok(dev.name, "window", "add", "daily 02:00-04:00")
    dev.window_report("waiting", next="2026-11-28T02:00:00Z")
    assert "waiting for window" in cli.ok(dev.name, "deployment", "status").out
    dep = cli.ok(dev.name, "deployment", "list", "--json").json()["deployments"][0]["id"]
    cli.ok(dev.name, "deployment", "activate", dep, "--now")
    r = cli.ok(dev.name, "deployment", "status")
    assert "waiting for window" not in r.out
    assert "apply now   the device applies this revision without waiting for a window" in r.out


def test_follow_shows_the_wait(cli, server, tmp_path):
    dev = Device(cli, server, tmp_path)
    cli.ok(dev.name, "window", "add", "sat 00:00-06:00")
    cli.extra_env["TZ"] = "UTC"
    proc = cli.popen(dev.name, "deployment", "status", "--follow", "--timeout", "60s")
    try:
        first = proc.stdout.readline()
        assert first.startswith("device      "), first
        dev.window_report("waiting", next="2026-11-28T00:00:00Z")
        # read on until the waiting line came (the command ends by itself after its --timeout)
        seen = first
        while "waiting for window" not in seen:
            line = proc.stdout.readline()
            assert line, seen
            seen += line
        dev.server.sync(dev.token, applied=dev.hash, reports=[
            dev.record("window", state="open"),
            dev.record("job", job="app", state="succeeded"),
            dev.record("job", job="backup", state="succeeded")])
        out, err = proc.communicate(timeout=30)
        out = seen + out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    check_sanitizers(err)
    assert proc.returncode == 0, (out, err)
    assert " waiting for window (next: 2026-11-28 00:00 UTC)\n" in out, out
    assert " the wait for a window is over\n" in out, out
    assert out.index("waiting for window") < out.index("the wait for a window is over")
