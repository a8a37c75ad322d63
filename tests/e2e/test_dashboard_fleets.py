"""The dashboard's fleets and rollout pages (docs/dashboard.md) in a real headless chromium
against a real server: a release deployed with the CLI in two waves, followed wave by wave on
the rollout page without a reload, paused and resumed from the page, and a second release
aborted from the page with its members rolled back. The devices are simulated: they speak the
agent protocol to the server (POST /v1/agent/sync with "job" records, as test_fleet_rollouts.py
does), which is all the rollout's gate reads; no container is needed for it. Screenshots: the
printed directory."""

from agent_util import wait_for
from cli_util import Cli, Server, server, unique  # noqa: F401  (pytest fixture)
from dashboard_util import browser  # noqa: F401  (pytest fixture)

SPEC = "jobs:\n  - id: %s\n    steps:\n      - name: s\n        run: [\"true\"]\n"


def fleet_of(server, cli, n):  # noqa: F811
    """A fleet of n new devices, online (each synced once); (fleet, [(name, token)] by name)."""
    t = unique("t")
    devs = []
    for i in range(n):
        name = "%s-%d" % (t, i)
        r = cli.ok("devices", "add", name, "--label", "t=" + t, "--json").json()
        devs.append((name, r["token"]))
        server.sync(r["token"])
    fleet = unique("f-")
    cli.ok("fleets", "add", fleet, "--select", "t=" + t)
    return fleet, devs


def deploy(cli, tmp_path, fleet, job, *opts):
    src = tmp_path / job
    src.mkdir()
    (src / "spec.yml").write_text(SPEC % job)
    return cli.ok("fleet", fleet, "deploy", "spec.yml", "--json", *opts, cwd=src).json()


def rollout(server, fleet, rid):  # noqa: F811
    return server.api("GET", "/v1/fleets/%s/rollouts/%s" % (fleet, rid))


def states(server, fleet, rid):  # noqa: F811
    return {d["device"]: d["state"] for d in rollout(server, fleet, rid)["devices"]}


def apply_ok(server, token, seq=1):  # noqa: F811
    """The device takes its target and reports each job succeeded: the health window starts."""
    target = server.sync(token).get("target")
    assert target and target.get("rollout"), target
    recs = [{"seq": seq + i, "kind": "job", "revision": target["hash"], "job": j["id"],
             "state": "succeeded"} for i, j in enumerate(target["spec"]["jobs"])]
    server.sync(token, reports=recs, applied=target["hash"])
    return target["hash"]


def row_state(b, wave, device):
    return b.js("const r = document.querySelector(\"section[data-wave='%d'] tr[data-device='%s']\");"
                " return r ? r.dataset.state : null" % (wave, device))


def confirm(b, title, cmd, check=False):
    b.wait_text("#confirm-title", title)
    if check:
        b.click("#confirm-check")
    assert b.find("#confirm-cmd").text == "same as: " + cmd
    b.shot(title.lower().replace(" ", "-") + "-dialog")
    b.click("#confirm-ok")


def test_rollout_followed_paused_resumed_and_aborted(server, browser, tmp_path):  # noqa: F811
    b = browser
    cli = Cli(tmp_path, server)
    fleet, devs = fleet_of(server, cli, 3)
    names = [n for n, _ in devs]
    doc = deploy(cli, tmp_path, fleet, "app", "--waves", "1,100%", "--health-window", "2s")
    rid = doc["rollout"]["id"]
    assert doc["rollout"]["waves"] == [1, 3]

    # the fleets page: the release, the rollout, the members by release
    b.signin(server.url, server.token)
    b.click("#nav-fleets")
    det = "details[data-fleet='%s']" % fleet
    b.wait_text(det + " summary", "release 1")
    b.wait_text(det + " summary", rid)
    b.click(det + " summary strong")
    b.wait_text(det + " table.rollouts", rid)
    b.wait_text(det + " .counts", "3 members: 0 on the current release and healthy, 0 failing, "
                "0 offline, 0 waiting for a window")
    b.shot("fleet")

    # the rollout page: wave 1 applying, wave 2 pending
    b.click(det + " table.rollouts a")
    b.wait_text("h1", "Rollout %s of fleet %s" % (rid, fleet))
    b.js("window.m87Marker = 'no reload'")
    b.wait(lambda d: row_state(b, 1, names[0]) == "applying", what="wave 1 applying")
    assert [row_state(b, 2, n) for n in names[1:]] == ["pending", "pending"]
    b.wait_text("#rollout-state", "running")
    b.wait_text("section[data-wave='1'] .wave-counts", "applying 1")
    b.shot("wave-1-applying")

    # pause from the page, while wave 1 is applying
    b.click("button[data-action='pause']")
    confirm(b, "Pause", "m87 fleet %s pause %s" % (fleet, rid))
    b.wait_text("#rollout-state", "paused")
    b.wait_text("#rollout-message", "paused by an admin")
    assert rollout(server, fleet, rid)["state"] == "paused"

    # wave 1 becomes healthy (the page shows it, no reload); the next wave does not start
    apply_ok(server, devs[0][1])
    b.wait(lambda d: row_state(b, 1, names[0]) == "healthy", what="wave 1 healthy")
    b.wait_text("section[data-wave='1'] .wave-counts", "healthy 1")
    ro = rollout(server, fleet, rid)
    assert ro["state"] == "paused" and ro["wave"] == 1, ro
    assert states(server, fleet, rid) == {names[0]: "healthy", names[1]: "pending",
                                          names[2]: "pending"}
    for _, tok in devs[1:]:
        assert server.sync(tok).get("target") is None
    assert [row_state(b, 2, n) for n in names[1:]] == ["pending", "pending"]
    b.shot("paused-wave-1-healthy")

    # resume from the page: wave 2 follows
    b.click("button[data-action='resume']")
    confirm(b, "Resume", "m87 fleet %s resume %s" % (fleet, rid))
    b.wait(lambda d: [row_state(b, 2, n) for n in names[1:]] == ["applying", "applying"],
           what="wave 2 applying")
    b.wait_text("#rollout-wave", "2 of 2")
    b.shot("wave-2-applying")
    for _, tok in devs[1:]:
        apply_ok(server, tok)
    b.wait_text("#rollout-state", "done")
    assert [row_state(b, w, n) for w, n in [(1, names[0]), (2, names[1]), (2, names[2])]] == \
        ["healthy"] * 3
    assert b.find("#rollout-progress").get_attribute("value") == "3"
    assert not b.finds("button[data-action]")  # nothing to pause, resume or abort
    assert b.js("return window.m87Marker") == "no reload"
    b.shot("done")

    # a device link leads to the device's page
    b.click("section[data-wave='2'] tr[data-device='%s'] a" % names[1])
    b.wait_text("h1", "Device " + names[1])

    # release 2, with a long window: abort it from the page and roll back
    doc = deploy(cli, tmp_path, fleet, "app2", "--waves", "1,100%", "--health-window", "1h")
    rid2 = doc["rollout"]["id"]
    wait_for(lambda: states(server, fleet, rid2)[names[0]] == "applying", 15, "release 2 placed")
    apply_ok(server, devs[0][1], seq=10)
    b.click("#nav-fleets")
    b.wait_text(det + " summary", "release 2")
    b.wait(lambda d: b.js("return [...document.querySelectorAll(\"%s table.rollouts tbody tr\")]"
                          ".map(r => r.dataset.rollout)" % det) == [rid2, rid],
           what="the rollouts, newest first")
    b.click(det + " table.rollouts a")
    b.wait_text("h1", "Rollout %s" % rid2)
    b.wait_text("#rollout-state", "running")
    b.click("button[data-action='abort']")
    b.wait_text("#confirm-text", "refuses it (a replay of an older release, or unsigned)")
    confirm(b, "Abort", "m87 fleet %s abort %s --rollback" % (fleet, rid2), check=True)
    b.wait_text("#rollout-state", "aborted")
    ro = rollout(server, fleet, rid2)
    assert ro["state"] == "aborted", ro
    wait_for(lambda: states(server, fleet, rid2)[names[0]] == "rolled-back", 15,
             "the member of wave 1 rolled back")
    b.wait(lambda d: row_state(b, 1, names[0]) == "rolled-back", what="rolled back shown")
    assert [row_state(b, 2, n) for n in names[1:]] == ["pending", "pending"]
    b.shot("aborted-rolled-back")


def test_halted_rollout_reconnecting_and_roll_back(tmp_path, browser):  # noqa: F811
    """A member whose job fails halts a rollout made with --rollback never: the page shows the
    failed member with its message and the halt; while the server is away the page says
    Reconnecting, and carries on when it is back (the rollout is in the database); Roll back
    from the page gives the member its previous revision."""
    s = Server(tmp_path / "srv").start()
    try:
        b = browser
        b.allowed.append("ERR_CONNECTION_REFUSED")
        cli = Cli(tmp_path, s)
        fleet, devs = fleet_of(s, cli, 2)
        names = [n for n, _ in devs]
        rid = deploy(cli, tmp_path, fleet, "app", "--waves", "1,100%", "--health-window", "1h",
                     "--rollback", "never")["rollout"]["id"]
        b.signin(s.url, s.token)
        b.get(s.url + "/#/fleets/%s/rollouts/%s" % (fleet, rid))
        b.js("window.m87Marker = 'no reload'")
        b.wait(lambda d: row_state(b, 1, names[0]) == "applying", what="wave 1 applying")
        target = s.sync(devs[0][1]).get("target")
        s.sync(devs[0][1], reports=[{"seq": 1, "kind": "job", "revision": target["hash"],
                                     "job": "app", "state": "failed",
                                     "message": "step 'up' exited with 1"}])
        b.wait(lambda d: row_state(b, 1, names[0]) == "failed", what="wave 1 failed")
        b.wait_text("#rollout-state", "halted")
        b.wait_text("section[data-wave='1'] tr[data-device='%s']" % names[0], "step 'up'")
        b.wait_text("section[data-wave='1'] .wave-counts", "failed 1")
        assert rollout(s, fleet, rid)["state"] == "halted"
        assert not b.finds("button[data-action='abort']")
        b.shot("halted")

        s.stop()
        b.wait_text("#conn", "Reconnecting", timeout=30)
        b.shot("reconnecting")
        s.start()  # the same data directory and port
        b.wait(lambda d: not b.find("#conn").is_displayed(), timeout=30, what="banner gone")
        b.wait_text("#rollout-state", "halted")

        b.click("button[data-action='rollback']")
        assert not b.find("#confirm-opt").is_displayed()  # no choice: it is the roll back
        confirm(b, "Roll back", "m87 fleet %s abort %s --rollback" % (fleet, rid))
        wait_for(lambda: states(s, fleet, rid)[names[0]] == "rolled-back", 15,
                 "the failed member rolled back")
        b.wait(lambda d: row_state(b, 1, names[0]) == "rolled-back", what="rolled back shown")
        assert row_state(b, 2, names[1]) == "pending"
        assert b.js("return window.m87Marker") == "no reload"
        b.shot("rolled-back")
        # at a phone's width nothing runs off the side, on this page and the fleets page
        b.driver.set_window_size(390, 844)
        b.wait_text("#rollout-state", "halted")
        assert b.js("return document.documentElement.scrollWidth <= window.innerWidth")
        b.shot("phone-rollout")
        b.click("#nav-fleets")
        b.click("details[data-fleet='%s'] summary strong" % fleet)
        b.wait_text("details[data-fleet='%s'] table.rollouts" % fleet, rid)
        assert b.js("return document.documentElement.scrollWidth <= window.innerWidth")
        b.shot("phone-fleets")
    finally:
        s.stop()
