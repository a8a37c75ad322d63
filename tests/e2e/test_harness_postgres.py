"""The harness's private PostgreSQL (harness/postgres.py), which the tests of m87-server on
PostgreSQL stand on: it starts on its own port, takes the test role's password over TCP and
refuses a wrong one, keeps its data across a restart, and leaves nothing behind."""

import os
import subprocess

import pytest

from harness.postgres import Postgres


def psql(url, sql):
    return subprocess.run(["psql", "-X", "-A", "-t", url, "-c", sql], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def pg():
    p = Postgres().start()
    yield p
    p.close()


def test_role_logs_in_over_tcp_and_a_wrong_password_is_refused(pg):
    r = psql(pg.url(), "SELECT current_user || ' ' || current_database()")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "m87 m87"
    bad = pg.url().replace(pg.password, "wrong")
    r = psql(bad, "SELECT 1")
    assert r.returncode != 0
    assert "password authentication failed" in r.stderr


def test_data_survives_a_restart_and_close_removes_everything(pg):
    assert psql(pg.url(), "CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('kept')").returncode == 0
    pg.restart()
    r = psql(pg.url(), "SELECT v FROM t")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "kept"
    d = pg.dir
    pg.close()
    assert not os.path.exists(d)
    assert psql(pg.url(), "SELECT 1").returncode != 0
