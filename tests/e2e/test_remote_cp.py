"""`m87 cp` end to end (docs/remote.md): files and trees to and from a device through the real
m87 CLI, m87-server and m87-agent daemon, as a tar over a remote channel. The "device" is the
agent on this machine, so its paths are directories of the test. Modes and links kept, a copy
into an existing directory or to a new name, a large file's checksum, the refusals (not allowed,
a directory without -r, unsafe entries, an offline device), an interrupted copy that leaves
nothing at the destination in either direction, and the audit trail."""

import contextlib
import hashlib
import io
import os
import re
import select
import signal
import stat
import subprocess
import tarfile
import time

import pytest

from agent_util import own_server, device, wait_for  # noqa: F401  (fixtures)
from cli_util import M87
from remote_util import audit_entries, connect, m87_on_a_terminal

END_MARK = b"\n\0m87 cp: the end of the copy, v1\0\n"  # tar-copy.h


@pytest.fixture
def allowed(device):  # noqa: F811
    return connect(device, "cp")


def make_tree(root):
    """A tree of files of several modes, an empty directory, a directory of its own mode and a
    symbolic link within the tree."""
    root.mkdir()
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(root / "run.sh", 0o755)
    (root / "secret").write_text("s3cret\n")
    os.chmod(root / "secret", 0o600)
    (root / "sub").mkdir()
    (root / "sub" / "data.bin").write_bytes(os.urandom(100000))
    os.chmod(root / "sub" / "data.bin", 0o640)
    os.chmod(root / "sub", 0o750)
    (root / "empty").mkdir()
    os.symlink("sub/data.bin", root / "link")
    os.symlink("../run.sh", root / "sub" / "up")
    return root


def snapshot(root):
    """{relative path: (kind, mode, content or link target)} of a tree, links not followed."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", None, os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), None)
            else:
                with open(p, "rb") as f:
                    out[rel] = ("file", stat.S_IMODE(st.st_mode), f.read())
    return out


def leftovers(directory):
    return [n for n in os.listdir(directory) if n.startswith(".m87-cp-")]


def test_tree_both_ways(allowed, tmp_path):
    dev = allowed
    tree = make_tree(tmp_path / "tree")
    want = snapshot(tree)
    on_device = tmp_path / "device"
    on_device.mkdir()
    # an existing directory as DST: the tree goes inside it, under its own name
    r = dev.cli.run("cp", "-r", tree, "%s:%s" % (dev.name, on_device))
    assert r.rc == 0, r
    assert r.err == "", r  # no progress line when stderr is not a terminal
    assert snapshot(on_device / "tree") == want
    assert stat.S_IMODE(os.stat(on_device / "tree").st_mode) == stat.S_IMODE(
        os.stat(tree).st_mode)
    assert leftovers(on_device) == []
    # and back, to a new name
    back = tmp_path / "back"
    r = dev.cli.run("cp", "-r", "%s:%s" % (dev.name, on_device / "tree"), back)
    assert r.rc == 0, r
    assert snapshot(back) == want
    assert leftovers(tmp_path) == []
    # the tree is there already: not replaced, not merged
    r = dev.cli.run("cp", "-r", tree, "%s:%s" % (dev.name, on_device))
    assert r.rc == 1, r
    assert "exists and is a directory: not replaced" in r.err, r
    assert leftovers(on_device) == []


def test_single_file_into_directory_and_new_name(allowed, tmp_path):
    dev = allowed
    src = tmp_path / "notes.txt"
    src.write_text("hello device\n")
    os.chmod(src, 0o604)
    dst = tmp_path / "device"
    dst.mkdir()
    r = dev.cli.run("cp", src, "%s:%s" % (dev.name, dst))
    assert r.rc == 0, r
    assert (dst / "notes.txt").read_text() == "hello device\n"
    assert stat.S_IMODE(os.stat(dst / "notes.txt").st_mode) == 0o604
    r = dev.cli.run("cp", src, "%s:%s" % (dev.name, dst / "renamed.txt"))
    assert r.rc == 0, r
    assert (dst / "renamed.txt").read_text() == "hello device\n"
    # an existing file is replaced
    src.write_text("second\n")
    r = dev.cli.run("cp", src, "%s:%s" % (dev.name, dst / "renamed.txt"))
    assert r.rc == 0 and (dst / "renamed.txt").read_text() == "second\n", r
    # down: into a directory, and to a new name
    here = tmp_path / "here"
    here.mkdir()
    r = dev.cli.run("cp", "%s:%s" % (dev.name, dst / "notes.txt"), here)
    assert r.rc == 0 and (here / "notes.txt").read_text() == "hello device\n", r
    r = dev.cli.run("cp", "%s:%s" % (dev.name, dst / "notes.txt"), here / "other")
    assert r.rc == 0 and (here / "other").read_text() == "hello device\n", r
    # a destination in a directory that does not exist: said, nothing sent
    r = dev.cli.run("cp", src, "%s:%s" % (dev.name, tmp_path / "nope" / "x"))
    assert r.rc == 1 and "no such directory '%s'" % (tmp_path / "nope") in r.err, r
    r = dev.cli.run("cp", "%s:%s" % (dev.name, dst / "notes.txt"), tmp_path / "nope" / "x")
    assert r.rc == 1 and "no such directory '%s'" % (tmp_path / "nope") in r.err, r
    # a source that does not exist, here and there
    r = dev.cli.run("cp", tmp_path / "missing", "%s:%s" % (dev.name, dst))
    assert r.rc == 1 and "missing': No such file or directory" in r.err, r
    r = dev.cli.run("cp", "%s:%s" % (dev.name, tmp_path / "missing"), here)
    assert r.rc == 1, r
    assert "m87: cp on the device: '%s': No such file or directory" % (
        tmp_path / "missing") in r.err, r
    assert sorted(os.listdir(here)) == ["notes.txt", "other"]


def test_large_file_checksum_and_audit(allowed, tmp_path):
    dev = allowed
    big = tmp_path / "big.bin"
    data = os.urandom(6 * 1024 * 1024 + 123)
    big.write_bytes(data)
    want = hashlib.sha256(data).hexdigest()
    dst = tmp_path / "device"
    dst.mkdir()
    r = dev.cli.run("cp", big, "%s:%s" % (dev.name, dst / "copy.bin"))
    assert r.rc == 0, r
    assert hashlib.sha256((dst / "copy.bin").read_bytes()).hexdigest() == want
    r = dev.cli.run("cp", "%s:%s" % (dev.name, dst / "copy.bin"), tmp_path / "again.bin")
    assert r.rc == 0, r
    assert hashlib.sha256((tmp_path / "again.bin").read_bytes()).hexdigest() == want

    up, down = audit_entries(dev)[-2:]
    assert up["what"] == "cp" and up["command"] == ["upload", str(dst / "copy.bin")], up
    assert up["exit_code"] == 0 and up["bytes"]["stdin"] > len(data), up
    assert down["what"] == "cp" and down["command"] == ["download", str(dst / "copy.bin")]
    assert down["exit_code"] == 0 and down["bytes"]["stdout"] > len(data), down
    # the agent's own records name the same paths and directions
    wait_for(lambda: len(dev.reports(kind="audit")) >= 2, 60, "the agent's audit records")
    recs = {rep["remote"]["id"]: rep for rep in dev.reports(kind="audit")}
    assert recs[up["channel"]]["remote"]["command"] == up["command"]
    assert recs[up["channel"]]["state"] == "exited" and recs[up["channel"]]["exit_code"] == 0
    assert recs[down["channel"]]["remote"]["command"] == down["command"]
    # with the bytes of each stream, as the server counted them
    assert recs[up["channel"]]["bytes"] == up["bytes"], (recs[up["channel"]], up)
    assert recs[down["channel"]]["bytes"] == down["bytes"], (recs[down["channel"]], down)


def test_refused_when_not_allowed(device, tmp_path):  # noqa: F811
    dev = device
    dev.agent.config["remote"] = "exec"
    connect(dev)
    src = tmp_path / "f"
    src.write_bytes(os.urandom(4 * 1024 * 1024))  # more than the channel buffers: cut short
    r = dev.cli.run("cp", src, "%s:%s" % (dev.name, tmp_path / "g"))
    assert r.rc == 2, r
    assert "cp is not allowed on this device (it allows: exec" in r.err, r
    assert "`remote = cp`" in r.err, r
    assert r.err.count("\n") == 1, r  # the refusal alone: our side's cut stream is no news
    assert not (tmp_path / "g").exists()


def test_directory_needs_r(allowed, tmp_path):
    dev = allowed
    tree = make_tree(tmp_path / "tree")
    dst = tmp_path / "device"
    dst.mkdir()
    r = dev.cli.run("cp", tree, "%s:%s" % (dev.name, dst))
    assert r.rc == 1 and "'%s' is a directory (use -r)" % tree in r.err, r
    r = dev.cli.run("cp", "%s:%s" % (dev.name, tree), dst)
    assert r.rc == 1 and "'%s' is a directory (use -r)" % tree in r.err, r
    assert os.listdir(dst) == []


def test_usage_and_help(device):  # noqa: F811
    cli = device.cli
    r = cli.run("cp", "--help")
    assert r.rc == 0 and r.out.startswith("usage: m87 cp [-r] SRC DEVICE:DST"), r
    r = cli.run("--help")
    assert "  cp [-r] SRC DEVICE:DST" in r.out, r
    for args, msg in [(["a", "b"], "one of SRC and DST must be DEVICE:PATH"),
                      (["d:a", "e:b"], "from a device to a device"),
                      (["a"], "expected SRC and DST"),
                      (["-x", "a", "d:b"], "-x")]:
        r = cli.run("cp", *args)
        assert r.rc == 2 and msg in r.err, (args, r)


def test_unsafe_symlink_refused_both_ways(allowed, tmp_path):
    dev = allowed
    tree = make_tree(tmp_path / "tree")
    os.symlink("../../etc/passwd", tree / "sub" / "escape")
    dst = tmp_path / "device"
    dst.mkdir()
    r = dev.cli.run("cp", "-r", tree, "%s:%s" % (dev.name, dst))
    assert r.rc == 1, r
    assert ("unsafe symbolic link 'tree/sub/escape' -> '../../etc/passwd': it points out of "
            "the copy") in r.err, r
    assert os.listdir(dst) == []  # nothing, not even the temporary directory
    here = tmp_path / "here"
    here.mkdir()
    r = dev.cli.run("cp", "-r", "%s:%s" % (dev.name, tree), here)
    assert r.rc == 1 and "unsafe symbolic link 'tree/sub/escape'" in r.err, r
    assert os.listdir(here) == []


def raw_upload(dev, dst, payload):
    """A channel opened through the API whose stdin is payload: (exit code, device's stderr)."""
    cid = dev.server.api("POST", "/v1/devices/%s/remote" % dev.name,
                         {"what": "cp", "command": ["upload", str(dst)], "stdin": True})["id"]
    base = "/v1/devices/%s/remote/%s" % (dev.name, cid)
    status, _, _ = dev.server.request("PUT", base + "/stdin", raw=payload,
                                      headers={"Content-Type": "application/octet-stream"})
    assert status in (200, 204), status
    status, _, err = dev.server.request("GET", base + "/stderr")
    assert status == 200, status

    def ended():
        st = dev.server.api("GET", base)
        return st if st["state"] in ("ended", "broken") else None
    st = wait_for(ended, 60, "the end of the channel")
    return st.get("exit_code"), err.decode()


def evil_tar(names):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, link in names:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = link
                t.addfile(info)
            else:
                info.size = 3
                t.addfile(info, io.BytesIO(b"bad"))
    return buf.getvalue() + END_MARK


def test_unsafe_entries_refused(allowed, tmp_path):
    """Tars the CLI would never write, sent through the API: absolute names, '..', entries out
    of the first's top, a link out of the tree, and a stream without its end mark."""
    dev = allowed
    dst = tmp_path / "device"
    dst.mkdir()
    cases = [
        ([("top/ok", None), ("top/../../escaped", None)], "a '..' part"),
        ([("top/ok", None), ("/tmp/abs-m87", None)], "an absolute path"),
        ([("top/ok", None), ("other/x", None)], "not under 'top'"),
        ([("top/ok", None), ("top/l", "/etc"), ("top/l/x", None)], "points out of the copy"),
        ([("top", "../x")], "points out of the copy"),
    ]
    for entries, why in cases:
        code, err = raw_upload(dev, dst, evil_tar(entries))
        assert code == 1 and "unsafe" in err and why in err, (entries, code, err)
        assert os.listdir(dst) == [], entries
        assert not (tmp_path / "escaped").exists()
    good = evil_tar([("top/ok", None)])
    code, err = raw_upload(dev, dst, good[:-len(END_MARK)])  # cut between entries
    assert code == 1 and "the stream was cut short" in err, err
    assert os.listdir(dst) == []
    code, err = raw_upload(dev, dst, good)
    assert code == 0, err
    assert (dst / "top" / "ok").read_bytes() == b"bad"


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(x) for x in f.read().split()]


def partial(directory):
    """Whether a temporary directory of a copy holds some bytes already."""
    for tmp in leftovers(directory):
        for dirpath, _, files in os.walk(os.path.join(directory, tmp)):
            for f in files:
                if os.path.getsize(os.path.join(dirpath, f)) > 0:
                    return True
    return False


@contextlib.contextmanager
def copy_under_way(dev, watch, *args):
    """`m87 cp args` by dev's CLI, once a temporary directory of the copy in watch holds some
    bytes: yields (the CLI's process, its child, the copy's local end); kills the CLI at the end
    should it still run."""
    proc = subprocess.Popen([str(M87), "cp", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dev.cli.env())
    try:
        wait_for(lambda: partial(watch) or proc.poll() is not None, 60, "the copy to start")
        assert proc.poll() is None, proc.communicate()
        (child,) = children(proc.pid)
        yield proc, child
    finally:
        if proc.poll() is None:
            proc.kill()


def big_download(tmp_path):
    """A 48 MiB file on the device's side and an empty directory here: (the file, here)."""
    src = tmp_path / "device" / "big.bin"
    src.parent.mkdir()
    src.write_bytes(os.urandom(48 * 1024 * 1024))
    here = tmp_path / "here"
    here.mkdir()
    return src, here


def test_interrupted_download_leaves_nothing(allowed, tmp_path):
    dev = allowed
    src, here = big_download(tmp_path)
    with copy_under_way(dev, here, "%s:%s" % (dev.name, src), here / "big.bin") as (proc, child):
        os.kill(child, signal.SIGSTOP)  # a reader that stopped reading, mid-copy
        os.kill(proc.pid, signal.SIGINT)  # Ctrl-C
        os.kill(child, signal.SIGINT)  # as the terminal sends it to the whole group
        os.kill(child, signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"interrupted" in err, err
    assert os.listdir(here) == []  # no big.bin, no temporary directory


def test_interrupted_upload_leaves_nothing(allowed, tmp_path):
    dev = allowed
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(48 * 1024 * 1024))
    dst = tmp_path / "device"
    dst.mkdir()
    with copy_under_way(dev, dst, big, "%s:%s" % (dev.name, dst)) as (proc, child):
        os.kill(child, signal.SIGSTOP)  # the sender stalls mid-copy
        os.kill(proc.pid, signal.SIGKILL)  # the CLI vanishes without a word
        os.kill(child, signal.SIGKILL)
        proc.communicate(timeout=60)
    # the server sees the upload's connection close and breaks the channel; the agent stops
    # the copy, which removes its temporary directory
    wait_for(lambda: os.listdir(dst) == [], 60, "the device's side to clean up")
    wait_for(lambda: audit_entries(dev)[-1]["ended"] is not None, 60, "the end in the audit")
    last = audit_entries(dev)[-1]
    assert last["what"] == "cp" and last["exit_code"] is None and last["message"], last


def test_offline_device(device, tmp_path):  # noqa: F811
    dev = device  # its agent never started
    src = tmp_path / "f"
    src.write_text("x")
    r = dev.cli.run("cp", src, "%s:/tmp" % dev.name)
    assert r.rc == 2 and "offline" in r.err, r
    r = dev.cli.run("cp", "%s:/etc/hostname" % dev.name, tmp_path)
    assert r.rc == 2 and "offline" in r.err, r


def test_trusted_keys_need_a_grant(device, tmp_path):  # noqa: F811
    """Under --trust a copy runs only with a grant of a trusted key (as exec): without
    signing.key it is refused and nothing is written; with it, it runs."""
    dev = device
    dev.agent.config["remote"] = "cp"
    dev.agent.config["trust"] = str(dev.cli.xdg / "m87" / "signing.pub")
    src = tmp_path / "f"
    src.write_text("signed\n")
    dst = tmp_path / "device"
    dst.mkdir()
    r = dev.cli.ok("keys", "generate")
    key_id = r.out.split()[3]
    pub = (dev.cli.xdg / "m87" / "signing.pub").read_bytes()
    (dev.cli.xdg / "m87" / "signing.key").rename(tmp_path / "key.away")
    connect(dev)
    r = dev.cli.run("cp", src, "%s:%s" % (dev.name, dst))
    assert r.rc == 2, r
    assert "unsigned: this device runs only remote requests a trusted key signed" in r.err, r
    assert os.listdir(dst) == []
    (tmp_path / "key.away").rename(dev.cli.xdg / "m87" / "signing.key")
    assert (dev.cli.xdg / "m87" / "signing.pub").read_bytes() == pub
    r = dev.cli.run("cp", src, "%s:%s" % (dev.name, dst))
    assert r.rc == 0, r
    assert "signing the remote request with key %s" % key_id in r.err, r
    assert (dst / "f").read_text() == "signed\n"


def test_progress_on_a_terminal(allowed, tmp_path):
    """On a terminal the CLI draws the bytes and the rate; the last line is the whole copy."""
    dev = allowed
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * 1024 * 1024))
    dst = tmp_path / "device"
    dst.mkdir()
    got = b""
    with m87_on_a_terminal(dev.cli.env(), "cp", big, "%s:%s" % (dev.name, dst)) as (pid, fd):
        while True:
            ready, _, _ = select.select([fd], [], [], 60)
            assert ready, got
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the terminal's last user closed it
                break
            if not chunk:
                break
            got += chunk
        _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, got)
    last = got.decode().replace("\r\n", "\n").split("\r")[-1]
    assert re.search(r"big\.bin  3\.0 MiB  [0-9.]+ [KMG]?i?B/s\n", last), got
    assert (dst / "big.bin").read_bytes() == big.read_bytes()


def agent_helpers(dev):
    """The processes forked by the device's agent daemon (its channels' and their copies'): the
    same command line as the daemon, another pid."""
    with open("/proc/%d/cmdline" % dev.agent.proc.pid, "rb") as f:
        cmdline = f.read()
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == dev.agent.proc.pid:
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if f.read() == cmdline:
                    out.append(int(pid))
        except OSError:
            pass
    return out


def test_killed_device_side_leaves_nothing(allowed, tmp_path):
    """The device's side of a download killed outright mid-copy: the channel breaks, the CLI
    says so and exits 1, and its copy is removed."""
    dev = allowed
    src, here = big_download(tmp_path)
    with copy_under_way(dev, here, "%s:%s" % (dev.name, src), here) as (proc, child):
        os.kill(child, signal.SIGSTOP)  # hold the copy mid-way
        helpers = agent_helpers(dev)
        assert helpers, "no process of the channel on the device's side"
        for pid in helpers:
            os.kill(pid, signal.SIGKILL)
        os.kill(child, signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert b"m87: cp: " in err, err
    assert os.listdir(here) == []
