"""Remote access across replicas (docs/remote.md, "Channels across replicas"; issue 18).

Real parts: the harness's PostgreSQL 15 and two `m87-server serve --db URL` replicas on it
(replica_util.Cluster), a real `m87-agent run` daemon talking to replica A only and the real
`m87` CLI talking to replica B only. A channel opened on B reaches the agent's sync held on A
through the database; the agent's streams, which reach A, are relayed to B, which holds the
channel."""

import http.client
import os
import re
import signal
import subprocess

import pytest

from agent_util import Device, wait_for
from cli_util import read_until
from remote_util import echo_forward, talk
from replica_util import Via, cluster_of
from server_util import SERVER_BIN


def url_of(replica):
    return "http://127.0.0.1:%d" % replica.port


@pytest.fixture
def pair(tmp_path):
    yield from cluster_of(tmp_path, 2)


@pytest.fixture
def dev(env, pair, tmp_path):
    """A device whose agent talks to A only, its CLI to B only; exec, forward and cp allowed."""
    a, b = pair.replicas
    d = Device(env, Via(url_of(b), pair.admin), tmp_path, server_url=url_of(a))
    d.agent.config["remote"] = "exec, shell, forward, cp"
    d.agent.start()
    wait_for(lambda: (d.agent.daemon_state() or {}).get("connected"), 60,
             lambda: "the agent to connect to A\n" + d.agent.log()[-2000:])
    yield d
    d.agent.stop()


def test_channel_opened_on_b_reaches_the_sync_held_on_a(dev, pair):
    a, b = pair.replicas
    # the agent's sync is held on A when the channel opens on B
    wait_for(lambda: any(" /v1/agent/sync" in ln for ln in a.read_log().splitlines()), 30,
             "the agent's sync on A")
    ch = dev.server.api("POST", "/v1/devices/%s/remote" % dev.name,
                        {"what": "exec", "command": ["true"]})
    assert re.fullmatch(r"r-[0-9a-f]{16}", ch["id"]), ch
    dev.agent.wait_log("remote %s: exec" % ch["id"], 30)
    assert not any(" /v1/agent/sync" in ln for ln in b.read_log().splitlines()), b.log_path


def relayed(replica):
    """The replica's access log lines of the agent's remote streams (the ones it relays)."""
    return [ln for ln in replica.read_log().splitlines() if " /v1/agent/remote/" in ln]


def test_exec_stdout_exit_code_and_stdin(dev, pair):
    a, b = pair.replicas
    r = dev.cli.run(dev.name, "exec", "--", "sh", "-c", "echo hi; echo err >&2; exit 3")
    assert r.rc == 3, r
    assert r.out == "hi\n" and r.err == "err\n", r
    data = "".join("line %d\n" % i for i in range(40000))  # more than two 256 KiB buffers
    r = dev.cli.run(dev.name, "exec", "-i", "cat", input=data, timeout=120)
    assert r.rc == 0 and r.out == data, (r.rc, r.err, len(r.out))
    r = dev.cli.run(dev.name, "exec", "-i", "-e", "PATH=/usr/bin:/bin", "--", "wc", "-l",
                    input=data)
    assert r.rc == 0 and r.out.strip() == "40000", r
    # the agent's streams went to A, which relayed them to B; the agent synced with A only
    assert any("/stdin " in ln for ln in relayed(a)), a.log_path
    assert any("/stdin " in ln for ln in relayed(b)), b.log_path
    assert not any(" /v1/agent/sync" in ln for ln in b.read_log().splitlines()), b.log_path
    audit = dev.server.api("GET", "/v1/devices/%s/audit?kind=remote" % dev.name)["audit"]
    assert audit[-1]["exit_code"] == 0 and audit[-1]["bytes"]["stdin"] == len(data), audit[-1]


def test_forward_tcp_both_ways(dev, pair):
    with echo_forward(dev, dev.cli) as fw:
        assert talk(fw.local, b"hello") == b"HELLO"
        big = bytes(range(256)) * 4096  # 1 MiB each way
        assert talk(fw.local, big) == big.upper()
    assert fw.proc.returncode == 0, fw.err


def test_cp_a_file_both_ways(dev, tmp_path):
    src = tmp_path / "payload.bin"
    src.write_bytes(os.urandom(700000))
    dst = tmp_path / "on-device" / "payload.bin"
    dst.parent.mkdir()
    r = dev.cli.run("cp", src, "%s:%s" % (dev.name, dst), timeout=120)
    assert r.rc == 0, r
    assert dst.read_bytes() == src.read_bytes()
    back = tmp_path / "back.bin"
    r = dev.cli.run("cp", "%s:%s" % (dev.name, dst), back, timeout=120)
    assert r.rc == 0, r
    assert back.read_bytes() == src.read_bytes()


def test_owner_killed_mid_stream_ends_both_sides(dev, pair):
    a, b = pair.replicas
    marker = "sleep 86%d" % os.getpid()  # a command line of its own, to find on the device
    p = dev.cli.popen(dev.name, "exec", "--", "sh", "-c", "echo started; exec " + marker)
    try:
        read_until(p, "^started$", timeout=60)
        wait_for(lambda: pgrep(marker), 30, "the command to run")
        b.proc.send_signal(signal.SIGKILL)  # B holds the channel: the CLI's side
        b.proc.wait(timeout=30)
        b.proc = None
        out, err = p.communicate(timeout=60)  # an error, not a hang
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode != 0, (out, err)
    assert err.strip(), (out, err)
    # the agent's relayed streams through A broke too: its command is stopped
    wait_for(lambda: not pgrep(marker), 60,
             lambda: "the command to stop\n" + dev.agent.log()[-3000:])
    assert "remote" in a.read_log()


def pgrep(pattern):
    r = subprocess.run(["pgrep", "-f", "^" + pattern + "$"], capture_output=True, text=True)
    return r.stdout.split()


def test_cli_and_agent_through_a_round_robin_balancer(env, pair, tmp_path):
    """haproxy in front, round robin: each of the CLI's and the agent's requests may reach
    either replica, so both sides' streams are relayed in turn."""
    lb = pair.start_lb()
    d = Device(env, Via(lb.url, pair.admin), tmp_path, server_url=lb.url)
    d.agent.config["remote"] = "exec"
    d.agent.start()
    try:
        wait_for(lambda: (d.agent.daemon_state() or {}).get("connected"), 60,
                 lambda: "the agent to connect\n" + d.agent.log()[-2000:])
        data = "".join("row %d\n" % i for i in range(30000))
        for i in range(4):  # the POST and each stream land on one replica or the other
            r = d.cli.run(d.name, "exec", "-i", "--", "sh", "-c", "cat; exit %d" % (i + 1),
                          input=data, timeout=120)
            assert r.rc == i + 1 and r.out == data, (r.rc, r.err, len(r.out))
        a, b = pair.replicas
        assert relayed(a) and relayed(b), (a.log_path, b.log_path)
    finally:
        d.agent.stop()


def test_bad_advertise_address_is_refused(tmp_path):
    for bad in ["ftp://10.0.0.1:8443", "http://10.0.0.1", "http://10.0.0.1:8443/x", "10.0.0.1:1"]:
        r = subprocess.run([SERVER_BIN, "serve", "--data", str(tmp_path), "--listen",
                            "127.0.0.1:0", "--advertise", bad], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 2, (bad, r)
        assert "--advertise: expected http://HOST:PORT or https://HOST:PORT" in r.stderr, r
    r = subprocess.run([SERVER_BIN, "serve", "--help"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and "--advertise URL" in r.stdout, r


def test_owner_killed_under_a_relayed_download(dev, pair):
    """The admin's download relayed by A from B, which holds the channel: B dies, the download
    on A ends with an error (an unterminated chunked body), not a clean end and not a hang."""
    a, b = pair.replicas
    marker = "sleep 87%d" % os.getpid()
    ch = dev.server.api("POST", "/v1/devices/%s/remote" % dev.name,
                        {"what": "exec", "command": ["sh", "-c", "echo started; exec " + marker]})
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
    conn.request("GET", "/v1/devices/%s/remote/%s/stdout" % (dev.name, ch["id"]),
                 headers={"Authorization": "Bearer " + pair.admin})
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    got = b""
    while b"started\n" not in got:
        piece = resp.read1(4096)
        assert piece, got
        got += piece
    b.proc.send_signal(signal.SIGKILL)
    b.proc.wait(timeout=30)
    b.proc = None
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        while resp.read1(4096):
            pass
    conn.close()
    wait_for(lambda: not pgrep(marker), 60,
             lambda: "the command to stop\n" + dev.agent.log()[-3000:])
