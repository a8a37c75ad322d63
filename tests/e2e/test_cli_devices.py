"""m87 devices add|list|rm against a real m87-server."""

from cli_util import add_device, unique, cli, server  # noqa: F401


def test_add_prints_token_and_agent_command(cli, server):
    name = unique("gw-")
    r = cli.ok("devices", "add", name)
    lines = r.out.splitlines()
    assert lines[0] == "device '%s' added" % name
    token = lines[1].split("token: ", 1)[1]
    assert token.startswith("m87d_") and len(token) == 48
    assert "  m87-agent run --server %s --token %s" % (server.url, token) in lines
    # the token works for the device's own sync
    assert "ack" in server.sync(token)


def test_add_json(cli, server):
    name = unique("gw-")
    d = cli.ok("devices", "add", name, "--json").json()
    assert d["name"] == name
    assert d["token"].startswith("m87d_")
    assert d["server"] == server.url
    assert d["agent_command"] == "m87-agent run --server %s --token %s" % (server.url, d["token"])
    assert d["created"].endswith("Z")


def test_add_duplicate_and_bad_name(cli):
    name, _ = add_device(cli)
    r = cli.run("devices", "add", name)
    assert r.rc == 2, r
    assert r.err.startswith("m87: ") and "\n" in r.err
    r = cli.run("devices", "add", "Bad Name!")
    assert r.rc == 2, r
    assert "name" in r.err


def test_list_table_and_json(cli, server):
    a, tok_a = add_device(cli, unique("a-"))
    b, _ = add_device(cli, unique("b-"))
    server.sync(tok_a)
    out = cli.ok("devices", "list").out.splitlines()
    assert out[0].split() == ["NAME", "ONLINE", "LAST", "SEEN", "AGENT", "APPLIED", "LABELS"]
    col = out[0].index("ONLINE")
    rows = {line.split()[0]: line for line in out[1:]}
    assert rows[a][col:].startswith("yes")
    assert "ago" in rows[a] and "0.1.0-test" in rows[a]
    assert rows[b][col:].startswith("no")
    assert "never" in rows[b]
    doc = cli.ok("devices", "list", "--json").json()
    by_name = {d["name"]: d for d in doc["devices"]}
    assert by_name[a]["online"] is True and by_name[a]["agent_version"] == "0.1.0-test"
    assert by_name[b]["last_seen"] is None


def test_rm(cli):
    name, _ = add_device(cli)
    r = cli.ok("devices", "rm", name)
    assert r.out.strip() == "device '%s' removed" % name
    names = [d["name"] for d in cli.ok("devices", "list", "--json").json()["devices"]]
    assert name not in names
    r = cli.run("devices", "rm", name)
    assert r.rc == 2, r
    assert r.err.startswith("m87: ")
