"""Token sources that keep the token off command lines, where `ps` shows it to every user
(docs/agent.md, docs/cli.md): `m87-agent run --token-file FILE`, `token-file =` in its config
file and M87_TOKEN; `m87 login --token -` reading the token from stdin. A bad token file is
refused with a clear message (exit status 2), and the token is never in the agent's log, in its
command line or in the environment of its steps."""

import json
import os
import subprocess
import types

from agent_util import Agent, device, own_server, wait_for  # noqa: F401
from cli_util import Cli, add_device, check_sanitizers, server, write  # noqa: F401
from compose_util import AGENT


class TokenlessAgent(Agent):
    """An agent whose command line has no --token: the token comes from elsewhere."""

    def argv(self, *extra):
        argv = super().argv(*extra)
        i = argv.index("--token")
        return argv[:i] + argv[i + 2:]


def no_dockerd(tmp_path):
    return types.SimpleNamespace(docker_host="unix://%s/no-dockerd.sock" % tmp_path)


def cmdline(proc):
    with open("/proc/%d/cmdline" % proc.pid, "rb") as f:
        return f.read().decode(errors="replace")


def wait_synced(agent, server, name):  # noqa: F811
    agent.wait_log("connected to %s" % server.url, timeout=60)
    wait_for(lambda: server.api("GET", "/v1/devices/%s" % name)["last_seen"], 30, "a sync")


def run_agent(*args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("M87_")}
    e.update(env or {})
    proc = subprocess.run([str(AGENT), "run"] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=30, env=e)
    check_sanitizers(proc.stderr)
    return proc


def test_token_file_syncs_and_stays_off_the_command_line(server, tmp_path):  # noqa: F811
    cli = Cli(tmp_path, server)
    name, token = add_device(cli)
    tf = write(tmp_path / "token", token + "\n")
    tf.chmod(0o600)
    agent = TokenlessAgent(no_dockerd(tmp_path), tmp_path, server.url, token)
    agent.start("--token-file", str(tf))
    try:
        wait_synced(agent, server, name)
        line = cmdline(agent.proc)
        assert "--token-file" in line and token not in line, line
        assert "open to group or others" not in agent.log()
    finally:
        assert agent.stop() == 0
    assert token not in agent.log(whole=True)

    # a token file others may read still works, with a warning
    tf.chmod(0o644)
    agent.start("--token-file", str(tf))
    try:
        agent.wait_log("token file '%s' is open to group or others (mode 0644)" % tf, timeout=30)
        agent.wait_log("connected to %s" % server.url, timeout=60)
    finally:
        agent.stop()
    assert token not in agent.log(whole=True)


def test_config_token_file_and_precedence(server, tmp_path):  # noqa: F811
    cli = Cli(tmp_path, server)
    name, token = add_device(cli)
    tf = write(tmp_path / "token", token)  # no trailing newline is fine too
    tf.chmod(0o600)
    agent = TokenlessAgent(no_dockerd(tmp_path), tmp_path, server.url, token)
    # the config file's token-file wins over its token
    agent.config = {"token-file": str(tf), "token": "m87d_wrong"}
    agent.start()
    try:
        wait_synced(agent, server, name)
    finally:
        agent.stop()
    # --token-file wins over M87_TOKEN, and M87_TOKEN over the config file
    agent.config = {"token": "m87d_wrong"}
    agent.extra_env = {"M87_TOKEN": "m87d_wrong_too"}
    agent.start("--token-file", str(tf))
    try:
        agent.wait_log("connected to %s" % server.url, timeout=60)
    finally:
        agent.stop()
    agent.extra_env = {"M87_TOKEN": token}
    agent.start()
    try:
        agent.wait_log("connected to %s" % server.url, timeout=60)
        assert "refused" not in agent.log()
    finally:
        agent.stop()
    assert token not in agent.log(whole=True)


def test_m87_token_works_and_steps_do_not_see_it(device, tmp_path):  # noqa: F811
    agent = TokenlessAgent(device.env, tmp_path, device.server.url, device.token)
    device.agent = agent
    agent.extra_env = {"M87_TOKEN": device.token}
    out = tmp_path / "step-env"
    spec = write(tmp_path / "spec.yml", json.dumps({"jobs": [{
        "id": "envdump", "type": "job",
        "steps": [{"name": "dump", "run": "export -p > %s" % out}]}]}))
    device.m87("deployment", "new", "--active")
    device.m87("deploy", str(spec))
    agent.start()
    device.wait_applied()
    assert device.token not in cmdline(agent.proc)
    text = out.read_text()
    assert "DOCKER_HOST" in text  # the step did see the agent's environment
    assert "M87_TOKEN" not in text and device.token not in text, text
    assert device.token not in agent.log(whole=True)


def test_bad_token_files_are_refused(tmp_path):
    base = ["--server", "http://127.0.0.1:1", "--insecure-http", "--state-dir",
            tmp_path / "state", "--config", "/dev/null"]
    secret = "m87d_secret_never_printed"
    cases = [
        ("", "is empty"),
        ("\n", "is empty"),
        (secret + "\n" + secret + "\n", "holds more than one line"),
        (secret + "\n\n", "holds more than one line"),
        ("m87d secret\n", "holds a space or a control character"),
        ("x" * 5000, "exceeds the limit of 4096 bytes"),
    ]
    for i, (content, why) in enumerate(cases):
        tf = write(tmp_path / ("token-%d" % i), content)
        tf.chmod(0o600)
        r = run_agent(*base, "--token-file", tf)
        assert r.returncode == 2, (content, r.stderr)
        assert "m87-agent: run: token file '%s' %s" % (tf, why) in r.stderr, r.stderr
        assert secret not in r.stderr
    r = run_agent(*base, "--token-file", tmp_path / "missing")
    assert r.returncode == 2
    assert "token file '%s': No such file or directory" % (tmp_path / "missing") in r.stderr
    r = run_agent(*base, "--token-file", tmp_path)
    assert r.returncode == 2 and "is not a regular file" in r.stderr, r.stderr
    # a bad file named in the config file is refused the same way
    conf = write(tmp_path / "agent.conf", "token-file = %s\n" % (tmp_path / "token-0"))
    r = run_agent("--server", "http://127.0.0.1:1", "--insecure-http", "--config", conf)
    assert r.returncode == 2 and "token file '%s' is empty" % (tmp_path / "token-0") in r.stderr
    # no token from any source names the ways to give one
    r = run_agent(*base)
    assert r.returncode == 2 and "no token: give --token-file FILE, M87_TOKEN" in r.stderr
    assert not (tmp_path / "state").exists()


def test_login_reads_the_token_from_stdin(server, tmp_path):  # noqa: F811
    c = Cli(tmp_path)  # not logged in through the environment
    r = c.run("login", "--server", server.url, "--token", "-", input=server.token + "\n")
    assert r.rc == 0, r
    saved = json.loads(c.config_path.read_text())
    assert saved["token"] == server.token and saved["server"] == server.url
    assert c.ok("devices", "list")
    # a wrong token on stdin is checked against the server like one given as a flag
    r = c.run("login", "--server", server.url, "--token", "-", input="m87a_nope\n")
    assert r.rc == 2 and json.loads(c.config_path.read_text())["token"] == server.token, r
    for text, why in (("", "is empty"), ("a\nb\n", "holds more than one line")):
        r = c.run("login", "--server", server.url, "--token", "-", input=text)
        assert r.rc == 2 and "m87: login: the token on stdin %s" % why in r.err, r
    assert "--token -" in c.ok("login", "--help").out
