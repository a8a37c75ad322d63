"""m87: help, usage errors, login and its config file, environment overrides, auth and network
failures, TLS with a self-signed CA. Against a real m87-server."""

import json
import os
import stat
import subprocess

import pytest

from cli_util import Cli, Server, free_port, unique, cli, server  # noqa: F401

HELP_COMMANDS = [
    [],
    ["login"],
    ["devices"],
    ["devices", "add"],
    ["devices", "list"],
    ["devices", "rm"],
    ["gw-1", "deployment"],
    ["gw-1", "deployment", "new"],
    ["gw-1", "deployment", "list"],
    ["gw-1", "deployment", "show"],
    ["gw-1", "deployment", "activate"],
    ["gw-1", "deployment", "clone"],
    ["gw-1", "deployment", "status"],
    ["gw-1", "deployment", "rm"],
    ["gw-1", "deploy"],
    ["gw-1", "undeploy"],
]


@pytest.mark.parametrize("words", HELP_COMMANDS, ids=lambda w: " ".join(w) or "m87")
def test_help_needs_no_login(tmp_path, words):
    """Every command answers --help with exit 0 and a usage line, without any config."""
    r = Cli(tmp_path).run(*(words + ["--help"]))
    assert r.rc == 0, r
    assert r.out.startswith("usage: m87"), r
    assert r.err == ""


def test_version(tmp_path):
    r = Cli(tmp_path).run("--version")
    assert r.rc == 0 and r.out.startswith("m87 "), r


@pytest.mark.parametrize("words,needle", [
    ([], "usage: m87"),
    (["frobnicate"], "missing command"),
    (["--bogus"], "unknown option '--bogus'"),
    (["devices"], "missing command"),
    (["devices", "explode"], "unknown command 'explode'"),
    (["devices", "add"], "missing operand"),
    (["devices", "add", "a", "b"], "unexpected operand 'b'"),
    (["devices", "list", "--wat"], "unknown option '--wat'"),
    (["devices", "rm", "x", "--json"], "unknown option '--json'"),
    (["gw-1", "explode"], "unknown command 'explode'"),
    (["gw-1", "deployment", "clone", "@3"], "missing deployment id"),
    (["gw-1", "deployment", "clone", "d-1@x"], "revision 'x' is not a positive integer"),
    (["gw-1", "deployment", "show", "--revision", "0"], "--revision '0'"),
    (["gw-1", "deployment", "show", "--yaml", "--json"], "exclude each other"),
    (["gw-1", "deployment", "status", "--timeout", "5m"], "--timeout needs --follow"),
    (["gw-1", "deployment", "status", "--follow", "--timeout", "soon"], "invalid duration"),
    (["gw-1", "deployment", "status", "--deployment-id"], "needs a value"),
    (["gw-1", "undeploy", "--name", "x", "app"], "unknown option '--name'"),
    (["gw-1", "deploy"], "missing operand"),
])
def test_usage_errors_exit_2(server, tmp_path, words, needle):
    r = Cli(tmp_path, server).run(*words)
    assert r.rc == 2, r
    assert needle in r.err, r


def test_not_logged_in(tmp_path):
    r = Cli(tmp_path).run("devices", "list")
    assert r.rc == 2, r
    assert "run: m87 login --server URL --token TOKEN" in r.err


def test_login_saves_config_0600_and_is_used(server, tmp_path):
    c = Cli(tmp_path)
    c.use_env = False
    r = c.run("login", "--server", server.url + "/", "--token", server.token)
    assert r.rc == 0, r
    st = os.stat(c.config_path)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert stat.S_IMODE(os.stat(c.config_path.parent).st_mode) == 0o700
    saved = json.loads(c.config_path.read_text())
    assert saved == {"server": server.url, "token": server.token}
    name = unique("gw-")
    c.ok("devices", "add", name)
    assert name in c.ok("devices", "list").out


def test_login_default_path_under_home(server, tmp_path):
    c = Cli(tmp_path)
    c.extra_env = {"XDG_CONFIG_HOME": ""}
    r = c.run("login", "--server", server.url, "--token", server.token)
    assert r.rc == 0, r
    path = c.home / ".config" / "m87" / "config"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_login_with_bad_token_saves_nothing(server, tmp_path):
    c = Cli(tmp_path)
    r = c.run("login", "--server", server.url, "--token", "m87a_nope")
    assert r.rc == 2, r
    assert r.err.startswith("m87: ")
    assert "m87 login" in r.err
    assert not c.config_path.exists()


def test_login_usage(tmp_path):
    c = Cli(tmp_path)
    assert "--server and --token are required" in c.run("login", "--token", "x").err
    r = c.run("login", "--server", "ftp://x", "--token", "t")
    assert r.rc == 2 and "must start with http:// or https://" in r.err, r
    r = c.run("login", "--server", "https://x", "--token", "t", "--ca-file", tmp_path / "no.pem")
    assert r.rc == 2, r
    assert "--ca-file '%s': No such file or directory" % (tmp_path / "no.pem") in r.err
    r = c.run("login", "--server", "http://127.0.0.1:1", "--token", "t", "--no-check")
    assert r.rc == 0, r
    assert json.loads(c.config_path.read_text())["server"] == "http://127.0.0.1:1"


def test_environment_overrides_config(server, tmp_path):
    c = Cli(tmp_path)
    c.use_env = False
    c.ok("login", "--server", "http://127.0.0.1:1", "--token", "wrong", "--no-check")
    r = c.run("devices", "list")
    assert r.rc == 2 and "cannot reach the server at http://127.0.0.1:1" in r.err, r
    c.extra_env = {"M87_SERVER": server.url}
    r = c.run("devices", "list")
    assert r.rc == 2, r  # right server, token still the wrong one from the file
    c.extra_env = {"M87_SERVER": server.url, "M87_TOKEN": server.token}
    c.ok("devices", "list")


def test_bad_token_exit_2(server, tmp_path):
    c = Cli(tmp_path, server)
    c.extra_env = {"M87_TOKEN": "m87a_" + "A" * 43}
    r = c.run("devices", "list")
    assert r.rc == 2, r
    assert r.err.startswith("m87: ")
    assert "log in again" in r.err


def test_device_token_is_forbidden(cli):
    name = unique("gw-")
    token = cli.ok("devices", "add", name, "--json").json()["token"]
    cli.extra_env = {"M87_TOKEN": token}
    r = cli.run("devices", "list")
    assert r.rc == 2, r
    assert "admin token" in r.err


def test_unreachable_server_exit_2(tmp_path):
    c = Cli(tmp_path)
    port = free_port()
    c.extra_env = {"M87_SERVER": "http://127.0.0.1:%d" % port, "M87_TOKEN": "x"}
    for words in (["devices", "list"], ["gw-1", "deployment", "status"],
                  ["gw-1", "deployment", "new"]):
        r = c.run(*words)
        assert r.rc == 2, r
        assert r.err.startswith("m87: cannot reach the server at http://127.0.0.1:%d: " % port)
        assert "check `m87 login`" in r.err


def _make_ca(tmp_path):
    """A CA and a server certificate for 127.0.0.1 signed by it, made with the openssl tool."""
    def ossl(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=tmp_path)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
         "-days", "2", "-subj", "/CN=m87 test CA")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
         "-subj", "/CN=127.0.0.1")
    (tmp_path / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext")
    return tmp_path / "srv.pem", tmp_path / "srv.key", tmp_path / "ca.pem"


def test_tls_with_self_signed_ca(tmp_path):
    tls = _make_ca(tmp_path)
    s = Server(tmp_path, tls=tls).start()
    try:
        c = Cli(tmp_path / "c1")
        r = c.run("login", "--server", s.url, "--token", s.token)
        assert r.rc == 2, r  # the system CAs do not know ours
        assert "cannot reach the server at %s" % s.url in r.err
        assert "needs --ca-file or M87_CA_FILE" in r.err
        r = c.run("login", "--server", s.url, "--token", s.token, "--ca-file", tls[2])
        assert r.rc == 0, r
        assert json.loads(c.config_path.read_text())["ca_file"] == str(tls[2])
        c.ok("devices", "add", unique("gw-"))
        c2 = Cli(tmp_path / "c2")
        c2.extra_env = {"M87_SERVER": s.url, "M87_TOKEN": s.token, "M87_CA_FILE": str(tls[2])}
        c2.ok("devices", "list")
    finally:
        s.stop()
