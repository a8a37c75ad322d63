"""m87 DEVICE deploy FILE (run spec) and m87 DEVICE undeploy ID against a real m87-server."""

import hashlib
import io
import tarfile

from cli_util import (RUNSPEC_TWO, add_device, new_deployment, write, cli,  # noqa: F401
                      server)

SINGLE = """\
jobs:
  - id: one
    steps: [{name: s, run: "true"}]
"""


def jobs_of(cli, dev, dep=None):
    args = [dev, "deployment", "show", "--json"] + ([dep] if dep else [])
    return {j["id"]: j for j in cli.ok(*args).json()["spec"]["jobs"]}


def test_deploy_runspec_adds_jobs(cli, tmp_path):
    dev, _ = add_device(cli)
    dep = new_deployment(cli, dev)
    r = cli.ok(dev, "deploy", write(tmp_path / "rs.yml", RUNSPEC_TWO))
    assert "deployed job 'app' to %s" % dev in r.out
    assert "deployed job 'backup' to %s" % dev in r.out
    assert "deployment %s is at revision 2" % dep in r.out
    assert "m87 %s deployment status --follow" % dev in r.out
    jobs = jobs_of(cli, dev)
    assert set(jobs) == {"app", "backup"}
    assert jobs["app"]["steps"][0]["timeout"] == "15m"
    assert jobs["backup"]["type"] == "job"


def test_deploy_replaces_job_of_same_id(cli, tmp_path):
    dev, _ = add_device(cli)
    new_deployment(cli, dev)
    cli.ok(dev, "deploy", write(tmp_path / "rs.yml", RUNSPEC_TWO))
    changed = RUNSPEC_TWO.replace("image: busybox", "image: busybox:2")
    d = cli.ok(dev, "deploy", write(tmp_path / "rs2.yml", changed), "--json").json()
    assert d["revision"] == 3 and d["jobs"] == ["app", "backup"]
    assert "busybox:2" in jobs_of(cli, dev)["app"]["files"]["docker-compose.yml"]


def test_deploy_name_renames_single_job(cli, tmp_path):
    dev, _ = add_device(cli)
    new_deployment(cli, dev)
    f = write(tmp_path / "one.yml", SINGLE)
    cli.ok(dev, "deploy", f, "--name", "renamed")
    assert set(jobs_of(cli, dev)) == {"renamed"}
    r = cli.run(dev, "deploy", write(tmp_path / "two.yml", RUNSPEC_TWO), "--name", "x")
    assert r.rc == 2 and "--name needs a run spec with one job, not 2" in r.err, r
    r = cli.run(dev, "deploy", f, "--name", "bad name")
    assert r.rc == 2 and "bad name" in r.err, r


def test_deploy_bad_file_sends_nothing(cli, tmp_path):
    dev, _ = add_device(cli)
    new_deployment(cli, dev)
    bad = write(tmp_path / "bad.yml", "jobs:\n  - id: app\n    stpes: []\n")
    r = cli.run(dev, "deploy", bad)
    assert r.rc == 2, r
    assert r.err.startswith("m87: %s:3:5: " % bad), r
    assert "stpes" in r.err
    r = cli.run(dev, "deploy", write(tmp_path / "syntax.yml", "jobs: [\n"))
    assert r.rc == 2 and "syntax.yml:" in r.err, r
    r = cli.run(dev, "deploy", tmp_path / "missing.yml")
    assert r.rc == 2 and "missing.yml" in r.err, r
    assert cli.ok(dev, "deployment", "show", "--json").json()["revision"] == 1


def test_deploy_to_other_deployment(cli, tmp_path):
    dev, _ = add_device(cli)
    active = new_deployment(cli, dev, active=True)
    other = new_deployment(cli, dev, active=False)
    r = cli.ok(dev, "deploy", write(tmp_path / "one.yml", SINGLE), "--deployment-id", other)
    assert "deployment %s is at revision 2" % other in r.out
    assert "--follow" not in r.out  # not the active one: nothing to follow
    assert set(jobs_of(cli, dev, other)) == {"one"}
    assert jobs_of(cli, dev, active) == {}
    r = cli.run(dev, "deploy", tmp_path / "one.yml", "--deployment-id", "d-00000000")
    assert r.rc == 2 and r.err.startswith("m87: "), r


def test_undeploy(cli, tmp_path):
    dev, _ = add_device(cli)
    dep = new_deployment(cli, dev)
    cli.ok(dev, "deploy", write(tmp_path / "rs.yml", RUNSPEC_TWO))
    r = cli.ok(dev, "undeploy", "backup")
    assert "removed job 'backup' from %s" % dev in r.out
    assert "deployment %s is at revision 3" % dep in r.out
    assert set(jobs_of(cli, dev)) == {"app"}
    d = cli.ok(dev, "undeploy", "app", "--json").json()
    assert d["jobs"] == [] and d["revision"] == 4
    r = cli.run(dev, "undeploy", "app")
    assert r.rc == 2 and r.err.startswith("m87: "), r


COMPOSE = """\
services:
  web:
    image: busybox
    env_file: app.env
    command: ["sh", "-c", "sleep 1000"]
    volumes:
      - ./data/blob.bin:/blob.bin:ro
"""


def make_stack(tmp_path, name="stack"):
    d = tmp_path / name
    write(d / "docker-compose.yml", COMPOSE)
    write(d / "app.env", "GREETING=hello\n")
    (d / "data").mkdir()
    (d / "data" / "blob.bin").write_bytes(b"\x00\x01binary\xff" * 100)
    return d


def test_deploy_compose_uploads_bundle(cli, server, tmp_path):
    dev, token = add_device(cli)
    new_deployment(cli, dev)
    stack = make_stack(tmp_path)
    # a private TMPDIR: other suites running side by side make their own m87-deploy.* in /tmp
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    cli.extra_env["TMPDIR"] = str(private_tmp)
    r = cli.ok(dev, "deploy", stack / "docker-compose.yml")
    assert "deployed job 'stack' to %s" % dev in r.out  # the project name by default
    assert "data/blob.bin" in r.err
    job = jobs_of(cli, dev)["stack"]
    assert job["files"] == {"docker-compose.yml": COMPOSE, "app.env": "GREETING=hello\n"}
    assert [s["name"] for s in job["steps"]] == ["pull", "up"]
    assert [s["name"] for s in job["stop"]["steps"]] == ["down"]
    digest = job["bundle"]
    assert digest.startswith("sha256:")
    # the bundle is on the server, its bytes hash to its name, and it holds the binary file
    status, _, data = server.request("GET", "/v1/bundles/" + digest)
    assert status == 200
    assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        blob = tar.extractfile("data/blob.bin").read()
    assert blob == (stack / "data" / "blob.bin").read_bytes()
    # the device may fetch it now that its deployment references it
    status, _, _ = server.request("GET", "/v1/bundles/" + digest, token=token)
    assert status == 200
    # no temporary directory is left behind
    assert not list(private_tmp.iterdir())


def test_deploy_compose_name_and_update(cli, tmp_path):
    dev, _ = add_device(cli)
    new_deployment(cli, dev)
    stack = make_stack(tmp_path)
    d1 = cli.ok(dev, "deploy", stack / "docker-compose.yml", "--name", "web", "--json").json()
    assert d1["jobs"] == ["web"]
    # the same file again: same job, same revision hash
    d2 = cli.ok(dev, "deploy", stack / "docker-compose.yml", "--name", "web", "--json").json()
    assert d2["revision"] == d1["revision"] + 1 and d2["hash"] == d1["hash"]
    # a change to a referenced file changes the job
    write(stack / "app.env", "GREETING=bye\n")
    d3 = cli.ok(dev, "deploy", stack / "docker-compose.yml", "--name", "web", "--json").json()
    assert d3["hash"] != d1["hash"] and d3["jobs"] == ["web"]
    assert jobs_of(cli, dev)["web"]["files"]["app.env"] == "GREETING=bye\n"


def test_deploy_compose_without_bundle(cli, tmp_path):
    dev, _ = add_device(cli)
    new_deployment(cli, dev)
    f = write(tmp_path / "plain" / "compose.yaml", "services:\n  web:\n    image: busybox\n")
    r = cli.ok(dev, "deploy", f)
    assert "bundling" not in r.err
    job = jobs_of(cli, dev)["plain"]
    assert job.get("bundle") is None
    assert list(job["files"]) == ["compose.yaml"]


def test_deploy_bad_compose(cli, tmp_path):
    dev, _ = add_device(cli)
    new_deployment(cli, dev)
    f = write(tmp_path / "bad" / "docker-compose.yml",
              "services:\n  web:\n    image: busybox\n    portz: [80]\n")
    r = cli.run(dev, "deploy", f)
    assert r.rc == 2, r
    assert r.err.startswith("m87: %s:4:5: " % f), r
    assert jobs_of(cli, dev) == {}
