"""m87-agent against Podman's Docker-compatible API (Debian's podman 4.3, a rootful
`podman system service` that the `podman` fixture starts on a socket of its own, see
harness/podman.py): compose up, ps, logs, down, health checks, user-defined networks with DNS
between services, volumes, a run spec applied with `m87-agent apply`, and a deployment through
`m87-agent run` and a real m87-server. The same helpers as the dockerd tests drive it: they
take the `podman` fixture where they take `env`.

What Podman answers differently, each pinned here (and in tests/unit/test_engine_podman.c,
whose fixtures are its recorded answers): its ping has a Libpod-Api-Version header beside
API-Version 1.41; without systemd it runs no health check by itself; a container without a check
has an empty State.Health.Status; its list's Status has no "(healthy)"; a container's NetworkID
is the network's name; its conflicts are 500 with a "cause", not 409.
"""

import json
import subprocess

import pytest

from agent_util import Device, wait_for
from cli_util import server  # noqa: F401  (pytest fixture)
from compose_util import AGENT, API, PROJECT_LABEL, Project, unique_name
from runner_util import Runner, seed_job, unique_id

pytestmark = pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built")


@pytest.fixture
def project(podman, tmp_path):
    p = Project(podman, tmp_path / "proj", prefix="m87pm")
    yield p
    p.cleanup()


def test_service_is_podman_and_answers_api_1_41(podman):
    status, headers, body = podman.docker.ping()
    assert status == 200 and body == b"OK"
    assert headers["Api-Version"] == "1.41"
    assert headers["Libpod-Api-Version"].startswith("4.")
    version = podman.docker.check("GET", API + "/version")
    assert any(c["Name"] == "Podman Engine" for c in version["Components"]), version
    # the images came from the harness's registry over plain HTTP
    images = podman.docker.check("GET", API + "/images/json")
    tags = [t for i in images for t in (i.get("RepoTags") or [])]
    assert podman.small_image in tags and podman.small_image_2 in tags, tags


STACK = """
services:
  web:
    image: {small}
    healthcheck:
      test: ["CMD", "test", "-e", "/etc/m87test-version"]
      interval: 1s
      retries: 2
    volumes:
      - data:/data
    command: ["sh", "-c", "echo stored > /data/mark; echo web-ready;
              until nslookup client >/dev/null 2>&1; do sleep 1; done;
              echo resolved-client; exec sleep 100000"]
  client:
    image: {small2}
    depends_on:
      web:
        condition: service_healthy
    networks: [default, back]
    command: ["sh", "-c", "echo client-up; exec sleep 100000"]
  worker:
    image: {small2}
    networks: [back]
    command: ["sh", "-c", "until nslookup client >/dev/null 2>&1; do sleep 1; done;
              echo resolved-client; exec sleep 100000"]
networks:
  back: {{}}
volumes:
  data: {{}}
"""


def _ps_json(project, *args):
    out = project.run("ps", "--format", "json", *args, check=0).out
    return {row["Service"]: row for row in map(json.loads, out.splitlines())}


def test_compose_up_ps_logs_networks_volumes_down(podman, project):
    project.compose(STACK.format(small=podman.small_image, small2=podman.small_image_2))
    # Podman's pull stream (a "Pulling fs layer", "Download complete" line per layer, then
    # the image's ID) reads as dockerd's
    pull = project.run("pull", check=0)
    for service, ref in (("web", podman.small_image), ("client", podman.small_image_2)):
        assert "Pulled %s: %s" % (service, ref) in pull.err, pull.err
    up = project.up()
    # service_healthy was met: the health check ran although no systemd timer runs it here
    assert "Container %s-web-1 Healthy" % project.name in up.err, up.err
    names = project.container_names()
    assert names == ["%s-%s-1" % (project.name, s) for s in ("client", "web", "worker")]

    # ps: the health read from inspect and written as dockerd writes it; none where no check
    ps = _ps_json(project)
    assert ps["web"]["Health"] == "healthy" and "(healthy)" in ps["web"]["Status"], ps
    assert ps["client"]["Health"] == "" and "(" not in ps["client"]["Status"], ps
    assert all(row["State"] == "running" for row in ps.values()), ps

    # networks and DNS: client is on both, web only on default, worker only on back, and
    # client's name resolves on each (aardvark-dns answers per network: a container on two
    # networks asks the server of the first, by name, only; docs/compose.md says so)
    nets = {n["Name"]: n for n in project.networks()}
    assert sorted(nets) == ["%s_back" % project.name, "%s_default" % project.name]
    assert all(n["Labels"][PROJECT_LABEL] == project.name for n in nets.values())
    client = project.service("client")
    assert sorted(client["NetworkSettings"]["Networks"]) == sorted(nets)
    project.wait_log(project.service("web")["Id"], "resolved-client")
    project.wait_log(project.service("worker")["Id"], "resolved-client")

    # the named volume, labelled as compose labels it, holds what web wrote
    vols = project.volumes()
    assert [v["Name"] for v in vols] == ["%s_data" % project.name]
    assert vols[0]["Labels"]["com.docker.compose.volume"] == "data"
    project.wait_log(project.service("web")["Id"], "web-ready")

    logs = project.run("logs", "web", check=0).out
    assert "%s-web-1  | web-ready" % project.name in logs, logs

    # up again changes nothing: Podman's NetworkID (the name) is not taken for a new network
    ids = {c["Id"] for c in project.containers()}
    again = project.up()
    assert "Recreated" not in again.err and "Removed" not in again.err, again.err
    assert {c["Id"] for c in project.containers()} == ids

    # down keeps the volume; down -v removes it
    project.run("down", "-t", "0", check=0)
    assert project.containers() == [] and project.networks() == []
    assert [v["Name"] for v in project.volumes()] == ["%s_data" % project.name]
    project.up()
    web = project.service("web")
    project.wait_log(web["Id"], "web-ready")
    project.run("down", "-v", "-t", "0", check=0)
    assert project.containers() == [] and project.volumes() == []


def test_unhealthy_service_fails_up_wait(podman, project):
    project.compose("""
        services:
          sick:
            image: %s
            healthcheck:
              test: ["CMD", "false"]
              interval: 1s
              retries: 1
    """ % podman.small_image)
    res = project.run("up", "-d", "--wait", "--wait-timeout", "120", check=1)
    assert "is unhealthy" in res.err, res.err
    st = project.inspect(project.container_names()[0])["State"]
    assert st["Health"]["Status"] == "unhealthy" and st["Health"]["FailingStreak"] >= 1, st


def test_run_spec_applied(podman, tmp_path):
    runner = Runner(podman, tmp_path)
    app = unique_id("pm")
    job = seed_job(app, podman.small_image, env={"GREETING": "one"},
                   extra_service={"environment": {"GREETING": "${GREETING}"},
                                  "healthcheck": {"test": ["CMD", "true"], "interval": "1s"}})
    try:
        runner.apply([job], check=0)
        cs = runner.containers(app)
        assert [c["Names"][0] for c in cs] == ["/%s-web-1" % app] and cs[0]["State"] == "running"
        inspect = runner.inspect(cs[0]["Id"])
        assert "GREETING=one" in inspect["Config"]["Env"]
        # the runner's health watch after up waited for the check, which the engine ran
        assert inspect["State"]["Health"]["Status"] == "healthy", inspect["State"]
        st = runner.status_json(check=0)
        assert st[app]["state"] == "succeeded", st
        seq = runner.last_seq()
        runner.apply(check=0)
        assert runner.steps_run(after=seq) == []
        assert runner.containers(app)[0]["Id"] == cs[0]["Id"]
        runner.apply([], check=0)
        assert runner.containers(app) == []
    finally:
        runner.cleanup()


def test_deployment_through_the_daemon(podman, server, tmp_path):  # noqa: F811
    dev = Device(podman, server, tmp_path)
    try:
        dev.agent.start()
        dev.m87("deployment", "new", "--active")
        project = unique_name("pmd")
        src = dev.compose_dir(project, {
            "web": {"image": podman.small_image, "restart": "always",
                    "environment": {"GREETING": "one"},
                    "healthcheck": {"test": ["CMD", "true"], "interval": "1s"}},
            "db": {"image": podman.small_image_2, "restart": "always"}})
        dev.m87("deploy", "docker-compose.yml", cwd=src)
        dev.wait_applied()
        cs = {c["Labels"]["com.docker.compose.service"]: c for c in dev.agent.containers(project)}
        assert sorted(cs) == ["db", "web"] and all(c["State"] == "running" for c in cs.values())
        st = dev.m87("deployment", "status").out
        row = [line for line in st.splitlines() if line.startswith(project + " ")]
        assert row and "succeeded" in row[0], st
        dev.m87("undeploy", project)
        wait_for(lambda: dev.agent.containers(project) == [], 120,
                 lambda: "the containers to go\n" + dev.agent.log()[-3000:])
    finally:
        dev.cleanup()


def test_rootless_compose_without_network(podman_rootless, tmp_path):
    """Rootless Podman: the service runs as a user of its own. A container network needs
    /dev/net/tun for slirp4netns, which is mode 0600 here ("open("/dev/net/tun"): Permission
    denied"), so the services run with network_mode: none; the rest is the same."""
    pm = podman_rootless
    status, headers, _ = pm.docker.ping()
    assert status == 200 and headers["Libpod-Api-Version"].startswith("4.")
    info = pm.docker.check("GET", API + "/info")
    assert info["DockerRootDir"].startswith(pm.service.root), info["DockerRootDir"]
    project = Project(pm, tmp_path / "rootless", prefix="m87pr")
    try:
        project.compose("""
            services:
              web:
                image: %s
                network_mode: none
                healthcheck:
                  test: ["CMD", "test", "-s", "/data/mark"]
                  interval: 1s
                volumes: [data:/data]
                command: ["sh", "-c", "echo stored > /data/mark; echo rootless-up;
                          exec sleep 100000"]
            volumes:
              data: {}
        """ % pm.small_image)
        up = project.run("up", "-d", "--wait", "--wait-timeout", "120", check=0)
        assert "Container %s-web-1 Healthy" % project.name in up.err, up.err
        ps = _ps_json(project)
        assert ps["web"]["Health"] == "healthy" and ps["web"]["State"] == "running", ps
        web = project.service("web")
        project.wait_log(web["Id"], "rootless-up")
        # the container's root is the user mapped: on the host its process runs as the user
        with open("/proc/%d/status" % web["State"]["Pid"]) as f:
            uid = [line.split()[1] for line in f if line.startswith("Uid:")][0]
        assert int(uid) == pm.service.user.pw_uid, (uid, pm.service.user)
        assert [v["Name"] for v in project.volumes()] == ["%s_data" % project.name]
        project.run("down", "-v", "-t", "0", check=0)
        assert project.containers() == [] and project.volumes() == []
    finally:
        project.cleanup()


def test_engine_compose_suite(podman):
    """The C end-to-end suite of the executor (tests/e2e/c/engine_compose.c: dependencies and
    health waits, networks, volumes, configs, recreation, crash leftovers, the calls of a no-op
    up) against Podman. The other engine_* suites assert dockerd's own error words."""
    build = AGENT.parent.parent
    suite = build / "tests" / "e2e" / "engine_compose"
    if not suite.exists():
        pytest.skip("%s not built (make tests)" % suite)
    environ = podman.subprocess_env(M87_FAULTPROXY=build / "tests" / "tools" / "m87-faultproxy")
    proc = subprocess.run([str(suite)], env=environ, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=900)
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0 and "[  PASSED  ]" in out, out[-6000:]
