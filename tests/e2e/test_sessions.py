"""Sync execution end to end (docs/cli.md, "Sync execution"): the real m87 CLI, m87-server,
m87-agent daemon and dockerd. `m87 DEVICE docker compose up|ps|logs -f|down`, `docker ps`,
`docker logs`, a failing command's exit status, an offline device (and --wait), Ctrl-C
cancelling the command on the device, an agent that goes away mid-command, and a deployment and
an interactive stack side by side on one device without touching each other."""

import os
import re
import signal
import subprocess
import time

import pytest

from agent_util import (own_server, counter_container, device, running_ids,  # noqa: F401
                        session_child, wait_for)
from compose_util import API
from cli_util import M87, Result, read_rest, read_until

COUNTER = ("i=0; while true; do i=$$((i+1)); echo line $$i; sleep 0.3; done")


def counter_stack(env):
    return {"web": {"image": env.small_image, "command": ["sh", "-c", COUNTER]}}


def sleeper_stack(env, greeting="one"):
    return {"app": {"image": env.small_image_2, "command": ["sleep", "3600"],
                    "environment": {"GREETING": greeting}}}


def sessions(dev):
    return dev.server.api("GET", "/v1/devices/%s/sessions" % dev.name)["sessions"]


def container_logs(env, cid):
    """What the container wrote so far, as dockerd has it."""
    status, data = env.docker_api("GET", API + "/containers/%s/logs?stdout=1" % cid)
    assert status == 200
    return data if isinstance(data, bytes) else str(data).encode()


def last_counter(env, cid):
    found = re.findall(rb"line (\d+)", container_logs(env, cid))
    return int(found[-1]) if found else 0


def popen(dev, *args, cwd=None):
    return subprocess.Popen([str(M87), dev.name] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dev.cli.env(), cwd=cwd)


def finish(proc, timeout=60):
    """Wait for proc; its output includes what read_until read past its last line."""
    out, err = read_rest(proc, timeout)
    return Result(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))


@pytest.fixture
def online(device):  # noqa: F811
    device.agent.start()
    wait_for(lambda: device.agent.daemon_state() and device.agent.daemon_state()["connected"],
             60, "the agent to connect")
    return device


def test_up_ps_logs_down(env, online):
    dev = online
    project = "inter" + dev.name[3:]
    src = dev.compose_dir(project, counter_stack(env))

    r = dev.cli.run(dev.name, "docker", "compose", "up", "-d", cwd=src, timeout=120)
    assert r.rc == 0, r
    assert "web-1" in r.err, r  # the executor's progress, live from the device
    ctrs = dev.agent.containers(project)
    assert len(ctrs) == 1 and ctrs[0]["State"] == "running"
    assert ctrs[0]["Labels"]["m87.interactive"] == "true"
    cid = ctrs[0]["Id"]

    r = dev.cli.run(dev.name, "docker", "compose", "ps", cwd=src)
    assert r.rc == 0 and "%s-web-1" % project in r.out, r
    # a project known by name alone, from a directory without a compose file
    r = dev.cli.run(dev.name, "docker", "compose", "-p", project, "ps", cwd=dev.tmp)
    assert r.rc == 0 and "%s-web-1" % project in r.out, r
    r = dev.cli.run(dev.name, "docker", "ps")
    row = [line for line in r.out.splitlines() if line.endswith("%s-web-1" % project)]
    assert r.rc == 0 and row and " yes " in row[0] and cid[:12] in row[0], r

    # logs -f: the lines arrive while the container writes them. Line `target` was not written
    # yet when the command began, so seeing it proves the command follows; and it must come
    # while the container writes on (a line every 0.3 s, forever): 100 lines (30 s) is far more
    # than a busy machine's delay, while output held back until a block fills (4 KiB is ~500 of
    # these lines) or sent on in slow batches would be behind by more.
    proc = popen(dev, "docker", "compose", "logs", "-f", "web", cwd=src)
    start = last_counter(env, cid)
    seen = int(read_until(proc, r"line (\d+)$").group(1))
    target = max(seen, start) + 3
    m = read_until(proc, r"line %d$" % target)
    written = last_counter(env, cid)
    assert m and written < target + 100, (target, written)
    proc.send_signal(signal.SIGINT)
    r = finish(proc)
    assert r.rc == 130, r

    r = dev.cli.run(dev.name, "docker", "compose", "down", cwd=src, timeout=120)
    assert r.rc == 0, r
    assert dev.agent.containers(project) == []

    listed = sessions(dev)
    assert [(s["command"], s["args"][:1], s["state"]) for s in listed] == [
        ("compose", ["up"], "exited"), ("compose", ["ps"], "exited"),
        ("compose", ["ps"], "exited"), ("ps", [], "exited"),
        ("compose", ["logs"], "cancelled"), ("compose", ["down"], "exited")]
    out = dev.m87("sessions").out
    assert all(s["id"] in out for s in listed), out
    out = dev.m87("sessions", "show", listed[1]["id"]).out
    assert "state     exited, exit code 0" in out and "%s-web-1" % project in out, out


def test_failing_commands_give_their_exit_status(env, online):
    dev = online
    project = "fail" + dev.name[3:]
    missing = "%s/m87test/never-pushed:1" % env.registry
    src = dev.compose_dir(project, {"web": {"image": missing, "command": ["true"]}})
    r = dev.cli.run(dev.name, "docker", "compose", "up", "-d", cwd=src, timeout=180)
    assert r.rc == 1 and "never-pushed" in r.err, r
    assert dev.agent.containers(project) == []
    # bad input on the device: the compose front end's status 2
    r = dev.cli.run(dev.name, "docker", "compose", "stop", "nosuch", cwd=src)
    assert r.rc == 2 and "no such service: nosuch" in r.err, r
    r = dev.cli.run(dev.name, "docker", "logs", "no-such-container-" + dev.name)
    assert r.rc == 2 and "no-such-container" in r.err, r
    # bad input here: nothing is sent
    r = dev.cli.run(dev.name, "docker", "compose", "frobnicate", cwd=src)
    assert r.rc == 2 and "unknown command 'frobnicate'" in r.err, r
    broken = dev.tmp / "broken"
    broken.mkdir()
    (broken / "docker-compose.yml").write_text("services:\n  web:\n    image: [1\n")
    r = dev.cli.run(dev.name, "docker", "compose", "up", "-d", cwd=broken)
    assert r.rc == 2 and "docker-compose.yml:" in r.err, r
    states = [(s["args"][:1], s["state"], s["exit_code"]) for s in sessions(dev)]
    assert states == [(["up"], "exited", 1), (["stop"], "exited", 2), (["no-such-container-" +
                      dev.name], "exited", 2)], states


def test_offline_device(env, device):  # noqa: F811
    dev = device
    # never connected
    r = dev.cli.run(dev.name, "docker", "ps")
    assert r.rc == 2 and "is offline: it never connected" in r.err, r
    assert [s["state"] for s in sessions(dev)] == ["cancelled"]
    # seen once, gone now: --wait bounds the wait, the message says when it was last seen
    dev.agent.start()
    wait_for(lambda: (dev.agent.daemon_state() or {}).get("connected"), 60, "the agent")
    dev.agent.stop()
    r = dev.cli.run(dev.name, "docker", "ps")
    assert r.rc == 2 and "is offline: last seen" in r.err, r
    r = dev.cli.run(dev.name, "docker", "--wait", "1s", "ps")
    assert r.rc == 2 and "is offline: last seen" in r.err and "--wait" in r.err, r
    # --wait: the command runs once the device comes back
    proc = popen(dev, "docker", "--wait", "2m", "ps", "-a")
    time.sleep(1)
    assert proc.poll() is None
    dev.agent.start()
    r = finish(proc, timeout=120)
    assert r.rc == 0 and "CONTAINER ID" in r.out, r
    assert [s["state"] for s in sessions(dev)] == ["cancelled"] * 3 + ["exited"]


def test_ctrl_c_cancels_the_command_on_the_device(env, online, containers):
    dev = online
    cid = counter_container(env, containers)
    proc = popen(dev, "docker", "logs", "-f", cid[:12])
    read_until(proc, r"line \d+$")
    proc.send_signal(signal.SIGINT)
    r = finish(proc)
    assert r.rc == 130 and "cancelling" in r.err, r
    s = sessions(dev)[-1]
    assert s["state"] == "cancelled" and s["cancel_requested"], s
    dev.agent.wait_log("session %s ended" % s["id"], 30)
    # the stored output is what the CLI printed
    kept = dev.server.api("GET", "/v1/devices/%s/sessions/%s/output" % (dev.name, s["id"]))
    printed = "".join(proc.seen["stdout"]) + r.out
    assert "".join(c["text"] for c in kept["output"] if c["stream"] == "stdout") == printed
    out = dev.m87("sessions", "show", s["id"]).out
    assert "line 1\n" in out and "state     cancelled" in out and printed in out, out


def test_device_gone_mid_command(env, online, containers):
    dev = online
    cid = counter_container(env, containers)
    proc = popen(dev, "docker", "logs", "-f", cid[:12])
    read_until(proc, r"line \d+$")
    # the device stops talking: daemon and session child frozen, as behind a cut link
    child = session_child(dev.agent)
    os.kill(dev.agent.proc.pid, signal.SIGSTOP)
    os.kill(child, signal.SIGSTOP)
    try:
        r = finish(proc, timeout=120)
    finally:
        os.kill(child, signal.SIGCONT)
        os.kill(dev.agent.proc.pid, signal.SIGCONT)
    assert r.rc == 1 and "stopped reporting on the command" in r.err, r
    assert sessions(dev)[-1]["state"] == "lost"
    # back again, the child learns that the session is over and ends its command
    dev.agent.wait_log("session %s ended" % sessions(dev)[-1]["id"], 60)


def test_deployment_and_interactive_stack_side_by_side(env, online):
    dev = online
    dev.m87("deployment", "new", "--active")
    deployed = "dep" + dev.name[3:]
    dsrc = dev.compose_dir(deployed, sleeper_stack(env, "one"))
    dev.m87("deploy", "docker-compose.yml", cwd=dsrc)
    dev.wait_applied()
    dep_ids = running_ids(dev.agent, deployed)
    assert len(dep_ids) == 1

    inter = "int" + dev.name[3:]
    isrc = dev.compose_dir(inter, sleeper_stack(env, "mine"))
    r = dev.cli.run(dev.name, "docker", "compose", "up", "-d", cwd=isrc, timeout=120)
    assert r.rc == 0, r
    int_ids = running_ids(dev.agent, inter)
    assert len(int_ids) == 1
    # a session may not take over the deployment's project
    r = dev.cli.run(dev.name, "docker", "compose", "-p", deployed, "up", "-d", cwd=isrc)
    assert r.rc == 1 and "belongs to a deployment" in r.err, r
    assert running_ids(dev.agent, deployed) == dep_ids
    # nor a deployment the interactive stack's: its job fails before any step
    dev.m87("deploy", "docker-compose.yml", cwd=isrc)
    want = dev.active_hash()

    def refused():
        return [r for r in dev.reports(kind="job", job=inter)
                if r["state"] == "failed" and r["revision"] == want]
    msg = wait_for(refused, 120, lambda: "the refusal\n" + dev.agent.log()[-3000:])[0]["message"]
    assert msg.startswith("project '%s' runs as an interactive stack on this device "
                          "(1 container started by `m87 DEVICE docker compose`)" % inter), msg
    assert running_ids(dev.agent, inter) == int_ids
    dev.m87("undeploy", inter)
    dev.wait_applied()
    assert running_ids(dev.agent, inter) == int_ids
    assert running_ids(dev.agent, deployed) == dep_ids

    # a new revision of the deployment: its container is recreated, the interactive one kept
    dev.compose_dir(deployed, sleeper_stack(env, "two"))
    dev.m87("deploy", "docker-compose.yml", cwd=dsrc)
    dev.wait_applied()
    assert running_ids(dev.agent, deployed) != dep_ids
    assert running_ids(dev.agent, inter) == int_ids

    st = dev.m87("deployment", "status").out
    head, _, tail = st.partition("interactive stacks")
    assert deployed in head and inter not in head, st
    assert "%s-app-1" % inter in tail and "running" in tail and deployed not in tail, st
    api = dev.server_status()
    assert [p["project"] for p in api["interactive"]] == [inter]

    # the deployment goes: its stack goes, the interactive one stays
    dev.m87("undeploy", deployed)
    dev.wait_applied()
    assert dev.agent.containers(deployed) == []
    assert running_ids(dev.agent, inter) == int_ids
    r = dev.cli.run(dev.name, "docker", "compose", "down", cwd=isrc, timeout=120)
    assert r.rc == 0 and dev.agent.containers(inter) == [], r
    assert dev.server_status()["interactive"] == []


def test_project_files_travel_with_the_command(env, online):
    dev = online
    project = "files" + dev.name[3:]
    src = dev.compose_dir(project, {"web": {
        "image": env.small_image, "volumes": ["./site:/site:ro"],
        "command": ["sh", "-c", "wc -c < /site/blob.bin; cat /site/note.txt; sleep 3600"]}})
    (src / "site").mkdir()
    (src / "site" / "blob.bin").write_bytes(bytes(range(256)) * 40)  # binary: the bundle
    (src / "site" / "note.txt").write_text("hello from the project\n")
    r = dev.cli.run(dev.name, "docker", "compose", "up", "-d", cwd=src, timeout=120)
    assert r.rc == 0 and "bundling" in r.err, r
    # the bundle went up first and the device fetched it
    assert any(p.name.startswith("sha256-") for p in (dev.agent.state / "bundles").iterdir())
    wd = dev.agent.containers(project)[0]["Labels"]["com.docker.compose.project.working_dir"]
    assert wd.startswith(str(dev.agent.state / "sessions" / "s-")), wd

    def printed():
        r = dev.cli.run(dev.name, "docker", "compose", "logs", cwd=src)
        return "10240" in r.out and "hello from the project" in r.out and r
    wait_for(printed, 60, "the container to print its files")
    r = dev.cli.run(dev.name, "docker", "compose", "down", cwd=src, timeout=120)
    assert r.rc == 0 and dev.agent.containers(project) == [], r


def test_attached_up_follows_and_ctrl_c_stops_the_stack(env, online):
    dev = online
    project = "att" + dev.name[3:]
    src = dev.compose_dir(project, counter_stack(env))
    proc = popen(dev, "docker", "compose", "up", cwd=src)
    read_until(proc, r"line 2$", timeout=120)
    assert [c["State"] for c in dev.agent.containers(project)] == ["running"]
    proc.send_signal(signal.SIGINT)
    r = finish(proc)
    assert r.rc == 130, r
    # cancelled as Ctrl-C on the device would: the attached up stops its containers
    assert [c["State"] for c in dev.agent.containers(project)] == ["exited"]
    assert sessions(dev)[-1]["state"] == "cancelled"
    r = dev.cli.run(dev.name, "docker", "compose", "down", cwd=src, timeout=120)
    assert r.rc == 0 and dev.agent.containers(project) == [], r
