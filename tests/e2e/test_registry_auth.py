"""Private registries: a second docker-registry on 127.0.0.1, with htpasswd (bcrypt)
authentication, holding an image pushed through the Engine API with X-Registry-Auth, pulled by
`m87-agent compose up` and `pull`, by the runner's native compose steps (`m87-agent apply` and
the daemon's apply) and by the daemon's prefetch (requested images, and a revision waiting for
its window) with the docker CLI's credentials:

- a config.json `auths` entry, keyed by the host:port or by a URL (`http://HOST:PORT/v2/`);
- a credential helper (docker-credential-m87test on PATH) named by credHelpers or credsStore,
  asked for the registry's host:port on stdin;
- a wrong password, and no credentials at all: refused, the message names the registry, where
  the credentials came from and dockerd's answer, and nothing of the project was created;
- the password in no output, log or state file."""

import base64
import calendar
import json
import os
import pathlib
import shutil
import subprocess
import time
import urllib.parse
import uuid
import warnings

import pytest

from agent_util import device, own_server, running_ids, wait_for  # noqa: F401 (fixtures)
from compose_util import AGENT, API, make_project, project, unique_name  # noqa: F401 (fixtures)
from harness.registry import Registry
from runner_util import runner, seed_job, unique_id  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built")

try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # glibc's bcrypt ($2b$), which docker-registry's htpasswd accepts
except ImportError:  # Python 3.13 dropped it: apache2-utils' htpasswd -B instead
    crypt = None

USER = "m87user"
# unique per run, so that the grep for it cannot match anything but a leak
PASSWORD = "m87-pw-" + uuid.uuid4().hex
WRONG = "m87-wrong-" + uuid.uuid4().hex
TOKEN_PREFIX = "m87-helper-"


class AuthRegistry(Registry):
    """The harness's registry with `auth: htpasswd`: GET /v2/ answers 401 once it is up."""

    def __init__(self, root, htpasswd):
        super().__init__(root)
        self.htpasswd = htpasswd

    def _write_config(self):
        super()._write_config()
        with open(self.config_path, "a") as f:
            f.write("auth:\n  htpasswd:\n    realm: m87-test\n    path: %s\n" % self.htpasswd)

    def _ready(self):
        status = self.client.ping()
        return True if status == 401 else "status %d" % status


def x_registry_auth(username, password, server):
    doc = json.dumps({"username": username, "password": password, "serveraddress": server})
    return base64.urlsafe_b64encode(doc.encode()).decode()


def stream_errors(data):
    """The error objects of a pull or push stream read whole."""
    text = data.decode(errors="replace") if isinstance(data, bytes) else json.dumps(data)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line:
            obj = json.loads(line)
            if isinstance(obj, dict) and ("error" in obj or "errorDetail" in obj):
                out.append(obj)
    return out


def forget(env, ref):
    """Untag ref on the dockerd, so that the next `up` must pull it."""
    status, _ = env.docker_api("DELETE", API + "/images/%s?force=1&noprune=1"
                               % urllib.parse.quote(ref, safe=""))
    assert status in (200, 404), status


def htpasswd_line(user, password):
    """user:bcrypt-hash, the only hash docker-registry's htpasswd takes."""
    if crypt is not None and crypt.METHOD_BLOWFISH in crypt.methods:
        return "%s:%s\n" % (user, crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH)))
    if shutil.which("htpasswd"):
        return subprocess.run(["htpasswd", "-nbB", user, password], check=True,
                              stdout=subprocess.PIPE).stdout.decode().strip() + "\n"
    pytest.skip("no bcrypt: neither Python's crypt nor htpasswd (apache2-utils)")


@pytest.fixture(scope="module")
def private(env, tmp_path_factory):
    """(registry address, private image ref) on an authenticated registry of this module."""
    root = tmp_path_factory.mktemp("authreg")
    htpasswd = root / "htpasswd"
    htpasswd.write_text(htpasswd_line(USER, PASSWORD))
    reg = AuthRegistry(str(root), str(htpasswd))
    reg.start()
    try:
        src = env.build_small_image(5, tag="auth-%s" % uuid.uuid4().hex[:8]).ref
        env.pull(src)
        repo, tag = "%s/m87priv/app" % reg.addr, "v5"
        q = urllib.parse.urlencode({"repo": repo, "tag": tag})
        status, data = env.docker_api("POST", API + "/images/%s/tag?%s"
                                      % (urllib.parse.quote(src, safe=""), q))
        assert status == 201, data
        status, _, data = env.docker.request_full(
            "POST", API + "/images/%s/push?tag=%s" % (urllib.parse.quote(repo, safe=""), tag),
            headers={"X-Registry-Auth": x_registry_auth(USER, PASSWORD, reg.addr)}, timeout=300)
        assert status == 200 and not stream_errors(data), data[-2000:]
        ref = "%s:%s" % (repo, tag)
        forget(env, ref)
        yield reg.addr, ref
    finally:
        reg.stop()


def docker_config(tmp_path, doc):
    d = tmp_path / "docker-config"
    d.mkdir(exist_ok=True)
    (d / "config.json").write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return d


def basic(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def helper_bin(tmp_path, name="m87test", password=PASSWORD):
    """docker-credential-NAME: answers for the registry it is asked about and notes the ask."""
    b = tmp_path / "helper-bin"
    b.mkdir(exist_ok=True)
    asked = tmp_path / "helper-asked"
    script = b / ("docker-credential-%s" % name)
    script.write_text(
        "#!/bin/sh\n"
        "[ \"$1\" = get ] || exit 2\n"
        "read -r host || true\n"
        "echo \"$host\" >> %s\n"
        "case \"$host\" in\n"
        "127.0.0.1:*) printf '{\"ServerURL\":\"%%s\",\"Username\":\"%s\",\"Secret\":\"%s\"}\\n'"
        " \"$host\";;\n"
        "*) echo 'credentials not found in native keychain'; exit 1;;\n"
        "esac\n" % (asked, USER, password))
    script.chmod(0o755)
    return b, asked


def service_compose(p, ref):
    p.compose("""\
        services:
          web:
            image: %s
            restart: always
        """ % ref)


def assert_no_secret(*texts):
    for t in texts:
        assert PASSWORD not in t and WRONG not in t and basic(USER, PASSWORD) not in t


def assert_running(p, ref):
    cs = p.containers()
    assert len(cs) == 1 and cs[0]["State"] == "running", cs
    assert cs[0]["Image"] == ref


@pytest.mark.parametrize("key", ["host", "url"])
def test_up_and_pull_with_an_auths_entry(env, project, private, tmp_path, key):
    addr, ref = private
    forget(env, ref)
    config_key = addr if key == "host" else "http://%s/v2/" % addr
    cfg = docker_config(tmp_path, {"auths": {
        config_key: {"auth": basic(USER, PASSWORD)},
        "https://index.docker.io/v1/": {"auth": basic("hub", "not-used")}}})
    project.extra_env["DOCKER_CONFIG"] = str(cfg)
    service_compose(project, ref)
    up = project.up(check=0)
    assert_running(project, ref)
    pull = project.run("pull", check=0)   # `compose pull` pulls again, with the same entry
    assert_no_secret(up.out, up.err, pull.out, pull.err)


@pytest.mark.parametrize("how", ["credHelpers", "credsStore"])
def test_up_with_a_credential_helper(env, project, private, tmp_path, how):
    addr, ref = private
    forget(env, ref)
    b, asked = helper_bin(tmp_path)
    doc = ({"credHelpers": {addr: "m87test"}} if how == "credHelpers" else
           {"credsStore": "m87test"})
    # an auths entry with the wrong password: a helper wins over the auths, as with docker
    doc["auths"] = {addr: {"auth": basic(USER, WRONG)}}
    project.extra_env["DOCKER_CONFIG"] = str(docker_config(tmp_path, doc))
    project.extra_env["PATH"] = "%s:%s" % (b, os.environ.get("PATH", "/usr/bin:/bin"))
    service_compose(project, ref)
    up = project.up(check=0)
    assert_running(project, ref)
    assert asked.read_text().split() == [addr]
    assert_no_secret(up.out, up.err)


@pytest.mark.parametrize("creds", ["wrong", "none", "helper-wrong", "broken"])
def test_refused_pull_names_the_registry_and_creates_nothing(env, project, private, tmp_path,
                                                            creds):
    addr, ref = private
    forget(env, ref)
    if creds == "wrong":
        doc = {"auths": {addr: {"auth": basic(USER, WRONG)}}}
        source = "(credentials from auths of '%s/config.json')" % (tmp_path / "docker-config")
    elif creds == "none":
        doc = {"auths": {"other.example:5000": {"auth": basic(USER, PASSWORD)}}}
        source = "(no credentials)"
    elif creds == "broken":  # a warning, then anonymous pulls, as with docker
        doc = '{"auths": {"%s": {"auth": "%s"}' % (addr, basic(USER, PASSWORD))
        source = "(no credentials)"
    else:
        b, _ = helper_bin(tmp_path, password=WRONG)
        project.extra_env["PATH"] = "%s:%s" % (b, os.environ.get("PATH", "/usr/bin:/bin"))
        doc = {"credHelpers": {addr: "m87test"}}
        source = "(credentials from docker-credential-m87test)"
    project.extra_env["DOCKER_CONFIG"] = str(docker_config(tmp_path, doc))
    project.compose("""\
        services:
          web:
            image: %s
          side:
            image: %s
        """ % (ref, env.small_image))
    up = project.up(check=1)
    msg = up.err
    if creds == "broken":
        assert "m87-agent: compose: warning: docker config: %s/config.json: " % (
            tmp_path / "docker-config") in msg and "; pulls are anonymous\n" in msg, msg
    assert "service 'web': registry '%s' %s: pull image '%s': " % (addr, source, ref) in msg, msg
    # dockerd's own words, with its HTTP status
    assert "dockerd answered" in msg and ("unauthorized" in msg or "no basic auth" in msg), msg
    assert project.containers() == [] and project.networks() == [], "half applied"
    pull = project.run("pull", check=1)
    assert "registry '%s' %s" % (addr, source) in pull.err, pull.err
    assert_no_secret(up.out, up.err, pull.out, pull.err)


def test_runner_native_steps_pull_the_private_image(env, runner, private, tmp_path):
    """`m87-agent apply` runs the job's `docker compose pull` and `up` natively with the
    credentials of DOCKER_CONFIG; nothing under its state directory holds the password."""
    addr, ref = private
    forget(env, ref)
    cfg = docker_config(tmp_path, {"auths": {addr: {"auth": basic(USER, PASSWORD)}}})
    runner.extra_env["DOCKER_CONFIG"] = str(cfg)
    app = unique_id("priv")
    proc = runner.apply([seed_job(app, ref)], check=0)
    cs = runner.containers(app)
    assert len(cs) == 1 and cs[0]["State"] == "running" and cs[0]["Image"] == ref
    assert_no_secret(proc.out, proc.err)

    # refused: the step fails naming the registry, and the report says so without the secret
    (cfg / "config.json").write_text(json.dumps({"auths": {addr: {"auth": basic(USER, WRONG)}}}))
    forget(env, ref)
    other = unique_id("priv")
    proc = runner.apply([seed_job(other, ref)], check=1)
    assert runner.containers(other) == []
    assert "registry '%s' (credentials from auths of" % addr in proc.out + proc.err
    assert_no_secret(proc.out, proc.err)
    for path in pathlib.Path(runner.state).rglob("*"):
        if path.is_file():
            assert_no_secret(path.read_bytes().decode(errors="replace"))


def prefetch_entry(dev, image):
    st = dev.server.api("GET", "/v1/devices/%s/prefetch" % dev.name)
    return next((e for e in st["prefetch_images"] if e["image"] == image), {})


def test_prefetch_pulls_the_private_image(env, device, private, tmp_path):
    """The daemon's prefetch of a requested image uses the credentials of DOCKER_CONFIG; with
    a wrong password it reports the refusal naming the registry. The password is in no log,
    report or state file."""
    dev = device
    addr, ref = private
    forget(env, ref)
    cfg = docker_config(tmp_path, {"auths": {addr: {"auth": basic(USER, WRONG)}}})
    dev.agent.extra_env["DOCKER_CONFIG"] = str(cfg)
    dev.agent.start()
    dev.m87("prefetch", ref)
    wait_for(lambda: prefetch_entry(dev, ref).get("state") == "failed", 120,
             "the refused prefetch to be reported\n" + dev.agent.log()[-3000:])
    msg = prefetch_entry(dev, ref)["message"]
    assert msg.startswith("registry '%s' (credentials from auths of '%s/config.json'): "
                          "pull image '%s': dockerd answered " % (addr, cfg, ref)), msg

    dev.agent.stop()
    (cfg / "config.json").write_text(json.dumps({"auths": {addr: {"auth": basic(USER,
                                                                                PASSWORD)}}}))
    dev.m87("prefetch", "clear")
    dev.agent.start()
    dev.m87("prefetch", ref)
    wait_for(lambda: prefetch_entry(dev, ref).get("state") == "done", 120,
             "the prefetch to be done\n" + dev.agent.log()[-3000:])
    assert prefetch_entry(dev, ref)["message"] == "pulled"
    status, _ = env.docker_api("GET", API + "/images/%s/json" % urllib.parse.quote(ref, safe=""))
    assert status == 200

    assert_no_secret(dev.agent.log(whole=True), json.dumps(dev.reports()))
    for path in pathlib.Path(dev.agent.state).rglob("*"):
        if path.is_file():
            assert_no_secret(path.read_bytes().decode(errors="replace"))


def move_clock(dev, when):
    """The agent's window clock at `when` (UTC "YYYY-MM-DD HH:MM:SS") from now on."""
    t = calendar.timegm(time.strptime(when, "%Y-%m-%d %H:%M:%S"))
    dev.clock_file.write_text("%d\n" % (t - int(time.time())))


def test_daemon_prefetches_and_applies_the_private_image(env, device, private, tmp_path):
    """A revision that waits for its window has its private image prefetched by the daemon, and
    is applied inside the window by the native steps, both with DOCKER_CONFIG's helper."""
    dev = device
    addr, ref = private
    forget(env, ref)
    dev.clock_file = dev.tmp / "agent-clock"
    move_clock(dev, "2026-11-23 10:00:00")
    dev.agent.extra_env["M87_AGENT_CLOCK_FILE"] = str(dev.clock_file)
    b, asked = helper_bin(dev.tmp)
    for f in b.iterdir():  # the agent's PATH is a directory of its own
        os.symlink(f, dev.agent.bin / f.name)
    dev.agent.extra_env["DOCKER_CONFIG"] = str(docker_config(tmp_path,
                                                             {"credsStore": "m87test"}))
    dev.agent.start()
    dev.m87("deployment", "new", "--active")
    dev.wait_applied()
    dev.m87("window", "add", "daily 02:00-04:00")
    project = unique_name("privwin")
    src = dev.compose_dir(project, {"web": {"image": ref, "restart": "always"}})
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    rev = dev.active_hash()

    def prefetched():
        recs = [r for r in dev.reports(kind="window") if r["revision"] == rev]
        return recs and recs[-1].get("prefetch", {}).get("done") == 1
    wait_for(prefetched, 120, lambda: "the prefetch\n" + dev.agent.log()[-3000:])
    status, _ = env.docker_api("GET", API + "/images/%s/json" % urllib.parse.quote(ref, safe=""))
    assert status == 200 and dev.agent.containers(project) == []
    assert addr in asked.read_text().split()

    forget(env, ref)  # the job's own pull step must find the credentials too
    move_clock(dev, "2026-11-24 02:00:05")
    wait_for(lambda: dev.agent.applied() == rev and len(running_ids(dev.agent, project)) == 1,
             180, lambda: "the revision to be applied\n" + dev.agent.log()[-3000:])
    assert asked.read_text().split().count(addr) >= 2  # the prefetch and the pull step
    assert_no_secret(dev.agent.log(whole=True), json.dumps(dev.reports()))
    for path in pathlib.Path(dev.agent.state).rglob("*"):
        if path.is_file():
            assert_no_secret(path.read_bytes().decode(errors="replace"))
