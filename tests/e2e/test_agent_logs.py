"""Container logs shipped by the device daemon through its report journal: the lines a running
job's container writes reach the server as "log" records while it writes them; an agent killed
and started again goes on where it stopped (no line missing, none twice); and a journal that
reaches its cap while the server is away drops its oldest log records (never step or job
records) and says how many went; lines of control characters, whose JSON is six times their
size, are shipped too."""

import re


from agent_util import device, log_records, log_texts, own_server, wait_for  # noqa: F401 (fixtures)
from compose_util import unique_name

COUNTER = "i=0; while :; do echo line $$i; i=$$((i+1)); sleep 0.1; done"
# 20 lines of ~400 bytes every 0.1 s: the journal's 256 KiB cap is reached within seconds
FLOOD = ("i=0; while :; do j=0; while [ $$j -lt 20 ]; do "
         "echo flood $$i $$(printf '%0400d' 0); i=$$((i+1)); j=$$((j+1)); done; sleep 0.1; done")


def numbers(texts, word):
    return [int(m.group(1)) for m in (re.match(word + r" (\d+)", t) for t in texts) if m]


def deploy(dev, env, project, script):
    src = dev.compose_dir(project, {"app": {"image": env.small_image, "restart": "always",
                                            "command": ["sh", "-c", script]}})
    dev.m87("deployment", "new", "--active")
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    dev.wait_applied()


def test_lines_reach_the_server_without_gap_or_repeat(env, device):
    dev = device
    project = unique_name("logs")
    dev.agent.start()
    deploy(dev, env, project, COUNTER)

    wait_for(lambda: len(numbers(log_texts(dev, project), "line")) >= 20, 60,
             "the first lines on the server\n" + dev.agent.log()[-3000:])
    recs = log_records(dev, project)
    assert {r["service"] for r in recs} == {"app"}
    assert all(r["stream"] == "stdout" and r["container"].startswith(project) for r in recs)
    assert all(re.match(r"\d{4}-\d\d-\d\dT", line["time"]) for r in recs for line in r["lines"])

    for _ in range(2):
        dev.agent.kill()
        before = max(numbers(log_texts(dev, project), "line"))
        # the container goes on writing while the agent is away
        wait_for(lambda: "line %d\n" % (before + 20) in container_log(dev, project), 30,
                 "the container to write on")
        dev.agent.start()
        wait_for(lambda: max(numbers(log_texts(dev, project), "line")) >= before + 40, 60,
                 "lines after the restart\n" + dev.agent.log()[-3000:])
    got = numbers(log_texts(dev, project), "line")
    assert got == list(range(len(got))), got  # from the first line, none missing, none twice


# 300 numbered lines of 200 control characters each: their JSON escapes are six times longer
# than the line, so a batch of them, bounded by its raw size, makes a record the journal refuses
CONTROL = ("i=0; while [ $$i -lt 300 ]; do echo ctl $$i $$(printf '\\001%.0s' $$(seq 200)); "
           "i=$$((i+1)); done; sleep 3600")


def test_lines_of_control_characters_are_shipped(env, device):
    dev = device
    project = unique_name("ctl")
    dev.agent.start()
    deploy(dev, env, project, CONTROL)
    wait_for(lambda: len(numbers(log_texts(dev, project), "ctl")) == 300, 60,
             lambda: "the 300 lines on the server\n" + dev.agent.log()[-3000:])
    assert numbers(log_texts(dev, project), "ctl") == list(range(300))
    assert all(t.endswith("\x01" * 200) for t in log_texts(dev, project)), log_texts(dev, project)[0]
    assert "ship the logs" not in dev.agent.log()


def container_log(dev, project):
    cid = dev.agent.containers(project)[0]["Id"]
    out, _ = dev.env.docker.logs(cid)
    return out.decode(errors="replace")


def test_journal_cap_drops_oldest_log_records(env, device):
    dev = device
    dev.agent.config["journal_max_bytes"] = "256KiB"
    project = unique_name("cap")
    dev.agent.start()
    deploy(dev, env, project, FLOOD)
    steps_before = [(r["step"], r["state"]) for r in dev.reports(kind="step", job=project)]
    assert ("up", "succeeded") in steps_before

    dev.server.stop()
    dev.agent.wait_log("log records dropped", timeout=60)
    wait_for(lambda: dev.agent.log().count("log records dropped") >= 2, 60, "a second drop")
    queued = dev.agent.journal()
    segments = [text.encode() for text in dev.agent.segments()]
    size = sum(len(data) for data in segments)
    record = max(len(line) for data in segments for line in data.splitlines())
    # the cap, plus what one turn may add before the next trim: up to 1000 lines a container
    # (AGENT_LOGS_MAX_LINES; a slow turn on a busy machine reads that many of the flood)
    assert size < 256 * 1024 + 1000 * (record + 1), (size, record)
    assert any(r.get("state") == "dropped" for r in queued)
    last_written = max(numbers(container_log(dev, project).splitlines(), "flood"))

    dev.server.start()
    wait_for(lambda: dev.agent.journal() == [], 120, "the queue to drain\n" +
             dev.agent.log()[-3000:])
    reports = dev.reports()
    seqs = [r["seq"] for r in reports]
    assert seqs == sorted(set(seqs))
    dropped = [r for r in reports if r["kind"] == "log" and r.get("state") == "dropped"]
    assert dropped and all(r["dropped"] > 0 for r in dropped), dropped
    assert "log records dropped" in dropped[0]["message"]
    # every step and job record of the apply is there
    steps = [(r["step"], r["state"]) for r in dev.reports(kind="step", job=project)]
    assert steps == steps_before
    jobs = [r["state"] for r in dev.reports(kind="job", job=project)]
    assert jobs[-1] == "succeeded"
    # the oldest lines went; the newest come (those still waiting in dockerd's log included)
    wait_for(lambda: max(numbers(log_texts(dev, project), "flood")) >= last_written, 60,
             "the newest lines")
    got = numbers(log_texts(dev, project), "flood")
    assert got == sorted(set(got))
    assert len(got) < max(got) + 1  # some lines are missing
