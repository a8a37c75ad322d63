"""Bundles in `m87-agent apply`: a good bundle extracted into the workdir under `files`, kept in
the state dir; unsafe bundles (absolute names, '..', symlinks, hard links, devices, fifos), a
digest that does not match and a missing bundle refused with a clear error, no step run and
nothing written outside the workdir. Bundles are made here with Python's tarfile."""

import hashlib
import io
import tarfile

import pytest

from compose_util import AGENT
from runner_util import runner, shell_job, unique_id  # noqa: F401

pytestmark = pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built")


def _bundle(directory, entries):
    """Write a tar.gz of entries (TarInfo, bytes or None) into directory under its content
    name; return its digest "sha256:HEX"."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in entries:
            info.size = len(data) if data is not None else 0
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    digest = hashlib.sha256(raw).hexdigest()
    (directory / ("sha256-%s.tar.gz" % digest)).write_bytes(raw)
    return "sha256:" + digest


def _file(name, mode=0o644):
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info


def _special(name, kind, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o644
    return info


def test_good_bundle_under_files(runner, tmp_path):
    jid = unique_id()
    out = tmp_path / "out"
    blob = bytes(range(256)) * 4
    digest = _bundle(tmp_path, [
        (_special("data", tarfile.DIRTYPE), None),
        (_file("data/blob.bin"), blob),
        (_file("run.sh", 0o755), b"#!/bin/sh\necho from the bundle\n"),
        (_file("conf.txt"), b"from the bundle\n"),
    ])
    job = shell_job(jid, ("check", ["sh", "-c", "./run.sh > %s; cat conf.txt >> %s" % (out, out)]),
                    files={"conf.txt": "from files\n"}, bundle=digest)
    runner.apply([job], check=0)
    wd = runner.workdir(jid)
    assert (wd / "data" / "blob.bin").read_bytes() == blob
    assert out.read_text() == "from the bundle\nfrom files\n"
    kept = runner.state / "bundles" / ("sha256-%s.tar.gz" % digest[7:])
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == digest[7:]


UNSAFE = {
    "absolute": lambda out: [(_file(str(out / "evil")), b"x")],
    "dotdot": lambda out: [(_file("../../../outside/evil"), b"x")],
    "symlink": lambda out: [(_special("link", tarfile.SYMTYPE, str(out)), None),
                            (_file("link/evil"), b"x")],
    "hardlink": lambda out: [(_file("ok"), b"x"),
                             (_special("evil", tarfile.LNKTYPE, "/etc/passwd"), None)],
    "device": lambda out: [(_special("evil", tarfile.CHRTYPE), None)],
    "fifo": lambda out: [(_special("evil", tarfile.FIFOTYPE), None)],
}


@pytest.mark.parametrize("kind", sorted(UNSAFE))
def test_unsafe_bundle_refused(runner, tmp_path, kind):
    outside = tmp_path / "outside"
    outside.mkdir()
    marker = tmp_path / "ran"
    jid = unique_id()
    digest = _bundle(tmp_path, [(_file("first.txt"), b"harmless\n")] + UNSAFE[kind](outside))
    job = shell_job(jid, ("mark", "touch %s" % marker), bundle=digest)
    proc = runner.apply([job], check=1)
    st = runner.status_json(check=1)[jid]
    assert st["state"] == "failed"
    assert "bundle '" in st["message"] and "entry '" in st["message"], st["message"]
    assert st["message"] in proc.err
    assert not marker.exists()
    assert list(outside.iterdir()) == []
    # checked whole before anything is written: not even the harmless entry
    assert not (runner.workdir(jid) / "first.txt").exists()
    assert not (runner.state / "outside").exists() and not (tmp_path.parent / "outside").exists()


def test_bundle_digest_mismatch_and_missing(runner, tmp_path):
    jid = unique_id()
    digest = _bundle(tmp_path, [(_file("a"), b"a")])
    wrong = "sha256:" + "0" * 64
    (tmp_path / ("sha256-%s.tar.gz" % ("0" * 64))).write_bytes(
        (tmp_path / ("sha256-%s.tar.gz" % digest[7:])).read_bytes())
    job = shell_job(jid, ("noop", "true"), bundle=wrong)
    runner.apply([job], check=1)
    msg = runner.status_json(check=1)[jid]["message"]
    assert "has digest %s" % digest in msg, msg
    assert not (runner.state / "bundles" / ("sha256-%s.tar.gz" % ("0" * 64))).exists()
    job["bundle"] = "sha256:" + "1" * 64
    runner.apply([job], check=1)
    msg = runner.status_json(check=1)[jid]["message"]
    assert "sha256-%s.tar.gz" % ("1" * 64) in msg and "No such file" in msg, msg
