"""`m87 DEVICE metrics --since` end to end (docs/remote.md, "Metrics while offline"): the real
m87-agent daemon sends a metrics sample with its sync every `metrics-interval`, the real
m87-server keeps them, and the real m87 CLI lists them after the agent has stopped. The device is
this machine: the figures are checked against what this process reads of /proc.

The server holds a sync for at most 2 s here (--longpoll-max 2), so that the idle agent's syncs,
which carry the samples, come every 2 s or so instead of every 2 minutes."""

import datetime
import json
import os

import pytest

from agent_util import device, wait_for  # noqa: F401  (fixtures)
from cli_util import Server
from dashboard_util import browser  # noqa: F401  (fixture)

INTERVAL = "2s"


@pytest.fixture
def own_server(tmp_path):
    """The device fixture's server, with short long-polls."""
    s = Server(tmp_path / "server")
    s.extra_args = ["--longpoll-max", "2"]
    s.start()
    yield s
    s.stop()


def stored(dev, since="1h"):
    return dev.server.api("GET", "/v1/devices/%s/metrics?since=%s" % (dev.name, since))["samples"]


def mem_total():
    with open("/proc/meminfo") as f:
        return int(f.readline().split()[1]) * 1024


def parse_time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)


def test_samples_kept_and_listed_while_offline(device):  # noqa: F811
    dev = device
    dev.agent.config["metrics_interval"] = INTERVAL
    dev.agent.config["remote"] = "metrics"
    started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    dev.agent.start()
    wait_for(lambda: len(stored(dev)) >= 3, 120,
             "three samples stored\n" + dev.agent.log()[-3000:])
    assert dev.agent.stop() == 0
    # offline now: the live query has no agent to ask, the stored samples answer
    r = dev.cli.run(dev.name, "metrics")
    assert r.rc == 2 and "offline" in r.err, r

    r = dev.cli.run(dev.name, "metrics", "--since", "1h", "--json")
    assert r.rc == 0, r
    samples = json.loads(r.out)["samples"]
    assert len(samples) >= 3, samples
    times = [parse_time(s["time"]) for s in samples]
    assert times == sorted(times), times  # oldest first
    now = datetime.datetime.now(datetime.timezone.utc)
    assert started <= times[0] and times[-1] <= now, (started, times, now)
    st = os.statvfs("/")
    for s in samples:
        m = s["metrics"]
        assert m["memory"]["total"] == mem_total(), m
        assert 0 < m["memory"]["available"] <= m["memory"]["total"], m
        assert m["uptime_s"] > 0, m
        # the average since the previous sample (the first: since the agent's first sync)
        assert m["cpu_percent"] is not None and 0 <= m["cpu_percent"] <= 100, m
        assert len(m["load_x100"]) == 3, m
        assert m["disk_root"]["path"] == "/" and m["disk_root"]["total"] == \
            st.f_blocks * st.f_frsize, m
        assert m["disk_docker"] is not None and m["disk_docker"]["total"] > 0, m  # dockerd's root
        assert m["containers"]["running"] <= m["containers"]["total"], m
        assert m["network"]["rx_bytes"] >= 0, m
        assert "temperature_mc" in m  # null where the board exposes no thermal zone
    assert [s["metrics"]["uptime_s"] for s in samples] == \
        sorted(s["metrics"]["uptime_s"] for s in samples)

    r = dev.cli.run(dev.name, "metrics", "--since", "1h")
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0].split()[:3] == ["TIME", "CPU", "LOAD"], r.out
    assert len(lines) == 1 + len(samples), r.out
    for line in lines[1:]:
        assert "%" in line and " of " in line, r.out


def test_bad_since_and_options(device):  # noqa: F811
    dev = device
    for bad in ("6 hours", "-1h", "0", "h"):
        r = dev.cli.run(dev.name, "metrics", "--since", bad)
        assert r.rc == 2, r
        assert "--since: expected a duration like 30m, 6h or 1d, not '%s'" % bad in r.err, r
        assert r.out == "", r
    r = dev.cli.run(dev.name, "metrics", "--since", "1h", "--follow")
    assert r.rc == 2 and "--since and --follow do not go together" in r.err, r
    r = dev.cli.run(dev.name, "metrics", "--since")
    assert r.rc == 2, r
    r = dev.cli.run("no-such-device", "metrics", "--since", "1h")
    assert r.rc != 0 and "no-such-device" in r.err, r
    status, _, body = dev.server.request("GET", "/v1/devices/%s/metrics?since=soon" % dev.name)
    assert status == 400, body
    assert b"since: expected a duration like 30m or 6h, not 'soon'" in body, body
    status, _, body = dev.server.request("GET", "/v1/devices/%s/metrics?until=1h" % dev.name)
    assert status == 400, body
    for bad in ("0", "1441", "x"):
        status, _, body = dev.server.request("GET", "/v1/devices/%s/metrics?limit=%s" % (
            dev.name, bad))
        assert status == 400, body
        assert ("limit: expected an integer from 1 to 1440, not '%s'" % bad).encode() in body
    # nothing stored yet: an empty list, and a note for people
    assert stored(dev, "24h") == []
    r = dev.cli.run(dev.name, "metrics", "--since", "24h")
    assert r.rc == 0 and r.out == "", r
    assert "no samples of '%s' in the last 24h" % dev.name in r.err, r


def test_sync_field_checked(device):  # noqa: F811
    """What the server takes in a sync's "metrics": an object that fits, or nothing of the sync
    is stored."""
    dev = device
    url = "/v1/agent/sync"
    for body, msg in (({"metrics": "high"}, b"metrics: expected an object or null"),
                      ({"metrics": {"cpu_percent": 1e30}}, b"metrics: a number is out of range"),
                      ({"metrics": {"x": "y" * 5000}}, b"exceeds the limit of 4096")):
        status, _, answer = dev.server.request("POST", url, token=dev.token,
                                               body=dict(body, wait=0))
        assert status in (400, 413), (status, answer)
        assert msg in answer, answer
    assert stored(dev, "24h") == []
    status, _, answer = dev.server.request("POST", url, token=dev.token,
                                           body={"wait": 0, "metrics": {"uptime_s": 5}})
    assert status == 200, answer
    assert [s["metrics"] for s in stored(dev, "24h")] == [{"uptime_s": 5}]


def test_interval_setting(device):  # noqa: F811
    dev = device
    dev.agent.config["metrics_interval"] = "10 minutes"
    dev.agent.start()
    assert dev.agent.proc.wait(timeout=30) == 2
    assert "metrics-interval: expected a duration from 1s to 24h such as 5m, or 0 for none, " \
        "not '10 minutes'" in dev.agent.log(), dev.agent.log()

    # 0: no samples, however many syncs
    dev.agent.config["metrics_interval"] = "0"
    dev.agent.start()
    seen = set()

    def syncs():
        seen.add((dev.agent.daemon_state() or {}).get("last_sync"))
        return len(seen - {None}) >= 4
    wait_for(syncs, 120, "four syncs\n" + dev.agent.log()[-3000:])
    assert stored(dev, "24h") == []


def test_dashboard_shows_the_newest_sample(device, browser):  # noqa: F811
    """The device page shows the newest stored sample, also once the device is offline."""
    dev, b = device, browser
    dev.agent.config["metrics_interval"] = INTERVAL
    dev.agent.start()
    wait_for(lambda: len(stored(dev)) >= 2, 120, "two samples stored\n" + dev.agent.log()[-3000:])
    assert dev.agent.stop() == 0
    newest = dev.server.api("GET", "/v1/devices/%s/metrics?limit=1" % dev.name)["samples"]
    assert len(newest) == 1 and newest[0] == stored(dev)[-1], newest
    m = newest[0]["metrics"]
    b.signin(dev.server.url, dev.server.token)
    b.get(dev.server.url + "/#/devices/" + dev.name)
    b.wait_text("#summary-body", "offline")
    running = "%d running of %d" % (m["containers"]["running"], m["containers"]["total"])
    b.wait_text("#metrics-body", running)
    text = b.find("#metrics-body").text
    assert "available of" in text and "free of" in text, text
    assert "%d %%" % m["cpu_percent"] in text, text
    b.shot("device-metrics")
