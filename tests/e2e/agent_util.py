"""Helpers of the device daemon's end-to-end tests (tests/e2e/test_agent_*.py).

`Agent` runs the real build/bin/m87-agent `run` against a real m87-server (cli_util.Server),
with its own state directory, PATH without any docker binary (compose steps run natively),
DOCKER_HOST at the harness's dockerd, and M87_AGENT_BACKOFF_MAX_MS (the test-only cap of the
reconnect backoff) low so that reconnects do not slow the tests down. Its stderr goes to a
file; `log()` reads it. `Device` ties a registered device, its CLI and its agent together.
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess

import pytest
import yaml

from cli_util import BUILD, Cli, Server, add_device, check_sanitizers
from compose_util import (AGENT, API, project_containers, remove_project, unique_name,
                          wait_for)
from faultproxy import FaultProxy

TOOLS = ("cat", "sleep", "touch", "sh", "echo", "true", "false", "head", "dd")


class Agent:
    """One `m87-agent run` on a state directory; start/stop/kill it as often as needed."""

    def __init__(self, env, tmp_path, server_url, token, backoff_max_ms=500):
        self.env = env
        self.dir = pathlib.Path(tmp_path)
        self.state = self.dir / "agent-state"
        self.server_url = server_url
        self.token = token
        self.backoff_max_ms = backoff_max_ms
        self.bin = self.dir / "agent-path"
        self.bin.mkdir(exist_ok=True)
        for tool in TOOLS:
            found = shutil.which(tool)
            if found and not (self.bin / tool).exists():
                os.symlink(found, self.bin / tool)
        self.log_path = self.dir / "agent.log"
        self.proc = None
        self.logs_seen = 0  # bytes of the log before the current run
        self.config = {}  # extra `key = value` lines of the config file, e.g. journal_max_bytes
        self.extra_env = {}  # more environment, e.g. the test-only knobs of docs/testing.md

    def environ(self):
        e = {k: v for k, v in os.environ.items() if not k.startswith("M87_")}
        e["PATH"] = str(self.bin)
        e["DOCKER_HOST"] = self.env.docker_host
        e["M87_AGENT_BACKOFF_MAX_MS"] = str(self.backoff_max_ms)
        e.update(self.extra_env)
        for key in ("COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES", "COMPOSE_FILE",
                    "JOURNAL_STREAM"):
            e.pop(key, None)
        return e

    def argv(self, *extra):
        return [str(AGENT), "run", "--server", self.server_url, "--token", self.token,
                "--state-dir", str(self.state), "--insecure-http",
                "--config", str(self.dir / "no-config.conf")] + list(extra)

    def start(self, *extra):
        assert self.proc is None or self.proc.poll() is not None
        (self.dir / "no-config.conf").write_text(
            "# the connection comes from the flags\n" +
            "".join("%s = %s\n" % kv for kv in self.config.items()))
        self.logs_seen = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(*extra), env=self.environ(), cwd=str(self.dir),
                                     stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        return self

    def log(self, whole=False):
        if not self.log_path.exists():
            return ""
        data = self.log_path.read_bytes()
        return data.decode(errors="replace") if whole else \
            data[self.logs_seen:].decode(errors="replace")

    def wait_log(self, text, timeout=120):
        return wait_for(lambda: text in self.log(), timeout, "agent log line %r\n%s" % (
            text, self.log()[-3000:]))

    def stop(self, timeout=30):
        """SIGTERM, wait; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=timeout)
        self.proc = None
        check_sanitizers(self.log())
        return rc

    def kill(self):
        """SIGKILL the daemon (its apply child and steps die with it)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self.proc = None
        # the apply child gets SIGKILL through PR_SET_PDEATHSIG: wait until it is gone
        wait_for(lambda: not self.runner_locked(), 30, "the apply child to die")

    def runner_locked(self):
        """True while some process holds the runner's lock (an apply in progress)."""
        import fcntl
        path = self.state / "lock"
        if not path.exists():
            return False
        with open(path, "rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
        return False

    # ---------------------------------------------------------------- local state

    def daemon_state(self):
        path = self.state / "daemon.json"
        return json.loads(path.read_text()) if path.exists() else None

    def applied(self):
        st = self.daemon_state()
        return st and st.get("applied") and st["applied"].get("hash")

    def status(self, *args):
        proc = subprocess.run([str(AGENT), "status", "--state-dir", str(self.state)] +
                              list(args), capture_output=True, text=True, timeout=60)
        check_sanitizers(proc.stderr)
        return proc

    def status_json(self):
        return json.loads(self.status("--json").stdout)

    def acked(self):
        path = self.state / "reports" / "acked"
        return int(path.read_text()) if path.exists() else 0

    def segments(self):
        """The text of each journal segment, in order. The agent removes a segment once all of
        its records are acknowledged (or trims one when the cap is reached) while we list them,
        so one that is gone by the time it is read is skipped: it held nothing still queued."""
        texts = []
        for seg in sorted((self.state / "reports").glob("*.jsonl")):
            try:
                texts.append(seg.read_text())
            except FileNotFoundError:
                continue
        return texts

    def journal(self):
        """The records still queued on the device."""
        records = []
        for text in self.segments():
            records += [json.loads(line) for line in text.splitlines()]
        return [r for r in records if r["seq"] > self.acked()]

    # ---------------------------------------------------------------- dockerd

    def containers(self, project):
        return project_containers(self.env, project)

    def remove_project(self, project):
        remove_project(self.env, project)


class Device:
    """A registered device: the CLI logged in as admin, its name and token, its agent."""

    def __init__(self, env, server, tmp_path, backoff_max_ms=500, server_url=None):
        self.env = env
        self.server = server
        self.cli = Cli(tmp_path, server)
        self.name, self.token = add_device(self.cli)
        self.agent = Agent(env, tmp_path, server_url or server.url, self.token, backoff_max_ms)
        self.projects = set()
        self.tmp = pathlib.Path(tmp_path)

    def m87(self, *args, **kw):
        return self.cli.ok(self.name, *args, **kw)

    def compose_dir(self, project, services):
        """A directory named project holding docker-compose.yml with these services."""
        d = self.tmp / "src" / project
        d.mkdir(parents=True, exist_ok=True)
        (d / "docker-compose.yml").write_text(yaml.safe_dump({"services": services}))
        self.projects.add(project)
        return d

    def reports(self, **query):
        """Every report the server has for the device, in seq order."""
        out, after = [], 0
        while True:
            q = "&".join("%s=%s" % kv for kv in dict(query, after=after, limit=1000).items())
            page = self.server.api("GET", "/v1/devices/%s/reports?%s" % (self.name, q))
            out += page["reports"]
            if page["next"] is None:
                return out
            after = page["next"]

    def server_status(self):
        return self.server.api("GET", "/v1/devices/%s/status" % self.name)

    def active_hash(self):
        dev = self.server.api("GET", "/v1/devices/%s" % self.name)
        return dev["active_deployment"]["hash"] if dev["active_deployment"] else None

    def wait_applied(self, timeout=180):
        """Until the agent says it applied the active revision and the server knows it."""
        want = self.active_hash()

        def done():
            dev = self.server.api("GET", "/v1/devices/%s" % self.name)
            return dev["applied_revision"] == want and self.agent.applied() == want
        wait_for(done, timeout, "the device to apply %s\n%s" % (want, self.agent.log()[-4000:]))
        return want

    def cleanup(self):
        self.agent.stop()
        for p in self.projects:
            self.agent.remove_project(p)


def assert_reports_complete(device):
    """The server holds every record the agent journaled, each once: seqs 1..N without a gap,
    N the agent's acknowledged high-water mark, nothing left queued on the device."""
    seqs = [r["seq"] for r in device.reports()]
    acked = device.agent.acked()
    assert device.agent.journal() == []
    assert seqs == list(range(1, acked + 1)), (acked, seqs)
    return seqs


SLOW_JOB = """\
jobs:
  - id: %s
    type: job
    steps:
      - name: first
        run: echo first starts; sleep 2; echo first ends
      - name: second
        run: [sh, -c, "sleep 2; echo second done"]
      - name: third
        run: echo third
"""


def start_slow_apply(device, tmp_path, prefix):
    """Start the device's agent, deploy SLOW_JOB (three steps, some 4 s in all) as a new active
    revision and wait until the agent applies it, so that the test can take the server or its
    database away mid-apply: (the job's id, the revision's hash)."""
    device.agent.start()
    device.m87("deployment", "new", "--active")
    job = unique_name(prefix)
    spec = tmp_path / "slow.yml"
    spec.write_text(SLOW_JOB % job)
    device.m87("deploy", str(spec))
    want = device.active_hash()
    device.agent.wait_log("applying revision %s"
                          % device.server_status()["deployment"]["revision"])
    return job, want


def session_child(agent):
    """The pid of the agent daemon's one session child."""
    pid = agent.proc.pid
    kids = []
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
            kids += [int(x) for x in f.read().split()]
    assert len(kids) == 1, kids
    return kids[0]


def log_records(device, job):
    """The "log" records the server has for job, in seq order."""
    return [r for r in device.reports(kind="log", job=job) if "lines" in r]


def log_texts(device, job):
    """Every shipped line of job's containers, oldest first."""
    return [line["text"] for r in log_records(device, job) for line in r["lines"]]


def counter_container(env, containers):
    """A container outside any compose project that prints a numbered line every 0.3 s; its id,
    also appended to containers (removed by the caller)."""
    env.pull(env.small_image)
    status, data = env.docker_api("POST", API + "/containers/create", {
        "Image": env.small_image,
        "Cmd": ["sh", "-c", "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.3; done"]})
    assert status == 201, data
    containers.append(data["Id"])
    assert env.docker_api("POST", API + "/containers/%s/start" % data["Id"])[0] == 204
    return data["Id"]


def exec_in(env, cid, argv):
    """Run argv in container cid, detached."""
    status, data = env.docker_api("POST", API + "/containers/%s/exec" % cid,
                                  {"Cmd": argv, "AttachStdout": False, "AttachStderr": False})
    assert status == 201, data
    status, data = env.docker_api("POST", API + "/exec/%s/start" % data["Id"],
                                  {"Detach": True})
    assert status == 200, data


def running_ids(agent, project):
    return sorted(c["Id"] for c in agent.containers(project) if c["State"] == "running")


__all__ = ["Agent", "Device", "wait_for", "assert_reports_complete", "running_ids",
           "unique_name", "log_records", "log_texts", "start_slow_apply"]


# ---- fixtures shared by the test_agent_*.py files (imported by name there) ----------------


@pytest.fixture
def own_server(tmp_path):
    """A server of the test's own, which the test may stop and start."""
    s = Server(tmp_path / "server").start()
    yield s
    s.stop()


@pytest.fixture
def device(request, env, own_server, tmp_path):
    """A registered device with its agent (not started); a module's DEVICE_BACKOFF_MAX_MS sets
    the agent's reconnect backoff cap."""
    backoff = getattr(request.module, "DEVICE_BACKOFF_MAX_MS", 500)
    dev = Device(env, own_server, tmp_path, backoff_max_ms=backoff)
    yield dev
    dev.cleanup()


@pytest.fixture
def registry_proxy(env):
    """The fault proxy in front of the harness's registry."""
    host, port = env.registry.rsplit(":", 1)
    with FaultProxy(BUILD / "tests" / "tools" / "m87-faultproxy", host, int(port)) as p:
        yield p
