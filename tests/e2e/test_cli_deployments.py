"""m87 DEVICE deployment new|list|show|activate|clone|rm, revisions and clone-for-rollback."""

import yaml

from cli_util import (RUNSPEC_TWO, add_device, new_deployment, write, cli,  # noqa: F401
                      server)

ONE_JOB = """\
jobs:
  - id: app
    env: {VERSION: "%s"}
    steps:
      - name: up
        run: echo %s
"""


def test_new_active_and_not(cli):
    dev, _ = add_device(cli)
    r = cli.ok(dev, "deployment", "new", "--active")
    dep_id = r.out.split()[2]
    assert dep_id.startswith("d-") and len(dep_id) == 10
    assert "%s is now the active deployment of %s" % (dep_id, dev) in r.out
    r = cli.ok(dev, "deployment", "new")
    other = r.out.split()[2]
    assert "activate it with: m87 %s deployment activate %s" % (dev, other) in r.out
    d = cli.ok(dev, "deployment", "new", "--json").json()
    assert d["active"] is False and d["revision"] == 1 and d["jobs"] == []
    assert len(d["hash"]) == 64


def test_list(cli, tmp_path):
    dev, _ = add_device(cli)
    first = new_deployment(cli, dev, active=True)
    second = new_deployment(cli, dev, active=False)
    cli.ok(dev, "deploy", write(tmp_path / "rs.yml", RUNSPEC_TWO))
    lines = cli.ok(dev, "deployment", "list").out.splitlines()
    assert lines[0].split() == ["ID", "ACTIVE", "REVISION", "JOBS", "UPDATED"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows[first][1:4] == ["*", "2", "app,backup"]
    assert rows[second][1:3] == ["1", "-"]
    doc = cli.ok(dev, "deployment", "list", "--json").json()
    assert [d["id"] for d in doc["deployments"]] == [first, second]
    assert doc["deployments"][0]["jobs"] == ["app", "backup"]


def test_show_human_json_yaml(cli, tmp_path):
    dev, _ = add_device(cli)
    dep = new_deployment(cli, dev)
    cli.ok(dev, "deploy", write(tmp_path / "rs.yml", RUNSPEC_TWO))
    out = cli.ok(dev, "deployment", "show").out
    assert out.splitlines()[0] == "deployment  %s (active)" % dep
    assert "revision    2" in out
    job_rows = {line.split()[0]: line.split() for line in out.splitlines()
                if line.startswith(("app", "backup"))}
    assert job_rows["app"][:5] == ["app", "service", "yes", "pull,up", "down"]
    assert job_rows["backup"][:5] == ["backup", "job", "yes", "copy", "-"]
    assert ">  2" in out  # the revision list marks the one shown
    d = cli.ok(dev, "deployment", "show", dep, "--json").json()
    assert d["id"] == dep and d["revision"] == 2
    assert [j["id"] for j in d["spec"]["jobs"]] == ["app", "backup"]
    yaml_text = cli.ok(dev, "deployment", "show", "--yaml").out
    assert yaml_text.startswith("jobs:")
    doc = yaml.safe_load(yaml_text)
    assert doc["jobs"][0]["steps"][0] == {
        "name": "pull", "run": "docker compose pull", "timeout": "15m",
        "retry": {"attempts": 1, "backoff": "5s", "on_exit_codes": []}}
    # what show --yaml prints deploys again to the same jobs (same revision hash)
    write(tmp_path / "again.yml", yaml_text)
    again = cli.ok(dev, "deploy", tmp_path / "again.yml", "--json").json()
    assert again["revision"] == 3 and again["hash"] == d["hash"]


def test_show_revision(cli, tmp_path):
    dev, _ = add_device(cli)
    dep = new_deployment(cli, dev)
    cli.ok(dev, "deploy", write(tmp_path / "v1.yml", ONE_JOB % ("1", "one")))
    cli.ok(dev, "deploy", write(tmp_path / "v2.yml", ONE_JOB % ("2", "two")))
    r1 = cli.ok(dev, "deployment", "show", dep, "--revision", "2", "--json").json()
    assert r1["revision"] == 2 and r1["spec"]["jobs"][0]["env"]["VERSION"] == "1"
    assert "echo two" in cli.ok(dev, "deployment", "show", "--yaml").out
    assert "echo one" in cli.ok(dev, "deployment", "show", "--yaml", "--revision", "2").out
    empty = cli.ok(dev, "deployment", "show", "--revision", "1").out
    assert "no jobs: add one with: m87 %s deploy docker-compose.yml" % dev in empty
    r = cli.run(dev, "deployment", "show", "--revision", "9")
    assert r.rc == 2 and r.err.startswith("m87: "), r


def test_activate(cli):
    dev, _ = add_device(cli)
    a = new_deployment(cli, dev, active=True)
    b = new_deployment(cli, dev, active=False)
    r = cli.ok(dev, "deployment", "activate", b)
    assert r.out.strip() == "deployment %s is now the active deployment of %s" % (b, dev)
    active = {d["id"]: d["active"] for d in
              cli.ok(dev, "deployment", "list", "--json").json()["deployments"]}
    assert active == {a: False, b: True}
    r = cli.run(dev, "deployment", "activate", "d-00000000")
    assert r.rc == 2, r


def test_clone_for_rollback(cli, server, tmp_path):
    dev, token = add_device(cli)
    dep = new_deployment(cli, dev)
    cli.ok(dev, "deploy", write(tmp_path / "v1.yml", ONE_JOB % ("1", "good")))
    good = cli.ok(dev, "deployment", "show", "--json").json()
    cli.ok(dev, "deploy", write(tmp_path / "v2.yml", ONE_JOB % ("2", "bad")))
    bad = cli.ok(dev, "deployment", "show", "--json").json()
    assert bad["hash"] != good["hash"]
    server.sync(token, applied=bad["hash"])
    # roll back: the deployment as it was at revision 2, made active
    r = cli.ok(dev, "deployment", "clone", "%s@2" % dep, "--active")
    new_id = r.out.split()[2]
    assert "from %s at revision 2" % dep in r.out
    assert "%s is now the active deployment" % new_id in r.out
    shown = cli.ok(dev, "deployment", "show", "--json").json()
    assert shown["id"] == new_id and shown["revision"] == 1
    assert shown["hash"] == good["hash"]
    assert shown["spec"]["jobs"][0]["env"]["VERSION"] == "1"
    # the device is told to apply it
    answer = server.sync(token, applied=bad["hash"])
    assert answer["target"]["hash"] == good["hash"]
    # a clone without a revision takes the newest, and is not active without --active
    c = cli.ok(dev, "deployment", "clone", dep, "--json").json()
    assert c["active"] is False and c["hash"] == bad["hash"]
    r = cli.run(dev, "deployment", "clone", "%s@7" % dep)
    assert r.rc == 2 and r.err.startswith("m87: "), r


def test_rm(cli):
    dev, _ = add_device(cli)
    a = new_deployment(cli, dev, active=True)
    b = new_deployment(cli, dev, active=False)
    r = cli.run(dev, "deployment", "rm", a)
    assert r.rc == 2, r
    assert "To remove it, first run: m87 %s deployment activate OTHER-ID" % dev in r.err
    r = cli.ok(dev, "deployment", "rm", b)
    assert r.out.strip() == "deployment %s removed from %s" % (b, dev)
    ids = [d["id"] for d in cli.ok(dev, "deployment", "list", "--json").json()["deployments"]]
    assert ids == [a]


def test_no_active_deployment_message(cli, tmp_path):
    dev, _ = add_device(cli)
    new_deployment(cli, dev, active=False)
    expect = ("m87: device '%s' has no active deployment; run: m87 %s deployment new --active\n"
              % (dev, dev))
    for words in (["deploy", write(tmp_path / "rs.yml", RUNSPEC_TWO)], ["undeploy", "app"],
                  ["deployment", "show"], ["deployment", "status"]):
        r = cli.run(dev, *words)
        assert r.rc == 2, r
        assert r.err == expect, r


def test_unknown_device(cli):
    r = cli.run("nosuchdevice", "deployment", "list")
    assert r.rc == 2, r
    assert r.err.startswith("m87: ") and "nosuchdevice" in r.err
