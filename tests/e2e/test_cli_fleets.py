"""Fleets end to end: m87 fleets add|list|show|rm against a real m87-server, live membership as
devices are registered and relabelled, the "joins fleet" / "leaves fleet" lines of devices add
and devices label, and the errors (409, 404, 400 with the selector's column), by the CLI and
the API under it.

The module's server is shared: every fleet here selects on a label `t` unique to its test, so
that the devices of one test never join the fleets of another. The tests of fleets that select
devices without a label (`!k`, the empty selector) get a server of their own."""

import urllib.parse

import pytest

from cli_util import ApiError, Cli, Server, unique, cli, server  # noqa: F401


def status_of(server, method, path, body=None):
    try:
        server.api(method, path, body)
    except ApiError as e:
        return e.status, e.body
    return 200, ""


def fleet_names(cli):
    return [f["name"] for f in cli.ok("fleets", "list", "--json").json()["fleets"]]


def members(cli, fleet):
    return cli.ok("fleets", "show", fleet, "--json").json()["members"]


def test_add_list_show_rm(cli, server):
    t = unique("t")
    gw1, gw2, other = unique("gw-"), unique("gw-"), unique("gw-")
    cli.ok("devices", "add", gw1, "--label", "t=" + t, "--label", "site=berlin")
    cli.ok("devices", "add", gw2, "--label", "t=" + t, "--label", "site=berlin")
    cli.ok("devices", "add", other, "--label", "t=" + t, "--label", "site=munich")
    name = unique("berlin-")
    r = cli.ok("fleets", "add", name, "--select", " t = %s , site in ( berlin ) " % t)
    lines = r.out.splitlines()
    assert lines[0] == "fleet '%s' added" % name
    assert lines[1] == "name:     %s" % name
    # the selector is kept in its canonical form
    assert lines[2] == "selector: t=%s,site in (berlin)" % t
    assert lines[3].startswith("created:  ")
    assert lines[4:] == ["members:  2"] + ["  " + n for n in sorted([gw1, gw2])]

    out = cli.ok("fleets", "show", name).out.splitlines()
    assert out[0] == "name:     %s" % name
    assert out[1] == "selector: t=%s,site in (berlin)" % t
    assert out[3:] == ["members:  2"] + ["  " + n for n in sorted([gw1, gw2])]
    doc = cli.ok("fleets", "show", name, "--json").json()
    assert set(doc) == {"name", "selector", "created", "members"}
    assert doc["name"] == name and doc["selector"] == "t=%s,site in (berlin)" % t
    assert doc["members"] == sorted([gw1, gw2])
    assert doc["created"].endswith("Z")

    # --json of add is the server's fleet
    empty = unique("empty-")
    doc = cli.ok("fleets", "add", empty, "--select", "t=%s,site=rome" % t, "--json").json()
    assert doc["name"] == empty and doc["members"] == [] and doc["selector"] == "t=%s,site=rome" % t
    assert cli.ok("fleets", "show", empty).out.splitlines()[3:] == ["members:  0"]

    # list: a table by name, and --json with the number of members
    out = cli.ok("fleets", "list").out.splitlines()
    assert out[0].split() == ["NAME", "MEMBERS", "SELECTOR"]
    rows = {line.split()[0]: line for line in out[1:]}
    assert rows[name].split()[1] == "2"
    assert rows[name].endswith("t=%s,site in (berlin)" % t)
    assert rows[name].index("t=") == out[0].index("SELECTOR")
    assert rows[empty].split()[1] == "0"
    listed = {f["name"]: f for f in cli.ok("fleets", "list", "--json").json()["fleets"]}
    assert listed[name] == {"name": name, "selector": "t=%s,site in (berlin)" % t,
                            "created": doc_created(cli, name), "member_count": 2}
    assert listed[empty]["member_count"] == 0
    names = fleet_names(cli)
    assert names == sorted(names)

    # rm: the fleet goes, its devices stay with their labels
    r = cli.ok("fleets", "rm", name)
    assert r.out == "fleet '%s' removed\n" % name
    assert name not in fleet_names(cli)
    assert server.api("GET", "/v1/devices/" + gw1)["labels"] == {"site": "berlin", "t": t}
    r = cli.run("fleets", "show", name)
    assert r.rc == 2 and r.err.splitlines()[0] == "m87: fleet '%s' not found" % name, r
    # the name can be taken again
    cli.ok("fleets", "add", name, "--select", "t=" + t)
    assert members(cli, name) == sorted([gw1, gw2, other])
    cli.ok("fleets", "rm", name)
    assert cli.ok("fleets", "rm", empty, "--json").json() == {"name": empty, "removed": True}
    assert empty not in fleet_names(cli)


def doc_created(cli, name):
    return cli.ok("fleets", "show", name, "--json").json()["created"]


def test_membership_is_live(cli, server):
    t = unique("t")
    berlin, munich = unique("berlin-"), unique("munich-")
    cli.ok("fleets", "add", berlin, "--select", "t=%s,site=berlin" % t)
    cli.ok("fleets", "add", munich, "--select", "t=%s,site=munich,!retired" % t)
    assert members(cli, berlin) == [] and members(cli, munich) == []

    # a device registered later joins
    gw1 = unique("gw-")
    cli.ok("devices", "add", gw1, "--label", "t=" + t, "--label", "site=berlin")
    assert members(cli, berlin) == [gw1]
    # relabelled: it leaves one and joins the other
    cli.ok("devices", "label", gw1, "site=munich")
    assert members(cli, berlin) == [] and members(cli, munich) == [gw1]
    # a label the selector excludes takes it out; removing it brings it back
    cli.ok("devices", "label", gw1, "retired=")
    assert members(cli, munich) == []
    cli.ok("devices", "label", gw1, "retired-")
    assert members(cli, munich) == [gw1]
    # through the API as well
    gw2 = unique("gw-")
    server.api("POST", "/v1/devices", {"name": gw2, "labels": {"t": t, "site": "munich"}})
    assert members(cli, munich) == sorted([gw1, gw2])
    server.api("PATCH", "/v1/devices/" + gw2, {"labels": {"site": None}})
    assert members(cli, munich) == [gw1]
    # a removed device is no member
    cli.ok("devices", "rm", gw1)
    assert members(cli, munich) == []
    listed = {f["name"]: f for f in cli.ok("fleets", "list", "--json").json()["fleets"]}
    assert listed[berlin]["member_count"] == 0 and listed[munich]["member_count"] == 0


def test_joins_and_leaves_lines(cli, server):
    t = unique("t")
    berlin, munich, pis = unique("berlin-"), unique("munich-"), unique("pis-")
    cli.ok("fleets", "add", berlin, "--select", "t=%s,site=berlin" % t)
    cli.ok("fleets", "add", munich, "--select", "t=%s,site=munich" % t)
    cli.ok("fleets", "add", pis, "--select", "t=%s,hw in (pi4,pi5)" % t)

    gw = unique("gw-")
    r = cli.ok("devices", "add", gw, "--label", "t=" + t, "--label", "site=berlin",
               "--label", "hw=pi4")
    lines = r.out.splitlines()
    assert lines[-3] == "labels: hw=pi4,site=berlin,t=" + t
    # by fleet name
    assert lines[-2:] == sorted(["%s joins fleet %s" % (gw, berlin),
                                 "%s joins fleet %s" % (gw, pis)])

    # joins first, then leaves
    r = cli.ok("devices", "label", gw, "site=munich")
    assert r.out.splitlines() == [
        "labels of '%s': hw=pi4,site=munich,t=%s" % (gw, t),
        "%s joins fleet %s" % (gw, munich),
        "%s leaves fleet %s" % (gw, berlin),
    ]
    # a change that moves it nowhere prints no such line
    r = cli.ok("devices", "label", gw, "hw=pi5", "note=x")
    assert r.out == "labels of '%s': hw=pi5,note=x,site=munich,t=%s\n" % (gw, t)
    r = cli.ok("devices", "label", gw, "hw-", "site-")
    assert r.out.splitlines() == [
        "labels of '%s': note=x,t=%s" % (gw, t),
        "%s leaves fleet %s" % (gw, munich),
        "%s leaves fleet %s" % (gw, pis),
    ]

    # --json: the server's answer carries the moves
    doc = cli.ok("devices", "label", gw, "site=berlin", "--json").json()
    assert doc["fleets_joined"] == [berlin] and doc["fleets_left"] == []
    other = unique("gw-")
    doc = cli.ok("devices", "add", other, "--label", "t=" + t, "--label", "hw=pi5",
                 "--json").json()
    assert doc["fleets_joined"] == [pis]
    # a device without a fleet: no line, empty lists
    plain = unique("gw-")
    r = cli.ok("devices", "add", plain)
    assert "fleet" not in r.out
    doc = server.api("PATCH", "/v1/devices/" + plain, {"labels": {"x": "1"}})
    assert doc["fleets_joined"] == [] and doc["fleets_left"] == []
    # the API: POST and PATCH answer the moves; GET of a device does not
    doc = server.api("PATCH", "/v1/devices/" + plain, {"labels": {"t": t, "site": "munich"}})
    assert doc["fleets_joined"] == [munich] and doc["fleets_left"] == []
    doc = server.api("PATCH", "/v1/devices/" + plain, {"prefetch": "window"})
    assert doc["fleets_joined"] == [] and doc["fleets_left"] == []
    assert "fleets_joined" not in server.api("GET", "/v1/devices/" + plain)
    doc = server.api("POST", "/v1/devices", {"name": unique("gw-"),
                                             "labels": {"t": t, "site": "berlin"}})
    assert doc["fleets_joined"] == [berlin] and doc["fleets_left"] == []


def test_errors(cli, server):
    t = unique("t")
    name = unique("f-")
    cli.ok("fleets", "add", name, "--select", "t=" + t)
    before = fleet_names(cli)

    # duplicate name: 409, the first fleet untouched
    r = cli.run("fleets", "add", name, "--select", "t=other")
    assert r.rc == 2 and r.err.splitlines()[0] == "m87: fleet '%s' already exists" % name, r
    st, body = status_of(server, "POST", "/v1/fleets", {"name": name, "selector": "a"})
    assert st == 409 and "fleet '%s' already exists" % name in body, body
    assert cli.ok("fleets", "show", name, "--json").json()["selector"] == "t=" + t

    # bad selector: refused by the CLI before sending, by the server with a 400; column given
    cases = [
        ("site in (a,b", "column 13: expected ')'"),
        ("a,", "column 3: expected a label key"),
        ("site=berlin hw", "column 13: expected ',' or the end, found 'hw'"),
    ]
    for selector, message in cases:
        other = unique("f-")
        r = cli.run("fleets", "add", other, "--select", selector)
        assert r.rc == 2 and r.out == "", r
        assert r.err.splitlines() == [
            "m87: fleets add: --select '%s': %s" % (selector, message),
            "Run 'm87 fleets add --help' for usage.",
        ]
        st, body = status_of(server, "POST", "/v1/fleets", {"name": other, "selector": selector})
        assert st == 400 and ("selector: " + message) in body, body
    # bad names, missing and unknown fields
    for body, message in [
        ({"name": "Berlin", "selector": "a"}, "name: must match [a-z0-9][a-z0-9_.-]{0,62}"),
        ({"name": "-x", "selector": "a"}, "name: must match"),
        ({"name": "x" * 64, "selector": "a"}, "name: must match"),
        ({"selector": "a"}, "name: missing"),
        ({"name": unique("f-")}, "selector: missing"),
        ({"name": unique("f-"), "selector": 3}, "selector: expected a string"),
        ({"name": unique("f-"), "selector": "a", "members": []}, "unknown field 'members'"),
    ]:
        st, text = status_of(server, "POST", "/v1/fleets", body)
        assert st == 400 and message in text, (body, text)
    r = cli.run("fleets", "add", "Bad_Name", "--select", "a")
    assert r.rc == 2 and "name: must match [a-z0-9][a-z0-9_.-]{0,62}" in r.err, r
    r = cli.run("fleets", "add", unique("f-"))
    assert r.rc == 2 and "m87: fleets add: --select SELECTOR is required" in r.err, r
    r = cli.run("fleets", "add", "--select", "a")
    assert r.rc == 2 and "missing operand" in r.err, r
    # nothing half-stored
    assert fleet_names(cli) == before

    # unknown fleet: 404 for show and rm
    missing = unique("f-")
    for args in (["show", missing], ["rm", missing], ["show", missing, "--json"]):
        r = cli.run("fleets", *args)
        assert r.rc == 2 and r.err.splitlines()[0] == "m87: fleet '%s' not found" % missing, r
    for method in ("GET", "DELETE"):
        st, body = status_of(server, method, "/v1/fleets/" + missing)
        assert st == 404 and "fleet '%s' not found" % missing in body, body
    # query parameters are refused; a device token is not an admin's
    st, body = status_of(server, "GET", "/v1/fleets?select=a")
    assert st == 400 and "unknown query parameter 'select'" in body, body
    dev = server.api("POST", "/v1/devices", {"name": unique("gw-")})
    status, _, _ = server.request("GET", "/v1/fleets", token=dev["token"])
    assert status == 403
    status, _, _ = server.request("GET", "/v1/fleets", token="m87a_nope")
    assert status == 401
    cli.ok("fleets", "rm", name)


def test_name_escaped_in_path(cli, server):
    # a name that is not a fleet's is a 404 however it is spelled, never another route (the
    # server decodes the path before routing: "../devices" is no endpoint)
    for odd in ["a b", "../devices", "x?y=1"]:
        r = cli.run("fleets", "show", odd)
        assert r.rc == 2 and ("m87: fleet '%s' not found" % odd in r.err
                              or "m87: no such endpoint" in r.err), r
        st, _ = status_of(server, "GET", "/v1/fleets/" + urllib.parse.quote(odd, safe=""))
        assert st == 404


@pytest.fixture
def own(tmp_path):
    """A server of this test alone, and the CLI logged in to it."""
    s = Server(tmp_path / "own").start()
    yield Cli(tmp_path / "cli", s)
    s.stop()


def test_selectors_of_absence_and_everything(own):
    cli = own
    cli.ok("fleets", "add", "all", "--select", "")
    cli.ok("fleets", "add", "active", "--select", "!retired")
    out = cli.ok("fleets", "show", "all").out.splitlines()
    assert out[1] == "selector: (every device)"
    # a device with no label at all joins the fleets that select the absence of one
    r = cli.ok("devices", "add", "gw-1")
    assert r.out.splitlines()[-2:] == ["gw-1 joins fleet active", "gw-1 joins fleet all"]
    r = cli.ok("devices", "label", "gw-1", "retired=yes")
    assert r.out.splitlines() == ["labels of 'gw-1': retired=yes", "gw-1 leaves fleet active"]
    out = cli.ok("fleets", "list").out.splitlines()
    assert out[1:] == ["active  0        !retired", "all     1        (every device)"]
    assert cli.ok("fleets", "list", "--json").json()["fleets"][1]["selector"] == ""
    cli.ok("fleets", "rm", "all")
    cli.ok("fleets", "rm", "active")
    assert cli.ok("fleets", "list", "--json").json() == {"fleets": []}
    assert cli.ok("fleets", "list").out == "NAME  MEMBERS  SELECTOR\n"


def test_help(cli):
    for cmd, first in [
        (["fleets", "add"], "usage: m87 fleets add NAME --select SELECTOR [--json]"),
        (["fleets", "list"], "usage: m87 fleets list [--json]"),
        (["fleets", "show"], "usage: m87 fleets show NAME [--json]"),
        (["fleets", "rm"], "usage: m87 fleets rm NAME [--json]"),
    ]:
        r = cli.ok(*cmd, "--help")
        assert r.out.splitlines()[0] == first
    r = cli.ok("fleets", "--help")
    for line in ["add NAME --select SELECTOR [--json]", "list [--json]", "show NAME [--json]",
                 "rm NAME [--json]"]:
        assert line in r.out
    assert "fleets add|list|show|rm" in cli.ok("--help").out
    # help needs no login
    bare = Cli(cli.home.parent / "bare")
    assert bare.ok("fleets", "add", "--help").out.startswith("usage: m87 fleets add")
