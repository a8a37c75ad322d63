"""Concurrency of the compose executor: services of one dependency level are created, started,
stopped and removed by a pool of threads. What must still hold: every start after its
dependencies' conditions (from dockerd's StartedAt and FinishedAt, and from the order of the
progress lines), stops and removals dependents first, whole progress lines, a failure that
starts nothing after it, replicas numbered right, and convergence after SIGKILL mid-run."""

import datetime
import os
import random
import re
import signal
import time

import pytest

from compose_util import AGENT, make_project, project  # noqa: F401

pytestmark = pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built")

SLEEP = '["sleep", "3600"]'

# Three levels: db, cache, queue, init | api1, api2, worker1, worker2 | web, cron.
STACK = """
    services:
      db:
        image: %(img)s
        command: ["sh", "-c", "sleep 1; touch /tmp/ok; stat -c 'ok at %%y' /tmp/ok; exec sleep 3600"]
        stop_grace_period: 0s
        environment: {GEN: "%(gen)d"}
        healthcheck:
          test: ["CMD", "test", "-f", "/tmp/ok"]
          interval: 300ms
          timeout: 2s
          retries: 50
      cache:
        image: %(img)s
        command: %(sleep)s
        stop_grace_period: 0s
        environment: {GEN: "%(gen)d"}
      queue:
        image: %(img)s
        command: %(sleep)s
        stop_grace_period: 0s
        environment: {GEN: "%(gen)d"}
      init:
        image: %(img)s
        command: ["sh", "-c", "sleep 1; exit 0"]
        environment: {GEN: "%(gen)d"}
      api1:
        image: %(img)s
        command: %(sleep)s
        stop_grace_period: 0s
        environment: {GEN: "%(gen)d"}
        depends_on:
          db: {condition: service_healthy}
          cache: {condition: service_started}
      api2:
        image: %(img)s
        command: %(sleep)s
        stop_grace_period: 0s
        environment: {GEN: "%(gen)d"}
        depends_on:
          db: {condition: service_healthy}
      worker1:
        image: %(img)s
        command: %(sleep)s
        stop_grace_period: 0s
        environment: {GEN: "%(gen)d"}
        depends_on: [queue]
      worker2:
        image: %(img)s
        command: %(sleep)s
        stop_grace_period: 0s
        environment: {GEN: "%(gen)d"}
        deploy: {replicas: %(replicas)d}
        depends_on: [queue, cache]
      web:
        image: %(img)s
        command: %(sleep)s
        stop_grace_period: 0s
        environment: {GEN: "%(gen)d"}
        depends_on:
          api1: {condition: service_started}
          api2: {condition: service_started}
          init: {condition: service_completed_successfully}
      cron:
        image: %(img)s
        command: %(sleep)s
        stop_grace_period: 0s
        environment: {GEN: "%(gen)d"}
        depends_on: [worker1, api1]
"""
DEPENDS = {
    "api1": ["db", "cache"], "api2": ["db"], "worker1": ["queue"],
    "worker2": ["queue", "cache"], "web": ["api1", "api2", "init"], "cron": ["worker1", "api1"],
}
SERVICES = ["db", "cache", "queue", "init", "api1", "api2", "worker1", "worker2", "web", "cron"]
ONE_SHOT = {"init"}
# every line of the plain progress output is one of these, whole
LINE = re.compile(r"^(Network|Volume|Container|Image) \S+ [A-Z][a-z]+( \(.*\))?$|"
                  r"^Pull(ing|ed) \S+: |^m87-agent: warning: ")


def _stack(env, gen=0, replicas=3):
    return STACK % dict(img=env.small_image, gen=gen, replicas=replicas, sleep=SLEEP)


def _ts(text):
    """dockerd's RFC 3339 times (nanoseconds, Z or an offset) as an aware datetime."""
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", text)
    assert m, text
    frac = (m.group(2) or "0")[:6].ljust(6, "0")
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.datetime.fromisoformat("%s.%s%s" % (m.group(1), frac, tz))


def wait_for_ok(p):
    """The time db's /tmp/ok was written, from the line db printed (its log)."""
    deadline = time.monotonic() + 30
    while True:
        m = re.search(r"ok at (\S+) (\S+) ([+-]\d\d)(\d\d)", p.run("logs", "db").out)
        if m or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert m, "db printed no 'ok at' line"
    day, clock, tzh, tzm = m.groups()
    return _ts("%sT%s%s:%s" % (day, clock, tzh, tzm))


def _by_service(p):
    """service -> [inspect of each replica]"""
    out = {}
    for c in p.containers():
        out.setdefault(c["Labels"]["com.docker.compose.service"], []).append(p.inspect(c["Id"]))
    return out


def _progress(r):
    lines = r.err.splitlines()
    bad = [x for x in lines if not LINE.match(x)]
    assert bad == [], "progress lines mixed up or unknown: %r" % bad
    return lines


def _line_index(lines, name, action):
    want = "Container %s %s" % (name, action)
    found = [i for i, x in enumerate(lines) if x == want or x.startswith(want + " (")]
    assert found, "no %r in %r" % (want, lines)
    return found[-1]


def _assert_start_order(p, lines=None):
    ctrs = _by_service(p)
    assert sorted(ctrs) == sorted(SERVICES)
    for svc, deps in DEPENDS.items():
        for me in ctrs[svc]:
            assert me["State"]["Running"], me["Name"]
            for dep in deps:
                for d in ctrs[dep]:
                    # completion: after the one-shot's end; otherwise after its start
                    after = d["State"]["FinishedAt"] if dep in ONE_SHOT else d["State"]["StartedAt"]
                    assert _ts(me["State"]["StartedAt"]) >= _ts(after), (me["Name"], d["Name"])
                    if lines is not None:
                        assert _line_index(lines, d["Name"][1:], "Started") < \
                            _line_index(lines, me["Name"][1:], "Started"), (me["Name"], d["Name"])
    # the healthy condition: db's check passes once /tmp/ok exists (1 s after its process
    # started; dockerd's StartedAt may be taken later than that on a loaded machine), and db
    # prints the file's time: api1 and api2 start after it
    ok = wait_for_ok(p)
    for api in ctrs["api1"] + ctrs["api2"]:
        assert _ts(api["State"]["StartedAt"]) > ok, (api["Name"], api["State"]["StartedAt"], ok)
    assert ctrs["init"][0]["State"]["Status"] == "exited"
    assert ctrs["init"][0]["State"]["ExitCode"] == 0
    return ctrs


def test_levels_start_and_stop_in_dependency_order(env, project):
    p = project
    p.compose(_stack(env))
    r = p.run("--progress", "plain", "up", "-d", check=0, timeout=300)
    lines = _progress(r)
    ctrs = _assert_start_order(p, lines)
    assert sorted(c["Config"]["Labels"]["com.docker.compose.container-number"]
                  for c in ctrs["worker2"]) == ["1", "2", "3"]

    # stop: dependents first, so each one died before anything it depends on
    r = p.run("--progress", "plain", "stop", check=0, timeout=300)
    _progress(r)
    ctrs = _by_service(p)
    for svc, deps in DEPENDS.items():
        for me in ctrs[svc]:
            assert not me["State"]["Running"]
            for dep in deps:
                for d in ctrs[dep]:
                    if dep not in ONE_SHOT:
                        assert _ts(me["State"]["FinishedAt"]) <= _ts(d["State"]["FinishedAt"]), \
                            (me["Name"], d["Name"])

    # start again: the same order as up
    r = p.run("--progress", "plain", "start", check=0, timeout=300)
    _assert_start_order(p, _progress(r))

    # down: each container removed before anything it depends on is stopped
    r = p.run("--progress", "plain", "down", check=0, timeout=300)
    lines = _progress(r)
    for svc, deps in DEPENDS.items():
        for me in ctrs[svc]:
            for dep in deps:
                if dep in ONE_SHOT:
                    continue
                for d in ctrs[dep]:
                    assert _line_index(lines, me["Name"][1:], "Removed") < \
                        _line_index(lines, d["Name"][1:], "Stopped"), (me["Name"], d["Name"])
    assert p.containers() == []
    assert p.networks() == []


def test_noop_and_change_in_parallel(env, project):
    p = project
    p.compose(_stack(env, gen=1))
    p.up(timeout=300)
    before = {c["Names"][0]: c["Id"] for c in p.containers()}

    r = p.run("--progress", "plain", "up", "-d", check=0, timeout=300)
    lines = _progress(r)
    assert not [x for x in lines if x.endswith((" Created", " Recreated", " Removed"))], lines
    after = {c["Names"][0]: c["Id"] for c in p.containers()}
    assert after == before

    # everything changes: every container is recreated (in parallel), in dependency order
    p.compose(_stack(env, gen=2, replicas=2))
    r = p.run("--progress", "plain", "up", "-d", check=0, timeout=300)
    ctrs = _assert_start_order(p, _progress(r))
    for svc, found in ctrs.items():
        for c in found:
            assert "GEN=2" in c["Config"]["Env"], c["Name"]
            assert c["Id"] not in before.values()
    assert sorted(c["Name"] for c in ctrs["worker2"]) == [
        "/%s-worker2-1" % p.name, "/%s-worker2-2" % p.name]
    strays = [n for n in p.all_names() if p.name in n and not re.match(
        r"^%s-[a-z0-9]+-\d+$" % re.escape(p.name), n)]
    assert strays == []


def test_failure_starts_nothing_that_depends_on_it(env, project):
    p = project
    broken = """
        services:
          ok1: {image: %(img)s, command: %(sleep)s, stop_grace_period: 0s}
          ok2: {image: %(img)s, command: %(sleep)s, stop_grace_period: 0s}
          bad: {image: %(img)s, command: %(bad)s, stop_grace_period: 0s}
          after_bad:
            image: %(img)s
            command: %(sleep)s
            stop_grace_period: 0s
            depends_on: [bad, ok1]
          after_ok:
            image: %(img)s
            command: %(sleep)s
            stop_grace_period: 0s
            depends_on: [ok2]
    """
    p.compose(broken % dict(img=env.small_image, sleep=SLEEP, bad='["/no/such/binary"]'))
    r = p.run("up", "-d", check=1, timeout=300)
    assert "%s-bad-1" % p.name in r.err
    after_bad = p.service("after_bad")
    assert after_bad["State"]["Status"] == "created"
    assert after_bad["State"]["StartedAt"].startswith("0001-01-01")

    p.compose(broken % dict(img=env.small_image, sleep=SLEEP, bad=SLEEP))
    p.up(timeout=300)
    for svc in ("ok1", "ok2", "bad", "after_bad", "after_ok"):
        assert p.service(svc)["State"]["Running"], svc


def test_sigkill_during_parallel_up_and_down(env, project):
    p = project
    seed = int(os.environ.get("M87_TEST_SEED") or random.randrange(1 << 30))
    rnd = random.Random(seed)
    print("seed", seed)
    killed = 0
    gen = 0
    # an up that ends before its kill is not killed; how many do is the machine's timing, so
    # more ups (each a change, with a short delay) follow until three were killed
    outcomes = []
    for delay in [0.15, 0.4] + [rnd.uniform(0.1, 2.5) for _ in range(4)] + [None] * 20:
        if delay is None and killed >= 3:
            break
        delay = delay if delay is not None else rnd.uniform(0.05, 0.5)
        gen += 1
        p.compose(_stack(env, gen=gen, replicas=rnd.choice([1, 3])))
        rc = p.kill_after(delay, "up", "-d", wait=60)
        outcomes.append((round(delay, 2), rc, p.kill_err[-300:]))
        killed += rc == -signal.SIGKILL
    assert killed >= 3, "ups killed: %d of %d\n%s" % (killed, len(outcomes),
                                                      "\n".join(map(repr, outcomes)))
    p.compose(_stack(env, gen=gen, replicas=2))
    p.up(timeout=300)
    ctrs = _assert_start_order(p)
    seen = set()
    for svc, found in ctrs.items():
        for c in found:
            number = int(c["Config"]["Labels"]["com.docker.compose.container-number"])
            assert (svc, number) not in seen, c["Name"]
            seen.add((svc, number))
            assert c["Name"] == "/%s-%s-%d" % (p.name, svc, number)
            assert "GEN=%d" % gen in c["Config"]["Env"], c["Name"]
    assert len(ctrs["worker2"]) == 2
    assert len(seen) == len(SERVICES) + 1
    assert [n for n in p.all_names() if p.name in n and n.count("_")] == []

    for delay in (0.1, 0.3):
        p.kill_after(delay, "down", "-t", "0", wait=60)
    p.run("down", "-t", "0", check=0, timeout=300)
    assert p.containers() == []
    assert [n for n in p.all_names() if p.name in n] == []
