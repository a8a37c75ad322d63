"""Transport security (docs/security.md): m87-server with a certificate from a CA made at test
time by the openssl tool; the CLI and the agent work with --ca-file, and refuse a server whose
certificate comes from another CA (a man in the middle) with a clear message; plain http:// is
refused unless --insecure-http (or M87_INSECURE_HTTP) says otherwise."""

import json
import subprocess
import types

import pytest

from agent_util import Agent, wait_for
from cli_util import Cli, Server, add_device, check_sanitizers, unique
from compose_util import AGENT


def _ossl(cwd, *args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=cwd)


def make_ca(d, name):
    """A CA and a server certificate for 127.0.0.1 signed by it: (cert, key, ca) paths."""
    d.mkdir(parents=True, exist_ok=True)
    _ossl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
          "ca.pem", "-days", "2", "-subj", "/CN=%s" % name)
    _ossl(d, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr",
          "-subj", "/CN=127.0.0.1")
    (d / "ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _ossl(d, "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
          "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext")
    return d / "srv.pem", d / "srv.key", d / "ca.pem"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    base = tmp_path_factory.mktemp("pki")
    return {"good": make_ca(base / "good", "m87 test CA"),
            "evil": make_ca(base / "evil", "someone else's CA")}


@pytest.fixture
def tls_server(tmp_path, pki):
    s = Server(tmp_path / "good-server", tls=pki["good"]).start()
    yield s
    s.stop()


@pytest.fixture
def mitm_server(tmp_path, pki):
    """A server on another port whose certificate (for the same address) comes from another CA:
    what an attacker between the clients and the real server could present."""
    s = Server(tmp_path / "evil-server", tls=pki["evil"]).start()
    yield s
    s.stop()


def cli_for(tmp_path, name, url, token, ca):
    c = Cli(tmp_path / name)
    c.extra_env = {"M87_SERVER": url, "M87_TOKEN": token, "M87_CA_FILE": str(ca),
                   "M87_INSECURE_HTTP": ""}
    return c


def test_cli_with_ca_file_and_mitm_refused(tmp_path, pki, tls_server, mitm_server):
    good_ca = pki["good"][2]
    c = Cli(tmp_path / "c")
    c.extra_env = {"M87_INSECURE_HTTP": ""}
    r = c.run("login", "--server", tls_server.url, "--token", tls_server.token, "--ca-file",
              good_ca)
    assert r.rc == 0, r
    assert json.loads(c.config_path.read_text())["ca_file"] == str(good_ca)
    name = unique("gw-")
    c.ok("devices", "add", name)
    assert name in c.ok("devices", "list").out

    # the same client config pointed at a server with another CA's certificate
    evil = cli_for(tmp_path, "evil", mitm_server.url, mitm_server.token, good_ca)
    r = evil.run("devices", "list")
    assert r.rc == 2, r
    assert "cannot reach the server at %s" % mitm_server.url in r.err, r
    assert "certificate" in r.err.lower(), r
    assert "--ca-file" in r.err, r
    # and nothing reached it: the token was never sent to it
    assert "GET /v1/devices" not in mitm_server.log_path.read_text()
    # login to it is refused too, and saves nothing
    e2 = Cli(tmp_path / "e2")
    e2.extra_env = {"M87_INSECURE_HTTP": ""}
    r = e2.run("login", "--server", mitm_server.url, "--token", "m87a_x", "--ca-file", good_ca)
    assert r.rc == 2 and "certificate" in r.err.lower(), r
    assert not e2.config_path.exists()


def test_plain_http_refused_without_insecure_http(tmp_path):
    s = Server(tmp_path / "plain").start()
    try:
        c = Cli(tmp_path / "c")
        c.extra_env = {"M87_INSECURE_HTTP": ""}
        r = c.run("login", "--server", s.url, "--token", s.token)
        assert r.rc == 2, r
        assert "plain http" in r.err and "--insecure-http" in r.err, r
        assert not c.config_path.exists()
        # the environment cannot smuggle it in either
        c.extra_env = {"M87_INSECURE_HTTP": "", "M87_SERVER": s.url, "M87_TOKEN": s.token}
        r = c.run("devices", "list")
        assert r.rc == 2 and "plain http" in r.err, r
        assert "GET /v1/devices" not in s.log_path.read_text()
        # explicit consent at login is stored and used
        c.extra_env = {"M87_INSECURE_HTTP": ""}
        c.ok("login", "--server", s.url, "--token", s.token, "--insecure-http")
        assert json.loads(c.config_path.read_text())["insecure_http"] is True
        c.ok("devices", "add", unique("gw-"))
        # M87_INSECURE_HTTP=0 overrides the file
        c.extra_env = {"M87_INSECURE_HTTP": "0"}
        assert c.run("devices", "list").rc == 2
    finally:
        s.stop()


def _agent(tmp_path, name, url, token, ca):
    (tmp_path / name).mkdir(parents=True, exist_ok=True)
    return Agent(types.SimpleNamespace(docker_host="unix://%s/no-dockerd.sock" % tmp_path),
                 tmp_path / name, url, token)


def test_agent_with_ca_file_and_mitm_refused(tmp_path, pki, tls_server, mitm_server):
    good_ca = pki["good"][2]
    c = cli_for(tmp_path, "cli", tls_server.url, tls_server.token, good_ca)
    name, token = add_device(c)

    good = _agent(tmp_path, "agent-good", tls_server.url, token, good_ca)
    good.start("--ca-file", str(good_ca))
    try:
        good.wait_log("connected to %s" % tls_server.url, timeout=60)
        dev = tls_server.api("GET", "/v1/devices/%s" % name)
        assert dev["last_seen"] is not None
    finally:
        assert good.stop() == 0

    # the same agent settings against the other CA's server: the TLS check fails, and says so
    evil_name, evil_token = add_device(cli_for(tmp_path, "cli2", mitm_server.url,
                                               mitm_server.token, pki["evil"][2]))
    bad = _agent(tmp_path, "agent-bad", mitm_server.url, evil_token, good_ca)
    bad.start("--ca-file", str(good_ca))
    try:
        wait_for(lambda: "certificate" in bad.log().lower(), 60,
                 "a certificate error in the agent log\n" + bad.log())
        assert "server %s" % mitm_server.url in bad.log()
        assert evil_token not in bad.log()
    finally:
        assert bad.stop() == 0
    dev = mitm_server.api("GET", "/v1/devices/%s" % evil_name)
    assert dev["last_seen"] is None
    assert "POST /v1/agent/sync" not in mitm_server.log_path.read_text()


def test_agent_plain_http_needs_insecure_http(tmp_path):
    proc = subprocess.run([str(AGENT), "run", "--server", "http://127.0.0.1:1", "--token",
                           "m87d_x", "--state-dir", str(tmp_path / "s"), "--config", "/dev/null"],
                          capture_output=True, text=True, timeout=30)
    check_sanitizers(proc.stderr)
    assert proc.returncode == 2
    assert "plain http" in proc.stderr and "--insecure-http" in proc.stderr
