"""Service `extends` and top-level `include` (issue 21), applied by `m87-agent compose up` to the
real dockerd and read back with inspect; `extends` compared with Debian's docker-compose 1.29
where it supports it (its `config` on the same files), `include` (v2 only) with compose v2's
documented behaviour; and both through `m87 deploy` with the real server and agent, which proves
that the extended and included files travel with the job."""

import os
import subprocess

import pytest
import yaml

from agent_util import Device
from cli_util import server  # noqa: F401  (pytest fixture)
from compose_util import AGENT, DOCKER_COMPOSE, labels_of, make_project, project  # noqa: F401
from compose_util import unique_name

pytestmark = pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built")


def _env_of(info):
    return dict(item.partition("=")[::2] for item in info["Config"]["Env"] or [])


def _bind_source(info, destination):
    found = [m["Source"] for m in info["Mounts"] if m["Destination"] == destination]
    assert len(found) == 1, (destination, info["Mounts"])
    return found[0]


def _extends_project(p, image):
    p.write("common/base.env", "FROM_ENV_FILE=base\n")
    p.write("common/base.yml", """
        services:
          base:
            extends: root
            image: %s
            environment: {A: base, B: base}
            labels: [m87.test/tier=base]
            volumes: ["./data:/data:ro"]
            env_file: base.env
            stop_grace_period: 0s
          root:
            image: busybox:never-used
            command: ["sleep", "3600"]
            labels: [m87.test/root=yes]
    """ % image)
    p.compose("""
        services:
          web:
            extends:
              file: common/base.yml
              service: base
            environment: {B: web}
            labels: [m87.test/tier=web]
          worker:
            extends: web
            command: ["sleep", "3601"]
    """)


def test_extends_other_file_chain_and_paths(env, project):
    p = project
    _extends_project(p, env.small_image)
    p.up()
    for name, cmd in (("web", ["sleep", "3600"]), ("worker", ["sleep", "3601"])):
        info = p.service(name)
        e = _env_of(info)
        # mappings merged key by key, the extending side wins; env_file of the base read
        assert (e["A"], e["B"], e["FROM_ENV_FILE"]) == ("base", "web", "base"), e
        labels = labels_of(info)
        assert labels["m87.test/tier"] == "web" and labels["m87.test/root"] == "yes"
        assert info["Config"]["Image"] == env.small_image           # base over root
        assert info["Config"]["Cmd"] == cmd                          # chain root -> base -> web
        # a relative path of the extended file is relative to that file's directory
        assert _bind_source(info, "/data") == str(p.dir / "common" / "data")
        assert labels["com.docker.compose.project.config_files"] == str(p.dir / "compose.yaml")


@pytest.mark.skipif(not os.access(DOCKER_COMPOSE, os.X_OK), reason="no docker-compose")
def test_extends_same_as_docker_compose_1_29(env, project):
    p = project
    _extends_project(p, env.small_image)
    r = p.docker_compose("config", check=0)
    theirs = yaml.safe_load(r.out)["services"]
    ours = yaml.safe_load(p.run("config", check=0).out)["services"]
    for name in ("web", "worker"):
        t, o = theirs[name], ours[name]
        assert t["environment"] == o["environment"], name
        assert t["labels"] == o["labels"], name
        assert t["command"] == o["command"], name
        assert t["image"] == o["image"], name
        # 1.29 prints "SRC:DST:MODE", m87 the long form
        assert t["volumes"] == ["%s:/data:ro" % (p.dir / "common" / "data")], t["volumes"]
        assert [(v["source"], v["target"], v.get("read_only")) for v in o["volumes"]] == [
            (str(p.dir / "common" / "data"), "/data", True)]


def test_extends_inherits_depends_on_as_compose_v2(env, project):
    """compose v2 inherits depends_on (and links, volumes_from); docker-compose 1.29 refuses to
    extend such a service."""
    p = project
    p.compose("""
        services:
          db:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
          base:
            image: %(img)s
            command: ["sleep", "3600"]
            depends_on: [db]
            stop_grace_period: 0s
          web:
            extends: base
    """ % {"img": env.small_image})
    p.up()
    assert labels_of(p.service("web"))["com.docker.compose.depends_on"] == "db:service_started:false"
    if os.access(DOCKER_COMPOSE, os.X_OK):
        r = p.docker_compose("config")
        assert r.returncode != 0 and "services with 'depends_on' cannot be extended" in r.err


def test_extends_errors_name_file_line_field(env, project):
    p = project
    p.write("more.yml", """
        services:
          c:
            extends: {file: compose.yaml, service: b}
    """)
    p.compose("""
        services:
          a:
            image: busybox
            extends: b
          b:
            extends: {file: more.yml, service: c}
    """)
    r = p.run("config", check=2)
    assert r.err == ("m87-agent: %s:7:14: services.b.extends: extends cycle: a -> b -> "
                     "c (%s) -> b (%s) -> c\n" % (p.dir / "compose.yaml", p.dir / "more.yml",
                                                 p.dir / "compose.yaml")), r.err
    p.compose("""
        services:
          a:
            extends: {file: more.yml, service: nope}
    """)
    r = p.run("config", check=2)
    assert r.err == ("m87-agent: %s:4:40: services.a.extends: service 'nope' not found in "
                     "'%s'\n" % (p.dir / "compose.yaml", p.dir / "more.yml")), r.err
    p.compose("""
        services:
          a:
            extends: {file: missing.yml, service: x}
    """)
    r = p.run("config", check=2)
    assert r.err.startswith("m87-agent: %s:4:21: services.a.extends.file: open '%s'" % (
        p.dir / "compose.yaml", p.dir / "missing.yml")), r.err


def test_include_short_and_long_forms(env, project):
    p = project
    # short form: the included file's own directory and .env
    p.write("db/.env", "DB_CMD=3602\n")
    p.write("db/compose.yml", """
        services:
          db:
            image: %s
            command: ["sleep", "${DB_CMD}"]
            volumes: ["./state:/state"]
            stop_grace_period: 0s
        volumes:
          shared: {}
    """ % env.small_image)
    # long form: project_directory and env_file, relative to the including project's directory
    p.write("cache/cache.yml", """
        services:
          cache:
            image: %s
            command: ["sleep", "${CACHE_CMD}"]
            volumes: ["./cachedir:/c", "shared:/shared"]
            stop_grace_period: 0s
    """ % env.small_image)
    p.write("cache/vars.env", "CACHE_CMD=3603\nOVERRIDDEN=included\n")
    p.compose("""
        include:
          - db/compose.yml
          - path: cache/cache.yml
            project_directory: cache/sub
            env_file: cache/vars.env
        services:
          web:
            image: %s
            command: ["sleep", "3600"]
            depends_on: [db, cache]
            environment: {O: "${OVERRIDDEN}"}
            stop_grace_period: 0s
    """ % env.small_image)
    p.up()
    db, cache, web = p.service("db"), p.service("cache"), p.service("web")
    assert db["Config"]["Cmd"] == ["sleep", "3602"]
    assert cache["Config"]["Cmd"] == ["sleep", "3603"]
    assert _bind_source(db, "/state") == str(p.dir / "db" / "state")
    assert _bind_source(cache, "/c") == str(p.dir / "cache" / "sub" / "cachedir")
    # the included resources are the project's: one default network, the project's volume
    nets = {tuple(sorted(c["NetworkSettings"]["Networks"])) for c in (db, cache, web)}
    assert nets == {("%s_default" % p.name,)}
    shared = [m for m in cache["Mounts"] if m["Destination"] == "/shared"][0]
    assert shared["Name"] == "%s_shared" % p.name
    # an included env file gives defaults only: the including project's environment wins
    assert _env_of(web)["O"] == ""  # the included variables are not the includer's
    p.run("down", "-v", "-t", "0", check=0)
    p.extra_env["CACHE_CMD"] = "3609"
    p.up()
    assert p.service("cache")["Config"]["Cmd"] == ["sleep", "3609"]


def test_include_conflict_and_cycle_refused(env, project):
    p = project
    p.write("inc.yml", """
        services:
          web:
            image: busybox:other
    """)
    p.compose("""
        include: [inc.yml]
        services:
          web:
            image: busybox
    """)
    r = p.run("config", check=2)
    assert r.err == ("m87-agent: %s:4:3: services.web: also defined by the included file at "
                     "%s:3:3\n" % (p.dir / "compose.yaml", p.dir / "inc.yml")), r.err
    # the same definition on both sides is not a conflict (compose v2 compares them)
    p.write("inc.yml", """
        services:
          web:
            image: busybox
    """)
    p.run("config", "-q", check=0)
    p.write("inc.yml", "include: [compose.yaml]\n")
    r = p.run("config", check=2)
    assert r.err == ("m87-agent: %s:1:11: include[0]: include cycle: %s -> %s -> %s\n" % (
        p.dir / "inc.yml", p.dir / "compose.yaml", p.dir / "inc.yml",
        p.dir / "compose.yaml")), r.err


@pytest.fixture
def device(env, server, tmp_path):  # noqa: F811
    dev = Device(env, server, tmp_path)
    yield dev
    dev.cleanup()


def test_deploy_extends_and_include_through_server_and_agent(env, device, tmp_path):
    dev = device
    dev.agent.start()
    dev.m87("deployment", "new", "--active")
    project_name = unique_name("exinc")
    src = tmp_path / "src" / project_name
    (src / "common").mkdir(parents=True)
    (src / "db").mkdir()
    (src / "common" / "base.yml").write_text(
        "services:\n  base:\n    image: %s\n    restart: always\n    env_file: base.env\n"
        % env.small_image)
    (src / "common" / "base.env").write_text("FROM_BASE=yes\n")
    (src / "db" / "compose.yml").write_text(
        "services:\n  db:\n    image: %s\n    restart: always\n    environment:\n      V: ${DBV}\n"
        % env.small_image_2)
    (src / "db" / ".env").write_text("DBV=from-included-env\n")
    (src / "docker-compose.yml").write_text(
        "include: [db/compose.yml]\nservices:\n  web:\n"
        "    extends: {file: common/base.yml, service: base}\n    depends_on: [db]\n")
    dev.projects.add(project_name)
    out = dev.m87("deploy", "docker-compose.yml", cwd=src).out
    assert "deployed job '%s' to %s" % (project_name, dev.name) in out
    dev.wait_applied()
    by = {c["Labels"]["com.docker.compose.service"]: c for c in dev.agent.containers(project_name)}
    assert sorted(by) == ["db", "web"] and all(c["State"] == "running" for c in by.values()), by
    status, web = env.docker_api("GET", "/v1.41/containers/%s/json" % by["web"]["Id"])
    assert status == 200 and "FROM_BASE=yes" in web["Config"]["Env"]
    status, db = env.docker_api("GET", "/v1.41/containers/%s/json" % by["db"]["Id"])
    assert status == 200 and "V=from-included-env" in db["Config"]["Env"]


def test_convert_ships_what_extends_and_include_read(tmp_path):
    """No dockerd: the job's files, written alone into another directory, load to the same
    `compose config`."""
    src = tmp_path / "a" / "proj"
    (src / "common").mkdir(parents=True)
    (src / "inc").mkdir()
    (src / "common" / "base.yml").write_text("services:\n  base:\n    image: busybox\n"
                                             "    env_file: app.env\n")
    (src / "common" / "app.env").write_text("A=1\n")
    (src / "inc" / "compose.yml").write_text("services:\n  db:\n    image: busybox:${T}\n")
    (src / "inc" / ".env").write_text("T=1.36\n")
    (src / "compose.yaml").write_text("include: [inc/compose.yml]\nservices:\n  web:\n"
                                      "    extends: {file: common/base.yml, service: base}\n")
    run = lambda args, cwd: subprocess.run(  # noqa: E731
        [str(AGENT)] + args, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        check=True, env={"PATH": os.environ.get("PATH", "")}).stdout.decode()
    job = yaml.safe_load(run(["convert", "--bundle-dir", str(tmp_path / "b")], src))["jobs"][0]
    assert sorted(job["files"]) == ["common/app.env", "common/base.yml", "compose.yaml",
                                    "inc/.env", "inc/compose.yml"]
    assert "bundle" not in job
    dst = tmp_path / "b2" / "proj"
    for name, text in job["files"].items():
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        (dst / name).write_text(text)
    want = run(["compose", "config"], src).replace(str(src), "DIR")
    got = run(["compose", "config"], dst).replace(str(dst), "DIR")
    assert got == want


def test_override_file_merges_over_included_service(env, project):
    """include is applied file by file before the -f files are merged (compose-go's
    loadYamlFile): an override file changes an included service instead of conflicting with it,
    and an override file cannot extend a service of the base file."""
    p = project
    p.write("inc.yml", """
        services:
          db:
            image: %s
            command: ["sleep", "3600"]
            environment: {A: included}
            stop_grace_period: 0s
    """ % env.small_image)
    p.compose("""
        include: [inc.yml]
        services:
          web:
            image: %s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
    """ % env.small_image)
    p.compose("""
        services:
          db:
            environment: {A: override, B: override}
    """, filename="override.yaml")
    p.up()
    e = _env_of(p.service("db"))
    assert (e["A"], e["B"]) == ("override", "override"), e
    p.compose("""
        services:
          worker:
            extends: web
    """, filename="override.yaml")
    r = p.run("config", check=2)
    assert r.err == ("m87-agent: %s:4:14: services.worker.extends: service 'web' not found in "
                     "'%s'\n" % (p.dir / "override.yaml", p.dir / "override.yaml")), r.err
