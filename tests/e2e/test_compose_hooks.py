"""Lifecycle hooks (`post_start`, `pre_stop`) run by `m87-agent compose` through dockerd's exec
API: post_start right after a container started (a failure fails `up` with the hook's exit code
and output), pre_stop right before a container is stopped by `down`, `stop` or a recreate (m87
makes a failure a warning, and the stop goes on). Their output is part of the
progress output; changing a hook recreates the container (the config hash covers them)."""

import os

import pytest

from agent_util import device, own_server, running_ids, wait_for  # noqa: F401 (fixtures)
from compose_util import AGENT, make_project, project, unique_name  # noqa: F401

pytestmark = pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built")


def _out_dir(p):
    """A directory bound at /out, writable by any user of the container."""
    d = p.dir / "out"
    d.mkdir(exist_ok=True)
    os.chmod(d, 0o777)
    return d


def _hooked(img, post='echo "post $$HOOK_VAR $$(id -u) $$(pwd)" | tee -a /out/post',
            pre='echo "pre $$(id -u)" | tee -a /out/pre'):
    return """
        services:
          web:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            volumes: ["./out:/out"]
            post_start:
              - command: ["sh", "-c", '%(post)s']
                user: "1234"
                working_dir: /tmp
                environment:
                  HOOK_VAR: from-hook
            pre_stop:
              - command: sh -c '%(pre)s'
    """ % {"img": img, "post": post, "pre": pre}


def test_post_start_runs_with_user_dir_env_and_shows_output(env, project):
    p = project
    out = _out_dir(p)
    p.compose(_hooked(env.small_image))
    r = p.run("--progress", "plain", "up", "-d", check=0)
    name = "%s-web-1" % p.name
    assert (out / "post").read_text() == "post from-hook 1234 /tmp\n"   # user, working_dir, env
    # the hook's output in the progress, after the start
    assert "%s post_start | post from-hook 1234 /tmp" % name in r.err, r.err
    assert r.err.index("Container %s Started" % name) < r.err.index("post_start |"), r.err
    # a converged project runs no hook again
    p.run("up", "-d", check=0)
    assert (out / "post").read_text().count("\n") == 1


def test_post_start_failure_fails_up_with_code_and_output(env, project):
    p = project
    _out_dir(p)
    p.compose(_hooked(env.small_image, post="echo broken-hook >&2; exit 7"))
    r = p.run("--progress", "plain", "up", "-d", check=1)
    name = "%s-web-1" % p.name
    assert ("container '%s': post_start[0] ('sh') exited with code 7; last output lines:\n"
            "  broken-hook" % name) in r.err, r.err
    # the container stays started, as with compose v2
    assert p.service("web")["State"]["Running"]


def test_pre_stop_runs_on_down_and_stop(env, project):
    p = project
    out = _out_dir(p)
    p.compose(_hooked(env.small_image))
    p.up()
    r = p.run("--progress", "plain", "stop", check=0)
    assert (out / "pre").read_text() == "pre 0\n"
    name = "%s-web-1" % p.name
    assert "%s pre_stop | pre 0" % name in r.err, r.err
    assert r.err.index("pre_stop |") < r.err.index("Container %s Stopped" % name), r.err
    # a stopped container gets no pre_stop from down
    p.run("start", check=0)
    r = p.run("--progress", "plain", "down", check=0)
    assert (out / "pre").read_text() == "pre 0\npre 0\n"
    assert "%s pre_stop | pre 0" % name in r.err, r.err
    assert p.containers() == []
    p.up()
    p.run("stop", check=0)
    p.run("down", check=0)
    assert (out / "pre").read_text().count("\n") == 3


def test_pre_stop_failure_warns_and_stops_anyway(env, project):
    p = project
    _out_dir(p)
    p.compose(_hooked(env.small_image, pre="echo cannot-flush; exit 3"))
    p.up()
    r = p.run("--progress", "plain", "down", check=0)
    name = "%s-web-1" % p.name
    assert ("m87-agent: warning: container '%s': pre_stop[0] ('sh') exited with code 3; last "
            "output lines:\n  cannot-flush; stopping it anyway" % name) in r.err, r.err
    assert p.containers() == []


def test_changing_a_hook_recreates_and_runs_pre_stop(env, project):
    p = project
    out = _out_dir(p)
    p.compose(_hooked(env.small_image))
    p.up()
    first = p.service("web")["Id"]
    p.up()
    assert p.service("web")["Id"] == first                       # unchanged: kept
    p.compose(_hooked(env.small_image, pre='echo "pre2 $$(id -u)" | tee -a /out/pre'))
    p.up()
    second = p.service("web")["Id"]
    assert second != first                                       # pre_stop changed: recreated
    # the old container got the pre_stop of the files applied (the new one)
    assert (out / "pre").read_text() == "pre2 0\n"
    assert (out / "post").read_text().count("\n") == 2           # post_start of both
    p.compose(_hooked(env.small_image, pre='echo "pre2 $$(id -u)" | tee -a /out/pre',
                      post="echo changed-post"))
    p.up()
    assert p.service("web")["Id"] != second                      # post_start changed too
    assert (out / "pre").read_text() == "pre2 0\npre2 0\n"


def test_hooks_in_config_and_refused_forms(env, project):
    p = project
    p.compose("""
        services:
          web:
            image: %s
            post_start:
              - command: echo "a b"
                privileged: true
                environment: [K=V]
    """ % env.small_image)
    import json
    model = json.loads(p.run("config", "--format", "json", check=0).out)
    assert model["services"]["web"]["post_start"] == [
        {"command": ["echo", "a b"], "privileged": True, "environment": {"K": "V"}}]
    p.compose("""
        services:
          web:
            image: %s
            pre_stop:
              - user: root
    """ % env.small_image)
    r = p.run("config", check=2)
    assert "compose.yaml:6:9: services.web.pre_stop[0]: missing required field 'command'" \
        in r.err, r.err
    p.compose("""
        services:
          web:
            image: %s
            pre_stop:
              - command: ["true"]
                working_dir: tmp
    """ % env.small_image)
    r = p.run("config", check=2)
    assert "services.web.pre_stop[0].working_dir: working_dir must be an absolute path" \
        in r.err, r.err


def test_privileged_hook_is_passed_to_dockerd(env, project):
    """privileged: true is sent as the exec's Privileged; whether it runs is dockerd's call."""
    p = project
    out = _out_dir(p)
    p.compose("""
        services:
          web:
            image: %s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            volumes: ["./out:/out"]
            post_start:
              - command: ["sh", "-c", "grep CapEff /proc/self/status > /out/caps"]
                privileged: true
    """ % env.small_image)
    r = p.run("up", "-d")
    name = "%s-web-1" % p.name
    if r.returncode == 0:
        caps = (out / "caps").read_text().split()[1]
        assert int(caps, 16) == (1 << (int(caps, 16).bit_length())) - 1, caps  # every cap
        return
    # a restricted dockerd (this sandbox's) refuses a privileged exec as it refuses a
    # privileged container; the failure is the hook's, with dockerd's reason quoted
    assert r.returncode == 1, r.err
    assert "container '%s': post_start[0] ('sh') exited with code 126" % name in r.err, r.err
    assert "unable to apply caps" in r.err, r.err



def test_hook_output_in_the_agents_step_report(env, device):
    """Under the agent, the job's native `compose up` step reports the hooks' output with the
    rest of its progress output."""
    dev = device
    project = unique_name("hk")
    src = dev.compose_dir(project, {"web": {
        "image": env.small_image, "command": ["sleep", "3600"], "stop_grace_period": "0s",
        "post_start": [{"command": ["echo", "hook-marker-%s" % project]}]}})
    dev.agent.start()
    dev.m87("deployment", "new", "--active")
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.wait_applied()
    assert len(running_ids(dev.agent, project)) == 1

    def up_report():
        return [r for r in dev.reports(kind="step", job=project)
                if r["step"] == "up" and r["state"] == "succeeded"]
    done = wait_for(up_report, 60, "the up step's report")
    assert "web-1 post_start | hook-marker-%s" % project in done[-1]["output"], done[-1]
