"""depends_on: start order, service_healthy, service_completed_successfully, and the failures
of each (a failing one-shot, a dependency that never turns healthy)."""

import datetime
import re
import time

import pytest

from compose_util import AGENT, labels_of, make_project, project  # noqa: F401

pytestmark = pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built")


def _ts(text):
    """dockerd's RFC 3339 times (nanoseconds, Z or an offset) as an aware datetime."""
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text)
    assert m, text
    frac = (m.group(2) or "0")[:6].ljust(6, "0")
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.datetime.fromisoformat("%s.%s%s" % (m.group(1), frac, tz))


def _started(info):
    return _ts(info["State"]["StartedAt"])


def test_started_order_and_label(env, project):
    p = project
    p.compose("""
        services:
          front:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            depends_on: [mid]
          mid:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            depends_on:
              back:
                condition: service_started
          back:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
    """ % {"img": env.small_image})
    p.up()
    front, mid, back = p.service("front"), p.service("mid"), p.service("back")
    assert _started(back) <= _started(mid) <= _started(front)
    assert labels_of(front)["com.docker.compose.depends_on"].startswith("mid:service_started:")
    assert labels_of(mid)["com.docker.compose.depends_on"].startswith("back:service_started:")

    # up of one service brings its dependencies
    p.run("down", "-t", "0", check=0)
    p.up("front")
    assert len(p.containers()) == 3


def test_service_healthy_waits(env, project):
    """The dependency becomes healthy about 3 s after its start (a file appears); the dependent
    must not start before."""
    p = project
    p.compose("""
        services:
          db:
            image: %(img)s
            command: ["sh", "-c", "sleep 3; touch /tmp/ready; exec sleep 3600"]
            stop_grace_period: 0s
            healthcheck:
              test: ["CMD", "test", "-f", "/tmp/ready"]
              interval: 500ms
              timeout: 2s
              retries: 30
          app:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            depends_on:
              db:
                condition: service_healthy
    """ % {"img": env.small_image})
    t0 = time.monotonic()
    p.up()
    assert time.monotonic() - t0 >= 3
    db, app = p.service("db"), p.service("app")
    assert db["State"]["Health"]["Status"] == "healthy"
    assert app["State"]["Running"]
    # /tmp/ready appears 3 s after db's start: app cannot have started earlier
    assert (_started(app) - _started(db)).total_seconds() >= 2.9
    assert labels_of(app)["com.docker.compose.depends_on"].startswith("db:service_healthy:")


def test_service_healthy_failure(env, project):
    p = project
    p.compose("""
        services:
          db:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            healthcheck:
              test: ["CMD", "false"]
              interval: 300ms
              timeout: 1s
              retries: 2
          app:
            image: %(img)s
            command: ["sleep", "3600"]
            depends_on:
              db: {condition: service_healthy}
    """ % {"img": env.small_image})
    r = p.run("up", "-d", check=1, timeout=120)
    assert "%s-db-1" % p.name in r.err
    assert "unhealthy" in r.err
    app = p.containers(service="app")
    assert not app or app[0]["State"] != "running"               # the dependent never ran


def test_completed_successfully(env, project):
    p = project
    p.compose("""
        services:
          migrate:
            image: %(img)s
            command: ["sh", "-c", "sleep 1; echo migrated; exit 0"]
          app:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            depends_on:
              migrate:
                condition: service_completed_successfully
    """ % {"img": env.small_image})
    p.up()
    migrate, app = p.service("migrate"), p.service("app")
    assert migrate["State"]["Status"] == "exited" and migrate["State"]["ExitCode"] == 0
    assert app["State"]["Running"]
    assert _started(app) >= _ts(migrate["State"]["FinishedAt"])
    assert "migrated" in p.logs(migrate["Id"])
    # converged: a second up neither re-runs the one-shot nor touches the app
    p.up()
    assert p.service("migrate")["Id"] == migrate["Id"]
    assert p.service("app")["Id"] == app["Id"]
    assert p.service("app")["State"]["StartedAt"] == app["State"]["StartedAt"]


def test_completed_successfully_failure(env, project):
    p = project
    p.compose("""
        services:
          migrate:
            image: %(img)s
            command: ["sh", "-c", "echo migration failed badly; exit 3"]
          app:
            image: %(img)s
            command: ["sleep", "3600"]
            depends_on:
              migrate:
                condition: service_completed_successfully
    """ % {"img": env.small_image})
    r = p.run("up", "-d", check=1)
    assert "%s-migrate-1" % p.name in r.err
    assert "3" in r.err
    app = p.containers(service="app")
    assert not app or app[0]["State"] != "running"
