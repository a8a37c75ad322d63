"""Remote access end to end (docs/remote.md): `m87 DEVICE exec` and `m87 DEVICE shell` through
the real m87 CLI, m87-server and m87-agent daemon: stdin forwarded, stdout and stderr apart, the
remote exit status as the CLI's, a pseudo-terminal driven through python's pty module (prompt,
typing, resize, Ctrl-C), and the refusals (not allowed by the device, trusted keys without a
grant, an offline device)."""

import os
import re
import select
import signal
import subprocess
import time

import pytest

from agent_util import own_server, device, wait_for  # noqa: F401  (fixtures)
from cli_util import M87
from remote_util import audit_entries, connect, m87_on_a_terminal, set_size
from runner_util import pid_gone


@pytest.fixture
def allowed(device):  # noqa: F811
    return connect(device, "exec, shell")


def test_exec_stdout_stderr_exit(allowed):
    dev = allowed
    r = dev.cli.run(dev.name, "exec", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert r.rc == 7, r
    assert r.out == "out\n", r
    assert r.err == "err\n", r


def test_exec_stdin_env_workdir(allowed, tmp_path):
    dev = allowed
    data = "".join("line %d\n" % i for i in range(20000))  # more than the server's buffer
    # the agent's PATH in the tests is a directory of its own: the command's comes with -e
    r = dev.cli.run(dev.name, "exec", "-i", "-e", "PATH=/usr/bin:/bin", "--", "sh", "-c",
                    "wc -l; cat >/dev/null", input=data)
    assert r.rc == 0, r
    assert r.out.strip() == "20000", r
    r = dev.cli.run(dev.name, "exec", "-i", "cat", input=data)
    assert r.rc == 0 and r.out == data, r.err
    r = dev.cli.run(dev.name, "exec", "-e", "GREETING=hello there", "-w", str(tmp_path), "--",
                    "sh", "-c", 'echo "$GREETING"; pwd')
    assert r.rc == 0, r
    assert r.out == "hello there\n%s\n" % tmp_path, r


def test_exec_input_with_more_output(allowed):
    """A command that writes far more than it reads (sed making each line long): its stdout pipe
    is full most of the time, so when the agent has the last of stdin, its pipe to the command is
    full too. The agent must write that rest as the pipe takes it while still reading the output:
    written blocking, the agent and sed waited on each other's pipe for ever."""
    dev = allowed
    data = "".join("line %d\n" % i for i in range(30000))  # 339 KB: more than the pipes hold
    tail = "x" * 200
    r = dev.cli.run(dev.name, "exec", "-i", "-e", "PATH=/usr/bin:/bin", "--", "sed",
                    "s/$/%s/" % tail, input=data, timeout=120)
    assert r.rc == 0, r.err
    want = "".join("line %d%s\n" % (i, tail) for i in range(30000))
    assert r.out == want, "%d bytes back, %d expected" % (len(r.out), len(want))


def test_exec_missing_command_and_bad_input(allowed):
    dev = allowed
    r = dev.cli.run(dev.name, "exec", "--", "no-such-command-m87")
    assert r.rc == 127, r
    assert "no-such-command-m87" in r.err, r
    r = dev.cli.run(dev.name, "exec")
    assert r.rc == 2 and "missing command" in r.err, r
    r = dev.cli.run(dev.name, "exec", "-e", "NOEQUALS", "true")
    assert r.rc == 2 and "KEY=VALUE" in r.err, r
    r = dev.cli.run(dev.name, "exec", "-w", "relative", "true")
    assert r.rc == 2 and "absolute" in r.err, r
    r = dev.cli.run(dev.name, "exec", "--help")
    assert r.rc == 0 and "usage: m87 DEVICE exec" in r.out, r
    r = dev.cli.run(dev.name, "exec", "--", "echo", "-h", "--help")  # the command's, after --
    assert r.rc == 0 and r.out == "-h --help\n", r


def test_refused_when_not_allowed(device):  # noqa: F811
    dev = connect(device)  # no `remote =`: nothing is allowed
    r = dev.cli.run(dev.name, "exec", "--", "true")
    assert r.rc == 2, r
    assert "exec is not allowed on this device (it allows: none" in r.err, r
    dev.agent.wait_log("refused")


def test_refused_under_trust_without_grant(device, tmp_path):  # noqa: F811
    dev = device
    keys = tmp_path / "keys"
    keys.mkdir()
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(keys / "k.pem")],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(keys / "k.pem"), "-pubout", "-out",
                    str(keys / "k.pub")], check=True, capture_output=True)
    dev.agent.config["remote"] = "exec"
    dev.agent.config["trust"] = str(keys / "k.pub")
    connect(dev)
    r = dev.cli.run(dev.name, "exec", "--", "true")
    assert r.rc == 2, r
    assert "unsigned: this device runs only remote requests a trusted key signed" in r.err, r
    assert audit_entries(dev)[-1]["message"].startswith("refused by the device: unsigned")


def test_signed_grant_under_trust(device):  # noqa: F811
    """With trusted keys, the grant the CLI signs with `m87 keys generate`'s key lets exec run;
    a grant of a key the device does not trust, or one that does not cover the request, does
    not."""
    dev = device
    r = dev.cli.ok("keys", "generate")
    key_id = r.out.split()[3]
    dev.agent.config["remote"] = "exec"
    dev.agent.config["trust"] = str(dev.cli.xdg / "m87" / "signing.pub")
    connect(dev)
    r = dev.cli.run(dev.name, "exec", "--", "sh", "-c", "echo granted; exit 4")
    assert r.rc == 4 and r.out == "granted\n", r
    assert "signing the remote request with key %s" % key_id in r.err, r

    def refused_by_api(signature):
        body = {"what": "exec", "command": ["true"], "signature": signature}
        cid = dev.server.api("POST", "/v1/devices/%s/remote" % dev.name, body)["id"]
        path = "/v1/devices/%s/remote/%s" % (dev.name, cid)
        wait_for(lambda: dev.server.api("GET", path)["state"] in ("ended", "broken"), 60,
                 "the channel's end")
        return dev.server.api("GET", path)
    sig = {"key": "0" * 16, "sig": "A" * 86 + "==", "nonce": "1" * 32,
           "expires": int(time.time()) + 200}
    st = refused_by_api(sig)
    assert st["exit_code"] is None and "refused by the device" in st["message"], st
    assert "unknown" in st["message"] or "not signed" in st["message"], st


def test_offline_device(device):  # noqa: F811
    dev = device  # its agent never started
    r = dev.cli.run(dev.name, "exec", "--", "true")
    assert r.rc == 2, r
    assert "offline" in r.err, r


def read_for(fd, pattern, timeout=30):
    """Bytes from fd until pattern is among them."""
    got = b""
    deadline = time.monotonic() + timeout
    while pattern not in got:
        left = deadline - time.monotonic()
        assert left > 0, "no %r in %r" % (pattern, got)
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            assert chunk, "the terminal closed before %r came: %r" % (pattern, got)
            got += chunk
    return got


def test_exec_tty_prompt_type_resize_ctrl_c(allowed):
    dev = allowed
    with m87_on_a_terminal(dev.cli.env(), dev.name, "exec", "-it", "-e", "PS1=m87-prompt$ ",
                           "-e", "PATH=/usr/bin:/bin", "--", "sh", "-i",
                           size=(33, 101)) as (pid, fd):
        read_for(fd, b"m87-prompt$ ")
        os.write(fd, b"stty size\r")
        assert b"33 101" in read_for(fd, b"33 101")
        # a resize of our terminal reaches the device's
        set_size(fd, 40, 120)
        os.kill(pid, signal.SIGWINCH)
        time.sleep(0.5)  # the resize travels on its own stream; ask until it has arrived
        got = b""
        for _ in range(20):
            os.write(fd, b"stty size\r")
            got = read_for(fd, b"m87-prompt$ ")
            if b"40 120" in got:
                break
        assert b"40 120" in got, got
        # Ctrl-C interrupts the command on the device, not us
        os.write(fd, b"sleep 100\r")
        time.sleep(0.5)
        os.write(fd, b"\x03")
        read_for(fd, b"m87-prompt$ ")
        os.write(fd, b"echo alive-$((40+2))\r")
        read_for(fd, b"alive-42")
        os.write(fd, b"exit 5\r")
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 5, status


def test_shell_is_a_login_shell_behind_a_terminal(allowed):
    dev = allowed
    with m87_on_a_terminal(dev.cli.env(), dev.name, "shell") as (pid, fd):
        os.write(fd, b"echo shell-$((40+2)) $0; tty\r")
        got = read_for(fd, b"shell-42")
        if b"/dev/pts/" not in got:  # the two lines may come in one read or in two
            got += read_for(fd, b"/dev/pts/")
        assert b"shell-42 -" in got, got  # $0 of a login shell starts with '-'
        os.write(fd, b"exit 3\r")
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3, status


def test_audit_trail(device):  # noqa: F811
    dev = device
    dev.agent.config["remote"] = "exec"
    connect(dev)
    r = dev.cli.run(dev.name, "exec", "-i", "--", "sh", "-c", "cat; echo err >&2; exit 7",
                    input="hello\n")
    assert r.rc == 7 and r.out == "hello\n", r
    r = dev.cli.run(dev.name, "shell")  # not allowed: refused, and recorded
    assert r.rc == 2 and "shell is not allowed" in r.err, r

    entries = audit_entries(dev)
    assert len(entries) == 2, entries
    ex, sh = entries
    assert ex["what"] == "exec" and ex["command"] == ["sh", "-c", "cat; echo err >&2; exit 7"]
    assert ex["exit_code"] == 7 and ex["message"] is None, ex
    assert ex["bytes"] == {"stdin": 6, "stdout": 6, "stderr": 4}, ex
    assert ex["duration_ms"] >= 0 and ex["ended"] is not None, ex
    assert re.fullmatch(r"[0-9a-f]{12}", ex["token"]), ex
    assert sh["what"] == "shell" and sh["exit_code"] is None, sh
    assert "refused by the device: shell is not allowed" in sh["message"], sh
    assert sh["token"] == ex["token"]  # the same admin token asked both

    r = dev.cli.run(dev.name, "audit")
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0].split()[:4] == ["TIME", "KIND", "WHO", "WHAT"], r
    assert "exit 7" in lines[1] and "sh -c" in lines[1] and "6/6/4" in lines[1], r
    assert "refused by the device" in lines[2], r
    # nothing newer than a second ago: --since limits what is shown
    time.sleep(2.1)  # times are whole seconds
    assert audit_entries(dev, "--since", "1s") == []
    r = dev.cli.run(dev.name, "audit", "--since", "yesterday")
    assert r.rc == 2 and "--since" in r.err, r

    # the agent's own records of both, in its journal, reach the server as reports
    def agent_records():
        return dev.reports(kind="audit")
    wait_for(lambda: len(agent_records()) == 2, 60, "the agent's audit records")
    recs = agent_records()
    by_id = {rep["remote"]["id"]: rep for rep in recs}
    assert set(by_id) == {ex["channel"], sh["channel"]}, recs
    assert by_id[ex["channel"]]["state"] == "exited" and by_id[ex["channel"]]["exit_code"] == 7
    assert by_id[ex["channel"]]["remote"]["command"] == ex["command"]
    assert by_id[sh["channel"]]["state"] == "refused", recs


def long_exec(dev, tmp_path):
    """`m87 DEVICE exec` of a command that runs for long, once it runs: (the CLI's process, the
    command's pid on the device)."""
    pidfile = tmp_path / "pid"
    proc = subprocess.Popen([str(M87), dev.name, "exec", "--", "sh", "-c",
                             "echo $$ > %s; echo started; exec sleep 1000" % pidfile],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dev.cli.env())
    assert proc.stdout.readline() == b"started\n"
    return proc, int(pidfile.read_text())


def test_vanished_cli_stops_the_command(allowed, tmp_path):
    """A CLI killed mid-command: the server notices its connection close, the channel breaks,
    the agent hangs the command up; the audit trail says the channel broke."""
    dev = allowed
    proc, pid = long_exec(dev, tmp_path)
    os.kill(pid, 0)  # it runs
    proc.kill()
    proc.wait()

    wait_for(lambda: pid_gone(pid), 60, "the command to stop after its CLI vanished")
    wait_for(lambda: audit_entries(dev)[-1]["ended"] is not None, 60, "the end in the audit")
    last = audit_entries(dev)[-1]
    assert last["exit_code"] is None and last["message"], last


def test_server_stop_ends_channels(allowed, tmp_path):
    """A server stopping with a channel open breaks it: the server stops, the CLI ends with an
    error, the command on the device is hung up."""
    dev = allowed
    proc, pid = long_exec(dev, tmp_path)
    dev.server.stop()  # fails when the server does not stop on SIGTERM
    out, err = proc.communicate(timeout=60)
    assert proc.returncode in (1, 2), (proc.returncode, err)

    wait_for(lambda: pid_gone(pid), 60, "the command to stop after the server stopped")
