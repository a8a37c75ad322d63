"""Convergence: recreate only what changed, --force-recreate, scale changes, orphans, and
crash safety (m87-agent killed with SIGKILL at random points of up and down)."""

import os
import random
import signal

import pytest

from compose_util import AGENT, labels_of, make_project, project  # noqa: F401

pytestmark = pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built")


def _ids(p):
    return {c["Names"][0].lstrip("/"): c["Id"] for c in p.containers()}


def _started(p):
    return {c["Names"][0].lstrip("/"): p.inspect(c["Id"])["State"]["StartedAt"]
            for c in p.containers()}


STACK = """
    services:
      a:
        image: %(img)s
        command: ["sleep", "3600"]
        stop_grace_period: 0s
        environment: {V: "%(a)s"}
      b:
        image: %(img_b)s
        command: ["sleep", "3600"]
        stop_grace_period: 0s
        environment: {V: "%(b)s"}
        depends_on: [a]
      c:
        image: %(img)s
        command: ["sleep", "3600"]
        stop_grace_period: 0s
        scale: %(scale)d
"""


def _stack(env, a="1", b="1", img_b=None, scale=1):
    return STACK % dict(img=env.small_image, img_b=img_b or env.small_image, a=a, b=b,
                        scale=scale)


def test_recreate_only_what_changed(env, project):
    p = project
    p.compose(_stack(env))
    p.up()
    ids, started = _ids(p), _started(p)
    assert sorted(ids) == ["%s-%s-1" % (p.name, s) for s in "abc"]

    r = p.run("--progress", "plain", "up", "-d", check=0)                  # no-op up
    assert _ids(p) == ids and _started(p) == started
    assert "Recreate" not in r.err and "Created" not in r.err

    p.compose(_stack(env, b="2"))                                          # environment of b
    p.up()
    after = _ids(p)
    assert set(after) == set(ids)                                          # canonical names
    assert after["%s-a-1" % p.name] == ids["%s-a-1" % p.name]
    assert after["%s-c-1" % p.name] == ids["%s-c-1" % p.name]
    assert after["%s-b-1" % p.name] != ids["%s-b-1" % p.name]
    assert _started(p)["%s-a-1" % p.name] == started["%s-a-1" % p.name]   # not even restarted
    assert "V=2" in p.service("b")["Config"]["Env"]
    assert p.service("b")["State"]["Running"]

    ids = _ids(p)
    p.compose(_stack(env, b="2", img_b=env.small_image_2))                 # image of b
    p.up()
    assert p.service("b")["Config"]["Image"] == env.small_image_2
    assert _ids(p)["%s-b-1" % p.name] != ids["%s-b-1" % p.name]
    assert _ids(p)["%s-a-1" % p.name] == ids["%s-a-1" % p.name]

    ids = _ids(p)
    p.api("POST", "/containers/%s/stop?t=0" % ids["%s-c-1" % p.name])      # stopped, same config
    p.up()
    assert _ids(p) == ids                                                  # started, not made
    assert p.service("c")["State"]["Running"]

    p.up("--force-recreate")
    new = _ids(p)
    assert set(new) == set(ids) and not set(new.values()) & set(ids.values())


def test_scale_up_and_down(env, project):
    p = project
    p.compose(_stack(env, scale=1))
    p.up()
    first = _ids(p)["%s-c-1" % p.name]
    p.compose(_stack(env, scale=3))
    p.up()
    names = p.container_names(service="c")
    assert names == ["%s-c-%d" % (p.name, n) for n in (1, 2, 3)]
    assert _ids(p)["%s-c-1" % p.name] == first                             # kept
    p.compose(_stack(env, scale=1))
    p.up()
    assert p.container_names(service="c") == ["%s-c-1" % p.name]
    assert _ids(p)["%s-c-1" % p.name] == first


def test_orphans(env, project):
    p = project
    p.compose(_stack(env) + """
      gone:
        image: %s
        command: ["sleep", "3600"]
        stop_grace_period: 0s
      dbg:
        image: %s
        command: ["sleep", "3600"]
        stop_grace_period: 0s
        profiles: [debug]
    """ % (env.small_image, env.small_image))
    p.run("--profile", "debug", "up", "-d", check=0)
    assert len(p.containers(service="gone")) == 1
    assert len(p.containers(service="dbg")) == 1

    p.compose(_stack(env) + """
      dbg:
        image: %s
        command: ["sleep", "3600"]
        stop_grace_period: 0s
        profiles: [debug]
    """ % env.small_image)
    p.up()
    assert len(p.containers(service="gone")) == 1                          # kept without flag
    p.up("--remove-orphans")
    assert p.containers(service="gone") == []                              # removed
    assert len(p.containers(service="dbg")) == 1                 # inactive profile: no orphan

    # down --remove-orphans removes a container of a service no file mentions
    p.compose(_stack(env) + """
      gone2:
        image: %s
        command: ["sleep", "3600"]
        stop_grace_period: 0s
    """ % env.small_image)
    p.up()
    p.compose(_stack(env))
    p.run("down", check=0)
    assert len(p.containers(service="gone2")) == 1
    p.run("down", "--remove-orphans", check=0)
    left = {c["Labels"]["com.docker.compose.service"] for c in p.containers()}
    assert not left & {"a", "b", "c", "gone2"}, left   # (dbg's fate is compose's choice)


CRASH_STACK = """
    services:
      db:
        image: %(img)s
        command: ["sleep", "3600"]
        stop_grace_period: 0s
        environment: {GEN: "%(gen)d"}
        healthcheck:
          test: ["CMD", "true"]
          interval: 500ms
      web:
        image: %(img)s
        command: ["sleep", "3600"]
        stop_grace_period: 0s
        environment: {GEN: "%(gen)d"}
        deploy: {replicas: 2}
        depends_on:
          db: {condition: service_healthy}
      worker:
        image: %(img)s
        command: ["sleep", "3600"]
        stop_grace_period: 0s
        environment: {GEN: "%(gen)d"}
        volumes: [data:/data]
        networks: [default, back]
    volumes:
      data:
    networks:
      back:
"""
REPLICAS = {"db": 1, "web": 2, "worker": 1}


def _assert_converged(p, gen):
    found = {}
    for c in p.containers():
        lab = c["Labels"]
        key = (lab["com.docker.compose.service"], int(lab["com.docker.compose.container-number"]))
        assert key not in found, "two containers for %r: %s and %s" % (
            key, found[key]["Names"], c["Names"])
        found[key] = c
    want = {(s, n) for s, k in REPLICAS.items() for n in range(1, k + 1)}
    assert set(found) == want
    for (svc, n), c in found.items():
        assert c["Names"] == ["/%s-%s-%d" % (p.name, svc, n)]
        info = p.inspect(c["Id"])
        assert info["State"]["Running"], info["Name"]
        assert "GEN=%d" % gen in info["Config"]["Env"], (info["Name"], info["Config"]["Env"])
    strays = [n for n in p.all_names() if p.name in n and
              n not in {"%s-%s-%d" % (p.name, s, k) for s, k in want}]
    assert strays == [], "temp-named or extra containers left: %r" % strays
    assert len([n for n in p.networks() if n["Name"] == "%s_default" % p.name]) == 1
    assert len([n for n in p.networks() if n["Name"] == "%s_back" % p.name]) == 1


def test_sigkill_during_up_and_down(env, project):
    p = project
    seed = int(os.environ.get("M87_TEST_SEED") or random.randrange(1 << 30))
    rnd = random.Random(seed)
    print("seed", seed)
    killed = 0
    gen = 0
    # delays spread over the whole of an up: before the first call, during pulls/creates,
    # between create and start, during the health wait, after
    delays = [0.02, 0.1, 0.25] + [rnd.uniform(0.05, 3.0) for _ in range(7)]
    # an up that ends before its kill is not killed; how many do is the machine's timing, so
    # more ups (each a change, with a short delay) follow until three were killed
    outcomes = []
    for delay in delays + [None] * 20:
        if delay is None and killed >= 3:
            break
        delay = delay if delay is not None else rnd.uniform(0.02, 0.5)
        gen += 1
        p.compose(CRASH_STACK % dict(img=env.small_image, gen=gen))
        rc = p.kill_after(delay, "up", "-d")
        outcomes.append((round(delay, 2), rc, p.kill_err[-300:]))
        killed += rc == -signal.SIGKILL
        if rnd.random() < 0.3:                                 # sometimes two kills in a row
            p.kill_after(rnd.uniform(0.05, 1.5), "up", "-d")
    assert killed >= 3, "ups killed: %d of %d\n%s" % (killed, len(outcomes),
                                                      "\n".join(map(repr, outcomes)))
    p.up(timeout=300)
    _assert_converged(p, gen)
    ids = _ids(p)
    p.up()
    assert _ids(p) == ids                                      # converged stays converged

    for delay in (0.05, 0.3, 0.8):
        p.kill_after(delay, "down", "-t", "0")
    p.run("down", "-t", "0", check=0)
    assert p.containers() == []
    assert [n for n in p.all_names() if p.name in n] == []
    assert p.networks() == []
