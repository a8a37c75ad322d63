"""The service fields of issue 21 (groups, cgroups, OOM, CPU periods, runtime, namespaces, MAC
address): applied by `m87-agent compose up` to the real dockerd, read back with inspect and
compared with what Debian's docker-compose 1.29 makes of the same file on the same dockerd. Each
assertion names the field it covers."""

import os

import pytest

from compose_util import AGENT, make_project, project  # noqa: F401

pytestmark = pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built")

RUNTIME = "m87-runc"  # the harness starts dockerd with --add-runtime m87-runc=runc

# The HostConfig members the fields of this file map to.
KERNEL_MEMBERS = ["GroupAdd", "DeviceCgroupRules", "Runtime", "OomScoreAdj", "OomKillDisable",
                  "MemorySwappiness", "CpuPeriod", "CpuQuota", "CpuRealtimePeriod",
                  "CpuRealtimeRuntime", "CgroupParent", "UsernsMode"]


def _runtime(env):
    info = env.docker_api("GET", "/v1.41/info")[1]
    return RUNTIME if RUNTIME in (info.get("Runtimes") or {}) else "runc"


def _kernel_file(img, runtime):
    return """
        services:
          k:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            group_add: [4321, "5000"]  # the small image has no /etc/group
            device_cgroup_rules: ["c 1:3 mr", "a 7:* rwm"]
            runtime: %(runtime)s
            oom_score_adj: 250
            oom_kill_disable: true
            mem_limit: 64m
            mem_swappiness: 10
            cpu_period: 50ms
            cpu_quota: 25000
            cpu_rt_period: 1000000
            mac_address: "02:42:ac:1e:00:99"
            cgroup_parent: m87test-parent
            userns_mode: host
    """ % {"img": img, "runtime": runtime}


def test_kernel_fields_match_docker_compose(env, make_project):
    runtime = _runtime(env)
    text = _kernel_file(env.small_image, runtime)
    m87, v1 = make_project(), make_project()
    m87.compose(text)
    v1.compose(text)
    m87.up()
    v1.docker_compose("up", "-d", check=0)

    mine, theirs = m87.service("k"), v1.service("k")
    h = mine["HostConfig"]
    assert h["GroupAdd"] == ["4321", "5000"]                       # group_add
    assert h["DeviceCgroupRules"] == ["c 1:3 mr", "a 7:* rwm"]         # device_cgroup_rules
    assert h["Runtime"] == runtime                                     # runtime
    assert h["OomScoreAdj"] == 250                                     # oom_score_adj
    assert h["OomKillDisable"] is True                                 # oom_kill_disable
    assert h["MemorySwappiness"] == 10                                 # mem_swappiness
    assert h["CpuPeriod"] == 50000                                     # cpu_period (duration)
    assert h["CpuQuota"] == 25000                                      # cpu_quota
    assert h["CpuRealtimePeriod"] == 1000000                           # cpu_rt_period
    assert h["CgroupParent"] == "m87test-parent"                       # cgroup_parent
    assert h["UsernsMode"] == "host"                                   # userns_mode
    assert mine["Config"]["MacAddress"] == "02:42:ac:1e:00:99"         # mac_address
    assert mine["State"]["Running"], mine["State"]
    for member in KERNEL_MEMBERS:
        assert h[member] == theirs["HostConfig"][member], member
    assert mine["Config"]["MacAddress"] == theirs["Config"]["MacAddress"]
    # the container really got them
    assert mine["NetworkSettings"]["Networks"]["%s_default" % m87.name]["MacAddress"] == \
        "02:42:ac:1e:00:99"
    with open("/proc/%d/oom_score_adj" % mine["State"]["Pid"]) as f:
        assert f.read().strip() == "250"


def test_namespace_fields_m87_only(env, project):
    """uts and cgroup are not in docker-compose 1.29's schema: checked against dockerd only."""
    p = project
    p.compose("""
        services:
          host:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            uts: host
            cgroup: private
          priv:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            cgroup: host
    """ % {"img": env.small_image})
    p.up()
    h = p.service("host")["HostConfig"]
    assert h["UTSMode"] == "host"                                      # uts
    assert h["CgroupnsMode"] == "private"                              # cgroup
    assert p.service("priv")["HostConfig"]["CgroupnsMode"] == "host"   # cgroup host


def test_kernel_fields_are_hashed(env, project):
    p = project
    p.compose(_kernel_file(env.small_image, _runtime(env)))
    p.up()
    first = p.service("k")["Id"]
    p.up()
    assert p.service("k")["Id"] == first                               # unchanged: kept
    changes = [("oom_score_adj: 250", "oom_score_adj: 300"),
               ("4321, \"5000\"", "4321"),
               ("cpu_quota: 25000", "cpu_quota: 30000"),
               ("userns_mode: host\n", "")]
    text = _kernel_file(env.small_image, _runtime(env))
    for old, new in changes:
        assert old in text
        text = text.replace(old, new)
        p.compose(text)
        p.up()
        now = p.service("k")
        assert now["Id"] != first, old                                 # changed: recreated
        first = now["Id"]
    h = p.service("k")["HostConfig"]
    assert h["OomScoreAdj"] == 300 and h["GroupAdd"] == ["4321"] and h["CpuQuota"] == 30000
    assert h["UsernsMode"] == ""


def test_storage_opt_reaches_dockerd(env, make_project):
    """overlay2 takes a size only on xfs with pquota: where it cannot, dockerd's refusal shows
    that the option was sent, and docker-compose gets the same refusal."""
    text = """
        services:
          s:
            image: %s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            storage_opt: {size: 1G}
    """ % env.small_image
    m87, v1 = make_project(), make_project()
    m87.compose(text)
    v1.compose(text)
    r = m87.run("up", "-d")
    theirs = v1.docker_compose("up", "-d")
    if r.returncode == 0:
        assert theirs.returncode == 0, theirs.err
        assert m87.service("s")["HostConfig"]["StorageOpt"] == {"size": "1G"}   # storage_opt
        assert v1.service("s")["HostConfig"]["StorageOpt"] == {"size": "1G"}
    else:
        assert r.returncode == 1, r.err
        assert "storage-opt" in r.err or "storage opt" in r.err.lower(), r.err   # storage_opt
        assert theirs.returncode != 0
        assert "storage-opt" in theirs.err or "storage opt" in theirs.err.lower(), theirs.err


def test_bad_kernel_values_name_file_line_and_field(env, project):
    p = project
    cases = [
        ("mac_address: 02:42", "5:18: services.web.mac_address: invalid MAC address '02:42'"),
        ("uts: private", "5:10: services.web.uts: invalid value 'private' (expected host)"),
        ("cgroup: none", "5:13: services.web.cgroup: invalid value 'none' (expected host or "
                         "private)"),
        ("oom_score_adj: 1001", "5:20: services.web.oom_score_adj: 1001 is out of range "
                                "(-1000 to 1000)"),
        ("mem_swappiness: 101", "5:21: services.web.mem_swappiness: 101 is out of range (0 to "
                                "100)"),
        ("cpu_quota: 10", "5:16: services.web.cpu_quota: 10 is below the minimum of 1000 "
                          "microseconds (or -1)"),
        ("cpu_period: 2s", "5:17: services.web.cpu_period: 2000000 microseconds is out of range "
                           "(1000 to 1000000)"),
        ("device_cgroup_rules: ['c 1:3 x']", "5:27: services.web.device_cgroup_rules[0]: invalid "
                                             "device cgroup rule 'c 1:3 x'"),
        ("group_add: audio", "5:16: services.web.group_add: expected a sequence"),
        ("pid: private", "5:10: services.web.pid: invalid pid mode 'private'"),
        ("ipc: service:nope", "5:10: services.web.ipc: undefined service 'nope'"),
        ("ipc: service:web", "5:10: services.web.ipc: a service cannot share its own namespace"),
        ("cpus: 1\n                cpu_quota: 50000", "6:16: services.web.cpu_quota: cannot be "
                                                   "combined with cpus"),
    ]
    for field, message in cases:
        p.compose("""
            services:
              web:
                image: %s
                %s
        """ % (env.small_image, field))
        r = p.run("up", "-d", check=2)
        assert "compose.yaml:" + message in r.err, (field, r.err)
    assert p.containers() == []


# ---------------------------------------------------------------- pid and ipc


def _shared_file(img):
    return """
        services:
          owner:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            ipc: shareable
          guest:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            ipc: service:owner
            pid: service:owner
          hostpid:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            pid: host
            ipc: private
    """ % {"img": img}


def _ns(info, kind):
    return os.readlink("/proc/%d/ns/%s" % (info["State"]["Pid"], kind))


def test_pid_and_ipc_match_docker_compose(env, make_project):
    m87, v1 = make_project(), make_project()
    for p in (m87, v1):
        p.compose(_shared_file(env.small_image))
    m87.up()
    v1.docker_compose("up", "-d", check=0)
    for p in (m87, v1):
        owner, guest, hostpid = p.service("owner"), p.service("guest"), p.service("hostpid")
        assert owner["HostConfig"]["IpcMode"] == "shareable"                       # ipc shareable
        assert guest["HostConfig"]["IpcMode"] == "container:" + owner["Id"]        # ipc service:
        assert guest["HostConfig"]["PidMode"] == "container:" + owner["Id"]        # pid service:
        assert hostpid["HostConfig"]["PidMode"] == "host"                          # pid host
        assert hostpid["HostConfig"]["IpcMode"] == "private"                       # ipc private
        assert guest["State"]["Running"] and owner["State"]["Running"]
    # started after the owner (the namespace must exist), as depends_on would
    owner, guest = m87.service("owner"), m87.service("guest")
    assert guest["State"]["StartedAt"] >= owner["State"]["StartedAt"]
    # and really in its namespaces
    for ns in ("pid", "ipc"):
        assert _ns(guest, ns) == _ns(owner, ns), ns
    assert _ns(m87.service("hostpid"), "pid") == os.readlink("/proc/self/ns/pid")


def test_container_namespace_and_recreate_follows_owner(env, make_project):
    p = make_project()
    other = make_project()
    other.compose("""
        services:
          solo:
            image: %s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            ipc: shareable
    """ % env.small_image)
    other.up()
    solo = other.service("solo")
    text = _shared_file(env.small_image) + """
          byname:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            ipc: container:%(solo)s
            pid: container:%(solo)s
    """ % {"img": env.small_image, "solo": solo["Name"].lstrip("/")}
    p.compose(text)
    p.up()
    byname = p.service("byname")
    h = byname["HostConfig"]
    assert h["IpcMode"] == "container:" + solo["Id"]            # container:NAME (dockerd: the ID)
    assert h["PidMode"] == "container:" + solo["Id"]
    assert _ns(byname, "pid") == _ns(solo, "pid")
    guest = p.service("guest")["Id"]
    # the owner is recreated: the guest's namespace is gone with it, so it is recreated too
    p.compose(text.replace("ipc: shareable", "ipc: shareable\n            init: true", 1))
    p.up()
    owner = p.service("owner")
    now = p.service("guest")
    assert now["Id"] != guest
    assert now["HostConfig"]["IpcMode"] == "container:" + owner["Id"]
    assert now["State"]["Running"]
