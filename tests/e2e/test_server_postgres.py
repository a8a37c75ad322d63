"""m87-server on PostgreSQL (docs/operations.md): `init --db` and `serve --db` against the
harness's PostgreSQL 15, their refusals (a value that is no connection string, a database
already initialised, one without a schema, a wrong password) without ever printing the url; and
a database outage in the middle of an apply: the API answers 503 with Retry-After, the agent keeps
its journal and backs off as told, and once PostgreSQL is back the same server process serves
again by itself and every report arrives, once."""

import re
import sqlite3
import subprocess

import pytest

from agent_util import Device, assert_reports_complete, start_slow_apply, wait_for
from cli_util import BUILD, SERVER, Server, check_sanitizers
from harness.postgres import Postgres


@pytest.fixture(scope="module")
def pg():
    """A PostgreSQL of this module's own: the outage test stops it."""
    p = Postgres().start()
    yield p
    p.close()


def run(*args):
    return subprocess.run([str(SERVER), *args], capture_output=True, text=True, timeout=60)


def test_agent_and_cli_do_not_link_libpq():
    for prog, want in (("m87", False), ("m87-agent", False), ("m87-server", True)):
        out = subprocess.run(["ldd", str(BUILD / "bin" / prog)], capture_output=True,
                             text=True, check=True).stdout
        assert ("libpq.so" in out) == want, (prog, out)


def test_unit_tests_of_db_h_run_on_postgresql(pg):
    """tests/unit/test_server_db.c runs its PostgreSQL half when M87_TEST_DB_URL names one (the
    unit tests link db-pg.o since m87-server does)."""
    out = subprocess.run([str(BUILD / "tests" / "unit" / "test_server_db")], capture_output=True,
                         text=True, timeout=120,
                         env={"M87_TEST_DB_URL": pg.create_database("unit"),
                              "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[       OK ] test_pg\n" in out.stdout and "SKIPPED" not in out.stdout, out.stdout
    assert "[       OK ] test_pg_deadlock" in out.stdout, out.stdout


def test_init_and_serve_refuse_without_printing_the_url(pg, tmp_path):
    url = pg.create_database("refusals")
    # not a connection string: a usage error that does not repeat the value
    r = run("init", "--data", str(tmp_path / "a"), "--db", "/tmp/secret-file.db")
    assert r.returncode == 2 and "--db" in r.stderr and "secret" not in r.stderr, r.stderr
    # serve on a database without the schema
    r = run("serve", "--data", str(tmp_path / "a"), "--db", url, "--listen", "127.0.0.1:0")
    assert r.returncode == 1, r.stderr
    assert "holds no m87 schema" in r.stderr and pg.password not in r.stderr, r.stderr
    r = run("init", "--data", str(tmp_path / "a"), "--db", url)
    assert r.returncode == 0 and re.fullmatch(r"m87a_\S+\n", r.stdout), r.stderr
    # the data directory holds what is on disk, not the database
    assert (tmp_path / "a" / "bundles").is_dir() and not (tmp_path / "a" / "m87.db").exists()
    # the same schema_version as SQLite's
    version = pg.psql("SELECT version FROM schema_version", database="refusals").strip()
    assert run("init", "--data", str(tmp_path / "lite")).returncode == 0
    with sqlite3.connect(str(tmp_path / "lite" / "m87.db")) as db:
        assert version == str(db.execute("SELECT version FROM schema_version").fetchone()[0])
    # a second init on the same database
    r = run("init", "--data", str(tmp_path / "b"), "--db", url)
    assert r.returncode == 1 and "already holds an m87 schema" in r.stderr, r.stderr
    assert pg.password not in r.stderr
    # a wrong password: libpq's message, without the url
    bad = url.replace(pg.password, "wrong-pass-123")
    r = run("init", "--data", str(tmp_path / "c"), "--db", bad)
    assert r.returncode == 1 and "password authentication failed" in r.stderr, r.stderr
    assert "wrong-pass-123" not in r.stderr
    # the environment's M87_DB is the default of --db
    env_run = subprocess.run([str(SERVER), "init", "--data", str(tmp_path / "d")],
                             capture_output=True, text=True, timeout=60,
                             env={"M87_DB": url, "PATH": "/usr/bin:/bin"})
    assert env_run.returncode == 1 and "already holds an m87 schema" in env_run.stderr


def test_inits_at_once_on_one_database_make_one_schema(pg, tmp_path):
    url = pg.create_database("together")
    procs = [subprocess.Popen([str(SERVER), "init", "--data", str(tmp_path / str(i)), "--db",
                               url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(4)]
    results = [(p.wait(60), p.stdout.read(), p.stderr.read()) for p in procs]
    assert sorted(rc for rc, _, _ in results) == [0, 1, 1, 1], results
    for rc, out, err in results:
        assert rc == 0 or "already holds an m87 schema" in err, err
    # one admin token, the winner's
    assert pg.psql("SELECT COUNT(*) FROM tokens", database="together").strip() == "1"


def test_database_outage_answers_503_and_the_server_recovers_by_itself(env, pg, tmp_path):
    server = Server(tmp_path / "server", db_url=pg.create_database("outage")).start()
    # a backoff cap above the Retry-After, so that the agent's wait shows it was followed
    dev = Device(env, server, tmp_path, backoff_max_ms=10000)
    try:
        _, want = start_slow_apply(dev, tmp_path, "pgout")
        pg.stop()

        # the API: 503 with Retry-After, for the admin and for the agent's sync
        status, headers, body = server.request("GET", "/v1/devices")
        assert status == 503, body
        assert headers.get("Retry-After") == "5", headers
        assert b'"unavailable"' in body and pg.password.encode() not in body
        status, headers, _ = server.request("POST", "/v1/agent/sync", token=dev.token,
                                            body={"applied": None, "reports": [], "wait": 0})
        assert status == 503 and headers.get("Retry-After") == "5"
        # the process is alive: /healthz needs no database
        assert server.request("GET", "/healthz")[0] == 200

        # the apply goes on; its reports wait in the journal, the agent backs off as told
        wait_for(lambda: dev.agent.applied() == want, 60, "the apply to end\n" + dev.agent.log())
        queued = dev.agent.journal()
        assert queued, "no report was queued while the database was down"
        assert ("third", "succeeded") in [(r["step"], r["state"]) for r in queued
                                          if r["kind"] == "step"], queued
        m = wait_for(lambda: re.search(r"the database is unavailable: try again later; "
                                       r"trying again in (\d+) ms", dev.agent.log()), 60,
                     lambda: "the agent to meet the 503\n" + dev.agent.log())
        assert int(m.group(1)) >= 5000, m.group(0)
        assert server.proc.poll() is None

        pg.start_again()
        # the same process serves again, and every report of the outage arrives once
        wait_for(lambda: server.request("GET", "/v1/devices")[0] == 200, 60,
                 lambda: "the API to answer again\n" + server.log_path.read_text())
        wait_for(lambda: dev.agent.journal() == [], 90, lambda: "the queue to drain\n" +
                 dev.agent.log())
        seqs = assert_reports_complete(dev)
        steps = [(r["step"], r["state"]) for r in dev.reports(kind="step")]
        assert steps.count(("third", "succeeded")) == 1, steps
        assert len(seqs) >= len(queued)
        assert dev.server.api("GET", "/v1/devices/%s" % dev.name)["applied_revision"] == want
        # a restart between two requests (the agent stopped: nothing else uses the database):
        # the next request finds the connection closed, connects again and succeeds
        assert dev.agent.stop() == 0
        pg.restart()
        status, _, body = server.request("GET", "/v1/devices")
        assert status == 200, body
        log = server.log_path.read_text()
        assert "database: connected again" in log, log
        assert pg.password not in log
    finally:
        dev.cleanup()
        server.stop()
    check_sanitizers(server.log_path.read_text())  # an ASan build's findings on the way
