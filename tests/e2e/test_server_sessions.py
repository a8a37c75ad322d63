"""The session endpoints of m87-server (docs/api.md, "Sessions") against a real server, with
urllib standing in for the CLI and the agent: who may do what, bad bodies, the sync answer
handing sessions to the device, output posted by the device and read back after a seq (held
until it comes), cancellation, the end of a session, and pruning after the retention time."""

import json
import subprocess
import threading
import time

import pytest

from cli_util import SERVER, Server, unique
from server_util import metric_in

PS = {"command": "ps", "args": ["-a"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("m87-sessions"))
    # the lost and unread timeouts (15 s, 60 s) made short, so that the tests need not wait
    s.extra_env = {"M87_SERVER_SESSION_LOST_S": "3", "M87_SERVER_SESSION_UNREAD_S": "8"}
    s.start()
    yield s
    s.stop()


def add_device(server):
    name = unique("gw-")
    dev = server.api("POST", "/v1/devices", {"name": name})
    return name, dev["token"]


def create(server, name, body=PS):
    return server.api("POST", "/v1/devices/%s/sessions" % name, body)


def post(server, token, sid, body):
    status, _, data = server.request("POST", "/v1/agent/sessions/%s" % sid, body=body,
                                     token=token)
    return status, json.loads(data)


def error(status_body):
    status, _, data = status_body
    return status, json.loads(data)["error"]["message"]


def test_only_the_admin_creates_and_reads(server):
    name, token = add_device(server)
    path = "/v1/devices/%s/sessions" % name
    assert server.request("POST", path, body=PS, token="")[0] == 401
    assert server.request("POST", path, body=PS, token=token)[0] == 403
    assert server.request("GET", path, token=token)[0] == 403
    s = create(server, name)
    assert s["id"].startswith("s-") and s["state"] == "pending" and s["device"]["name"] == name
    assert s["device"]["connected"] is False and s["device"]["last_seen"] is None
    assert server.request("GET", "%s/%s/output" % (path, s["id"]), token=token)[0] == 403
    assert server.request("POST", "%s/%s/cancel" % (path, s["id"]), token=token)[0] == 403
    # the admin token cannot report as a device
    assert server.request("POST", "/v1/agent/sessions/%s" % s["id"], body={},
                          token=server.token)[0] == 403


@pytest.mark.parametrize("body,message", [
    ({"command": "rm", "args": []}, "command: must be compose, ps or logs"),
    ({"command": "ps"}, "args: missing"),
    ({"command": "ps", "args": [1]}, "args[0]: expected a string"),
    ({"command": "ps", "args": [], "extra": 1}, "unknown field 'extra'"),
    ({"command": "compose", "args": ["up"]}, "compose: missing"),
    ({"command": "compose", "args": ["up"], "compose": {"project": "Bad Name"}},
     "compose.project: must match"),
    ({"command": "compose", "args": ["up"], "compose": {"project": "p", "files": ["../x.yml"]}},
     "compose.files[0]: expected a relative path"),
    ({"command": "ps", "args": [], "compose": {"project": "p"}}, "compose: only for the command"),
    ({"command": "compose", "args": ["up"], "compose": {"project": "p"},
      "job": {"id": "p", "steps": []}}, "job"),
])
def test_bad_bodies_are_refused(server, body, message):
    name, _ = add_device(server)
    status, msg = error(server.request("POST", "/v1/devices/%s/sessions" % name, body=body))
    assert status == 400 and message in msg, msg
    assert server.api("GET", "/v1/devices/%s/sessions" % name)["sessions"] == []


def test_unknown_device_and_session(server):
    assert server.request("POST", "/v1/devices/nope/sessions", body=PS)[0] == 404
    name, token = add_device(server)
    assert server.request("GET", "/v1/devices/%s/sessions/s-00000000" % name)[0] == 404
    assert post(server, token, "s-00000000", {})[0] == 404


def test_sync_hands_over_output_flows_back(server):
    name, token = add_device(server)
    s = create(server, name)
    ans = server.sync(token)
    assert [x["id"] for x in ans["sessions"]] == [s["id"]]
    assert ans["sessions"][0]["request"] == PS
    # delivered: not handed over again at once
    assert "sessions" not in server.sync(token)
    # another device may not report on it, and learns nothing: its answer is that of a missing
    # session
    _, other = add_device(server)
    assert post(server, other, s["id"], {}) == (
        404, {"error": {"code": "not_found", "message": "session '%s' not found" % s["id"]}})
    assert post(server, other, "s-00000000", {}) == (
        404, {"error": {"code": "not_found", "message": "session 's-00000000' not found"}})
    # bad reports
    assert post(server, token, s["id"], {"output": [{"stream": "x", "text": ""}]})[0] == 400
    assert post(server, token, s["id"], {"exit_code": 300})[0] == 400
    assert post(server, token, s["id"], {"nope": 1})[0] == 400

    status, ans = post(server, token, s["id"], {})
    assert status == 200 and ans["cancel"] is False and ans["state"] == "running"
    base = "/v1/devices/%s/sessions/%s" % (name, s["id"])
    got = {}

    def read():
        got["answer"] = server.api("GET", base + "/output?after=0&wait=30")
        got["at"] = time.monotonic()

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.5)
    assert "answer" not in got  # held: nothing to read yet
    sent = time.monotonic()
    post(server, token, s["id"], {"output": [{"stream": "stdout", "text": "one\ntwo\n"},
                                             {"stream": "stderr", "text": "warn\n"}]})
    reader.join(30)
    out = got["answer"]
    assert [(c["seq"], c["stream"], c["text"]) for c in out["output"]] == [
        (1, "stdout", "one\ntwo\n"), (2, "stderr", "warn\n")]
    assert out["next"] == 2 and out["state"] == "running" and got["at"] >= sent
    post(server, token, s["id"], {"output": [{"stream": "stdout", "text": "three\n"}],
                                  "exit_code": 3})
    out = server.api("GET", base + "/output?after=2")
    assert [c["text"] for c in out["output"]] == ["three\n"]
    assert out["state"] == "exited" and out["exit_code"] == 3
    # an ended session is not held, and the agent is told to stop
    assert server.api("GET", base + "/output?after=3&wait=30")["output"] == []
    assert post(server, token, s["id"], {})[1]["cancel"] is True
    listed = server.api("GET", "/v1/devices/%s/sessions" % name)["sessions"]
    assert [(x["id"], x["state"], x["exit_code"]) for x in listed] == [(s["id"], "exited", 3)]
    shown = server.api("GET", base)
    assert shown["request"] == PS and shown["started"] and shown["ended"]


def test_query_parameters_are_checked(server):
    name, _ = add_device(server)
    s = create(server, name)
    base = "/v1/devices/%s/sessions/%s/output" % (name, s["id"])
    assert error(server.request("GET", base + "?after=-1"))[0] == 400
    assert error(server.request("GET", base + "?wait=61"))[0] == 400
    assert error(server.request("GET", base + "?limit=1"))[0] == 400


def test_cancel_pending_and_running(server):
    name, token = add_device(server)
    pending = create(server, name)
    c = server.api("POST", "/v1/devices/%s/sessions/%s/cancel" % (name, pending["id"]))
    assert c["state"] == "cancelled" and c["message"]
    assert "sessions" not in server.sync(token)  # never handed to the device

    running = create(server, name)
    assert [x["id"] for x in server.sync(token)["sessions"]] == [running["id"]]
    assert post(server, token, running["id"], {})[1]["cancel"] is False
    c = server.api("POST", "/v1/devices/%s/sessions/%s/cancel" % (name, running["id"]))
    assert c["state"] == "running" and c["cancel_requested"] is True
    assert post(server, token, running["id"], {})[1]["cancel"] is True
    post(server, token, running["id"], {"exit_code": 143, "message": "cancelled"})
    s = server.api("GET", "/v1/devices/%s/sessions/%s" % (name, running["id"]))
    assert s["state"] == "cancelled" and s["exit_code"] == 143


def test_held_sync_is_woken_by_a_new_session(server):
    name, token = add_device(server)
    got = {}

    def sync():
        got["answer"] = server.sync(token, wait=30)

    held = _longpolls_held(server)  # of other tests: none, normally
    t = threading.Thread(target=sync, daemon=True)
    t.start()
    # the server holds the sync (the device connected) before the session is created
    deadline = time.monotonic() + 30
    while _longpolls_held(server) <= held:
        assert time.monotonic() < deadline, "the sync was not held"
        assert t.is_alive(), got
        time.sleep(0.02)
    assert "answer" not in got
    s = create(server, name)
    assert s["device"]["connected"] is True
    t.join(60)
    assert [x["id"] for x in got["answer"]["sessions"]] == [s["id"]]


def _longpolls_held(server):
    return metric_in(server.request("GET", "/metrics")[2].decode(), "m87_longpolls_held")


def test_running_session_without_reports_is_lost(server):
    name, token = add_device(server)
    s = create(server, name)
    server.sync(token)
    post(server, token, s["id"], {"output": [{"stream": "stdout", "text": "x\n"}]})
    time.sleep(4)  # M87_SERVER_SESSION_LOST_S (3 s here) without a report
    out = server.api("GET", "/v1/devices/%s/sessions/%s/output?after=1" % (name, s["id"]))
    assert out["state"] == "lost" and "stopped reporting" in out["message"]
    assert post(server, token, s["id"], {})[1]["cancel"] is True


def test_running_session_nobody_reads_is_cancelled(server):
    name, token = add_device(server)
    # the server cancels s once its read time (its creation, in whole seconds) is more than
    # M87_SERVER_SESSION_UNREAD_S (8 s here) old: not before created + 8 s
    created = time.monotonic()
    s = create(server, name)
    server.sync(token)
    followed = create(server, name)
    server.sync(token, wait=0)
    server.sync(token)
    post(server, token, followed["id"], {})
    base = "/v1/devices/%s/sessions/%s" % (name, followed["id"])
    # not cancelled early: the last look leaves 3 s of the 8 for that request to be answered
    deadline = created + 5
    while time.monotonic() < deadline:
        assert post(server, token, s["id"], {})[1]["cancel"] is False
        server.api("GET", base + "/output")
        assert post(server, token, followed["id"], {})[1]["cancel"] is False
        time.sleep(0.5)  # followed reports well within M87_SERVER_SESSION_LOST_S (3 s)
    deadline = time.monotonic() + 60
    while not post(server, token, s["id"], {})[1]["cancel"]:
        assert time.monotonic() < deadline, "the unread session was not cancelled"
        server.api("GET", base + "/output")
        # followed keeps reporting (or it would be lost) and keeps being read: never cancelled
        assert post(server, token, followed["id"], {})[1]["cancel"] is False
        time.sleep(0.5)
    assert post(server, token, followed["id"], {})[1]["cancel"] is False
    post(server, token, s["id"], {"exit_code": 143, "message": "cancelled"})
    got = server.api("GET", "/v1/devices/%s/sessions/%s" % (name, s["id"]))
    assert got["state"] == "cancelled" and "nobody read its output" in got["message"], got


def test_deleting_the_device_removes_its_sessions(server):
    name, token = add_device(server)
    s = create(server, name)
    server.api("DELETE", "/v1/devices/%s" % name)
    assert post(server, token, s["id"], {})[0] == 401


def serve(srv, *extra):
    """m87-server serve on srv's data directory with extra options."""
    return subprocess.Popen([str(SERVER), "serve", "--data", str(srv.data), "--listen",
                             "127.0.0.1:%d" % srv.port] + srv.db_args + list(extra),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_old_sessions_are_pruned(tmp_path):
    srv = Server(tmp_path)
    # whole seconds: sessions are pruned once more than 5 s older than the request
    proc = serve(srv, "--session-retention", "5s")
    try:
        deadline = time.monotonic() + 60
        while not _up(srv):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        name, token = add_device(srv)
        old = create(srv, name)
        srv.api("POST", "/v1/devices/%s/sessions/%s/cancel" % (name, old["id"]))
        running = create(srv, name)
        assert [x["id"] for x in srv.sync(token)["sessions"]] == [running["id"]]
        time.sleep(6)  # both older than the retention time (whole seconds) for sure
        new = create(srv, name)
        # the ended one is gone with its output, and so is the one that never ended (it was
        # created before the retention time)
        ids = [x["id"] for x in srv.api("GET", "/v1/devices/%s/sessions" % name)["sessions"]]
        assert ids == [new["id"]]
        assert srv.request("GET", "/v1/devices/%s/sessions/%s" % (name, old["id"]))[0] == 404
    finally:
        proc.terminate()
        proc.wait(10)


def _up(srv):
    try:
        srv.request("GET", "/healthz")
        return True
    except OSError:
        return False


def test_serve_refuses_a_bad_retention(tmp_path):
    srv = Server(tmp_path)
    proc = serve(srv, "--session-retention", "soon")
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 2 and "--session-retention" in err


def test_a_device_may_download_the_bundle_of_its_session(server):
    import hashlib
    blob = b"\x1f\x8b not really a tarball " + unique().encode()
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    status, _, _ = server.request("PUT", "/v1/bundles/" + digest, raw=blob,
                                  headers={"Content-Type": "application/gzip"})
    assert status == 201
    name, token = add_device(server)
    _, other = add_device(server)
    path = "/v1/bundles/" + digest
    assert server.request("GET", path, token=token)[0] == 403
    job = {"id": "web", "files": {"docker-compose.yml": "services: {}\n"}, "bundle": digest,
           "steps": [{"name": "up", "run": "docker compose up -d"}]}
    s = create(server, name, {"command": "compose", "args": ["up", "-d"],
                              "compose": {"project": "web"}, "job": job})
    assert s["state"] == "pending"
    status, _, data = server.request("GET", path, token=token)
    assert status == 200 and data == blob
    assert server.request("GET", path, token=other)[0] == 403
