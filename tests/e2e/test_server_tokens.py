"""`m87-server token create|list|revoke` (docs/operations.md, "Admin tokens") against a real
m87-server while it serves, on SQLite and (M87_TEST_DB=postgres) PostgreSQL: a created token is
accepted at once and its audit rows carry the fingerprint `token list` shows, a revoked one gets
401 from its next request, and bad input (an unknown ID or fingerprint, the last admin token,
malformed arguments) fails with a clear error and changes nothing. Then `serve
--audit-retention`: audit rows whose last event is older than the retention are pruned by the
retention thread, the others kept."""

import hashlib
import json
import sqlite3
import subprocess
import time

from server_util import SERVER_BIN, SPEC_APP, Server, server  # noqa: F401  (fixture)


def fingerprint(token):
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def where(srv):
    return srv.db_args if srv.db_args else ["--data", srv.data]


def token_cmd(srv, *args):
    return subprocess.run([SERVER_BIN, "token", *args, *where(srv)], capture_output=True,
                          text=True, timeout=60)


def tokens(srv):
    r = token_cmd(srv, "list", "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["tokens"]


def sql(srv, stmt):
    """Run stmt on the server's database beside the running server; the first column of its
    first row as text, or None."""
    if srv.db_args:
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            srv.db_args[1], "-c", stmt],
                           check=True, capture_output=True, text=True, timeout=60)
        return r.stdout.split("\n")[0] or None
    db = sqlite3.connect(srv.data + "/m87.db", timeout=30)
    with db:
        row = db.execute(stmt).fetchone()
    db.close()
    return str(row[0]) if row else None


def wait_for(cond, timeout=30):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def audit(srv, device, token=None):
    r = srv.request("GET", "/v1/devices/%s/audit" % device, token=token or srv.admin)
    assert r.status == 200, r
    return r.json["audit"]


def deploy(srv, device, token):
    """A new deployment with jobs made with token: an audit row of kind deploy."""
    r = srv.request("POST", "/v1/devices/%s/deployments" % device, token=token,
                    body={"active": False})
    assert r.status == 201, r
    r = srv.request("POST", "/v1/devices/%s/deployments/%s/jobs" % (device, r.json["id"]),
                    token=token, body=SPEC_APP)
    assert r.status == 200, r


def test_create_list_revoke_while_the_server_runs(server):
    first = tokens(server)
    assert first == [{"id": first[0]["id"], "name": None, "fingerprint": fingerprint(server.admin),
                      "created": first[0]["created"]}]

    r = token_cmd(server, "create", "--name", "ci deploys")
    assert r.returncode == 0, r.stderr
    new = r.stdout.strip()
    assert r.stdout == new + "\n" and new.startswith("m87a_") and new != server.admin
    assert fingerprint(new) in r.stderr

    # the running server accepts it at once, and the audit names it by the listed fingerprint
    assert server.request("GET", "/v1/devices", token=new).status == 200
    server.add_device("gw")
    deploy(server, "gw", new)
    listed = tokens(server)
    assert [(t["name"], t["fingerprint"]) for t in listed] == [
        (None, fingerprint(server.admin)), ("ci deploys", fingerprint(new))]
    assert listed[1]["id"] > listed[0]["id"]
    assert {row["token"] for row in audit(server, "gw") if row["kind"] == "deploy"} == \
        {fingerprint(new)}

    # the table shows the same, and never a secret
    r = token_cmd(server, "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "FINGERPRINT", "CREATED"]
    assert lines[2].split()[:4] == [str(listed[1]["id"]), "ci", "deploys",
                                    fingerprint(new)]
    assert new not in r.stdout and server.admin not in r.stdout
    assert listed[1]["created"] in lines[2]

    # revoked by its fingerprint: its next request gets 401, the other token still works
    r = token_cmd(server, "revoke", fingerprint(new).upper())
    assert r.returncode == 0, r.stderr
    assert "revoked admin token %d" % listed[1]["id"] in r.stderr
    resp = server.request("GET", "/v1/devices", token=new)
    assert resp.status == 401 and resp.error_code() == "unauthorized", resp
    assert server.admin_req("GET", "/v1/devices").status == 200
    assert tokens(server) == listed[:1]

    # one more, revoked by its ID; then the init token goes and the new one is the admin
    third = token_cmd(server, "create").stdout.strip()
    third_id = tokens(server)[1]["id"]
    assert token_cmd(server, "revoke", str(listed[0]["id"])).returncode == 0
    assert server.admin_req("GET", "/v1/devices").status == 401
    assert server.request("GET", "/v1/devices", token=third).status == 200
    assert [t["id"] for t in tokens(server)] == [third_id]
    server.admin = third


def test_bad_input_is_refused_and_changes_nothing(server):
    second = token_cmd(server, "create", "--name", "spare").stdout.strip()
    before = tokens(server)
    assert len(before) == 2
    cases = [
        (["revoke", "999999"], 1, "no admin token with ID 999999"),
        (["revoke", "0123456789ab"], 1, "no admin token with fingerprint '0123456789ab'"),
        (["revoke", "xyz"], 2, "expected an ID (a number) or a FINGERPRINT (12 hex digits)"),
        (["revoke", "0"], 2, "expected an ID (a number) or a FINGERPRINT"),
        (["revoke"], 2, "which token? give its ID or FINGERPRINT"),
        (["revoke", "1", "2"], 2, "expected one ID or FINGERPRINT"),
        (["create", "--name", ""], 2, "--name: expected 1 to 64 characters"),
        (["create", "--name", "a\nb"], 2, "--name: expected 1 to 64 characters"),
        (["create", "--name", "x" * 65], 2, "--name: expected 1 to 64 characters"),
        (["create", "extra"], 2, "unexpected argument"),
        (["list", "--bogus"], 2, "unknown option '--bogus'"),
        (["remove"], 2, "unknown command 'remove'"),
    ]
    for args, rc, msg in cases:
        r = token_cmd(server, *args)
        assert r.returncode == rc and msg in r.stderr, (args, r.returncode, r.stderr)
        assert r.stdout == "", args
    # a device's token is no admin token: revoke does not know its ID
    server.add_device("gw")
    device_token = sql(server, "SELECT id FROM tokens WHERE role = 'device'")
    r = token_cmd(server, "revoke", device_token)
    assert r.returncode == 1 and "no admin token with ID %s" % device_token in r.stderr, r.stderr
    assert sql(server, "SELECT COUNT(*) FROM tokens WHERE role = 'device'") == "1"
    # without --data or --db
    r = subprocess.run([SERVER_BIN, "token", "list"], capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "--data DIR (or --db URL) is required" in r.stderr, r.stderr
    assert tokens(server) == before

    # the last admin token stays: revoking it is refused with a clear error
    assert token_cmd(server, "revoke", str(before[1]["id"])).returncode == 0
    r = token_cmd(server, "revoke", fingerprint(server.admin))
    assert r.returncode == 1, r.stderr
    assert "is the last one: create another first ('m87-server token create')" in r.stderr
    assert tokens(server) == before[:1]
    assert server.admin_req("GET", "/v1/devices").status == 200
    assert server.request("GET", "/v1/devices", token=second).status == 401


def test_every_token_command_has_help():
    for args, first in [(["token", "--help"], "usage: m87-server token create|list|revoke"),
                        (["token", "create", "--help"], "usage: m87-server token create"),
                        (["token", "list", "-h"], "usage: m87-server token list"),
                        (["token", "revoke", "--help"], "usage: m87-server token revoke")]:
        r = subprocess.run([SERVER_BIN, *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout.startswith(first), (args, r.stdout)
    r = subprocess.run([SERVER_BIN, "--help"], capture_output=True, text=True, timeout=30)
    assert "create, list or revoke admin tokens" in r.stdout


def test_audit_rows_past_the_default_retention_are_pruned(server):
    """The default retention (365 days): a row aged 400 days goes, one aged 300 days stays, and
    so does one created 400 days ago that ended (its last event) just now."""
    server.add_device("gw")
    for _ in range(2):
        deploy(server, "gw", server.admin)
    rows = audit(server, "gw")
    assert [r["what"] for r in rows] == ["new", "jobs", "new", "jobs"]
    day = 86400
    sql(server, "UPDATE remote_audit SET created = created - %d WHERE id IN (SELECT id FROM "
        "remote_audit ORDER BY id LIMIT 1)" % (400 * day))
    sql(server, "UPDATE remote_audit SET created = created - %d WHERE id IN (SELECT id FROM "
        "remote_audit ORDER BY id LIMIT 1 OFFSET 1)" % (300 * day))
    sql(server, "UPDATE remote_audit SET ended = created, created = created - %d WHERE id IN "
        "(SELECT id FROM remote_audit ORDER BY id LIMIT 1 OFFSET 2)" % (400 * day))
    wait_for(lambda: len(audit(server, "gw")) == 3)
    left = audit(server, "gw")
    assert [(r["ref"], r["what"]) for r in left] == [(r["ref"], r["what"]) for r in rows[1:]]
    assert left[1]["ended"] is not None and left[1]["created"] < rows[2]["created"]


def test_audit_retention_option(tmp_path):
    srv = Server(tmp_path, extra_args=["--audit-retention", "1h"])
    srv.init()
    srv.start()
    try:
        srv.add_device("gw")
        deploy(srv, "gw", srv.admin)
        deploy(srv, "gw", srv.admin)
        assert len(audit(srv, "gw")) == 4
        sql(srv, "UPDATE remote_audit SET created = created - 3700 WHERE id IN (SELECT id FROM "
            "remote_audit ORDER BY id LIMIT 1)")
        wait_for(lambda: len(audit(srv, "gw")) == 3)
        assert [r["what"] for r in audit(srv, "gw")] == ["jobs", "new", "jobs"]
    finally:
        assert srv.stop() == 0
    for bad in ["soon", "-1s", "500ms"]:
        r = subprocess.run([SERVER_BIN, "serve", "--data", srv.data, "--listen", "127.0.0.1:1",
                            "--audit-retention", bad], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, r.stderr
        assert "--audit-retention: expected a duration like 365d (at least 1s; 0: kept " \
            "forever)" in r.stderr
