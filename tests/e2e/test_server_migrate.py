"""`m87-server migrate --from DIR --to URL|DIR` (docs/operations.md, Moving to PostgreSQL) end to
end: a SQLite installation in use (devices, a deployment with a bundle applied by a real agent on
the harness's dockerd, its reports, a session with its output, a fleet with a rollout) is copied
into the harness's real PostgreSQL and into a new data directory; every table's count matches,
checked again by reading each database directly; a running server's directory and a target that
holds a schema are refused, changing nothing; a server on the migrated directory answers as
before, and so does a server on the PostgreSQL copy (serve --db), where the agent keeps syncing
with its token and applies a new revision."""

import os
import pty
import shutil
import sqlite3
import subprocess

import pytest

from agent_util import Device, wait_for
from cli_util import SERVER, Server, unique
from harness.postgres import Postgres


@pytest.fixture(scope="module")
def pg():
    p = Postgres().start()
    yield p
    p.close()


def migrate(*args):
    return subprocess.run([str(SERVER), "migrate"] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=300)


def counts_of(out):
    """The table of `migrate`: {table: (source, target)}."""
    lines = out.splitlines()
    assert lines[0].split() == ["TABLE", "SOURCE", "TARGET"], out
    rows = {}
    for line in lines[1:]:
        name, src, dst = line.split()[:3]
        rows[name] = (int(src), int(dst))
    return rows


def sqlite_counts(data):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data, "m87.db"), uri=True)
    try:
        names = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " AND name <> 'schema_version'")]
        return {n: db.execute('SELECT COUNT(*) FROM "%s"' % n).fetchone()[0] for n in names}
    finally:
        db.close()


def pg_count(pg, database, table):
    return int(pg.psql('SELECT COUNT(*) FROM "%s"' % table, database=database).strip())


def make_installation(env, server, tmp_path):
    """Fill server with what an installation holds; the Device (agent running)."""
    dev = Device(env, server, tmp_path)
    project = unique("mig")
    src = dev.compose_dir(project, {"web": {"image": env.small_image, "restart": "always",
                                            "volumes": ["./blob.bin:/blob.bin:ro"]}})
    # a bundle of several 256 KiB chunks
    (src / "blob.bin").write_bytes(os.urandom(700 * 1024))
    dev.m87("deployment", "new", "--active")
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.agent.start()
    dev.wait_applied(300)
    wait_for(lambda: dev.agent.journal() == [], 60, "the agent's reports to reach the server")
    # a session with its output, while the agent is online
    r = dev.cli.run(dev.name, "docker", "ps", timeout=120)
    assert r.rc == 0, r
    # the agent stops (its last sync says so): what follows is still while the server runs
    dev.agent.stop()
    # a fleet of a second device (which never syncs: its rollout waits on it) with a release
    label = unique("t")
    dev.cli.ok("devices", "add", unique("gw-"), "--label", "t=" + label, "--json")
    fleet = unique("f-")
    dev.cli.ok("fleets", "add", fleet, "--select", "t=" + label)
    spec = {"jobs": [{"id": "hello", "steps": [{"name": "hello", "run": ["true"]}]}]}
    server.api("POST", "/v1/fleets/%s/releases" % fleet, {"spec": spec, "waves": "100%"})
    window = dev.m87("window", "add", "daily 02:00-04:00", "--json").json()["id"]
    return dev, src, window


def answers(dev):
    """What the CLI and the API say about the device, for a comparison after the move."""
    return {
        "show": dev.m87("deployment", "show", "--json").json(),
        "list": dev.m87("deployment", "list", "--json").json(),
        "sessions": dev.server.api("GET", "/v1/devices/%s/sessions" % dev.name),
        "reports": dev.reports(),
    }


def test_migrate_to_postgresql_and_to_a_new_directory(env, pg, tmp_path, monkeypatch):
    monkeypatch.setenv("M87_TEST_DB", "sqlite")  # the source is a SQLite installation
    server = Server(tmp_path / "server").start()
    dev = None
    try:
        dev, src, window = make_installation(env, server, tmp_path)
        data = str(server.data)
        before = answers(dev)
        assert before["sessions"]["sessions"] and before["reports"]

        # a directory a running server holds is refused
        r = migrate("--from", data, "--to", pg.url())
        assert r.returncode == 1
        assert r.stderr == ("m87-server: migrate: '%s' is in use by a running m87-server"
                            " (pid %d): stop it first\n" % (data, server.proc.pid)), r.stderr
        assert pg_count_tables(pg) == 0  # nothing was made in the target

        server.stop()
        source = sqlite_counts(data)
        for table in ("devices", "tokens", "deployments", "revisions", "revision_bundles",
                      "bundles", "bundle_chunks", "reports", "sessions", "session_output",
                      "device_windows", "device_labels", "fleets", "fleet_releases", "rollouts",
                      "rollout_devices", "revision_releases", "remote_audit"):
            assert source[table] > 0, (table, source)
        assert source["bundle_chunks"] >= 3

        r = migrate("--from", data, "--to", pg.url())
        assert r.returncode == 0, r.stderr
        counts = counts_of(r.stdout)
        assert set(counts) == set(source)
        for table, (s, t) in counts.items():
            assert s == t == source[table], (table, s, t, source[table])
            assert pg_count(pg, pg.database, table) == source[table], table
        assert "MISMATCH" not in r.stdout
        # same schema version; identities continue after the copied ids
        version = sqlite3.connect(os.path.join(data, "m87.db")).execute(
            "SELECT MAX(version) FROM schema_version").fetchone()[0]
        assert int(pg.psql("SELECT MAX(version) FROM schema_version",
                           database=pg.database).strip()) == version
        pg.psql("BEGIN; INSERT INTO fleets (name, selector, created) VALUES ('x', 'a=b', 0);"
                " ROLLBACK", database=pg.database)
        # the bundle's bytes, byte for byte
        digest = before["show"]["spec"]["jobs"][0]["bundle"]
        got = pg.psql("SELECT encode(sha256(string_agg(data, ''::bytea ORDER BY seq)), 'hex')"
                      " FROM bundle_chunks WHERE digest = '%s'" % digest,
                      database=pg.database).strip()
        assert "sha256:" + got == digest

        # a second run into the same database: refused, nothing changed
        r = migrate("--from", data, "--to", pg.url())
        assert r.returncode == 1
        assert r.stderr == ("m87-server: migrate: target: database: the database already holds"
                            " an m87 schema (version %d)\n" % version), r.stderr
        assert pg_count(pg, pg.database, "devices") == source["devices"]

        # into a new data directory, which a server then serves at the same address
        moved = tmp_path / "moved"
        r = migrate("--from", data, "--to", moved)
        assert r.returncode == 0, r.stderr
        assert {t: s for t, (s, _) in counts_of(r.stdout).items()} == source
        assert sqlite_counts(str(moved)) == source
        assert sqlite_counts(data) == source  # the source is left as it was
        server.data = moved
        server.start()
        assert answers(dev) == before
        server.stop()

        # a replica on the PostgreSQL copy (its own data directory, the registry key copied as
        # docs/operations.md says) at the same address: the same answers, and the agent goes on
        # with its token: a new revision is applied and reported
        replica = tmp_path / "replica"
        replica.mkdir(mode=0o700)
        shutil.copy2(os.path.join(data, "registry.key"), replica / "registry.key")
        server.data = replica
        server.db_args = ["--db", pg.url()]
        server.start()
        assert answers(dev) == before
        dev.m87("window", "rm", str(window))
        dev.agent.start()
        (src / "blob.bin").write_bytes(os.urandom(1000))
        dev.m87("deploy", "docker-compose.yml", cwd=src)
        applied = dev.wait_applied(300)
        assert applied != before["show"]["hash"]
        wait_for(lambda: dev.agent.journal() == [], 60, "the agent's reports to reach the server")
        seqs = [r["seq"] for r in dev.reports()]
        assert seqs == list(range(1, dev.agent.acked() + 1))
        assert len(seqs) > len(before["reports"])
        assert pg_count(pg, pg.database, "revisions") > source["revisions"]
    finally:
        if dev:
            dev.cleanup()
        server.stop()


def pg_count_tables(pg):
    return int(pg.psql("SELECT COUNT(*) FROM information_schema.tables"
                       " WHERE table_schema = 'public'", database=pg.database).strip())


def test_migrate_refuses_bad_arguments(tmp_path, monkeypatch):
    monkeypatch.setenv("M87_TEST_DB", "sqlite")
    r = migrate("--from", tmp_path / "nothing", "--to", tmp_path / "t")
    assert r.returncode == 1
    assert r.stderr == "m87-server: migrate: no database '%s/m87.db': No such file or directory\n" \
        % (tmp_path / "nothing")
    assert not (tmp_path / "t").exists()
    r = migrate("--from", tmp_path)
    assert r.returncode == 2 and "--from DIR and --to URL are required" in r.stderr
    r = migrate("--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: m87-server migrate --from DIR")
    # an initialised directory as the target holds an admin token: not empty
    s = Server(tmp_path / "a")
    t = Server(tmp_path / "b")
    r = migrate("--from", s.data, "--to", t.data)
    assert r.returncode == 1
    assert "the target is not empty: '%s/m87.db' exists" % t.data in r.stderr, r.stderr


def test_migrate_shows_progress_on_a_terminal_only(tmp_path, monkeypatch):
    monkeypatch.setenv("M87_TEST_DB", "sqlite")
    s = Server(tmp_path / "a")
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([str(SERVER), "migrate", "--from", str(s.data), "--to",
                               str(tmp_path / "b")], stdout=subprocess.PIPE, stderr=slave,
                              text=True, timeout=120)
        os.close(slave)
        slave = None
        seen = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    assert proc.returncode == 0, seen
    text = seen.decode()
    assert "\r\x1b[Kcopying tokens: 0 of 1 rows" in text, text
    assert text.endswith("\r\x1b[Km87-server: migrate: done; every table has its rows\r\n"), text
    assert counts_of(proc.stdout)["tokens"] == (1, 1)
    # not on a pipe: stderr holds the last line alone
    r = migrate("--from", s.data, "--to", tmp_path / "c")
    assert r.returncode == 0 and r.stderr == "m87-server: migrate: done; every table has its rows\n"
