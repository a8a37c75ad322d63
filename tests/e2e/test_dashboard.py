"""The dashboard (docs/dashboard.md) in a real headless chromium against a real server, agent
and dockerd: security headers on every answer, sign-in and a wrong token, a device coming
online and a CLI deploy followed live, a container's log lines as they are written, activating
an older deployment from the page, signed deployments answered with the CLI command, and a list
of 10,000 devices paged within the transfer budget. Screenshots: the printed directory."""

import gzip
import hashlib
import http.client
import json
import pathlib
import re
import threading
import time

import pytest

from agent_util import Device, wait_for
from cli_util import Cli, Server, server  # noqa: F401  (pytest fixture)
from compose_util import API, unique_name
from dashboard_util import Keys, browser  # noqa: F401  (pytest fixture)

SECURITY = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
UI_FILES = ["index.html", "app.js", "api.js", "dom.js", "devices.js", "device.js", "sessions.js",
            "fleets.js", "rollout.js", "style.css", "icon.svg"]
FIRST_PAGE_BUDGET = 150 * 1024
BUILD_UI = pathlib.Path(__file__).resolve().parents[2] / "src" / "server" / "ui"


def raw(server, method, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def assert_secure(headers, what):
    for k, v in SECURITY.items():
        assert headers.get(k) == v, (what, k, headers)


def test_every_answer_carries_the_security_headers(server):  # noqa: F811
    paths = ["/"] + ["/ui/" + f for f in UI_FILES]
    for p in paths:
        for enc in ("gzip", None):
            status, h, body = raw(server, "GET", p, {"Accept-Encoding": enc} if enc else {})
            assert status == 200, (p, status)
            assert_secure(h, p)
            assert h["cache-control"] == "no-cache" and h["etag"]
            if enc:
                assert h["content-encoding"] == "gzip", (p, h)
                body = gzip.decompress(body)
            else:
                assert "content-encoding" not in h
            want = "index.html" if p == "/" else p[len("/ui/"):]
            assert body == (BUILD_UI / want).read_bytes(), p
        # unchanged: 304 with the same headers
        status, h2, body = raw(server, "GET", p, {"If-None-Match": h["etag"]})
        assert status == 304 and body == b"", (p, status)
        assert_secure(h2, p + " 304")
    # gzip refused with q=0, or another coding only: the file as it is
    for ae in ("gzip;q=0", "br, deflate", "identity"):
        status, h, body = raw(server, "GET", "/ui/app.js", {"Accept-Encoding": ae})
        assert status == 200 and "content-encoding" not in h, (ae, h)
        assert body == (BUILD_UI / "app.js").read_bytes()
    # types, so that nosniff does not refuse them
    assert raw(server, "GET", "/ui/app.js")[1]["content-type"].startswith("text/javascript")
    assert raw(server, "GET", "/ui/style.css")[1]["content-type"].startswith("text/css")
    assert raw(server, "GET", "/")[1]["content-type"].startswith("text/html")
    # the API's answers too: success, refusal, unknown path
    for method, path, hdrs, want in [
            ("GET", "/v1/devices", {"Authorization": "Bearer " + server.token}, 200),
            ("GET", "/v1/devices", {"Authorization": "Bearer m87a_wrong"}, 401),
            ("GET", "/healthz", {}, 200),
            ("GET", "/ui/nope.js", {}, 404),
            ("GET", "/ui/../v1/devices", {}, 404)]:
        status, h, _ = raw(server, method, path, hdrs)
        assert status == want, (path, status)
        assert_secure(h, path)
    # a CORS preflight gets no permission: no Access-Control-Allow-* header, whatever it asks
    status, h, _ = raw(server, "OPTIONS", "/v1/devices", {
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert status == 405, status
    assert not [k for k in h if k.startswith("access-control-")], h
    status, h, _ = raw(server, "GET", "/v1/devices", {
        "Origin": "https://evil.example", "Authorization": "Bearer " + server.token})
    assert status == 200 and not [k for k in h if k.startswith("access-control-")], h


def test_no_ui_turns_the_dashboard_off(tmp_path):
    s = Server(tmp_path)
    s.extra_args = ["--no-ui"]
    s.start()
    try:
        for p in ("/", "/ui/app.js"):
            status, h, body = raw(s, "GET", p)
            assert status == 404, (p, status)
            assert json.loads(body)["error"]["message"] == \
                "the dashboard is turned off (--no-ui)"
            assert_secure(h, p)
        assert s.api("GET", "/v1/devices")["devices"] == []
    finally:
        s.stop()


def test_wrong_token_is_refused(server, browser):  # noqa: F811
    b = browser
    b.get(server.url + "/")
    b.wait_css("#token").send_keys("m87a_not-the-token")
    b.click("#signin-form button[type=submit]")
    b.wait_text("#signin-error", "Sign-in refused: the server does not know this token")
    b.shot("wrong-token")
    assert b.js("return sessionStorage.length") == 0
    assert b.find("#nav").is_displayed() is False
    assert b.js("return document.cookie") == ""
    # the right one: kept for the tab in sessionStorage, never in the URL
    b.find("#token").clear()
    b.find("#token").send_keys(server.token)
    b.click("#signin-form button[type=submit]")
    b.wait_css("#devices")
    assert b.js("return sessionStorage.getItem('m87.token')") == server.token
    assert server.token not in b.driver.current_url
    assert b.js("return localStorage.length") == 0 and b.js("return document.cookie") == ""
    b.shot("signed-in")
    # sign out forgets it
    b.click("#signout")
    b.wait_css("#token")
    assert b.js("return sessionStorage.length") == 0


def rev_hash(jobs=()):
    text = "m87-rev-v1\n" + "".join("%s %s %s\n" % j for j in sorted(jobs))
    return hashlib.sha256(text.encode()).hexdigest()


def test_signed_deployment_shows_the_cli_command(server, browser):  # noqa: F811
    """A deployment carrying a signature: the page makes no revision (it cannot sign); it
    shows the command that signs instead, and the server gets no request."""
    name = unique_name("sig")
    server.api("POST", "/v1/devices", {"name": name})
    now = int(time.time())
    sig = "v2 %s 1 %d 0 %s %s" % (rev_hash(), now, "0123456789abcdef",
                                  "A" * 86 + "==")
    for dep_id in ("d-0000000a", "d-0000000b"):
        status, _, body = server.request(
            "POST", "/v1/devices/%s/deployments" % name,
            body={"id": dep_id, "active": dep_id == "d-0000000b"},
            headers={"M87-Signature": sig})
        assert status == 201, body
    b = browser
    b.signin(server.url, server.token)
    b.get(server.url + "/#/devices/" + name)
    b.wait_text("#status-body", "signed revisions only: actions are shown as CLI commands")
    b.click("details[data-deployment='d-0000000a'] > summary")
    b.click("details[data-deployment='d-0000000a'] button[data-action='activate']")
    b.wait_css("#confirm-cmd")
    assert b.find("#confirm-cmd").text == "m87 %s deployment activate d-0000000a" % name
    assert not b.find("#confirm-ok").is_displayed()
    b.shot("signed-activate")
    b.click("#confirm-cancel")
    dev = server.api("GET", "/v1/devices/" + name)
    assert dev["active_deployment"]["id"] == "d-0000000b"


def register(server, n, threads=4):
    """n devices through the API: a few connections, each with many requests."""
    errors = []

    def work(k):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            for i in range(k, n, threads):
                body = json.dumps({"name": "sim-%05d" % i,
                                   "labels": {"site": "s%d" % (i % 10),
                                              "hw": "pi4" if i % 3 else "pi5"}})
                conn.request("POST", "/v1/devices", body=body, headers={
                    "Authorization": "Bearer " + server.token,
                    "Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                if r.status != 201:
                    errors.append((i, r.status))
        finally:
            conn.close()
    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []


def row_texts(b):
    """(name, text) of each row of the device list, read at once (the list redraws)."""
    return [tuple(x) for x in b.js(
        "return [...document.querySelectorAll('#dev-rows tr')]"
        ".map(r => [r.dataset.device, r.innerText])")]


def test_ten_thousand_devices_are_paged(tmp_path, browser):  # noqa: F811
    s = Server(tmp_path / "big").start()
    try:
        t0 = time.monotonic()
        register(s, 10000)
        print("registered 10000 devices in %.1f s" % (time.monotonic() - t0))
        b = browser
        b.signin(s.url, s.token)
        b.wait_text("#dev-summary", "10000 devices, showing 1–50")
        rows = row_texts(b)
        assert len(rows) == 50
        assert rows[0][0] == "sim-00000"
        assert "offline" in rows[0][1] and "site=s0" in rows[0][1]
        b.shot("devices-10000")
        sizes = b.transfer()
        first = [e for e in sizes if "/v1/" not in e["name"]]
        total = sum(e["transfer"] for e in first)
        api = [e for e in sizes if "/v1/devices?" in e["name"]]
        print("first page over the wire: %d bytes (%s)" % (
            total, ", ".join("%s %d" % (e["name"].rsplit("/", 1)[-1] or "/", e["transfer"])
                             for e in first)))
        print("a page of 50 devices from the API: %d bytes" % api[-1]["transfer"])
        assert len(first) == len(UI_FILES), first
        assert 0 < total < FIRST_PAGE_BUDGET, total
        # the DOM holds one page, whatever the number of devices
        assert b.js("return document.querySelectorAll('tr').length") <= 52
        # next page, last page, sorting, state and selector filters, all from the server
        b.click("#page-next")
        b.wait_text("#dev-summary", "showing 51–100")
        assert row_texts(b)[0][0] == "sim-00050"
        b.click("thead button.sort")  # name: descending
        b.wait(lambda d: row_texts(b)[0][0] == "sim-09999",
               what="sorted by name descending")
        sel = b.find("#f-select")
        sel.send_keys("site=s3,hw=pi5")
        sel.submit()
        # i % 10 == 3 and i % 3 == 0: i = 3, 33, 63, ...: 334 devices
        b.wait_text("#dev-summary", "334 devices, showing 1–50")
        rows = row_texts(b)
        assert len(rows) == 50 and all("site=s3" in t and "hw=pi5" in t for _, t in rows), rows
        b.find("#f-state").send_keys("online")
        b.wait_text("#dev-summary", "0 devices")
        b.shot("devices-filtered")
        b.allowed.append("status of 400")
        sel.clear()
        sel.send_keys("site in (a")
        sel.submit()
        b.wait_text("#f-error", "select: column 11: expected ')'")
    finally:
        s.stop()


TICK = "i=0; while :; do echo tick $$i $$GREETING; i=$$((i+1)); sleep 0.5; done"


def stack(env, greeting):
    return {"web": {"image": env.small_image, "restart": "always",
                    "environment": {"GREETING": greeting}, "command": ["sh", "-c", TICK]}}


def job_state(b, job):
    return b.js("const e = document.querySelector(`article[data-job='${arguments[0]}'] "
                ".job-state`); return e ? e.dataset.state : null", job)


def greeting(env, dev, project):
    """GREETING of the project's running web container on dockerd."""
    running = [c for c in dev.agent.containers(project) if c["State"] == "running"]
    if len(running) != 1:
        return None
    status, data = env.docker_api("GET", API + "/containers/%s/json" % running[0]["Id"])
    assert status == 200, data
    return [e for e in data["Config"]["Env"] if e.startswith("GREETING=")]


def tick_numbers(b):
    text = b.js("return document.getElementById('log-out').textContent")
    return [int(n) for n in re.findall(r"^tick (\d+) ", text, re.M)]


@pytest.fixture
def device(env, server, tmp_path):  # noqa: F811
    dev = Device(env, server, tmp_path)
    yield dev
    dev.cleanup()


def test_live_device_deploy_logs_and_activate(env, server, device, browser):  # noqa: F811
    dev, b = device, browser
    b.signin(server.url, server.token)
    b.js("window.m87Marker = 'no reload'")  # a reload would lose it

    # the list shows the device offline; its page too
    b.wait(lambda d: [t for n, t in row_texts(b) if n == dev.name and "offline" in t],
           what="the device offline in the list")
    b.click("#dev-rows tr[data-device='%s'] a" % dev.name)
    b.wait_text("#summary-body", "offline")

    # a deploy with the CLI while the agent is down: the job is pending on the page
    dep_a = dev.m87("deployment", "new", "--active").out.split()[2]
    project = unique_name("ui")
    src = dev.compose_dir(project, stack(env, "one"))
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    b.wait(lambda d: job_state(b, project) == "pending", what="job pending on the page")
    b.shot("job-pending")

    # the agent starts: the device comes online and the job succeeds, without a reload
    dev.agent.start()
    b.wait_text("#summary-body", "online", timeout=120)
    b.wait(lambda d: job_state(b, project) == "succeeded", timeout=180,
           what="job succeeded on the page\n" + dev.agent.log()[-3000:])
    b.click("article[data-job='%s'] details summary" % project)
    b.wait_text("article[data-job='%s'] details" % project, "up")
    b.shot("job-succeeded")
    assert greeting(env, dev, project) == ["GREETING=one"]

    # the containers' health as the device reports its changes: none after a healthy start; a
    # container paused on dockerd shows paused, and running again once it is unpaused
    b.wait_text("#containers", "No health changes reported")
    web = [c for c in dev.agent.containers(project) if c["State"] == "running"][0]
    row = "#containers li[data-container='%s-web-1']" % project
    status, data = env.docker_api("POST", API + "/containers/%s/pause" % web["Id"])
    assert status == 204, data
    try:
        b.wait_text(row, "paused", timeout=60)
        b.shot("container-paused")
    finally:
        status, data = env.docker_api("POST", API + "/containers/%s/unpause" % web["Id"])
        assert status == 204, data
    b.wait_text(row, "running", timeout=60)

    # follow the container's log lines as they are written
    b.find("#log-container").send_keys("%s-web-1" % project)
    b.find("#log-tail").clear()
    b.find("#log-tail").send_keys("3")
    b.click("#log-follow")
    b.wait(lambda d: len(tick_numbers(b)) > 0, timeout=60, what="first log lines")
    first = max(tick_numbers(b))
    b.wait(lambda d: max(tick_numbers(b)) >= first + 4, timeout=60, what="new log lines")
    nums = tick_numbers(b)
    assert nums == sorted(nums) and len(set(nums)) == len(nums), nums
    b.wait_text("#log-state", "following")
    b.shot("logs")
    b.click("#log-stop")
    b.wait_text("#log-state", "stopped")
    # the session stays in the list, with its output
    b.wait_text("#sessions-body", "logs -f -n 3 %s-web-1" % project)
    b.click("#sessions-body tbody button")
    b.wait_text("#session-out", "tick %d one" % first)
    b.wait_text("#session-title", "Output of s-")

    # a second deployment with another stack, from the CLI
    dep_b = dev.m87("deployment", "new", "--active").out.split()[2]
    dev.compose_dir(project, stack(env, "two"))
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.wait_applied()
    assert greeting(env, dev, project) == ["GREETING=two"]

    # activate the older one from the page: the stack on dockerd changes back
    det = "details[data-deployment='%s']" % dep_a
    b.click(det + " > summary")
    b.click(det + " button[data-action='activate']")
    b.wait_css("#confirm-ok")
    assert b.find("#confirm-cmd").text == "same as: m87 %s deployment activate %s" % (
        dev.name, dep_a)
    b.shot("activate-confirm")
    b.click("#confirm-ok")
    b.wait_text("#flash", "%s is now the active deployment" % dep_a)
    dev.wait_applied()
    wait_for(lambda: greeting(env, dev, project) == ["GREETING=one"], 120,
             "the stack of %s on dockerd" % dep_a)
    assert dev.server.api("GET", "/v1/devices/" + dev.name)["active_deployment"]["id"] == dep_a
    b.wait(lambda d: job_state(b, project) == "succeeded", timeout=120,
           what="the activated revision succeeded on the page")
    b.wait_text("#status-body", dep_a)
    b.shot("activated")

    # roll back to the newest revision of the second deployment: a clone, made active
    det = "details[data-deployment='%s']" % dep_b
    b.click(det + " > summary")
    rev_b = dev.server.api("GET", "/v1/devices/%s/deployments/%s" % (dev.name, dep_b))["revision"]
    b.click(det + " tr[data-revision='%d'] button[data-action='rollback']" % rev_b)
    b.wait_css("#confirm-ok")
    assert b.find("#confirm-cmd").text == \
        "same as: m87 %s deployment clone %s@%d --active" % (dev.name, dep_b, rev_b)
    b.click("#confirm-ok")
    b.wait_text("#flash", "from %s@%d; it is now active" % (dep_b, rev_b))
    dep_c = dev.server.api("GET", "/v1/devices/" + dev.name)["active_deployment"]["id"]
    assert dep_c not in (dep_a, dep_b)
    dev.wait_applied()
    wait_for(lambda: greeting(env, dev, project) == ["GREETING=two"], 120,
             "the stack of %s@%d on dockerd" % (dep_b, rev_b))
    b.wait_text("#status-body", dep_c)

    # undeploy the job: its containers go
    b.click("article[data-job='%s'] button" % project)
    b.wait_css("#confirm-ok")
    assert b.find("#confirm-cmd").text == "same as: m87 %s undeploy %s --deployment-id %s" % (
        dev.name, project, dep_c)
    b.click("#confirm-ok")
    b.wait_text("#flash", "Removed job %s" % project)
    dev.wait_applied()
    wait_for(lambda: dev.agent.containers(project) == [], 120, "the containers removed")
    b.wait_text("#status-body", "This revision has no jobs.")

    # an interactive stack started by a session shows with its containers
    other = unique_name("it")
    r = dev.cli.run(dev.name, "docker", "compose", "up", "-d",
                    cwd=dev.compose_dir(other, stack(env, "three")), timeout=180)
    assert r.rc == 0, r
    b.wait_text("div.interactive[data-project='%s']" % other, "%s-web-1 running" % other)
    b.shot("interactive")

    # back to the list by its link: online, still the same page
    b.click("#nav-devices")
    b.wait(lambda d: [t for n, t in row_texts(b) if n == dev.name and "online" in t],
           what="the device online in the list")
    assert b.js("return window.m87Marker") == "no reload"


def test_reconnecting_when_the_server_goes_away(tmp_path, browser):  # noqa: F811
    s = Server(tmp_path / "srv").start()
    try:
        s.api("POST", "/v1/devices", {"name": "gw-1", "labels": {"site": "a"}})
        b = browser
        b.allowed.append("ERR_CONNECTION_REFUSED")
        b.signin(s.url, s.token)
        b.js("window.m87Marker = 'no reload'")
        b.wait(lambda d: [n for n, _ in row_texts(b)] == ["gw-1"], what="gw-1 listed")
        assert not b.find("#conn").is_displayed()
        s.stop()
        b.wait_text("#conn", "Reconnecting", timeout=30)
        b.shot("reconnecting")
        s.start()  # the same data directory and port: the same server comes back
        s.api("POST", "/v1/devices", {"name": "gw-2"})
        b.wait(lambda d: [n for n, _ in row_texts(b)] == ["gw-1", "gw-2"], timeout=30,
               what="gw-2 listed after the server came back")
        assert not b.find("#conn").is_displayed()
        assert b.js("return window.m87Marker") == "no reload"
    finally:
        s.stop()


def test_phone_width_and_keyboard(server, browser):  # noqa: F811
    """At a phone's width nothing runs off the side; the keyboard reaches a device."""
    name = unique_name("kb")
    server.api("POST", "/v1/devices", {"name": name, "labels": {"site": "field"}})
    b = browser
    b.driver.set_window_size(390, 844)
    b.signin(server.url, server.token)
    sel = b.find("#f-select")
    sel.send_keys("site=field")
    sel.submit()
    b.wait(lambda d: [n for n, _ in row_texts(b)] == [name], what="the device alone listed")
    b.shot("phone-devices")
    assert b.js("return document.documentElement.scrollWidth <= window.innerWidth")
    # from the selector, Tab moves on through the form to the rows; Enter on the link opens it
    link = b.find("#dev-rows tr[data-device='%s'] a" % name)
    for _ in range(20):
        if b.driver.switch_to.active_element == link:
            break
        b.driver.switch_to.active_element.send_keys(Keys.TAB)
    assert b.driver.switch_to.active_element == link
    link.send_keys(Keys.ENTER)
    b.wait_text("#summary-body", "site=field")
    b.shot("phone-device")
    assert b.js("return document.documentElement.scrollWidth <= window.innerWidth")
    # the time is local, with the absolute time on hover
    t = b.find("#summary-body time")
    assert t.get_attribute("datetime").endswith("Z")
    assert t.get_attribute("datetime") in t.get_attribute("title")


def test_devices_list_paging_api(server):  # noqa: F811
    """The paging of GET /v1/devices that the device list uses, and its refusals."""
    tag = unique_name("pg")
    for i in range(5):
        server.api("POST", "/v1/devices", {"name": "%s-%d" % (tag, i), "labels": {"pg": tag}})
    base = "/v1/devices?select=pg%3D" + tag
    doc = server.api("GET", base + "&limit=2&offset=1")
    assert [d["name"] for d in doc["devices"]] == ["%s-1" % tag, "%s-2" % tag]
    assert doc["total"] == 5
    assert all(d["health"] == {"state": "none", "jobs": {}} for d in doc["devices"])
    doc = server.api("GET", base + "&sort=-name&limit=2")
    assert [d["name"] for d in doc["devices"]] == ["%s-4" % tag, "%s-3" % tag]
    doc = server.api("GET", base + "&offset=9&limit=2")
    assert doc == {"devices": [], "total": 5}
    # without limit: every device, no health
    doc = server.api("GET", base)
    assert len(doc["devices"]) == 5 and "health" not in doc["devices"][0]
    # a device that synced is online; sort by last_seen puts the never-seen first
    tok = server.api("POST", "/v1/devices", {"name": tag + "-on", "labels": {"pg": tag}})["token"]
    server.sync(tok)
    doc = server.api("GET", base + "&state=online")
    assert [d["name"] for d in doc["devices"]] == [tag + "-on"] and doc["total"] == 1
    assert server.api("GET", base + "&state=offline")["total"] == 5
    assert server.api("GET", base + "&sort=-last_seen")["devices"][0]["name"] == tag + "-on"
    assert server.api("GET", base + "&sort=last_seen")["devices"][-1]["name"] == tag + "-on"
    for q, msg in [("limit=0", "limit: expected 1 to 500, not '0'"),
                   ("limit=501", "limit: expected 1 to 500, not '501'"),
                   ("offset=-1", "offset: expected a number from 0, not '-1'"),
                   ("state=up", "state: expected online or offline, not 'up'"),
                   ("sort=seen", "sort: expected name, last_seen or created (with - for "
                                 "descending), not 'seen'")]:
        status, _, body = server.request("GET", "/v1/devices?" + q)
        assert status == 400, (q, status)
        assert json.loads(body)["error"]["message"] == msg


def test_unknown_device_page(server, browser):  # noqa: F811
    b = browser
    b.allowed.append("status of 404")
    b.signin(server.url, server.token)
    b.get(server.url + "/#/devices/no-such-device")
    b.wait_text("#flash", "device 'no-such-device' not found")


def test_fleets_page(server, browser):  # noqa: F811
    tag = unique_name("fl")
    for i in range(3):
        server.api("POST", "/v1/devices", {"name": "%s-%d" % (tag, i),
                                           "labels": {"fleet": tag if i < 2 else "other"}})
    server.api("POST", "/v1/fleets", {"name": tag, "selector": "fleet=" + tag})
    b = browser
    b.signin(server.url, server.token)
    b.click("#nav-fleets")
    b.wait_text("details[data-fleet='%s'] summary" % tag, "2 members")
    b.wait_text("details[data-fleet='%s'] summary" % tag, "no release yet")
    b.click("details[data-fleet='%s'] summary strong" % tag)
    b.wait_text("details[data-fleet='%s'] table.members" % tag, "%s-1" % tag)
    members = b.js("return [...document.querySelectorAll(\"details[data-fleet='%s'] table.members "
                   "tbody th\")].map(e => e.textContent)" % tag)
    assert members == ["%s-0" % tag, "%s-1" % tag]
    b.wait_text("details[data-fleet='%s'] .counts" % tag, "2 members: 0 on the current release")
    b.wait_text("details[data-fleet='%s'] p.muted" % tag, "No rollouts yet")
    b.shot("fleets")
    # its members in the device list, filtered by its selector
    b.click("details[data-fleet='%s'] p a" % tag)
    b.wait(lambda d: [n for n, _ in row_texts(b)] == ["%s-0" % tag, "%s-1" % tag],
           what="the fleet's members in the list")
    assert b.find("#f-select").get_attribute("value") == "fleet=" + tag


def test_device_with_trusted_keys_gets_the_cli_command(env, device, browser,  # noqa: F811
                                                       tmp_path):
    """An agent started with --trust: the page makes no revision the device would refuse; the
    command it shows, run where the key is, switches the stack; an unsigned deploy by another
    admin is refused by the device, and the page says why."""
    dev, b = device, browser
    dev.cli.ok("keys", "generate")
    dev.agent.start("--trust", str(dev.cli.xdg / "m87" / "signing.pub"))
    project = unique_name("sg")
    src = dev.compose_dir(project, stack(env, "one"))
    dep_a = dev.m87("deployment", "new", "--active").out.split()[2]
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.wait_applied()
    dev.m87("deployment", "new", "--active")
    dev.compose_dir(project, stack(env, "two"))
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.wait_applied()
    assert greeting(env, dev, project) == ["GREETING=two"]

    b.signin(dev.server.url, dev.server.token)
    b.get(dev.server.url + "/#/devices/" + dev.name)
    b.wait_text("#status-body", "signed revisions only: actions are shown as CLI commands")
    det = "details[data-deployment='%s']" % dep_a
    b.click(det + " > summary")
    b.click(det + " button[data-action='activate']")
    b.wait_css("#confirm-cmd")
    cmd = b.find("#confirm-cmd").text
    assert cmd == "m87 %s deployment activate %s" % (dev.name, dep_a)
    assert not b.find("#confirm-ok").is_displayed()
    b.shot("signed-command")
    b.click("#confirm-cancel")
    assert dev.server.api("GET", "/v1/devices/" + dev.name)["active_deployment"]["id"] != dep_a

    # the command, run where the key is, signs and switches back
    dev.cli.ok(*cmd.split()[1:])
    dev.wait_applied()
    wait_for(lambda: greeting(env, dev, project) == ["GREETING=one"], 120, "the stack of " + dep_a)
    b.wait_text("#status-body", dep_a)

    # another admin, without the key, deploys: the device refuses it; the page says why
    plain = Cli(tmp_path / "plain", dev.server)
    dev.compose_dir(project, stack(env, "three"))
    plain.ok(dev.name, "deploy", "docker-compose.yml", cwd=src)
    b.wait_text("#refused", "The device did not apply this revision (target revision 3 (%s) "
                "of %s refused: unsigned)" % (dev.active_hash()[:12], dep_a), timeout=120)
    b.wait_text("#refused", "m87 %s deployment activate %s" % (dev.name, dep_a))
    b.shot("refused")
    assert greeting(env, dev, project) == ["GREETING=one"]
