"""`m87-agent run` options and config file, against a real server: plain http refused without
--insecure-http, settings from the config file with flags winning, bad config lines named by
file and line, a refused token logged as such (never the token itself) and retried, one
daemon per state directory, and the daemon's state in `m87-agent status`."""

import json
import subprocess

import pytest

from agent_util import Agent, wait_for
from cli_util import Cli, add_device, check_sanitizers, server  # noqa: F401
from compose_util import AGENT


def run_agent(*args, timeout=30):
    proc = subprocess.run([str(AGENT), "run"] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout)
    check_sanitizers(proc.stderr)
    return proc


def test_plain_http_needs_insecure_http(tmp_path, server):  # noqa: F811
    r = run_agent("--server", server.url, "--token", "m87d_x", "--state-dir", tmp_path / "s",
                  "--config", "/dev/null")
    assert r.returncode == 2
    assert "plain http" in r.stderr and "--insecure-http" in r.stderr, r.stderr
    assert "m87d_x" not in r.stderr
    assert not (tmp_path / "s").exists()


def test_missing_server_or_token(tmp_path):
    r = run_agent("--token", "t", "--config", "/dev/null")
    assert r.returncode == 2 and "no server" in r.stderr, r.stderr
    r = run_agent("--server", "https://example.invalid", "--config", "/dev/null")
    assert r.returncode == 2 and "no token" in r.stderr, r.stderr
    r = run_agent("--server", "https://x", "--token", "t", "--config", tmp_path / "nope.conf")
    assert r.returncode == 2 and "nope.conf" in r.stderr, r.stderr
    r = run_agent("--bogus")
    assert r.returncode == 2


def test_bad_config_line_is_named(tmp_path):
    conf = tmp_path / "agent.conf"
    conf.write_text("# comment\nserver = https://x\n\ntokn = abc\n")
    r = run_agent("--config", conf)
    assert r.returncode == 2
    assert "%s:4: unknown key 'tokn'" % conf in r.stderr, r.stderr
    conf.write_text("server https://x\n")
    r = run_agent("--config", conf)
    assert r.returncode == 2 and "%s:1: expected 'key = value'" % conf in r.stderr, r.stderr


@pytest.fixture
def agent_setup(env, server, tmp_path):  # noqa: F811
    cli = Cli(tmp_path, server)
    name, token = add_device(cli)
    agent = Agent(env, tmp_path, server.url, token, backoff_max_ms=300)
    yield cli, name, token, agent
    agent.stop()


def test_config_file_and_flags(env, server, agent_setup, tmp_path):  # noqa: F811
    cli, name, token, agent = agent_setup
    conf = tmp_path / "agent.conf"
    conf.write_text("server = %s/\ntoken = %s\ninsecure-http = true\nstate-dir = %s\n"
                    "docker-host = %s\n" % (server.url, token, tmp_path / "from-conf",
                                            env.docker_host))
    # the state dir of the flag wins over the file's
    proc = subprocess.Popen([str(AGENT), "run", "--config", str(conf), "--state-dir",
                             str(agent.state)], env=agent.environ(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: (agent.daemon_state() or {}).get("connected"), 30, "a sync")
        assert not (tmp_path / "from-conf").exists()
        dev = server.api("GET", "/v1/devices/%s" % name)
        assert dev["agent_version"] and dev["last_seen"]
        # one daemon per state directory
        second = run_agent("--config", conf, "--state-dir", agent.state)
        assert second.returncode == 1 and "another daemon holds" in second.stderr, second
        st = agent.status("--json")
        daemon = json.loads(st.stdout)["daemon"]
        assert daemon["running"] is True and daemon["connected"] is True
        assert daemon["server"] == server.url and daemon["applied"] is None
        assert daemon["queue"] == 0
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    check_sanitizers(out)
    assert token not in out
    assert "stopping (signal 15)" in out
    text = agent.status().stdout
    assert "daemon     not running" in text, text
    assert json.loads(agent.status("--json").stdout)["daemon"]["connected"] is False


def test_refused_token_is_logged_and_retried(env, server, agent_setup):  # noqa: F811
    cli, name, token, agent = agent_setup
    agent.token = "m87d_" + "A" * 43
    agent.start()
    wait_for(lambda: agent.log().count("refused the device token") >= 2, 30,
             "two refused syncs\n" + agent.log())
    log = agent.log()
    assert "HTTP 401" in log and agent.token not in log
    state = agent.daemon_state()
    assert state["connected"] is False and "401" in state["last_error"]
    text = agent.status().stdout
    assert "not connected to" in text and "error" in text, text
    assert agent.stop() == 0
    # a removed device: its token is refused as well, logged the same way
    cli.ok("devices", "rm", name)
    agent.token = token
    agent.start()
    wait_for(lambda: "refused the device token" in agent.log(), 30, "a refused sync")


def test_server_list_moves_on_from_an_unreachable_one(env, server, agent_setup):  # noqa: F811
    """`server = URL1, URL2`: the first refuses connections (nothing listens on port 1), so the
    daemon moves to the second at once and says so; `status` names the one it uses."""
    cli, name, token, agent = agent_setup
    agent.server_url = "http://127.0.0.1:1/ , %s/" % server.url
    agent.start()
    wait_for(lambda: (agent.daemon_state() or {}).get("connected"), 30, "a sync\n" + agent.log())
    log = agent.log()
    assert "server http://127.0.0.1:1 cannot be reached: trying %s" % server.url in log, log
    assert agent.daemon_state()["server"] == server.url
    dev = server.api("GET", "/v1/devices/%s" % name)
    assert dev["last_seen"]


def test_bad_server_lists(tmp_path):
    for value, want in (("https://a, , https://b", "an empty URL in the list"),
                        ("https://a, ftp://b", "server 'ftp://b' must start with https://"),
                        ("https://a, http://b", "server 'http://b' is plain http"),
                        (",".join(["https://a"] * 17), "at most 16 URLs")):
        conf = tmp_path / "agent.conf"
        conf.write_text("server = %s\ntoken = m87d_x\n" % value)
        r = run_agent("--config", conf, "--state-dir", tmp_path / "s")
        assert r.returncode == 2 and want in r.stderr, (value, r.stderr)
        assert not (tmp_path / "s").exists()
