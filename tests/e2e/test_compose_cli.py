"""The `m87-agent compose` command line: usage and bad input (exit 2, FILE:LINE:COLUMN, nothing
created), config, ps, logs, stop/start/restart, down, --wait failures, up attached to the
logs, and the progress output on a terminal and in a pipe."""

import json
import os
import pty
import re
import select
import signal
import subprocess
import time

import pytest
import yaml

from compose_util import AGENT, PROJECT_LABEL, filters, make_project, project  # noqa: F401

pytestmark = pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built")


def _run(*argv, env=None):
    proc = subprocess.run([str(AGENT)] + list(argv), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env, timeout=60)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def _nothing_created(p):
    assert p.containers() == []
    assert p.networks() == []
    assert p.volumes() == []
    assert [n for n in p.all_names() if p.name in n] == []


# ---------------------------------------------------------------- usage


def test_version_and_help():
    rc, out, _ = _run("--version")
    assert rc == 0 and re.match(r"^m87-agent \d+\.\d+\.\d+\n$", out)
    rc, out, _ = _run("--help")
    assert rc == 0 and "compose" in out
    rc, out, _ = _run("compose", "--help")
    assert rc == 0
    for sub in ("up", "down", "pull", "ps", "logs", "stop", "start", "restart", "config"):
        assert re.search(r"^  %s\s" % sub, out, re.M), sub
        rc, sub_out, _ = _run("compose", sub, "--help")
        assert rc == 0 and sub_out.startswith("usage: m87-agent compose %s" % sub)


@pytest.mark.parametrize("argv,needle", [
    ([], "usage"),
    (["nosuch"], "unknown command 'nosuch'"),
    (["compose"], "usage"),
    (["compose", "nosuch"], "unknown command 'nosuch'"),
    (["compose", "--bogus", "up"], "unknown option '--bogus'"),
    (["compose", "up", "--bogus"], "unknown option '--bogus'"),
    (["compose", "up", "-x"], "unknown option '-x'"),
    (["compose", "-f"], "needs a value"),
    (["compose", "up", "--pull", "sometimes"], "invalid --pull 'sometimes'"),
    (["compose", "up", "--wait-timeout", "soon"], "invalid value 'soon'"),
    (["compose", "logs", "--tail", "x"], "invalid value 'x'"),
    (["compose", "down", "-t", "-1"], "invalid value '-1'"),
    (["compose", "ps", "--format", "xml"], "invalid --format 'xml'"),
    (["compose", "config", "--format", "toml"], "invalid --format 'toml'"),
    (["compose", "--progress", "loud", "up"], "invalid --progress 'loud'"),
    (["compose", "-p", "My_App", "down"], "invalid project name 'My_App'"),
])
def test_usage_errors(argv, needle):
    rc, out, err = _run(*argv)
    assert rc == 2, (out, err)
    assert needle in err


# ---------------------------------------------------------------- bad input


BAD = {
    "yaml-syntax": ("services:\n  web:\n    image: [unclosed\n", 4, None),
    "unknown-field": ("services:\n  web:\n    image: IMG\n    bogus: 1\n", 4, "bogus"),
    "bad-port": ("services:\n  web:\n    image: IMG\n    ports:\n      - \"80000:80\"\n", 5,
                 "80000"),
    "bad-size": ("services:\n  web:\n    image: IMG\n    mem_limit: 12x\n", 4, "12x"),
    "bad-duration": ("services:\n  web:\n    image: IMG\n    stop_grace_period: soon\n", 4,
                     "soon"),
    "wrong-type": ("services:\n  web:\n    image: IMG\n    command: {a: 1}\n", 4, "command"),
    "cycle": ("services:\n  a:\n    image: IMG\n    depends_on: [b]\n"
              "  b:\n    image: IMG\n    depends_on: [a]\n", None, "cycle"),
    "missing-service": ("services:\n  a:\n    image: IMG\n    depends_on: [ghost]\n", 4,
                        "ghost"),
    "missing-network": ("services:\n  a:\n    image: IMG\n    networks: [ghost]\n", 4, "ghost"),
    "required-var": ("services:\n  a:\n    image: ${M87_UNSET_REQUIRED:?set it please}\n", 3,
                     "set it please"),
    "unsupported": ("services:\n  a:\n    image: IMG\n    build: .\n", 4, "build"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_creates_nothing(env, project, case):
    text, line, needle = BAD[case]
    p = project
    # a good service in a first file: the bad second file must stop everything
    p.compose("""
        services:
          good:
            image: %s
            command: ["sleep", "3600"]
    """ % env.small_image)
    p.write("bad.yaml", text.replace("IMG", env.small_image), dedent=False)
    p.files.append(str(p.dir / "bad.yaml"))
    r = p.run("up", "-d", check=2)
    first = r.err.splitlines()[0]
    pattern = r"^m87-agent: %s:%s:\d+: " % (re.escape(str(p.dir / "bad.yaml")),
                                            line if line else r"\d+")
    assert re.match(pattern, first), first
    if needle:
        assert needle in first
    _nothing_created(p)
    assert p.run("config", check=2).err == r.err                  # config reports the same


def test_missing_file_and_service(env, project):
    p = project
    r = p.run("up", "-d", files=[str(p.dir / "nope.yaml")], check=2)
    assert "nope.yaml" in r.err
    p.compose("""
        services:
          web:
            image: %s
    """ % env.small_image)
    r = p.run("up", "-d", "nosuch", check=2)
    assert "nosuch" in r.err
    _nothing_created(p)


def test_docker_host(env, project):
    p = project
    p.compose("""
        services:
          web:
            image: %s
    """ % env.small_image)
    r = p.run("up", "-d", env=p.environ(DOCKER_HOST="unix:///nonexistent/docker.sock"), check=1)
    assert "/nonexistent/docker.sock" in r.err
    p.run("ps", env=p.environ(DOCKER_HOST="tcp://127.0.0.1:1"), check=2)
    _nothing_created(p)


# ---------------------------------------------------------------- config


def test_config_output(env, project):
    p = project
    p.write(".env", "TAG_FROM_DOTENV=fromdotenv\n")
    p.compose("""
        services:
          web:
            image: %s
            environment:
              - A=1
            ports: ["8080:80"]
            labels: {l: "${TAG_FROM_DOTENV}"}
            mem_limit: 1g
          db:
            image: %s
    """ % (env.small_image, env.small_image))
    y = yaml.safe_load(p.run("config", check=0).out)
    j = json.loads(p.run("config", "--format", "json", check=0).out)
    assert y == j                                                  # the same model both ways
    assert y["name"] == p.name
    web = y["services"]["web"]
    assert web["image"] == env.small_image
    assert web["environment"] == {"A": "1"}                         # list form normalised
    assert web["labels"] == {"l": "fromdotenv"}                     # interpolated
    assert web["ports"][0]["target"] == 80 and str(web["ports"][0]["published"]) == "8080"
    out = p.run("config", "--services", check=0).out
    assert sorted(out.split()) == ["db", "web"]
    assert p.run("config", "-q", check=0).out == ""
    _nothing_created(p)                                             # config applies nothing


# ---------------------------------------------------------------- ps, logs, stop/start/restart


def _two_services(env, p):
    p.compose("""
        services:
          alpha:
            image: %(img)s
            command: ["sh", "-c", "echo alpha-one; echo alpha-two; i=0; while true; do i=$$((i+1)); echo alpha-tick $$i; sleep 0.3; done"]
            stop_grace_period: 0s
          beta:
            image: %(img)s
            command: ["sh", "-c", "echo beta-one; exec sleep 3600"]
            stop_grace_period: 0s
          once:
            image: %(img)s
            command: ["sh", "-c", "echo done-once"]
    """ % {"img": env.small_image})
    p.up()
    p.wait_log("%s-beta-1" % p.name, "beta-one")
    p.wait_log("%s-alpha-1" % p.name, "alpha-tick 1")
    p.wait_for(lambda: p.inspect("%s-once-1" % p.name)["State"]["Status"] == "exited",
               what="once to exit")


def test_ps(env, project):
    p = project
    _two_services(env, p)
    rows = [json.loads(line) for line in p.run("ps", "--format", "json", check=0).out.splitlines()]
    by_name = {r["Name"]: r for r in rows}
    assert set(by_name) == {"%s-alpha-1" % p.name, "%s-beta-1" % p.name}   # running only
    a = by_name["%s-alpha-1" % p.name]
    assert a["Service"] == "alpha" and a["State"] == "running" and a["Project"] == p.name
    assert a["ID"] == p.service("alpha")["Id"] and a["Image"] == env.small_image
    assert a["Status"].startswith("Up")
    rows = [json.loads(x) for x in p.run("ps", "-a", "--format", "json", check=0).out.splitlines()]
    once = [r for r in rows if r["Service"] == "once"]
    assert len(once) == 1 and once[0]["State"] == "exited" and once[0]["ExitCode"] == 0
    table = p.run("ps", check=0).out.splitlines()
    assert re.match(r"^NAME\s+IMAGE\s+SERVICE\s+STATUS\s+PORTS$", table[0])
    assert len(table) == 3 and table[1].startswith("%s-alpha-1 " % p.name)
    only = p.run("ps", "-q", "beta", check=0).out.split()
    assert only == [p.service("beta")["Id"]]
    # a project known only by name, from another directory
    r = p.run("ps", "--format", "json", files=[], cwd="/", check=0)
    assert {json.loads(x)["Name"] for x in r.out.splitlines()} == set(by_name)


def test_logs(env, project):
    p = project
    _two_services(env, p)
    out = p.run("logs", check=0).out
    width = len("%s-alpha-1" % p.name) + 1
    assert "%-*s | alpha-one\n" % (width, "%s-alpha-1" % p.name) in out
    assert "%-*s | beta-one\n" % (width, "%s-beta-1" % p.name) in out
    assert "| done-once\n" in out
    alpha = [line for line in out.splitlines() if "alpha" in line]
    assert alpha.index(next(x for x in alpha if "alpha-one" in x)) < \
        alpha.index(next(x for x in alpha if "alpha-two" in x))              # order kept
    assert "\x1b[" not in out                                                # no colour in a pipe

    out = p.run("logs", "beta", check=0).out
    assert "beta-one" in out and "alpha" not in out
    out = p.run("logs", "--no-log-prefix", "beta", check=0).out
    assert out == "beta-one\n"
    out = p.run("logs", "-t", "beta", check=0).out
    assert re.match(r"^\S+-beta-1 +\| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z beta-one$", out.strip())
    out = p.run("logs", "--tail", "1", "alpha", check=0).out
    assert len(out.splitlines()) == 1 and "alpha-tick" in out

    proc = subprocess.Popen(p.argv("logs", "-f", "--tail", "0", "alpha"), cwd=str(p.dir),
                            env=p.environ(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = b""
        deadline = time.monotonic() + 20
        while b"alpha-tick" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            if ready:
                seen += os.read(proc.stdout.fileno(), 4096)
        assert b"alpha-tick" in seen                                         # follows new lines
        assert b"alpha-one" not in seen
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_stop_start_restart(env, project):
    p = project
    _two_services(env, p)
    ids = {c["Names"][0]: c["Id"] for c in p.containers()}
    p.run("stop", "-t", "1", "alpha", check=0)
    assert p.service("alpha")["State"]["Status"] == "exited"
    assert p.service("beta")["State"]["Running"]
    p.run("stop", check=0)
    assert not p.service("beta")["State"]["Running"]
    p.run("start", "alpha", check=0)
    assert p.service("alpha")["State"]["Running"]
    assert not p.service("beta")["State"]["Running"]
    p.run("start", check=0)
    assert p.service("beta")["State"]["Running"]
    before = p.service("beta")["State"]["StartedAt"]
    p.run("restart", "-t", "0", "beta", check=0)
    assert p.service("beta")["State"]["Running"]
    assert p.service("beta")["State"]["StartedAt"] != before
    assert {c["Names"][0]: c["Id"] for c in p.containers()} == ids          # same containers
    p.run("stop", "nosuch", check=2)


def test_down(env, project):
    p = project
    p.compose("""
        services:
          web:
            image: %s
            command: ["sleep", "3600"]
            volumes: [data:/data, /anon]
        volumes:
          data:
    """ % env.small_image)
    p.up()
    t0 = time.monotonic()
    p.run("down", "-t", "1", check=0)
    assert time.monotonic() - t0 < 15
    assert p.containers() == [] and p.networks() == []
    assert [v["Name"] for v in p.volumes()] == ["%s_data" % p.name]
    p.up()
    anon = [m["Name"] for m in p.service("web")["Mounts"] if m["Destination"] == "/anon"][0]
    p.run("down", "--volumes", check=0)
    assert p.volumes() == []
    status, _ = env.docker_api("GET", "/v1.41/volumes/" + anon)
    assert status == 404                                                    # anonymous too
    p.run("down", check=0)                                                  # idempotent


# ---------------------------------------------------------------- --wait


def test_wait_success(env, project):
    p = project
    p.compose("""
        services:
          web:
            image: %s
            command: ["sh", "-c", "sleep 2; touch /tmp/ok; exec sleep 3600"]
            stop_grace_period: 0s
            healthcheck:
              test: ["CMD", "test", "-f", "/tmp/ok"]
              interval: 300ms
              retries: 50
    """ % env.small_image)
    p.up("--wait")
    assert p.service("web")["State"]["Health"]["Status"] == "healthy"


def test_wait_container_exits(env, project):
    p = project
    p.compose("""
        services:
          ok:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
          crash:
            image: %(img)s
            command: ["sh", "-c", "echo first words; echo famous last words; sleep 1; exit 1"]
    """ % {"img": env.small_image})
    r = p.run("up", "-d", "--wait", check=1)
    assert "%s-crash-1" % p.name in r.err
    assert "famous last words" in r.err


def test_wait_unhealthy(env, project):
    p = project
    p.compose("""
        services:
          sick:
            image: %s
            command: ["sh", "-c", "echo feeling sick; exec sleep 3600"]
            stop_grace_period: 0s
            healthcheck:
              test: ["CMD", "false"]
              interval: 300ms
              retries: 2
    """ % env.small_image)
    r = p.run("up", "-d", "--wait", check=1)
    assert "%s-sick-1" % p.name in r.err and "unhealthy" in r.err
    assert "feeling sick" in r.err


def test_wait_timeout(env, project):
    p = project
    p.compose("""
        services:
          slow:
            image: %s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            healthcheck:
              test: ["CMD", "false"]
              interval: 30s
              start_period: 60s
    """ % env.small_image)
    t0 = time.monotonic()
    r = p.run("up", "-d", "--wait", "--wait-timeout", "2", check=1)
    assert time.monotonic() - t0 < 20
    assert "%s-slow-1" % p.name in r.err


# ---------------------------------------------------------------- up attached


def test_up_attached_until_ctrl_c(env, project):
    p = project
    p.compose("""
        services:
          ticker:
            image: %s
            command: ["sh", "-c", "trap 'exit 0' TERM INT; while true; do echo tick; sleep 0.3; done"]
    """ % env.small_image)
    proc = subprocess.Popen(p.argv("up"), cwd=str(p.dir), env=p.environ(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen = b""
        deadline = time.monotonic() + 60
        while b"| tick" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            if ready:
                seen += os.read(proc.stdout.fileno(), 4096)
        assert re.search(rb"%s-ticker-1 +\| tick" % re.escape(p.name).encode(), seen), seen
        assert proc.poll() is None
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
        err = proc.stderr.read().decode()
        assert proc.returncode == 0, err
        assert "Gracefully stopping" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert p.service("ticker")["State"]["Status"] == "exited"                 # stopped


# ---------------------------------------------------------------- progress


def test_progress_plain(env, project):
    p = project
    img = env.build_layers_image(3, 512 * 1024, tag="plain-" + p.name)
    p.compose("""
        services:
          web:
            image: %s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
    """ % img.ref)
    t0 = time.monotonic()
    r = p.run("up", "-d", check=0)
    elapsed = time.monotonic() - t0
    lines = r.err.splitlines()
    layer_lines = [x for x in lines if x.startswith("Pulling web: layer ")]
    ids = {x.split()[3] for x in layer_lines}
    assert len(ids) == img.layer_count, layer_lines
    for lid in ids:
        mine = [x for x in layer_lines if x.split()[3] == lid]
        assert any("Pull complete" in x or "Already exists" in x for x in mine), mine
        downloading = [x for x in mine if " Downloading " in x]
        assert len(downloading) <= 2 * elapsed + 2, downloading              # throttled
    assert "Container %s-web-1 Created" % p.name in lines or \
        any(x.startswith("Container %s-web-1" % p.name) and "Created" in x for x in lines)
    assert any(x.startswith("Container %s-web-1" % p.name) and "Started" in x for x in lines)
    assert any(x.startswith("Network %s_default" % p.name) for x in lines)
    assert "\x1b[" not in r.err


def test_progress_tty(env, project):
    p = project
    img = env.build_layers_image(3, 512 * 1024, tag="tty-" + p.name)
    p.compose("""
        services:
          web:
            image: %s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
    """ % img.ref)
    master, slave = pty.openpty()
    t0 = time.monotonic()
    proc = subprocess.Popen(p.argv("up", "-d"), cwd=str(p.dir), env=p.environ(TERM="xterm"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    out = b""
    while True:
        try:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                chunk = os.read(master, 65536)
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        except OSError:
            break
    proc.wait(timeout=60)
    os.close(master)
    elapsed = time.monotonic() - t0
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "\x1b[2K" in text                                                   # lines redrawn
    ups = re.findall(r"\x1b\[\d+A", text)
    assert len(ups) <= 10 * elapsed + 20, len(ups)                             # <= ~10/s
    assert "web Pulled" in text or "web Pulling" in text
    assert re.search(r"Container %s-web-1 +Started" % re.escape(p.name), text)
