"""The PostgreSQL backend of the server's database API (src/server/db-pg.c) against the harness's
real PostgreSQL 15: tests/db/db_conformance runs its sequence of db.h calls (statements,
bindings, blobs, conflicts, transactions, errors, the schema of schema-pg.c), the schema it
applies has the tables and columns of the SQLite schema `m87-server init` makes, a connection
that loses its database says so and reconnects once the database is back, and TLS to the
database is what the connection string asks for.

Run under M87_BUILD=build-asan (make asan-tests), the same program runs with AddressSanitizer."""

import os
import pwd
import shutil
import sqlite3
import subprocess

import pytest

from harness.postgres import Postgres

BUILD = os.environ.get("M87_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
CONFORMANCE = os.path.join(BUILD, "tests", "db", "db_conformance")
SERVER_BIN = os.path.join(BUILD, "bin", "m87-server")


@pytest.fixture(scope="module")
def pg():
    p = Postgres().start()
    yield p
    p.close()


def run(url, timeout=300):
    r = subprocess.run([CONFORMANCE, url], capture_output=True, text=True, timeout=timeout)
    lines = r.stdout.splitlines()
    return r, lines


def tap_ok(r, lines):
    """Every check passed, the plan matches the checks, and the program said so."""
    failed = [ln for ln in lines if ln.startswith("not ok")]
    assert not failed, "\n".join(failed) + "\n" + r.stderr
    checks = [ln for ln in lines if ln.startswith("ok ")]
    assert "1..%d" % len(checks) in lines, r.stdout
    assert "# 0 failed" in lines
    assert r.returncode == 0, r.stderr
    return checks


def test_conformance_sequence_passes_on_postgresql(pg):
    r, lines = run(pg.url())
    checks = tap_ok(r, lines)
    names = " | ".join(checks)
    # the parts the sequence must have reached, not only started
    for part in ("the 1 MiB blob back, byte for byte (1048576 bytes)",
                 "srv_db_constraint_error after a UNIQUE violation",
                 "'?1' in a literal stays: ?1",
                 "the same SQL address gives the cached statement",
                 "nothing left after ROLLBACK",
                 "apply migration 13",
                 "the delete trigger takes its bytes off, the seq stays",
                 "its reports cascaded away",
                 "replicas: the committed notify is heard, the rolled back one not",
                 "replicas: the second is refused it",
                 "replicas: the second takes the lock once the holder's connection ended"):
        assert part in names, part
    assert r.stderr == "" or "AddressSanitizer" not in r.stderr
    # a second run on the same database starts over cleanly (DROP ... IF EXISTS)
    r, lines = run(pg.url())
    assert tap_ok(r, lines) == checks


def sqlite_columns(data_dir):
    db = sqlite3.connect(os.path.join(data_dir, "m87.db"))
    try:
        tables = [t for (t,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        cols = {(t, c[1]) for t in tables for c in db.execute("PRAGMA table_info(%s)" % t)}
        version = db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    finally:
        db.close()
    return cols, version


def test_postgresql_schema_has_the_sqlite_schemas_tables_and_columns(pg, tmp_path):
    data = str(tmp_path / "data")
    init = subprocess.run([SERVER_BIN, "init", "--data", data], capture_output=True, text=True,
                          timeout=60)
    assert init.returncode == 0, init.stderr
    want, want_version = sqlite_columns(data)

    r, lines = run(pg.url())
    tap_ok(r, lines)
    got = {tuple(ln.split()[2:4]) for ln in lines if ln.startswith("# column ")}
    assert "# schema version %d" % want_version in lines
    assert got == want, ("only in SQLite: %s; only in PostgreSQL: %s"
                         % (sorted(want - got), sorted(got - want)))
    # and PostgreSQL itself holds them, as the program's own connection left them
    tables = pg.psql("SELECT count(*) FROM information_schema.tables "
                     "WHERE table_schema = 'm87_conf'", database=pg.database).strip()
    assert int(tables) == len({t for t, _ in want})


def read_until(proc, marker, seen):
    for line in proc.stdout:
        seen.append(line.rstrip("\n"))
        if line.strip() == marker:
            return
    raise AssertionError("no %r in:\n%s" % (marker, "\n".join(seen)))


def test_lost_database_is_unavailable_then_reconnects():
    p = Postgres().start()
    proc = None
    try:
        proc = subprocess.Popen([CONFORMANCE, p.url(), "outage"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = []
        read_until(proc, "# stop the database now", seen)
        p.stop()
        proc.stdin.write("stopped\n")
        proc.stdin.flush()
        read_until(proc, "# start the database now", seen)
        p._pg_ctl_start()  # the same cluster again (the harness's restart, in two halves)
        proc.stdin.write("started\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=120)
        lines = seen + out.splitlines()
        r = subprocess.CompletedProcess(proc.args, proc.returncode, "\n".join(lines), err)
        checks = tap_ok(r, lines)
        names = " | ".join(checks)
        assert "srv_db_unavailable" in names
        assert "the message: ping: database unavailable: " in names
        assert "reconnect fails while the database is down" in names
        assert "the cached statement is prepared again and runs" in names
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        p.close()


def test_a_wrong_password_fails_to_open_with_libpqs_reason(pg):
    bad = pg.url().replace(pg.password, "wrong")
    r, lines = run(bad)
    assert r.returncode == 1
    assert lines[0].startswith("not ok 1 - open: connect to database: "), lines
    assert "password authentication failed" in lines[0]
    assert pg.password not in r.stdout and "wrong" not in r.stdout


def test_a_sqlite_path_is_refused_by_a_program_without_the_sqlite_backend(tmp_path):
    # db_conformance links only db-pg.o until db-sqlite.c exists: the dispatcher says so
    path = str(tmp_path / "m87.db")
    r, lines = run(path)
    assert r.returncode == 1
    assert lines == ["not ok 1 - open: database '%s': this program has no SQLite backend" % path]
    assert not os.path.exists(path)


def enable_tls(pg, tmp_path):
    """A self-signed certificate for 127.0.0.1 in the cluster's data directory, ssl on, restart;
    the certificate's path for sslrootcert."""
    cert = str(tmp_path / "server.crt")
    key = os.path.join(pg.data, "server.key")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    shutil.copy(cert, os.path.join(pg.data, "server.crt"))
    pw = pwd.getpwnam("postgres")
    for f in ("server.key", "server.crt"):
        os.chown(os.path.join(pg.data, f), pw.pw_uid, pw.pw_gid)
    os.chmod(key, 0o600)
    pg.psql("ALTER SYSTEM SET ssl = on")
    pg.restart()
    return cert


def test_tls_to_the_database_is_what_the_connection_string_asks(tmp_path):
    p = Postgres().start()
    try:
        # without TLS on the server, a string that requires it is refused, not downgraded
        r, lines = run(p.url() + "?sslmode=require")
        assert r.returncode == 1
        assert lines[0].startswith("not ok 1 - open: connect to database: "), lines
        assert "SSL" in lines[0]

        cert = enable_tls(p, tmp_path)
        r, lines = run(p.url() + "?sslmode=verify-full&sslrootcert=" + cert)
        tap_ok(r, lines)
        # a certificate that is not the server's fails verification
        other = str(tmp_path / "other.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=other", "-keyout", str(tmp_path / "other.key"), "-out",
                        other], capture_output=True, check=True, timeout=60)
        r, lines = run(p.url() + "?sslmode=verify-full&sslrootcert=" + other)
        assert r.returncode == 1
        assert lines[0].startswith("not ok 1 - open: connect to database: "), lines
        assert "certificate verify failed" in lines[0]
    finally:
        p.close()
