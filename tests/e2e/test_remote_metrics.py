"""`m87 DEVICE metrics` end to end (docs/remote.md): the real m87 CLI, m87-server, m87-agent
daemon and the harness's dockerd. The device is this machine: the figures are checked against
what this process reads of /proc and dockerd."""

import json
import os
import signal
import subprocess

import pytest

from agent_util import own_server, device  # noqa: F401  (fixtures)
from cli_util import M87, read_until
from remote_util import connect


def test_metrics_json_and_table(device, env):  # noqa: F811
    dev = connect(device, "metrics")
    r = dev.cli.run(dev.name, "metrics", "--json")
    assert r.rc == 0, r
    m = json.loads(r.out)
    assert 0 <= m["cpu_percent"] <= 100, m
    assert len(m["load_x100"]) == 3 and all(v >= 0 for v in m["load_x100"]), m
    with open("/proc/meminfo") as f:
        total_kb = int(f.readline().split()[1])
    assert m["memory"]["total"] == total_kb * 1024, m
    assert 0 < m["memory"]["available"] <= m["memory"]["total"], m
    st = os.statvfs("/")
    assert m["disk_root"]["path"] == "/" and m["disk_root"]["total"] == st.f_blocks * st.f_frsize
    assert m["disk_docker"] is not None and m["disk_docker"]["total"] > 0, m  # dockerd's root
    assert m["network"]["rx_bytes"] >= 0 and m["network"]["tx_bytes"] >= 0, m
    assert m["uptime_s"] > 0, m
    assert m["containers"]["running"] <= m["containers"]["total"], m
    assert "temperature_mc" in m  # null where the board exposes no thermal zone

    r = dev.cli.run(dev.name, "metrics")
    assert r.rc == 0, r
    rows = dict(line.split(None, 1) for line in r.out.splitlines()[1:]
                if not line.startswith("disk"))
    assert rows["cpu"].strip().endswith("%"), r.out
    assert "available of" in rows["memory"], r.out
    assert "free of" in r.out and "(/)" in r.out, r.out
    audit = dev.server.api("GET", "/v1/devices/%s/audit" % dev.name)["audit"]
    assert [a["what"] for a in audit] == ["metrics", "metrics"], audit
    assert audit[0]["exit_code"] == 0, audit


def test_metrics_follow_until_ctrl_c(device):  # noqa: F811
    dev = connect(device, "metrics")
    p = subprocess.Popen([str(M87), dev.name, "metrics", "--follow", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dev.cli.env())
    read_until(p, r"cpu_percent")
    read_until(p, r"cpu_percent")  # a second sample came
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=60)
    assert p.returncode == 0


def test_metrics_not_allowed_and_bad_options(device):  # noqa: F811
    dev = connect(device, "exec")
    r = dev.cli.run(dev.name, "metrics")
    assert r.rc == 2, r
    assert "metrics is not allowed on this device (it allows: exec" in r.err, r
    r = dev.cli.run(dev.name, "metrics", "--bogus")
    assert r.rc == 2, r
    r = dev.cli.run(dev.name, "metrics", "extra")
    assert r.rc == 2 and "unexpected argument" in r.err, r
