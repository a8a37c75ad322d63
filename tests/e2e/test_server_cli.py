"""The m87-server command line: init, serve, --help, exit statuses, the access log, a restart
that keeps everything, TLS with a CA made here, and stopping on SIGINT."""

import os
import signal
import ssl
import stat
import subprocess

import pytest

from server_util import SERVER_BIN, SPEC_APP, Server


def run(*args, timeout=30):
    return subprocess.run([SERVER_BIN, *args], capture_output=True, text=True, timeout=timeout)


def test_help_and_version():
    r = run("--help")
    assert r.returncode == 0 and "init" in r.stdout and "serve" in r.stdout
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("m87-server ")
    for cmd in ["init", "serve"]:
        r = run(cmd, "--help")
        assert r.returncode == 0 and r.stdout.startswith(f"usage: m87-server {cmd}")
    assert run().returncode == 2
    r = run("frobnicate")
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr


def test_usage_errors(tmp_path):
    r = run("init")
    assert r.returncode == 2 and "--data DIR is required" in r.stderr
    r = run("init", "--data", str(tmp_path / "d"), "--bogus")
    assert r.returncode == 2 and "unknown option '--bogus'" in r.stderr
    r = run("serve", "--data", str(tmp_path))
    assert r.returncode == 2 and "--listen" in r.stderr
    r = run("serve", "--data", str(tmp_path), "--listen", "127.0.0.1:1", "--tls-cert", "x")
    assert r.returncode == 2 and "--tls-cert and --tls-key go together" in r.stderr
    r = run("serve", "--data", str(tmp_path), "--listen", "127.0.0.1:1", "--longpoll-max", "301")
    assert r.returncode == 2 and "--longpoll-max" in r.stderr


def test_init_prints_the_token_alone_once(tmp_path):
    data = tmp_path / "data"
    r = run("init", "--data", str(data))
    assert r.returncode == 0, r.stderr
    token = r.stdout
    assert token.endswith("\n") and token.count("\n") == 1
    assert token.startswith("m87a_") and len(token.strip()) == 5 + 43
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    assert (data / "m87.db").exists() and (data / "bundles").is_dir()
    # only a hash is stored
    with open(data / "m87.db", "rb") as f:
        assert token.strip().encode() not in f.read()

    r = run("init", "--data", str(data))
    assert r.returncode == 1 and r.stdout == ""
    assert "already exists" in r.stderr and "m87.db" in r.stderr


def test_serve_without_database_fails(tmp_path):
    r = run("serve", "--data", str(tmp_path / "none"), "--listen", "127.0.0.1:0")
    assert r.returncode == 1
    assert "m87-server init --data" in r.stderr


def test_serve_on_a_taken_port_fails(tmp_path):
    s = Server(tmp_path)
    s.init()
    s.start()
    try:
        r = run("serve", "--data", s.data, "--listen", f"127.0.0.1:{s.port}", *s.db_args)
        assert r.returncode == 1 and "listen on" in r.stderr
    finally:
        assert s.stop() == 0


def test_data_kept_across_restart_and_access_log(tmp_path):
    s = Server(tmp_path)
    s.init()
    s.start()
    token = s.add_device("gw")
    dep = s.new_deployment("gw", active=True)
    d = s.put_jobs("gw", dep["id"], SPEC_APP)
    s.sync(token, {"applied": d["hash"], "wait": 0, "reports": [{"seq": 1, "kind": "log"}]})
    bundle = b"bundle bytes"
    import hashlib
    digest = "sha256:" + hashlib.sha256(bundle).hexdigest()
    assert s.admin_req("PUT", f"/v1/bundles/{digest}", raw=bundle,
                       headers={"Content-Type": "application/gzip"}).status == 201
    s.admin_req("GET", "/v1/devices/gw/reports?limit=5")
    s.admin_req("GET", "/v1/devices/x%0aGET%20/forged%20200%201.0ms")
    assert s.stop() == 0

    log = s.read_log()
    assert "POST /v1/devices 201 " in log
    assert "GET /v1/devices/gw/reports 200 " in log  # no query string
    assert s.admin not in log and token not in log
    assert "GET /v1/devices/x?GET /forged 200 1.0ms 404 " in log
    assert "\nGET /forged" not in log

    s.start()
    try:
        # both tokens still work, everything is there
        g = s.admin_req("GET", "/v1/devices/gw").json
        assert g["applied_revision"] == d["hash"]
        assert g["active_deployment"]["id"] == dep["id"]
        assert g["active_deployment"]["revision"] == 2
        r = s.admin_req("GET", f"/v1/devices/gw/deployments/{dep['id']}/revisions")
        assert [x["revision"] for x in r.json["revisions"]] == [1, 2]
        assert [x["seq"] for x in s.admin_req("GET", "/v1/devices/gw/reports").json["reports"]] \
            == [1]
        assert s.sync(token, {"applied": d["hash"], "wait": 0}).json == {"ack": 1}
        assert s.request("GET", f"/v1/bundles/{digest}", token=s.admin).body == bundle
        metrics = s.request("GET", "/metrics").body.decode()
        assert "m87_reports_stored_total 1" in metrics
    finally:
        assert s.stop(signal.SIGINT) == 0


def make_ca_and_cert(d):
    def sh(*args):
        subprocess.run(args, check=True, capture_output=True, cwd=d)

    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
       "ca.crt", "-subj", "/CN=m87 test CA", "-days", "2")
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
       "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    sh("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
       "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext")
    return [os.path.join(d, n) for n in ("server.crt", "server.key", "ca.crt")]


def test_tls_with_a_self_signed_ca(tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    tls = make_ca_and_cert(str(certs))
    s = Server(tmp_path, tls=tls)
    s.init()
    s.start()
    try:
        assert s.request("GET", "/healthz").json == {"ok": True}
        token = s.add_device("gw")
        s.new_deployment("gw", active=True)
        assert "target" in s.sync(token, {"applied": None, "wait": 0}).json
        # a client that does not trust the CA is refused
        import http.client
        conn = http.client.HTTPSConnection("localhost", s.port, timeout=10,
                                           context=ssl.create_default_context())
        with pytest.raises(ssl.SSLError):
            conn.request("GET", "/healthz")
        conn.close()
        # plain HTTP on the TLS port gets no answer
        plain = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        with pytest.raises((http.client.HTTPException, OSError)):
            plain.request("GET", "/healthz")
            plain.getresponse().read()
        plain.close()
    finally:
        assert s.stop() == 0


def test_tls_with_a_missing_key_file_fails(tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    cert, _, _ = make_ca_and_cert(str(certs))
    s = Server(tmp_path)
    s.init()
    r = run("serve", "--data", s.data, "--listen", "127.0.0.1:0", "--tls-cert", cert,
            "--tls-key", str(tmp_path / "nope.key"), *s.db_args)
    assert r.returncode == 1 and "nope.key" in r.stderr
