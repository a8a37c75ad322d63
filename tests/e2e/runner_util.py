"""Helpers of the job runner's end-to-end tests (tests/e2e/test_runner_*.py).

`Runner` drives the real build/bin/m87-agent `apply` and `status` against one state directory
under the test's tmp_path, with PATH pointing at an empty directory (no docker binary: compose
steps must run natively) and DOCKER_HOST at the harness's dockerd. It reads the state and the
report journal as files, and removes whatever compose projects the test's jobs made.
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import uuid

import pytest
import yaml

from compose_util import AGENT, API, project_containers, remove_project, wait_for

# what shell steps of the tests use; PATH holds only these (never docker or docker-compose)
TOOLS = ("cat", "sleep", "touch", "sh", "echo", "pwd", "kill", "ls", "rm", "mkdir", "true",
         "false")


def _no_sanitizer_report(text):
    """An ASan/UBSan build reports on stderr; a report fails the test whatever the status."""
    for needle in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        assert needle not in text, text[-6000:]


def unique_id(prefix="j"):
    return "%s%s" % (prefix, uuid.uuid4().hex[:8])


def seed_job(job_id, image, env=None, extra_service=None):
    """The seed document's example job with a test image instead of nginx (no published port:
    tests share one dockerd)."""
    service = {"image": image, "restart": "always"}
    if extra_service:
        service.update(extra_service)
    job = {
        "id": job_id,
        "type": "service",
        "enabled": True,
        "workdir": {"mode": "ephemeral"},
        "files": {"docker-compose.yml": yaml.safe_dump({"services": {"web": service}})},
        "steps": [
            {"name": "pull", "run": "docker compose pull", "timeout": "15m"},
            {"name": "up", "run": "docker compose up -d --remove-orphans", "timeout": "10m",
             "undo": {"run": "docker compose down --remove-orphans", "timeout": "5m"}},
        ],
        "stop": {"steps": [{"name": "down", "run": "docker compose down --remove-orphans",
                            "timeout": "5m"}]},
    }
    if env:
        job["env"] = env
    return job


def failing_service_job(job_id, image):
    """seed_job whose service says goodbye and exits 3 soon after it started (restart: no)."""
    return seed_job(job_id, image, extra_service={
        "restart": "no", "command": ["sh", "-c", "echo bye from the service; sleep 0.3; exit 3"]})


def with_compose_options(job, options):
    """Every `docker compose` command line of a seed_job (steps, undo, stop) with options."""
    for s in job["steps"] + job["stop"]["steps"]:
        s["run"] = s["run"].replace("docker compose ", "docker compose %s " % options)
    job["steps"][1]["undo"]["run"] = "docker compose %s down" % options
    return job


def shell_job(job_id, *steps, **fields):
    """A `type: job` whose steps are (name, run) pairs or dicts."""
    job = {"id": job_id, "type": "job", "steps": []}
    for s in steps:
        job["steps"].append(s if isinstance(s, dict) else {"name": s[0], "run": s[1]})
    job.update(fields)
    return job


class Runner:
    def __init__(self, env, tmp_path):
        self.env = env
        self.dir = pathlib.Path(tmp_path)
        self.state = self.dir / "state"
        self.spec = self.dir / "spec.yml"
        self.bin = self.dir / "path-without-docker"
        self.bin.mkdir(exist_ok=True)
        for tool in TOOLS:
            found = shutil.which(tool)
            if found and not (self.bin / tool).exists():
                os.symlink(found, self.bin / tool)
        self.projects = set()
        self.extra_env = {}  # for every command this runner starts

    # ------------------------------------------------------------ running the agent

    def environ(self, **extra):
        environ = dict(os.environ)
        environ["PATH"] = str(self.bin)  # no docker, no docker-compose
        assert not any((self.bin / b).exists() for b in ("docker", "docker-compose"))
        if self.env is not None:
            environ["DOCKER_HOST"] = self.env.docker_host
        for key in ("COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES", "COMPOSE_FILE"):
            environ.pop(key, None)
        environ.update({k: str(v) for k, v in dict(self.extra_env, **extra).items()})
        return environ

    def write(self, jobs):
        """Write the run spec (a list of job dicts, or text) and note the compose projects."""
        if isinstance(jobs, str):
            self.spec.write_text(jobs)
            return self.spec
        for j in jobs:
            if j.get("type", "service") == "service":
                self.projects.add(j["id"].lower())
        self.spec.write_text(yaml.safe_dump({"jobs": jobs}, sort_keys=False))
        return self.spec

    def argv(self, *args):
        return [str(AGENT), "apply", "--state-dir", str(self.state)] + [str(a) for a in args]

    def apply(self, jobs=None, *args, check=None, timeout=300):
        if jobs is not None:
            self.write(jobs)
        proc = subprocess.run(self.argv(*args, self.spec), env=self.environ(), cwd=str(self.dir),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        proc.out = proc.stdout.decode(errors="replace")
        proc.err = proc.stderr.decode(errors="replace")
        _no_sanitizer_report(proc.err)
        if check is not None:
            assert proc.returncode == check, "apply: exit %d, wanted %d\n%s\n%s" % (
                proc.returncode, check, proc.out[-3000:], proc.err[-6000:])
        return proc

    def start_apply(self, jobs=None):
        """apply in the background; stderr goes to a file (read it with .log())."""
        if jobs is not None:
            self.write(jobs)
        self.logfile = open(self.dir / ("apply-%s.log" % uuid.uuid4().hex[:6]), "w+b")
        return subprocess.Popen(self.argv(self.spec), env=self.environ(), cwd=str(self.dir),
                                stdout=self.logfile, stderr=subprocess.STDOUT)

    def status(self, *args, check=None):
        proc = subprocess.run([str(AGENT), "status", "--state-dir", str(self.state)] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        proc.out = proc.stdout.decode(errors="replace")
        proc.err = proc.stderr.decode(errors="replace")
        _no_sanitizer_report(proc.err)
        if check is not None:
            assert proc.returncode == check, (proc.returncode, proc.out, proc.err)
        return proc

    def status_json(self, check=None):
        return {j["id"]: j for j in json.loads(self.status("--json", check=check).out)["jobs"]}

    # ------------------------------------------------------------ state and journal

    def job_record(self, job_id):
        path = self.state / "jobs" / job_id / "job.json"
        return json.loads(path.read_text()) if path.exists() else None

    def workdir(self, job_id):
        return self.state / "workdirs" / job_id

    def journal(self):
        """Every record of the report journal, in seq order (checked increasing)."""
        records = []
        for seg in sorted((self.state / "reports").glob("*.jsonl")):
            for line in seg.read_text().splitlines():
                records.append(json.loads(line))
        seqs = [r["seq"] for r in records]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
        return records

    def steps_run(self, after=0, job=None):
        """(job, phase, step, attempt) of the step records that started after seq `after`."""
        return [(r["job"], r["phase"], r["step"], r["attempt"]) for r in self.journal()
                if r["kind"] == "step" and r["state"] == "running" and r["seq"] > after
                and (job is None or r["job"] == job)]

    def last_seq(self):
        records = self.journal()
        return records[-1]["seq"] if records else 0

    def wait_for(self, predicate, timeout=60, what="condition"):
        return wait_for(predicate, timeout, what, interval=0.05)

    # ------------------------------------------------------------ dockerd views

    def containers(self, project):
        return project_containers(self.env, project)

    def inspect(self, cid):
        status, data = self.env.docker_api("GET", API + "/containers/%s/json" % cid)
        assert status == 200, data
        return data

    def cleanup(self):
        if self.env is None:
            return
        for project in self.projects:
            remove_project(self.env, project)


def pid_gone(pid):
    """True when pid no longer runs (absent, or a zombie waiting for its parent)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def kill_quietly(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


@pytest.fixture
def runner(request, tmp_path):
    """A Runner with the harness's dockerd when the test also asks for `env`."""
    env = request.getfixturevalue("env") if "env" in request.fixturenames else None
    r = Runner(env, tmp_path)
    yield r
    r.cleanup()
