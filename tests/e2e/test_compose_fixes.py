"""Fixes of the compose executor: a changed container_name recreates the container under the
new name; stop, start, restart and logs work on a project known only by its name (-p NAME, no
compose file), from the containers' labels, as docker compose v2's do."""

import pytest

from compose_util import AGENT, make_project, project  # noqa: F401

pytestmark = pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built")


def _ids(p):
    return {c["Names"][0].lstrip("/"): c["Id"] for c in p.containers()}


NAMED = """
    services:
      web:
        image: %(img)s
        command: ["sleep", "3600"]
        stop_grace_period: 0s
        %(name)s
      other:
        image: %(img)s
        command: ["sleep", "3600"]
        stop_grace_period: 0s
"""


def _named(env, name=None):
    return NAMED % dict(img=env.small_image,
                        name=("container_name: %s" % name) if name else "")


def _aliases(p, name):
    nets = p.inspect(name)["NetworkSettings"]["Networks"]
    return nets["%s_default" % p.name]["Aliases"] or []


def _no_leftovers(p):
    """No temporary <id>_<name> container of the project is left behind."""
    assert [n for n in p.all_names() if "_" + p.name in n] == []


def test_container_name_change_recreates(env, project):
    p = project
    p.compose(_named(env))
    p.up()
    ids = _ids(p)
    canonical, other = "%s-web-1" % p.name, "%s-other-1" % p.name
    assert set(ids) == {canonical, other}

    first = "%s-first" % p.name                                           # container_name added
    p.compose(_named(env, first))
    p.up()
    now = _ids(p)
    assert set(now) == {first, other}
    assert now[first] != ids[canonical]                                   # a new container
    assert now[other] == ids[other]                                       # the other untouched
    assert p.service("web")["Name"] == "/" + first
    assert p.service("web")["State"]["Running"]
    assert first in _aliases(p, first) and canonical not in _aliases(p, first)
    _no_leftovers(p)

    p.up()                                                                # converged: kept
    assert _ids(p) == now

    second = "%s-second" % p.name                                         # container_name changed
    p.compose(_named(env, second))
    p.up()
    after = _ids(p)
    assert set(after) == {second, other}
    assert after[second] != now[first] and after[other] == ids[other]
    assert second in _aliases(p, second) and first not in _aliases(p, second)
    assert p.service("web")["State"]["Running"]
    _no_leftovers(p)

    p.compose(_named(env))                                                # container_name removed
    p.up()
    back = _ids(p)
    assert set(back) == {canonical, other}
    assert back[canonical] != after[second] and back[other] == ids[other]
    assert canonical in _aliases(p, canonical) and second not in _aliases(p, canonical)
    _no_leftovers(p)


CHAIN = """
    services:
      a:
        image: %(img)s
        command: ["sleep", "3600"]
        stop_grace_period: 0s
        healthcheck:
          test: ["CMD", "true"]
          interval: 1s
          start_period: 0s
      b:
        image: %(img)s
        command: ["sleep", "3600"]
        stop_grace_period: 0s
        depends_on:
          a: {condition: service_healthy}
      c:
        image: %(img)s
        command: ["sleep", "3600"]
        stop_grace_period: 0s
        scale: 2
"""


def _running(p):
    return {n: p.inspect(i)["State"]["Running"] for n, i in _ids(p).items()}


def _by_name(p, *args, check=0):
    """Run with -p NAME only: no -f, from a directory without a compose file."""
    return p.run("--progress", "plain", *args, files=[], cwd="/", check=check)


def test_stop_start_restart_by_name(env, project):
    p = project
    p.compose(CHAIN % dict(img=env.small_image))
    p.up("--wait")
    ids = _ids(p)
    names = {s: "%s-%s" % (p.name, s) for s in ("a-1", "b-1", "c-1", "c-2")}
    assert set(ids) == set(names.values())

    r = _by_name(p, "stop")
    assert not any(_running(p).values())
    lines = r.err.splitlines()
    # dependents first: b is stopped before a
    assert lines.index("Container %s Stopped" % names["b-1"]) < \
        lines.index("Container %s Stopped" % names["a-1"])

    r = _by_name(p, "start")
    assert all(_running(p).values())
    lines = r.err.splitlines()
    # b waits for a's healthcheck, read from b's depends_on label
    assert "Container %s Waiting (service_healthy)" % names["a-1"] in lines
    assert lines.index("Container %s Started" % names["a-1"]) < \
        lines.index("Container %s Started" % names["b-1"])
    assert p.service("a")["State"]["Health"]["Status"] == "healthy"

    _by_name(p, "stop", "c")                                     # one service, both replicas
    state = _running(p)
    assert not state[names["c-1"]] and not state[names["c-2"]]
    assert state[names["a-1"]] and state[names["b-1"]]

    _by_name(p, "start", "c")
    assert all(_running(p).values())

    before = {n: p.inspect(i)["State"]["StartedAt"] for n, i in ids.items()}
    _by_name(p, "restart", "-t", "0", "b")
    after = {n: p.inspect(i)["State"]["StartedAt"] for n, i in ids.items()}
    assert after[names["b-1"]] != before[names["b-1"]]
    assert after[names["a-1"]] == before[names["a-1"]]
    assert all(_running(p).values())
    assert _ids(p) == ids                                                 # the same containers

    r = _by_name(p, "stop", "nosuch", check=1)
    assert "no such service: 'nosuch'" in r.err
    assert all(_running(p).values())                                      # nothing was stopped


def test_logs_by_name(env, project):
    p = project
    p.compose("""
        services:
          alpha:
            image: %(img)s
            command: ["sh", "-c", "echo alpha-one; exec sleep 3600"]
            stop_grace_period: 0s
          beta:
            image: %(img)s
            command: ["sh", "-c", "echo beta-one; echo beta-two; exec sleep 3600"]
            stop_grace_period: 0s
    """ % {"img": env.small_image})
    p.up()
    p.wait_log("%s-alpha-1" % p.name, "alpha-one")
    p.wait_log("%s-beta-1" % p.name, "beta-two")

    out = _by_name(p, "logs", "beta").out
    assert "%s-beta-1" % p.name in out and "beta-one" in out and "beta-two" in out
    assert "alpha" not in out
    assert _by_name(p, "logs", "--no-log-prefix", "beta").out == "beta-one\nbeta-two\n"
    out = _by_name(p, "logs", "alpha", "beta").out
    assert "alpha-one" in out and "beta-one" in out
    out = _by_name(p, "logs").out
    assert "alpha-one" in out and "beta-two" in out
