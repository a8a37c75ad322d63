"""./scripts/demo.sh, the README's second command, run as a user would: it starts its own dockerd
(its own network slot, beside the suite's), registry, server and agent under M87_DEMO_DIR,
deploys fixtures/demo/docker-compose.yml and waits until it runs; run again it reuses all of it;
`demo.sh stop` leaves no process, container or directory behind."""

import os
import pathlib
import subprocess
import urllib.request

import pytest

from cli_util import BUILD, REPO, check_sanitizers
from compose_util import API, PROJECT_LABEL, filters
from harness import DockerClient, procs

DEMO = REPO / "scripts" / "demo.sh"
PROJECT = "m87demo"


def run_demo(demo_dir, *args, timeout=600):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("M87_", "DOCKER_", "COMPOSE_"))}
    env.update(M87_DEMO_DIR=str(demo_dir), M87_BUILD=str(BUILD), M87_DEMO_PRIVATE_DOCKERD="1",
               M87_DEMO_KEEP_LOGS="1")
    res = subprocess.run([str(DEMO)] + list(args), env=env, capture_output=True, text=True,
                         timeout=timeout, stdin=subprocess.DEVNULL)
    check_sanitizers(res.stderr)
    return res


def env_dir(demo_dir):
    """Where the demo's dockerd and registry live (a short path in /tmp for a long demo_dir)."""
    return pathlib.Path((demo_dir / "env.dir").read_text().strip())


def demo_environ(demo_dir):
    """The variables the demo's harness entry point wrote (DOCKER_HOST, DEMO_IMAGE, ...)."""
    out = {}
    for line in (env_dir(demo_dir) / "env.sh").read_text().splitlines():
        key, _, value = line[len("export "):].partition("=")
        out[key] = value.strip("'")
    return out


def project_containers(docker):
    status, data = docker.request("GET", API + "/containers/json?all=1&filters=%s"
                                  % filters(label=["%s=%s" % (PROJECT_LABEL, PROJECT)]))
    assert status == 200, data
    return data


def demo_processes(demo_dir, env_root):
    """{pid: starttime} of every process mentioning the demo's directories, and their children
    (agent, server, harness entry point, dockerd, containerd, shims, containers, registry)."""
    table = procs.process_table()
    roots = procs.processes_referencing([str(demo_dir) + "/", str(env_root) + "/"], table)
    return procs.snapshot(roots | procs.descendants(roots, table), table)


@pytest.fixture
def demo_dir(tmp_path):
    d = tmp_path / "demo"
    yield d
    if (d / ".m87-demo").exists():
        run_demo(d, "stop", timeout=300)


def test_demo_runs_again_and_stops_clean(demo_dir):
    first = run_demo(demo_dir)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "The demo runs." in first.stdout, first.stdout
    assert "hello from m87 (revision note: first deploy)" in first.stdout, first.stdout

    # the device runs the stack: one healthy container, the env file's values in it
    env = demo_environ(demo_dir)
    env_root = env_dir(demo_dir)
    assert env["DEMO_PRIVATE_DOCKERD"] == "1"
    docker = DockerClient(env["DOCKER_HOST"][len("unix://"):])
    [c] = project_containers(docker)
    info = docker.check("GET", API + "/containers/%s/json" % c["Id"])
    assert info["State"]["Running"] and info["State"]["Health"]["Status"] == "healthy", info
    assert "NOTE=first deploy" in info["Config"]["Env"]
    assert info["Config"]["Image"] == env["DEMO_IMAGE"]
    port = int((demo_dir / "web.port").read_text())
    with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=10) as r:
        assert r.read().decode().startswith("hello from m87")

    # what the CLI sees, through the demo's own config
    status = subprocess.run(
        [str(BUILD / "bin" / "m87"), "demo", "deployment", "status", "--json"],
        env=dict(os.environ, XDG_CONFIG_HOME=str(demo_dir / "config")),
        capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    assert '"state":"succeeded"' in status.stdout.replace(" ", "")

    # a second run reuses everything: same processes, the container not recreated
    before = demo_processes(demo_dir, env_root)
    second = run_demo(demo_dir)
    assert second.returncode == 0, second.stdout + second.stderr
    for what in ("dockerd and registry", "m87-server", "m87-agent"):
        assert "%s already running" % what in second.stdout, second.stdout
    [again] = project_containers(docker)
    assert again["Id"] == c["Id"] and again["State"] == "running"
    container_pid = info["State"]["Pid"]
    before.update(demo_processes(demo_dir, env_root))
    assert container_pid in before

    stop = run_demo(demo_dir, "stop")
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert procs.alive_in_snapshot(before) == []
    assert demo_processes(demo_dir, env_root) == {}
    assert not env_root.exists()
    left = sorted(p.name for p in demo_dir.iterdir())
    assert left and all(name.endswith(".log") for name in left), left
    for log in ("agent.log", "server.log"):
        check_sanitizers((demo_dir / log).read_text(errors="replace"))
    with pytest.raises(OSError):
        urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5)

    again = run_demo(demo_dir, "stop")
    assert again.returncode == 0 and "nothing to stop" in again.stdout


def test_demo_refuses_a_directory_that_is_not_its_own(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "precious.txt").write_text("keep me\n")
    res = run_demo(d)
    assert res.returncode == 1
    assert "is not a demo directory" in res.stderr, res.stderr
    assert sorted(p.name for p in d.iterdir()) == ["precious.txt"]
    res = run_demo(d, "stop")
    assert res.returncode == 0 and "nothing to stop" in res.stdout
    assert (d / "precious.txt").read_text() == "keep me\n"


def test_demo_usage():
    res = run_demo(pathlib.Path("/nonexistent-m87-demo"), "restart")
    assert res.returncode == 2 and "usage:" in res.stderr
