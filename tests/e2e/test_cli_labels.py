"""Device labels and label selectors end to end: m87 devices add --label, devices label,
devices list --select, devices show against a real m87-server, and the API under them."""

import urllib.parse

from cli_util import ApiError, add_device, unique, cli, server  # noqa: F401


def names(cli, selector):
    doc = cli.ok("devices", "list", "--select", selector, "--json").json()
    return sorted(d["name"] for d in doc["devices"])


def labels_of(server, name):
    return server.api("GET", "/v1/devices/" + name)["labels"]


def test_add_with_labels(cli, server):
    name = unique("gw-")
    r = cli.ok("devices", "add", name, "--label", "site=berlin", "--label", "hw=pi4")
    lines = r.out.splitlines()
    assert lines[0] == "device '%s' added" % name
    assert lines[1].startswith("token: m87d_")
    assert lines[-1] == "labels: hw=pi4,site=berlin"
    assert labels_of(server, name) == {"hw": "pi4", "site": "berlin"}
    # a later --label of the same key wins; an empty value is a value
    other = unique("gw-")
    d = cli.ok("devices", "add", other, "--label", "site=a", "--label", "site=b",
               "--label", "example.com/role=", "--json").json()
    assert d["labels"] == {"example.com/role": "", "site": "b"}
    # without labels: none, and no labels line
    plain = unique("gw-")
    r = cli.ok("devices", "add", plain)
    assert "labels" not in r.out
    assert labels_of(server, plain) == {}
    # shown by devices show and in every device object
    out = cli.ok("devices", "show", name).out.splitlines()
    assert "name:       %s" % name in out
    assert "labels:     hw=pi4,site=berlin" in out
    assert "labels:     -" in cli.ok("devices", "show", plain).out.splitlines()
    doc = cli.ok("devices", "show", name, "--json").json()
    assert doc["labels"] == {"hw": "pi4", "site": "berlin"} and doc["name"] == name
    listed = {d["name"]: d for d in cli.ok("devices", "list", "--json").json()["devices"]}
    assert listed[name]["labels"] == {"hw": "pi4", "site": "berlin"}
    assert listed[plain]["labels"] == {}


def test_list_table_has_labels(cli):
    tag = unique("t")
    name = unique("gw-")
    cli.ok("devices", "add", name, "--label", "t=" + tag, "--label", "site=berlin")
    out = cli.ok("devices", "list", "--select", "t=" + tag).out.splitlines()
    assert out[0].split() == ["NAME", "ONLINE", "LAST", "SEEN", "AGENT", "APPLIED", "LABELS"]
    assert len(out) == 2
    assert out[1].split()[0] == name
    assert out[1].split()[-1] == "site=berlin,t=" + tag
    assert out[1].index("site=") == out[0].index("LABELS")


def test_relabel_set_and_remove(cli, server):
    name = unique("gw-")
    cli.ok("devices", "add", name, "--label", "site=berlin", "--label", "hw=pi4",
           "--label", "keep=yes")
    r = cli.ok("devices", "label", name, "site=munich", "hw-", "new=1")
    assert r.out == "labels of '%s': keep=yes,new=1,site=munich\n" % name
    assert labels_of(server, name) == {"keep": "yes", "new": "1", "site": "munich"}
    # removing a label the device does not have is no error; --json gives the device
    doc = cli.ok("devices", "label", name, "absent-", "keep-", "new-", "--json").json()
    assert doc["name"] == name and doc["labels"] == {"site": "munich"}
    r = cli.ok("devices", "label", name, "site-")
    assert r.out == "labels of '%s': none\n" % name
    assert labels_of(server, name) == {}
    # the API: merge, null removes, prefetch left as it was
    server.api("PATCH", "/v1/devices/" + name, {"labels": {"a": "1", "b": "2"}})
    doc = server.api("PATCH", "/v1/devices/" + name, {"labels": {"a": None, "c": "3"}})
    assert doc["labels"] == {"b": "2", "c": "3"} and doc["prefetch"] == "always"
    doc = server.api("PATCH", "/v1/devices/" + name, {"prefetch": "window"})
    assert doc["labels"] == {"b": "2", "c": "3"} and doc["prefetch"] == "window"
    # labels go with the device
    cli.ok("devices", "rm", name)
    server.api("POST", "/v1/devices", {"name": name})
    assert labels_of(server, name) == {}


def test_list_select_each_operator(cli):
    t = unique("t")
    devs = {
        "b": unique("sel-b-"),  # site=berlin hw=pi4
        "m": unique("sel-m-"),  # site=munich hw=pi5
        "p": unique("sel-p-"),  # site=paris
        "n": unique("sel-n-"),  # no site, retired
    }
    cli.ok("devices", "add", devs["b"], "--label", "t=" + t, "--label", "site=berlin",
           "--label", "hw=pi4")
    cli.ok("devices", "add", devs["m"], "--label", "t=" + t, "--label", "site=munich",
           "--label", "hw=pi5")
    cli.ok("devices", "add", devs["p"], "--label", "t=" + t, "--label", "site=paris")
    cli.ok("devices", "add", devs["n"], "--label", "t=" + t, "--label", "retired=")

    def want(*keys):
        return sorted(devs[k] for k in keys)

    cases = [
        ("t=%s", "bmpn"),
        ("t=%s,site=berlin", "b"),
        ("t==%s,site==berlin", "b"),
        ("t=%s,site!=berlin", "mpn"),
        ("t=%s,site in (berlin,munich)", "bm"),
        ("t=%s,site notin (berlin,munich)", "pn"),
        ("t=%s,hw", "bm"),
        ("t=%s,!hw", "pn"),
        ("t=%s,retired", "n"),
        ("t=%s,retired=", "n"),
        ("t=%s,!site,retired", "n"),
        ("t=%s,site in (berlin),hw notin (pi5),!retired", "b"),
        ("  t = %s ,  site  in ( munich , paris ) , hw != pi5 ", "p"),
        ("t=%s,site=rome", ""),
    ]
    for selector, keys in cases:
        sel = selector % t
        assert names(cli, sel) == want(*keys), sel
    # the table lists the same devices
    out = cli.ok("devices", "list", "--select", "t=%s,site in (berlin,munich)" % t).out
    assert sorted(line.split()[0] for line in out.splitlines()[1:]) == want("b", "m")
    # the API's select query argument
    for selector, keys in cases:
        sel = selector % t
        q = urllib.parse.quote(sel, safe="")
        doc = cli.server.api("GET", "/v1/devices?select=" + q)
        assert sorted(d["name"] for d in doc["devices"]) == want(*keys), sel


def test_bad_labels_refused_nothing_changed(cli, server):
    name = unique("gw-")
    cli.ok("devices", "add", name, "--label", "site=berlin")
    before = server.api("GET", "/v1/devices/" + name)

    # the CLI checks before sending: nothing is created or changed
    bad = unique("gw-")
    r = cli.run("devices", "add", bad, "--label", "site=berlin", "--label", "Bad Key=x")
    assert r.rc == 2, r
    assert r.err.splitlines()[0] == (
        "m87: devices add: --label 'Bad Key=x': label key 'Bad Key': the name must be "
        "[A-Za-z0-9_.-], start and end with a letter or digit")
    r = cli.run("devices", "add", bad, "--label", "hw-")
    assert r.rc == 2 and "--label 'hw-': expected KEY=VALUE" in r.err, r
    assert bad not in [d["name"] for d in cli.ok("devices", "list", "--json").json()["devices"]]

    refused = [
        ("site=munich", "a b=c", "'a b=c': label key 'a b': the name must be"),
        ("site=munich", "k=" + "v" * 64, "label 'k': value '%s' must be at most 63 characters"
         % ("v" * 64)),
        ("site=munich", "k=x/y", "label 'k': value 'x/y' must be empty or [A-Za-z0-9_.-]"),
        ("site=munich", "Example.com/k=v", "the prefix before '/' must be a lower case DNS name"),
        ("site=munich", "site", "'site': expected KEY=VALUE to set a label or KEY- to remove one"),
        ("site=munich", "-", None),
    ]
    for good, wrong, message in refused:
        r = cli.run("devices", "label", name, good, wrong)
        assert r.rc == 2, r
        assert r.err.startswith("m87: devices label: "), r
        if message:
            assert message in r.err, r
    assert server.api("GET", "/v1/devices/" + name) == before

    # the server checks again: 400 naming the label, in one transaction
    def status_of(method, path, body):
        try:
            server.api(method, path, body)
        except ApiError as e:
            return e.status, str(e)
        return 200, ""

    path = "/v1/devices/" + name
    st, msg = status_of("PATCH", path, {"labels": {"ok": "1", "bad key": "v"}})
    assert st == 400 and "labels: label key 'bad key'" in msg, msg
    st, msg = status_of("PATCH", path, {"labels": {"ok": "1", "k": "a b"}})
    assert st == 400 and "labels: label 'k': value 'a b'" in msg, msg
    st, msg = status_of("PATCH", path, {"labels": {"k": 1}})
    assert st == 400 and "labels: label 'k': expected a string or null" in msg, msg
    st, msg = status_of("PATCH", path, {"labels": ["k"]})
    assert st == 400 and "labels: expected an object" in msg, msg
    st, msg = status_of("PATCH", path, {"labels": {"x" * 64: "v"}})
    assert st == 400 and "at most 63 characters" in msg, msg
    st, msg = status_of("PATCH", path, {"labels": {"site": "munich"}, "prefetch": "never"})
    assert st == 400, msg
    # a device has at most 64 labels: the change that would pass it is refused whole
    st, msg = status_of("PATCH", path, {"labels": {"k%d" % i: "v" for i in range(64)}})
    assert st == 413 and "a device has at most 64 labels" in msg, msg
    assert server.api("GET", path) == before
    doc = server.api("PATCH", path, {"labels": {"k%d" % i: "v" for i in range(63)}})
    assert len(doc["labels"]) == 64
    r = cli.run("devices", "label", name, "one-more=v")
    assert r.rc == 2 and "a device has at most 64 labels" in r.err, r
    # removals are not counted against the cap: 65 of them take the device back to one label
    args = ["k%d-" % i for i in range(63)] + ["absent1-", "absent2-"]
    r = cli.ok("devices", "label", name, *args)
    assert r.out == "labels of '%s': site=berlin\n" % name
    # at create: null is not a value, and a bad label creates nothing
    st, msg = status_of("POST", "/v1/devices", {"name": bad, "labels": {"k": None}})
    assert st == 400 and "labels: label 'k': expected a string" in msg, msg
    st, msg = status_of("POST", "/v1/devices", {"name": bad, "labels": {"-k": "v"}})
    assert st == 400 and "labels: label key '-k'" in msg, msg
    st, _ = status_of("GET", "/v1/devices/" + bad, None)
    assert st == 404


def test_bad_selectors(cli, server):
    cases = [
        ("site in (a,b", "column 13: expected ')'"),
        ("site in a", "column 9: expected '(', found 'a'"),
        ("site in ()", "column 10: expected a value, found ')'"),
        ("a,", "column 3: expected a label key"),
        ("site=berlin hw", "column 13: expected ',' or the end, found 'hw'"),
        ("a>1", "column 2: expected '=', '==', '!=', 'in', 'notin', ',' or the end, found '>'"),
        ("-a=b", "column 1: label key '-a': the name must be [A-Za-z0-9_.-], start and end "
                 "with a letter or digit"),
        ("a=b c", "column 5: expected ',' or the end, found 'c'"),
    ]
    for selector, message in cases:
        r = cli.run("devices", "list", "--select", selector)
        assert r.rc == 2, r
        assert r.out == ""
        assert r.err.splitlines() == [
            "m87: devices list: --select '%s': %s" % (selector, message),
            "Run 'm87 devices list --help' for usage.",
        ]
        q = urllib.parse.quote(selector, safe="")
        status, _, body = server.request("GET", "/v1/devices?select=" + q)
        assert status == 400
        assert ("select: " + message) in body.decode(), body
    # the empty selector selects every device
    all_names = names(cli, "")
    assert all_names == sorted(d["name"] for d in
                               cli.ok("devices", "list", "--json").json()["devices"])
    status, _, body = server.request("GET", "/v1/devices?order=name")
    assert status == 400 and b"unknown query parameter 'order'" in body


def test_help(cli):
    for cmd, first in [
        (["devices", "add"], "usage: m87 devices add NAME [--label KEY=VALUE]... [--json]"),
        (["devices", "label"], "usage: m87 devices label NAME KEY=VALUE|KEY-... [--json]"),
        (["devices", "list"], "usage: m87 devices list [--select SELECTOR] [--json]"),
        (["devices", "show"], "usage: m87 devices show NAME [--json]"),
    ]:
        r = cli.ok(*cmd, "--help")
        assert r.out.splitlines()[0] == first
    out = cli.ok("devices", "list", "--help").out
    for op in ["KEY=VALUE", "KEY!=VALUE", "KEY in (V1,V2)", "KEY notin (V1,V2)", "!KEY"]:
        assert op in out
    r = cli.run("devices", "--help")
    assert "label NAME KEY=VALUE|KEY-..." in r.out + r.err
