"""Signed deployments (docs/security.md), end to end: the CLI signs the revisions it makes with
the key of `m87 keys generate`; an agent started with --trust applies a signed revision, and
refuses (reports, does not apply, keeps the running workload) an unsigned one, one signed with a
key it does not trust, one whose spec was changed in the server's database after it was signed,
and applies nothing of one whose bundle was replaced in the server's data directory. Two trusted
keys at once allow a key rotation."""

import json
import os
import re
import sqlite3
import stat

from agent_util import Device, running_ids, wait_for
from agent_util import device, own_server  # noqa: F401
from cli_util import Cli, new_deployment, write
from compose_util import unique_name

RUNSPEC = """\
jobs:
  - id: %s
    type: job
    steps:
      - name: say
        run: [echo, "%s"]
"""


def keygen(cli):
    r = cli.ok("keys", "generate")
    key_id = r.out.split()[3]
    return cli.xdg / "m87" / "signing.pub", key_id


def refusals(dev):
    return [r for r in dev.reports(kind="target") if r.get("state") == "refused"]


def wait_refused(dev, needle, count):
    """Until the server holds count refusals, the last one naming needle."""
    def seen():
        got = refusals(dev)
        return len(got) >= count and got
    got = wait_for(seen, 120, "refusal %d (%s)\n%s" % (count, needle, dev.agent.log()[-3000:]))
    assert needle in got[-1]["message"], got[-1]
    assert needle in dev.agent.log()
    return got[-1]


def compose(dev, env, project, value, extra=None):
    web = {"image": env.small_image, "restart": "always", "environment": {"V": value}}
    web.update(extra or {})
    return dev.compose_dir(project, {"web": web})


def active(dev):
    return dev.server.api("GET", "/v1/devices/%s" % dev.name)["active_deployment"]


def test_keys_generate(tmp_path):
    cli = Cli(tmp_path)
    pub, key_id = keygen(cli)
    key = pub.with_name("signing.key")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert "BEGIN PUBLIC KEY" in pub.read_text()
    assert "BEGIN PRIVATE KEY" in key.read_text()
    assert key_id in cli.ok("keys", "show").out
    r = cli.run("keys", "generate")
    assert r.rc == 2 and "--force" in r.err, r
    _, again = keygen_force(cli)
    assert again != key_id
    # `openssl` reads what we wrote, and agrees on the public half
    import subprocess
    out = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout"], capture_output=True,
                         text=True, check=True).stdout
    assert out == pub.read_text()


def keygen_force(cli):
    r = cli.ok("keys", "generate", "--force")
    return cli.xdg / "m87" / "signing.pub", r.out.split()[3]


def test_signed_applied_unsigned_and_wrong_key_refused(env, device, tmp_path):  # noqa: F811
    dev = device
    pub, key_id = keygen(dev.cli)
    dev.agent.start("--trust", str(pub))
    project = unique_name("sig")
    r = dev.m87("deployment", "new", "--active")
    assert "signing revision" in r.err and key_id in r.err, r
    src = compose(dev, env, project, "1")
    r = dev.m87("deploy", "docker-compose.yml", cwd=src)
    assert "signing revision" in r.err, r
    applied = dev.wait_applied()
    target = json.loads((dev.agent.state / "target.json").read_text())
    assert target["signature"]["key"] == key_id
    ids = running_ids(dev.agent, project)
    assert len(ids) == 1

    # an admin without a key makes an unsigned revision: refused, nothing changes on the device
    plain = Cli(tmp_path / "plain", dev.server)
    compose(dev, env, project, "2")
    r = plain.ok(dev.name, "deploy", "docker-compose.yml", cwd=src)
    assert "signing" not in r.err
    wait_refused(dev, "unsigned", 1)
    # signed with a key the agent does not trust: refused too
    mallory = Cli(tmp_path / "mallory", dev.server)
    _, mallory_id = keygen(mallory)
    compose(dev, env, project, "3")
    mallory.ok(dev.name, "deploy", "docker-compose.yml", cwd=src)
    got = wait_refused(dev, "unknown key %s" % mallory_id, 2)
    assert got["revision"] == active(dev)["hash"]
    assert dev.agent.applied() == applied
    assert running_ids(dev.agent, project) == ids
    assert dev.agent.proc.poll() is None

    # the trusted key signs the next revision: applied
    compose(dev, env, project, "4")
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.wait_applied()
    wait_for(lambda: running_ids(dev.agent, project) and running_ids(dev.agent, project) != ids,
             120, "the changed service to be recreated")
    assert len(refusals(dev)) == 2  # each refused target was reported once


def tamper_spec(server, hash_, change):
    """Rewrite the stored spec of the revisions with that hash, as someone with the server's
    database would, while the server runs (WAL)."""
    db = sqlite3.connect(str(server.data / "m87.db"), timeout=30)
    try:
        rows = db.execute("SELECT id, spec FROM revisions WHERE hash = ?", (hash_,)).fetchall()
        assert rows
        for rid, spec in rows:
            doc = json.loads(spec)
            change(doc)
            db.execute("UPDATE revisions SET spec = ? WHERE id = ?", (json.dumps(doc), rid))
        db.commit()
    finally:
        db.close()


def test_tampered_spec_refused(env, device):  # noqa: F811
    dev = device
    pub, _ = keygen(dev.cli)
    project = unique_name("tsp")
    src = compose(dev, env, project, "1")
    dev.m87("deployment", "new", "--active")
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.agent.start("--trust", str(pub))
    applied = dev.wait_applied()
    ids = running_ids(dev.agent, project)
    assert len(ids) == 1

    # a signed change, then its stored spec altered before the device fetches it
    dev.agent.stop()
    compose(dev, env, project, "2")
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    signed = active(dev)["hash"]

    def inject(doc):
        job = doc["jobs"][0]
        job["files"]["docker-compose.yml"] = job["files"]["docker-compose.yml"].replace(
            "V: '2'", "V: '2'\n      EVIL: '1'")
        assert "EVIL" in job["files"]["docker-compose.yml"], job["files"]
    tamper_spec(dev.server, signed, inject)
    dev.agent.start("--trust", str(pub))
    got = wait_refused(dev, "spec does not match the signed revision hash", 1)
    assert got["revision"] == signed
    assert dev.agent.applied() == applied
    assert running_ids(dev.agent, project) == ids
    # the server still shows the (tampered) revision under the signed hash
    assert active(dev)["hash"] == signed


def test_tampered_bundle_not_applied(env, device):  # noqa: F811
    dev = device
    pub, _ = keygen(dev.cli)
    project = unique_name("tbu")
    src = compose(dev, env, project, "1")
    dev.m87("deployment", "new", "--active")
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.agent.start("--trust", str(pub))
    applied = dev.wait_applied()
    ids = running_ids(dev.agent, project)

    dev.agent.stop()
    (src / "blob.bin").write_bytes(os.urandom(4096))
    compose(dev, env, project, "2", {"volumes": ["./blob.bin:/blob.bin:ro"]})
    r = dev.m87("deploy", "docker-compose.yml", cwd=src)
    assert "blob.bin" in r.err, r  # it went into a bundle
    dep = dev.server.api("GET", "/v1/devices/%s/deployments/%s" % (dev.name, active(dev)["id"]))
    digest = dep["spec"]["jobs"][0]["bundle"]
    evil = src / "evil"
    evil.mkdir()
    (evil / "blob.bin").write_bytes(b"not what was signed")
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(str(evil / "blob.bin"), arcname="blob.bin")
    # the server's stored bytes replaced (its database: bundle_chunks), as a compromised
    # server or database would
    db = sqlite3.connect(str(dev.server.data / "m87.db"), timeout=30)
    try:
        with db:
            db.execute("DELETE FROM bundle_chunks WHERE digest = ?", (digest,))
            db.execute("INSERT INTO bundle_chunks (digest, seq, data) VALUES (?, 0, ?)",
                       (digest, buf.getvalue()))
            db.execute("UPDATE bundles SET size = ? WHERE digest = ?", (len(buf.getvalue()), digest))
    finally:
        db.close()

    dev.agent.start("--trust", str(pub))
    # the signature and the spec are good: the agent takes the target, then its download of the
    # bundle fails the digest check; that apply ends with the job failed (not a download loop)
    def failed():
        return [r for r in dev.reports(kind="job", job=project)
                if r["state"] == "failed" and digest in r.get("message", "")]
    # each apply of the target fails the same way and is tried again after a short backoff, so
    # how many failed reports are in by now is timing: every one of them must name the digest
    recs = wait_for(failed, 120, lambda: "a failed job report naming the bundle\n" +
                    dev.agent.log()[-3000:])
    for rec in recs:
        assert "expected %s" % digest in rec["message"] or "digest" in rec["message"], rec
    # one download in that apply, not a loop of them (the apply itself is tried again after a
    # backoff, which the test cap makes short, so only the first apply's lines count)
    ended = re.compile(r"with failed jobs; trying them again|not applied; trying again")
    first = wait_for(lambda: ended.search(dev.agent.log()), 60,
                     lambda: "the end of the first apply\n" + dev.agent.log()[-3000:])
    assert dev.agent.log()[:first.start()].count("expected %s" % digest) == 1, dev.agent.log()
    assert refusals(dev) == []
    assert dev.agent.applied() == applied
    assert running_ids(dev.agent, project) == ids
    assert not (dev.agent.state / "bundles" / ("sha256-%s.tar.gz" % digest[7:])).exists()
    assert not (dev.agent.state / "workdirs" / project / "blob.bin").exists()


def test_key_rotation_two_trusted_keys(env, own_server, tmp_path):  # noqa: F811
    dev = Device(env, own_server, tmp_path / "dev")
    try:
        old_pub, _ = keygen(dev.cli)
        new_cli = Cli(tmp_path / "new-admin", own_server)
        new_pub, new_id = keygen(new_cli)
        new_deployment(dev.cli, dev.name)
        dev.agent.start("--trust", str(old_pub), "--trust", str(new_pub))
        write(tmp_path / "a.yml", RUNSPEC % ("a", "old key"))
        dev.m87("deploy", str(tmp_path / "a.yml"))
        dev.wait_applied()
        write(tmp_path / "b.yml", RUNSPEC % ("b", "new key"))
        new_cli.ok(dev.name, "deploy", str(tmp_path / "b.yml"))
        dev.wait_applied()
        assert refusals(dev) == []

        # the old key retired on the device: what it signs is refused, the new key's is not
        assert dev.agent.stop() == 0
        dev.agent.config = {"trust": str(new_pub)}
        dev.agent.start()
        write(tmp_path / "c.yml", RUNSPEC % ("c", "old key again"))
        dev.m87("deploy", str(tmp_path / "c.yml"))
        wait_refused(dev, "unknown key", 1)
        # re-signing the same revision with the new key (activate) makes it acceptable
        r = new_cli.ok(dev.name, "deployment", "activate", active(dev)["id"])
        assert new_id in r.err, r
        dev.wait_applied()
    finally:
        dev.cleanup()


def test_agent_refuses_bad_trust_files(tmp_path):
    import subprocess
    from cli_util import check_sanitizers
    from compose_util import AGENT
    cli = Cli(tmp_path)
    pub, _ = keygen(cli)
    for bad, needle in ((tmp_path / "missing.pub", "missing.pub"),
                        (pub.with_name("signing.key"), "not an Ed25519 public key")):
        proc = subprocess.run([str(AGENT), "run", "--server", "https://127.0.0.1:1", "--token",
                               "m87d_x", "--state-dir", str(tmp_path / "s"), "--config",
                               "/dev/null", "--trust", str(pub), "--trust", str(bad)],
                              capture_output=True, text=True, timeout=30)
        check_sanitizers(proc.stderr)
        assert proc.returncode == 2, proc.stderr
        assert needle in proc.stderr and "trust" in proc.stderr, proc.stderr
        assert not (tmp_path / "s").exists()


def test_server_stores_signature_only_for_its_revision(tmp_path):
    """The server side alone: a signature for another hash or revision number is a conflict and
    changes nothing; a malformed one, or one of the old format v1, is a bad request; no
    signature is carried over to another revision (it names its deployment and number)."""
    from cli_util import Server, add_device
    server = Server(tmp_path / "srv").start()
    try:
        cli = Cli(tmp_path / "admin", server)
        _, key_id = keygen(cli)
        name, _ = add_device(cli)
        dep = new_deployment(cli, name)
        base = "/v1/devices/%s/deployments/%s" % (name, dep)
        first = server.api("GET", base)
        assert first["signature"]["key"] == key_id  # `deployment new` signed revision 1
        assert first["signature"]["v"] == 2 and first["signature"]["now"] is False
        write(tmp_path / "a.yml", RUNSPEC % ("a", "x"))
        cli.ok(name, "deploy", str(tmp_path / "a.yml"))
        signed = server.api("GET", base)
        assert signed["revision"] == 2 and signed["signature"]["key"] == key_id
        sig, when = signed["signature"]["sig"], signed["signature"]["time"]

        body = {"jobs": [{"id": "b", "type": "job", "steps": [{"name": "s", "run": ["true"]}]}]}
        for header in ("v2 %s 3 %d 0 %s %s" % (signed["hash"], when, key_id, sig),  # other hash
                       "v2 %s 2 %d 0 %s %s" % (signed["hash"], when, key_id, sig)):  # number
            status, _, data = server.request("POST", base + "/jobs", body=body,
                                             headers={"M87-Signature": header})
            assert status == 409, data
            assert b"changed meanwhile" in data
        assert server.api("GET", base)["revision"] == 2
        for bad in ("nonsense", "%s %s %s" % (signed["hash"], key_id, sig),  # format v1
                    "v2 %s 3 %d 2 %s %s" % (signed["hash"], when, key_id, sig),
                    "v2 %s 0 %d 0 %s %s" % (signed["hash"], when, key_id, sig),
                    "v2 %s 3 %d 0 %s %s extra" % (signed["hash"], when, key_id, sig)):
            status, _, data = server.request("POST", base + "/jobs", body=body,
                                             headers={"M87-Signature": bad})
            assert status == 400 and b"M87-Signature" in data, (bad, data)
        status, _, data = server.request("POST", base + "/jobs", body=body,
                                         headers={"M87-Signature": "%s %s %s" % (
                                             signed["hash"], key_id, sig)})
        assert b"upgrade it" in data, data
        assert server.api("GET", base)["revision"] == 2

        # unsigned change: stored without a signature
        status, _, _ = server.request("POST", base + "/jobs", body=body)
        assert status == 200
        assert server.api("GET", base)["signature"] is None
        # a clone is signed anew by a CLI with a key, and not at all by one without
        clone = cli.ok(name, "deployment", "clone", "%s@2" % dep, "--json").json()
        got = server.api("GET", "/v1/devices/%s/deployments/%s" % (name, clone["id"]))
        assert got["hash"] == signed["hash"] and got["signature"]["key"] == key_id
        assert got["signature"]["sig"] != sig  # it names another deployment and number
        plain = Cli(tmp_path / "plain", server)
        clone2 = plain.ok(name, "deployment", "clone", "%s@2" % dep, "--json").json()
        got = server.api("GET", "/v1/devices/%s/deployments/%s" % (name, clone2["id"]))
        assert got["hash"] == signed["hash"] and got["signature"] is None
        clone3 = plain.ok(name, "deployment", "clone", "%s@3" % dep, "--json").json()
        got = server.api("GET", "/v1/devices/%s/deployments/%s" % (name, clone3["id"]))
        assert got["signature"] is None
        # activate signs the newest revision of what it activates
        r = cli.ok(name, "deployment", "activate", clone3["id"])
        assert "signing revision 1 (%s) of %s" % (got["hash"][:12], clone3["id"]) in r.err, r
        got = server.api("GET", "/v1/devices/%s/deployments/%s" % (name, clone3["id"]))
        assert got["signature"]["key"] == key_id
        assert "revision 1 of %s is unsigned" % clone3["id"] in r.err, r
        # a deployment id a client chooses is checked, and one that is taken is a conflict
        for bad_id in ("d-XYZ", "x-01234567", 7):
            status, _, data = server.request("POST", "/v1/devices/%s/deployments" % name,
                                             body={"id": bad_id})
            assert status == 400 and b"id:" in data, (bad_id, data)
        status, _, data = server.request("POST", "/v1/devices/%s/deployments" % name,
                                         body={"id": dep})
        assert status == 409, data

        # the CLI does not sign on top of a revision the server altered: a spec that does not
        # hash to the revision's hash, or a signature by its own key that does not verify
        head = server.api("GET", base)
        tamper_spec(server, head["hash"], lambda doc: doc["jobs"][0]["steps"][0].update(
            run=["echo", "injected"]))
        r = cli.run(name, "deploy", "--deployment-id", dep, str(tmp_path / "a.yml"))
        assert r.rc == 1 and "changed after it was made; nothing signed" in r.err, r
        assert server.api("GET", base)["revision"] == head["revision"]
        db = sqlite3.connect(str(server.data / "m87.db"), timeout=30)
        db.execute("UPDATE revisions SET sig = ? WHERE hash = ?", (first["signature"]["sig"],
                                                                   signed["hash"]))
        db.commit()
        db.close()
        r = cli.run(name, "deployment", "activate", clone["id"])
        assert r.rc == 1 and "by your key does not verify" in r.err, r
    finally:
        server.stop()
