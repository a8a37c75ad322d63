"""m87-server's pool of PostgreSQL connections (`serve --db-pool N`, docs/design.md, PostgreSQL
backend, Connections): the option's refusals; a server holds exactly N connections for its
requests plus the listener's and the rollout lock's, and no more under many requests at once;
and what many requests at once on one device read and then write lands exactly once (each job
added is kept, revisions are numbered without a gap or a duplicate, one deployment is active)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from agent_util import wait_for
from cli_util import Server, check_sanitizers
from harness.postgres import Postgres

POOL = 3
DEVICES = 6
JOBS = 6  # added to one deployment of each device, all at once


@pytest.fixture(scope="module")
def pg():
    p = Postgres().start()
    yield p
    p.close()


def connections(pg, database):
    return int(pg.psql("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = '%s'" % database)
               .strip())


def test_db_pool_refuses_bad_values(pg, tmp_path):
    server = Server(tmp_path / "s", db_url=pg.create_database("refuse"))
    for bad in ("0", "65", "four", "-1", ""):
        server.extra_args = ["--db-pool", bad]
        with pytest.raises(RuntimeError) as e:
            server.start()
        assert "--db-pool: expected 1 to 64 connections" in str(e.value), str(e.value)


def test_pool_is_bounded_and_concurrent_changes_land_once(pg, tmp_path):
    database = "pool"
    server = Server(tmp_path / "s", db_url=pg.create_database(database))
    server.extra_args = ["--db-pool", str(POOL)]
    server.start()
    # the pool's connections are opened at start; the listener's and the leader's beside them
    wait_for(lambda: connections(pg, database) == POOL + 2, 30,
             lambda: "%d connections, not %d" % (connections(pg, database), POOL + 2))
    try:
        names = ["pool-%d" % i for i in range(DEVICES)]
        deps = {}
        for name in names:
            server.api("POST", "/v1/devices", {"name": name})
            a = server.api("POST", "/v1/devices/%s/deployments" % name, {"active": True})["id"]
            b = server.api("POST", "/v1/devices/%s/deployments" % name, {})["id"]
            deps[name] = (a, b)

        most = [0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                most[0] = max(most[0], connections(pg, database))

        def add_job(name, k):
            job = {"jobs": [{"id": "j%d" % k, "type": "job",
                             "steps": [{"name": "s", "run": ["true"]}]}]}
            return server.request("POST", "/v1/devices/%s/deployments/%s/jobs"
                                  % (name, deps[name][0]), body=job)

        def activate(name, k):
            return server.request("POST", "/v1/devices/%s/deployments/%s/activate"
                                  % (name, deps[name][k % 2]))

        sampler = threading.Thread(target=sample)
        sampler.start()
        with ThreadPoolExecutor(max_workers=16) as ex:
            futures = [ex.submit(add_job, name, k) for k in range(JOBS) for name in names]
            futures += [ex.submit(activate, name, k) for k in range(JOBS + 1) for name in names]
            answers = [f.result() for f in futures]
        done.set()
        sampler.join()

        assert [a for a in answers if a[0] != 200] == [], "a request failed"
        assert POOL + 2 >= most[0] >= 1, most[0]
        for name in names:
            a, b = deps[name]
            revs = server.api("GET", "/v1/devices/%s/deployments/%s/revisions" % (name, a))
            assert [r["revision"] for r in revs["revisions"]] == list(range(1, JOBS + 2)), revs
            newest = server.api("GET", "/v1/devices/%s/deployments/%s" % (name, a))
            assert sorted(newest["jobs"]) == sorted("j%d" % k for k in range(JOBS)), newest
            listed = server.api("GET", "/v1/devices/%s/deployments" % name)["deployments"]
            # JOBS + 1 activations ending on deployment (JOBS % 2): whichever came last, exactly
            # one of the two is active
            assert sum(1 for d in listed if d["active"]) == 1, listed
        assert connections(pg, database) <= POOL + 2
    finally:
        server.stop()
    check_sanitizers(server.log_path.read_text())
