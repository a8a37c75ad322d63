"""Maintenance windows and prefetch on the device, with the real CLI, server, agent, dockerd and
registry. The agent's clock is moved through M87_AGENT_CLOCK_FILE (an offset in seconds, read
at every look at the clock; docs/testing.md), so that windows are entered without waiting:

- a revision outside the window is stored and its image pulled (prefetch) but not applied;
  moving the clock into the window applies it;
- `deploy --now` applies at once outside the window;
- prefetch-policy window pulls nothing outside the window, and the switch pulls in it;
- a window across midnight with a day-of-week rule: the wait names the next start, and a clock
  after midnight inside the window that started the day before applies;
- rollback (clone --active --now) to the previous revision while the registry refuses
  connections: its image was kept, no pull is needed;
- a restart while a revision waits brings the applied revision's workload back, and the waiting
  one still waits;
- the images prefetched are those of the project the job's pull step loads (-f, --profile, the
  job's env; pull_policy never skipped);
- `m87 DEVICE prefetch IMAGE` pulls an image ahead of any deployment, reported as "prefetch"
  records and shown by `prefetch status` and `deployment status`; with prefetch-policy window
  only inside a window, and a pull running when the window ends finishes but the next waits;
- bad input to the prefetch endpoint and command.
"""

import calendar
import time

from agent_util import device, own_server, registry_proxy, running_ids, wait_for  # noqa: F401 (fixtures)
from compose_util import API, unique_name

DEVICE_BACKOFF_MAX_MS = 300


def move_clock(dev, when):
    """Set the agent's clock to `when` (a UTC "YYYY-MM-DD HH:MM:SS" text) from now on."""
    t = calendar.timegm(time.strptime(when, "%Y-%m-%d %H:%M:%S"))
    dev.clock_file.write_text("%d\n" % (t - int(time.time())))


def use_clock(dev, when):
    """The agent reads its window clock through the file; call before it starts."""
    dev.clock_file = dev.tmp / "agent-clock"
    move_clock(dev, when)
    base = dev.agent.environ
    dev.agent.environ = lambda: dict(base(), M87_AGENT_CLOCK_FILE=str(dev.clock_file))


def image_present(env, ref):
    status, _ = env.docker_api("GET", API + "/images/%s/json" % ref)
    return status == 200


def fresh_image(env, version, registry=None):
    """A pushed image no device has pulled yet (a tag of its own)."""
    ref = env.build_small_image(version, tag=unique_name("w")).ref
    return ref.replace(env.registry, registry, 1) if registry else ref


def start_applied(dev):
    """The agent running with an applied empty deployment (before any window exists)."""
    dev.agent.start()
    dev.m87("deployment", "new", "--active")
    return dev.wait_applied()


def deploy(dev, project, image, *extra):
    src = dev.compose_dir(project, {"web": {"image": image, "restart": "always"}})
    dev.m87("deploy", "docker-compose.yml", *extra, cwd=src)
    return dev.active_hash()


def window_records(dev, rev):
    return [r for r in dev.reports(kind="window") if r["revision"] == rev]


def wait_window(dev, rev, pred, what):
    def found():
        recs = window_records(dev, rev)
        return recs and pred(recs[-1]) and recs[-1]
    return wait_for(found, 120, lambda: "%s\n%s\nwindow records: %s" % (
        what, dev.agent.log()[-3000:], window_records(dev, rev)[-3:]))


def job_succeeded(dev, project, rev):
    jobs = [r for r in dev.reports(kind="job", job=project) if r["revision"] == rev]
    return dev.agent.applied() == rev and jobs and jobs[-1]["state"] == "succeeded"


def wait_succeeded(dev, project, rev):
    wait_for(lambda: job_succeeded(dev, project, rev), 180,
             "revision %s to succeed\n%s" % (rev, dev.agent.log()[-3000:]))


def test_prefetched_outside_window_applied_inside(env, device):
    dev = device
    use_clock(dev, "2026-11-23 10:00:00")  # a Monday
    start_applied(dev)
    dev.m87("window", "add", "daily 02:00-04:00")
    project = unique_name("win")
    image = fresh_image(env, 2)
    rev = deploy(dev, project, image)

    rec = wait_window(dev, rev, lambda r: r["state"] == "waiting" and
                      r.get("prefetch", {}).get("done") == 1,
                      "the image to be prefetched")
    assert rec["next"] == "2026-11-24T02:00:00Z" and rec["prefetch"]["total"] == 1
    assert image_present(env, image)
    assert dev.agent.applied() != rev and dev.agent.containers(project) == []
    st = dev.m87("deployment", "status").out
    assert "waiting for window (next: " in st and "prefetched 1 of 1 images" in st
    assert "waits for a maintenance window (next: 2026-11-24T02:00:00Z)" in dev.agent.log()
    time.sleep(3)  # several loop turns and syncs: still waiting
    assert dev.agent.applied() != rev and dev.agent.containers(project) == []
    assert dev.agent.status_json()["daemon"]["waiting"] == {
        "hash": rev, "next_window": "2026-11-24T02:00:00Z"}
    assert "waits for a maintenance window (next: 2026-11-24T02:00:00Z)" in \
        dev.agent.status().stdout

    move_clock(dev, "2026-11-24 02:00:05")
    wait_succeeded(dev, project, rev)
    assert len(running_ids(dev.agent, project)) == 1
    assert window_records(dev, rev)[-1]["state"] == "open"
    assert "waiting for window" not in dev.m87("deployment", "status").out
    assert dev.agent.status_json()["daemon"]["waiting"] is None


def test_now_applies_outside_window(env, device):
    dev = device
    use_clock(dev, "2026-11-23 10:00:00")
    start_applied(dev)
    dev.m87("window", "add", "daily 02:00-04:00")
    project = unique_name("now")
    rev = deploy(dev, project, env.small_image, "--now")
    wait_succeeded(dev, project, rev)
    assert len(running_ids(dev.agent, project)) == 1
    assert all(r["state"] != "waiting" for r in window_records(dev, rev))

    # the next revision without --now waits again
    src = dev.compose_dir(project, {"web": {"image": env.small_image_2, "restart": "always"}})
    dev.m87("deploy", "docker-compose.yml", cwd=src)
    rev2 = dev.active_hash()
    wait_window(dev, rev2, lambda r: r["state"] == "waiting", "revision 2 to wait")
    assert dev.agent.applied() == rev
    # activate --now on the active deployment marks its newest revision
    dep = dev.server_status()["deployment"]["id"]
    dev.m87("deployment", "activate", dep, "--now")
    wait_succeeded(dev, project, rev2)


def test_prefetch_policy_window_pulls_nothing_outside(env, device):
    dev = device
    use_clock(dev, "2026-11-23 10:00:00")
    start_applied(dev)
    dev.m87("window", "add", "daily 02:00-04:00")
    dev.m87("prefetch-policy", "window")
    project = unique_name("pw")
    image = fresh_image(env, 3)
    rev = deploy(dev, project, image)
    rec = wait_window(dev, rev, lambda r: r["state"] == "waiting", "the revision to wait")
    assert "prefetch" not in rec
    dev.agent.wait_log("waits for a maintenance window")
    time.sleep(4)  # loop turns and syncs in which an "always" policy would have pulled
    assert not image_present(env, image)
    assert "prefetch" not in window_records(dev, rev)[-1]
    assert "prefetching the images" not in dev.agent.log()

    move_clock(dev, "2026-11-24 03:00:00")
    wait_succeeded(dev, project, rev)
    assert image_present(env, image)


def test_window_across_midnight_and_weekdays(env, device):
    dev = device
    use_clock(dev, "2026-11-26 23:45:00")  # a Thursday
    start_applied(dev)
    dev.m87("window", "add", "fri 23:30-00:30")
    project = unique_name("mid")
    rev = deploy(dev, project, env.small_image)
    rec = wait_window(dev, rev, lambda r: r["state"] == "waiting", "the revision to wait")
    # Thursday's 23:30 is no window: the next one starts on Friday
    assert rec["next"] == "2026-11-27T23:30:00Z"

    move_clock(dev, "2026-11-28 00:40:00")  # Saturday, after Friday's window ended
    wait_window(dev, rev, lambda r: r["next"] == "2026-12-04T23:30:00Z",
                "the wait to name the next Friday")
    assert dev.agent.applied() != rev

    move_clock(dev, "2026-12-05 00:10:00")  # Saturday, inside the window of Friday night
    wait_succeeded(dev, project, rev)


def test_rollback_needs_no_pull(env, device, registry_proxy):
    dev = device
    via = "127.0.0.1:%d" % registry_proxy.port
    use_clock(dev, "2026-11-23 10:00:00")
    start_applied(dev)
    dev.m87("window", "add", "daily 02:00-04:00")
    project = unique_name("rb")
    a, b = fresh_image(env, 1, via), fresh_image(env, 2, via)
    rev_a = deploy(dev, project, a, "--now")
    wait_succeeded(dev, project, rev_a)
    dep = dev.server_status()["deployment"]
    dep_a = "%s@%d" % (dep["id"], dep["revision"])
    rev_b = deploy(dev, project, b)
    wait_window(dev, rev_b, lambda r: r.get("prefetch", {}).get("done") == 1, "b prefetched")
    move_clock(dev, "2026-11-24 02:30:00")
    wait_succeeded(dev, project, rev_b)
    assert image_present(env, a) and image_present(env, b)  # a: the previous revision's

    registry_proxy.refuse()
    move_clock(dev, "2026-11-24 12:00:00")  # outside the window: the rollback is --now
    dev.m87("deployment", "clone", dep_a, "--active", "--now")
    assert dev.active_hash() == rev_a
    wait_succeeded(dev, project, rev_a)
    [cid] = running_ids(dev.agent, project)
    status, data = env.docker_api("GET", API + "/containers/%s/json" % cid)
    assert data["Config"]["Image"] == a
    assert "using the images present" in dev.agent.log()


def prefetch_entry(dev, image):
    st = dev.server.api("GET", "/v1/devices/%s/prefetch" % dev.name)
    return next(e for e in st["prefetch_images"] if e["image"] == image)


def test_prefetch_image_pulls_and_reports(env, device):
    dev = device
    image = env.build_layers_image(3, 300_000, tag=unique_name("pf")).ref
    assert not image_present(env, image)
    dev.agent.start()  # no deployment at all: the server sends no target, only the images
    out = dev.m87("prefetch", image).out
    assert out == "asked %s to prefetch 1 image; see: m87 %s prefetch status\n" % (
        dev.name, dev.name)
    wait_for(lambda: prefetch_entry(dev, image)["state"] == "done", 120,
             "the prefetch to be done\n" + dev.agent.log()[-3000:])
    assert image_present(env, image)
    e = prefetch_entry(dev, image)
    assert e["layers_total"] == 4 and e["layers_done"] == 4 and e["message"] == "pulled"
    # dockerd gives a layer's size only in its "Downloading" progress, which a fast pull of a
    # layer may skip (seen under ASan: 2 of the 3 sizes): the byte counts cover the layers whose
    # size came, and agree at the end
    assert 0 < e["bytes_total"] <= 4 * 300_000 and e["bytes_done"] == e["bytes_total"], e
    recs = dev.reports(kind="prefetch")
    assert {r["image"] for r in recs} == {image}
    assert [r["state"] for r in recs][0] == "pulling" and recs[-1]["state"] == "done"
    st = dev.m87("prefetch", "status").out
    assert image in st and "done: pulled" in st and "prefetch policy: always" in st
    # deployment status shows it too
    dev.m87("deployment", "new", "--active")
    assert "prefetch    %s: done: pulled" % image in dev.m87("deployment", "status").out

    # asking again for an image on the device: no pull, reported present
    dev.m87("prefetch", image, env.small_image)
    wait_for(lambda: prefetch_entry(dev, env.small_image)["state"] == "done", 60,
             "the second list to be looked at\n" + dev.agent.log()[-3000:])
    assert prefetch_entry(dev, image)["message"] == "already on the device"

    dev.m87("prefetch", "clear")
    assert dev.m87("prefetch", "status").out.startswith("no images to prefetch on ")
    assert image_present(env, image)  # cleared from the list, not from the device


def test_prefetch_image_waits_for_window(env, device):
    dev = device
    use_clock(dev, "2026-11-23 10:00:00")
    image = fresh_image(env, 4)
    dev.m87("window", "add", "daily 02:00-04:00")
    out = dev.m87("--prefetch", "window").out  # the spelling of prefetch-policy
    assert out.startswith("prefetch policy of %s: window" % dev.name)
    dev.agent.start()
    dev.m87("prefetch", image)
    dev.agent.wait_log("the server asks for 1 images to be prefetched")
    time.sleep(4)  # loop turns in which an "always" policy would have pulled
    assert not image_present(env, image)
    assert prefetch_entry(dev, image)["state"] == "pending"
    assert "pending" in dev.m87("prefetch", "status").out

    move_clock(dev, "2026-11-24 02:10:00")
    wait_for(lambda: prefetch_entry(dev, image)["state"] == "done", 120,
             "the prefetch inside the window\n" + dev.agent.log()[-3000:])
    assert image_present(env, image)


def test_prefetch_bad_input(device):
    dev = device
    r = dev.cli.run(dev.name, "prefetch", "bad image")
    assert r.rc == 2 and "images[0]: expected an image reference" in r.err
    r = dev.cli.run(dev.name, "prefetch")
    assert r.rc == 2
    status, _, body = dev.server.request("POST", "/v1/devices/%s/prefetch" % dev.name,
                                         body={"images": []})
    assert status == 400 and b"images: expected an array of 1 to 64 images" in body
    status, _, body = dev.server.request("POST", "/v1/devices/%s/prefetch" % dev.name,
                                         body={"images": ["a"], "x": 1})
    assert status == 400 and b"'x'" in body
    status, _, _ = dev.server.request("GET", "/v1/devices/nope/prefetch")
    assert status == 404
    status, _, _ = dev.server.request("GET", "/v1/devices/%s/prefetch" % dev.name,
                                      token=dev.token)
    assert status == 403
    many = ["img%d:1" % i for i in range(65)]
    status, _, _ = dev.server.request("POST", "/v1/devices/%s/prefetch" % dev.name,
                                      body={"images": many})
    assert status == 400
    dev.server.api("POST", "/v1/devices/%s/prefetch" % dev.name, {"images": many[:40]})
    status, _, body = dev.server.request("POST", "/v1/devices/%s/prefetch" % dev.name,
                                         body={"images": many[40:]})
    assert status == 413 and b"at most 64 prefetch images" in body
    assert len(dev.server.api("GET", "/v1/devices/%s/prefetch" % dev.name)[
        "prefetch_images"]) == 40  # nothing of the refused request was kept


def test_restart_while_waiting_revives_the_applied_revision(env, device):
    dev = device
    use_clock(dev, "2026-11-23 10:00:00")
    start_applied(dev)
    dev.m87("window", "add", "daily 02:00-04:00")
    project = unique_name("rs")
    rev_a = deploy(dev, project, env.small_image, "--now")
    wait_succeeded(dev, project, rev_a)
    rev_b = deploy(dev, project, env.small_image_2)
    wait_window(dev, rev_b, lambda r: r["state"] == "waiting", "revision b to wait")

    # a reboot that killed the workload: the daemon starts with b still waiting
    dev.agent.stop()
    [old] = running_ids(dev.agent, project)
    status, _ = env.docker_api("POST", API + "/containers/%s/kill" % old)
    assert status == 204
    dev.agent.start()
    dev.agent.wait_log("applied revision")
    assert "running its steps again" in dev.agent.log()
    [cid] = running_ids(dev.agent, project)
    status, data = env.docker_api("GET", API + "/containers/%s/json" % cid)
    assert data["Config"]["Image"] == env.small_image  # a's, not b's
    assert dev.agent.applied() == rev_a
    time.sleep(2)
    assert dev.agent.applied() == rev_a

    move_clock(dev, "2026-11-24 02:00:01")
    wait_succeeded(dev, project, rev_b)


SWITCH_JOB = """\
jobs:
  - id: %s
    type: job
    steps:
      - name: first
        run: echo first >> %s
      - name: second
        run: [sh, -c, "echo second >> %s; while [ ! -e %s ]; do sleep 0.1; done"]
"""


def test_switch_begun_in_the_window_goes_on_after_a_restart_outside_it(env, device):
    dev = device
    use_clock(dev, "2026-11-23 10:00:00")
    start_applied(dev)
    dev.m87("window", "add", "daily 02:00-04:00")
    project = unique_name("sw")
    rev_a = deploy(dev, project, env.small_image, "--now")
    wait_succeeded(dev, project, rev_a)

    # inside the window the switch to b begins; the device dies in b's second step
    move_clock(dev, "2026-11-24 03:59:00")
    job = unique_name("swj")
    log, go = dev.tmp / "steps.log", dev.tmp / "go"
    spec = dev.tmp / "switch.yml"
    spec.write_text(SWITCH_JOB % (job, log, log, go))
    dev.m87("deploy", str(spec))
    rev_b = dev.active_hash()
    wait_for(lambda: log.exists() and "second" in log.read_text(), 120,
             lambda: "b's second step\n" + dev.agent.log()[-3000:])
    dev.agent.kill()
    # it comes back after the window: b goes on (a's containers are not brought back first)
    move_clock(dev, "2026-11-24 10:00:00")
    go.touch()
    dev.agent.start()
    wait_succeeded(dev, job, rev_b)
    after = dev.agent.log().rsplit("m87-agent ", 1)[-1]  # since the start line
    assert "applying revision" in after and "waits for a maintenance window" not in after, after
    assert not [line for line in after.splitlines()
                if "applying revision" in line and rev_a[:12] in line], after
    assert log.read_text().splitlines() == ["first", "second", "second"]


def test_prefetch_window_end_lets_the_running_pull_finish(env, device, registry_proxy):
    dev = device
    via = "127.0.0.1:%d" % registry_proxy.port
    first, second = (env.build_layers_image(2, 1_500_000, tag=unique_name("we")).ref.replace(
        env.registry, via, 1) for _ in range(2))
    use_clock(dev, "2026-11-23 10:00:00")
    dev.m87("window", "add", "daily 02:00-04:00")
    dev.m87("prefetch-policy", "window")
    dev.agent.start()
    dev.m87("prefetch", first, second)
    dev.agent.wait_log("the server asks for 2 images to be prefetched")
    registry_proxy.throttle(100_000)  # the first pull takes long enough to be seen

    move_clock(dev, "2026-11-24 03:59:00")
    wait_for(lambda: prefetch_entry(dev, first)["state"] == "pulling", 60,
             "the first pull to start\n" + dev.agent.log()[-3000:])
    move_clock(dev, "2026-11-24 04:00:30")  # the window ended while it runs
    registry_proxy.pass_through()
    wait_for(lambda: prefetch_entry(dev, first)["state"] == "done", 120,
             "the first pull to finish\n" + dev.agent.log()[-3000:])
    assert image_present(env, first)
    dev.agent.wait_log("the window ended; the next pull waits for the next")
    time.sleep(3)
    assert prefetch_entry(dev, second)["state"] == "pending"
    assert not image_present(env, second)

    move_clock(dev, "2026-11-25 02:00:00")  # the next window
    wait_for(lambda: prefetch_entry(dev, second)["state"] == "done", 120,
             "the second pull in the next window\n" + dev.agent.log()[-3000:])
    assert image_present(env, second)


RUNSPEC_OPTIONS = """\
jobs:
  - id: {job}
    env:
      IMG: {image}
    files:
      stack/app.yml: |
        services:
          web:
            image: ${{IMG}}
          tool:
            image: {never}
            pull_policy: never
          extra:
            image: {extra}
            profiles: [extra]
    steps:
      - name: pull
        run: docker compose -f stack/app.yml --profile extra pull
      - name: up
        run: docker compose -f stack/app.yml --profile extra up -d
"""


def test_prefetch_reads_the_steps_compose_options(env, device):
    """The images come from the project the job's pull step loads: its -f file, its profiles and
    the job's env; a service with pull_policy never has none to pull."""
    dev = device
    use_clock(dev, "2026-11-23 10:00:00")
    start_applied(dev)
    dev.m87("window", "add", "daily 02:00-04:00")
    job = unique_name("opt")
    image, extra = fresh_image(env, 5), fresh_image(env, 6)
    spec = dev.tmp / "spec.yml"
    spec.write_text(RUNSPEC_OPTIONS.format(job=job, image=image, extra=extra,
                                           never="m87test/none:%s" % job))
    dev.projects.add(job)
    dev.m87("deploy", str(spec))
    rev = dev.active_hash()
    rec = wait_window(dev, rev, lambda r: r.get("prefetch", {}).get("done") == 2,
                      "both images to be prefetched")
    assert rec["prefetch"]["total"] == 2
    assert image_present(env, image) and image_present(env, extra)
    assert not (dev.agent.state / "prefetch" / job).exists()  # the scratch copy is gone
    assert dev.agent.applied() != rev
