"""Helpers of the `m87-agent compose` end-to-end tests (tests/e2e/test_compose_*.py).

`Project` wraps one compose project of one test: a unique name, a directory under the
test's tmp_path holding its files, runs of the real build/bin/m87-agent (M87_BUILD or
./build) with DOCKER_HOST pointing at the harness's dockerd, and read-only views of what
dockerd holds for it (containers, networks, volumes by the com.docker.compose.project
label). `cleanup()` removes everything the project left, whatever the agent did.
"""

import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
import urllib.parse
import uuid

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("M87_BUILD", REPO / "build"))
AGENT = BUILD / "bin" / "m87-agent"
# The C compiler of the agent's architecture, for a library a test preloads into it: under
# qemu-user (make e2e-arm64, e2e-armhf) the agent's loader takes only ARM libraries.
TARGET_CC = os.environ.get("M87_TARGET_CC", "gcc")
DOCKER_COMPOSE = "/usr/bin/docker-compose"
PROJECT_LABEL = "com.docker.compose.project"
API = "/v1.41"


def unique_name(prefix):
    return "%s%s" % (prefix, uuid.uuid4().hex[:8])


def wait_for(predicate, timeout=120, what="condition", interval=0.1):
    """predicate() until it is true (returned) or timeout; what (a string, or a function giving
    one when it fails, e.g. with the agent's log of that moment) names it in the error."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (
                timeout, what() if callable(what) else what))
        time.sleep(interval)


def project_containers(env, project):
    """Every container (running or not) of the compose project on env's dockerd."""
    status, data = env.docker_api("GET", API + "/containers/json?all=1&filters=%s" % (
        filters(label=["%s=%s" % (PROJECT_LABEL, project)])))
    assert status == 200, data
    return data


def remove_project(env, project):
    """Remove what a project left on env's dockerd: its containers (with their anonymous
    volumes) and networks."""
    for c in project_containers(env, project):
        env.docker_api("DELETE", API + "/containers/%s?force=1&v=1" % c["Id"])
    status, nets = env.docker_api("GET", API + "/networks?filters=%s" % filters(
        label=["%s=%s" % (PROJECT_LABEL, project)]))
    for n in (nets if status == 200 else []):
        env.docker_api("DELETE", API + "/networks/%s" % n["Id"])


def free_port():
    """A TCP port nothing listens on right now (for published ports)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_range(n):
    """n consecutive free ports."""
    for _ in range(200):
        base = free_port()
        if base + n >= 65535:
            continue
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no %d consecutive free ports" % n)


def filters(**kw):
    return urllib.parse.quote(json.dumps(kw))


class Project:
    def __init__(self, env, directory, name=None, prefix="m87t"):
        self.env = env
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name or unique_name(prefix)
        self.files = []
        self.extra_cleanup = []  # callables run by cleanup()
        self.extra_env = {}      # variables every run of the agent gets

    # ------------------------------------------------------------ files

    def write(self, relpath, text, dedent=True):
        path = self.dir / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text) if dedent else text)
        return path

    def compose(self, text, filename="compose.yaml"):
        """Write a compose file (dedented) and add it to the -f list."""
        path = self.write(filename, text)
        if str(path) not in self.files:
            self.files.append(str(path))
        return path

    # ------------------------------------------------------------ running the agent

    def environ(self, **extra):
        environ = dict(os.environ)
        environ["DOCKER_HOST"] = self.env.docker_host
        for key in ("COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES", "COMPOSE_FILE"):
            environ.pop(key, None)
        environ.update({k: str(v) for k, v in self.extra_env.items()})
        environ.update({k: str(v) for k, v in extra.items()})
        return environ

    def argv(self, *args, files=None, project=True):
        argv = [str(AGENT), "compose"]
        for f in (self.files if files is None else files):
            argv += ["-f", str(f)]
        if project:
            argv += ["-p", self.name]
        return argv + [str(a) for a in args]

    def kill_after(self, delay, *args, wait=30):
        """Start the agent with args, SIGKILL it after delay seconds unless it ended; its
        return code (-SIGKILL when killed). The run's stderr is kept in self.kill_err."""
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(self.argv(*args), cwd=str(self.dir), env=self.environ(),
                                    stdout=subprocess.DEVNULL, stderr=err)
            time.sleep(delay)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=wait)
            err.seek(0)
            self.kill_err = err.read().decode(errors="replace")
        return proc.returncode

    def run(self, *args, files=None, project=True, check=None, timeout=180, cwd=None,
            env=None, input=None):
        """Run `m87-agent compose [-f F]... -p NAME ARGS`. check=N asserts the exit status."""
        proc = subprocess.run(self.argv(*args, files=files, project=project),
                              cwd=str(cwd or self.dir), env=env or self.environ(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                              input=input)
        proc.out = proc.stdout.decode(errors="replace")
        proc.err = proc.stderr.decode(errors="replace")
        if check is not None:
            assert proc.returncode == check, (
                "m87-agent compose %s: exit %d, wanted %d\nstdout:\n%s\nstderr:\n%s" % (
                    " ".join(map(str, args)), proc.returncode, check, proc.out[-4000:],
                    proc.err[-4000:]))
        return proc

    def up(self, *args, check=0, **kw):
        return self.run("up", "-d", *args, check=check, **kw)

    def docker_compose(self, *args, timeout=180, check=None):
        """Debian's docker-compose 1.29 on the same dockerd and files."""
        argv = [DOCKER_COMPOSE, "--no-ansi", "-p", self.name]
        for f in self.files:
            argv += ["-f", f]
        proc = subprocess.run(argv + list(args), cwd=str(self.dir), env=self.environ(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        proc.out = proc.stdout.decode(errors="replace")
        proc.err = proc.stderr.decode(errors="replace")
        if check is not None:
            assert proc.returncode == check, (proc.out, proc.err)
        return proc

    # ------------------------------------------------------------ dockerd views

    def api(self, method, path, body=None, ok=(200, 201, 204), timeout=None):
        status, data = self.env.docker_api(method, API + path, body, timeout=timeout)
        assert status in ok, "%s %s: %s %r" % (method, path, status, data)
        return data

    def containers(self, all=True, **labels):
        """Summaries of the project's containers, sorted by name."""
        want = ["%s=%s" % (PROJECT_LABEL, self.name)]
        want += ["com.docker.compose.%s=%s" % (k.replace("_", "-"), v) for k, v in labels.items()]
        data = self.api("GET", "/containers/json?all=%d&filters=%s" % (
            1 if all else 0, filters(label=want)))
        return sorted(data, key=lambda c: c["Names"][0])

    def container_names(self, **kw):
        return [c["Names"][0].lstrip("/") for c in self.containers(**kw)]

    def inspect(self, name_or_id):
        return self.api("GET", "/containers/%s/json" % name_or_id)

    def service(self, service, number=1):
        """Inspect of the container SERVICE number N (found by labels, not by name)."""
        found = self.containers(service=service, container_number=number)
        assert len(found) == 1, "service %s #%d: %r" % (
            service, number, [c["Names"] for c in found])
        return self.inspect(found[0]["Id"])

    def networks(self):
        return sorted(self.api("GET", "/networks?filters=%s" % filters(
            label=["%s=%s" % (PROJECT_LABEL, self.name)])), key=lambda n: n["Name"])

    def network(self, name):
        return self.api("GET", "/networks/%s" % name)

    def volumes(self):
        data = self.api("GET", "/volumes?filters=%s" % filters(
            label=["%s=%s" % (PROJECT_LABEL, self.name)]))
        return sorted(data.get("Volumes") or [], key=lambda v: v["Name"])

    def volume(self, name):
        return self.api("GET", "/volumes/%s" % name)

    def logs(self, name_or_id):
        out, err = self.env.docker.logs(name_or_id)
        return (out + err).decode(errors="replace")

    def wait_for(self, predicate, timeout=30, what="condition"):
        return wait_for(predicate, timeout, what, interval=0.2)

    def wait_log(self, name_or_id, needle, timeout=30):
        return self.wait_for(lambda: needle in self.logs(name_or_id), timeout,
                             "%r in the logs of %s" % (needle, name_or_id))

    def all_names(self):
        """Every container name in dockerd (any project): to spot temp-named leftovers."""
        data = self.api("GET", "/containers/json?all=1")
        return [c["Names"][0].lstrip("/") for c in data]

    # ------------------------------------------------------------ cleanup

    def cleanup(self):
        """Remove whatever the project left: down through the agent first (that is a test of
        it too, but a failing agent must not leak), then by label through the API."""
        if AGENT.exists():
            try:
                self.run("down", "-v", "--remove-orphans", "-t", "0", files=[], cwd="/",
                         timeout=120)
            except Exception:  # noqa: BLE001 - best effort; the API sweep below follows
                pass
        for c in self.containers():
            self.env.docker_api("DELETE", API + "/containers/%s?force=1&v=1" % c["Id"])
        for c in self.api("GET", "/containers/json?all=1"):
            # temp-named or renamed leftovers of a killed run carry the project label too,
            # but a container made by name only (container_name) is caught here
            if any(n.lstrip("/").startswith(self.name) for n in c["Names"]):
                self.env.docker_api("DELETE", API + "/containers/%s?force=1&v=1" % c["Id"])
        for n in self.networks():
            self.env.docker_api("DELETE", API + "/networks/%s" % n["Id"])
        for v in self.volumes():
            self.env.docker_api("DELETE", API + "/volumes/%s?force=1" % v["Name"])
        for fn in self.extra_cleanup:
            try:
                fn()
            except Exception:  # noqa: BLE001 - best effort
                pass


def labels_of(inspect):
    return inspect["Config"]["Labels"] or {}


HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture
def make_project(env, tmp_path):
    """make_project(name=None, subdir=None) -> Project; all are cleaned up at the end."""
    made = []

    def make(name=None, subdir=None, prefix="m87t"):
        p = Project(env, tmp_path / (subdir or "p%d" % len(made)), name=name, prefix=prefix)
        made.append(p)
        return p

    yield make
    for p in reversed(made):
        p.cleanup()


@pytest.fixture
def project(make_project):
    return make_project()
