"""The service fields of issue 21 (groups, cgroups, OOM, CPU periods, runtime, namespaces, MAC
address): applied by `m87-agent compose up` to the real dockerd, read back with inspect and
compared with what Debian's docker-compose 1.29 makes of the same file on the same dockerd. Each
assertion names the field it covers."""

import os
import time

import pytest

from compose_util import AGENT, make_project, project  # noqa: F401

pytestmark = pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built")

RUNTIME = "m87-runc"  # the harness starts dockerd with --add-runtime m87-runc=runc

# The HostConfig members the fields of this file map to.
KERNEL_MEMBERS = ["GroupAdd", "DeviceCgroupRules", "Runtime", "OomScoreAdj", "OomKillDisable",
                  "MemorySwappiness", "CpuPeriod", "CpuQuota", "CpuRealtimePeriod",
                  "CpuRealtimeRuntime", "CgroupParent", "UsernsMode"]


def _runtime(env):
    """The extra runtime of the harness's dockerd; "runc" on an external dockerd without it."""
    info = env.docker_api("GET", "/v1.41/info")[1]
    runtimes = info.get("Runtimes") or {}
    assert env.dockerd is None or RUNTIME in runtimes, runtimes
    return RUNTIME if RUNTIME in runtimes else "runc"


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


# ---------------------------------------------------------------- volumes_from, links, net


def _exec_status(p, cid, argv, timeout=20):
    """Run argv in container cid and return its exit code."""
    ex = p.api("POST", "/containers/%s/exec" % cid,
               {"Cmd": argv, "AttachStdout": False, "AttachStderr": False})
    p.api("POST", "/exec/%s/start" % ex["Id"], {"Detach": True})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = p.api("GET", "/exec/%s/json" % ex["Id"])
        if not info["Running"] and info["ExitCode"] is not None:
            return info["ExitCode"]
        time.sleep(0.1)
    raise AssertionError("exec %r did not end" % (argv,))


def _sharing_file(img, external):
    return """
        services:
          data:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            volumes: ["/anon", "shared:/shared"]
          reader:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            volumes_from: ["data:ro"]
            links: ["data:store", "data"]
          writer:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            volumes_from: ["container:%(ext)s:rw"]
            external_links: ["%(ext)s:outside"]
            network_mode: bridge
        volumes:
          shared:
    """ % {"img": img, "ext": external}


def _links(info):
    """(container name, alias) of every link of a container, wherever dockerd keeps it."""
    pairs = set()
    for link in info["HostConfig"]["Links"] or []:           # "/NAME:/SELF/ALIAS"
        name, _, path = link.partition(":")
        pairs.add((name.lstrip("/"), path.rsplit("/", 1)[1]))
    for net in info["NetworkSettings"]["Networks"].values():
        for link in net["Links"] or []:                       # "NAME:ALIAS"
            name, _, alias = link.partition(":")
            pairs.add((name, alias or name))
    return pairs


def _rw_by_destination(info, wanted):
    return {m["Destination"]: m["RW"] for m in info["Mounts"] if m["Destination"] in wanted}


def test_volumes_from_and_links_match_docker_compose(env, make_project):
    other = make_project()
    other.compose("""
        services:
          ext:
            image: %s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            volumes: ["/extvol"]
            network_mode: bridge
    """ % env.small_image)
    other.up()
    ext = other.service("ext")
    ext_name = ext["Name"].lstrip("/")
    m87, v1 = make_project(), make_project()
    for p in (m87, v1):
        p.compose(_sharing_file(env.small_image, ext_name))
    m87.up()
    v1.docker_compose("up", "-d", check=0)
    for p in (m87, v1):
        data, reader, writer = p.service("data"), p.service("reader"), p.service("writer")
        h = reader["HostConfig"]
        assert h["VolumesFrom"] == [data["Id"] + ":ro"], p.name                  # volumes_from
        assert _rw_by_destination(reader, {"/anon", "/shared"}) == {
            "/anon": False, "/shared": False}, p.name                            # :ro applied
        assert writer["HostConfig"]["VolumesFrom"][0].split(":")[-1] == "rw"     # container:
        assert _rw_by_destination(writer, {"/extvol"}) == {"/extvol": True}, p.name
        # links: the alias and the service name lead to data's container (dockerd keeps them
        # in HostConfig on the default bridge, on the endpoint on a user-defined network)
        data_name = data["Name"].lstrip("/")
        assert (data_name, "store") in _links(reader), (p.name, _links(reader))  # links alias
        assert (data_name, "data") in _links(reader), (p.name, _links(reader))   # links name
        assert (ext_name, "outside") in _links(writer), (p.name, _links(writer))  # external_links
        assert reader["State"]["Running"] and writer["State"]["Running"]
    # the aliases resolve inside the containers
    reader, writer = m87.service("reader"), m87.service("writer")
    assert _exec_status(m87, reader["Id"], ["ping", "-c", "1", "-W", "2", "store"]) == 0
    assert _exec_status(m87, writer["Id"], ["ping", "-c", "1", "-W", "2", "outside"]) == 0
    # started after what they take volumes from and link to
    assert reader["State"]["StartedAt"] >= m87.service("data")["State"]["StartedAt"]


def test_volumes_from_follows_a_recreated_source(env, project):
    p = project
    text = _sharing_file(env.small_image, "unused").replace(
        '            volumes_from: ["container:unused:rw"]\n'
        '            external_links: ["unused:outside"]\n', "")
    p.compose(text)
    p.up()
    reader = p.service("reader")["Id"]
    p.up()
    assert p.service("reader")["Id"] == reader                                  # kept
    p.compose(text.replace('volumes: ["/anon", "shared:/shared"]',
                           'volumes: ["/anon", "shared:/shared", "/more"]'))
    p.up()
    data, now = p.service("data"), p.service("reader")
    assert now["Id"] != reader                       # the source was recreated: so is the reader
    assert now["HostConfig"]["VolumesFrom"] == [data["Id"] + ":ro"]
    assert "/more" in _rw_by_destination(now, {"/more"})


def test_net_is_network_mode(env, project):
    p = project
    p.compose("""
        services:
          old:
            image: %s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            net: none
    """ % env.small_image)
    p.up()
    assert p.service("old")["HostConfig"]["NetworkMode"] == "none"              # net


def test_bad_references_name_file_line_and_field(env, project):
    p = project
    cases = [
        ("volumes_from: [nope]", "5:20: services.web.volumes_from[0]: undefined service 'nope'"),
        ("volumes_from: ['other:rx']", "5:20: services.web.volumes_from[0]: invalid "
                                       "volumes_from 'other:rx'"),
        ("links: [web]", "5:13: services.web.links[0]: a service cannot link to itself"),
        ("links: ['other:']", "5:13: services.web.links[0]: invalid link 'other:'"),
        ("external_links: [a:b:c]", "5:22: services.web.external_links[0]: invalid link "
                                    "'a:b:c'"),
        ("net: nowhere", "5:10: services.web.net: invalid network mode 'nowhere'"),
    ]
    for field, message in cases:
        p.compose("""
            services:
              web:
                image: %s
                %s
              other:
                image: %s
        """ % (env.small_image, field, env.small_image))
        r = p.run("up", "-d", check=2)
        assert "compose.yaml:" + message in r.err, (field, r.err)
    assert p.containers() == []


# ---------------------------------------------------------------- device requests


def _no_empty(requests):
    return [{k: v for k, v in r.items() if v not in (None, [], {})} for r in requests]


def test_device_requests_match_docker_compose(env, make_project):
    """dockerd stores DeviceRequests at create and looks for a driver only at start: without
    a GPU the start fails, and the created container shows what was sent, for m87 as for
    docker-compose (which knows deploy.resources.reservations.devices, not gpus)."""
    text = """
        services:
          dev:
            image: %s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            deploy:
              resources:
                reservations:
                  devices:
                    - capabilities: [gpu, utility]
                      driver: nvidia
                      count: 2
                      options: {visible: "yes"}
                    - capabilities: [tpu]
                      device_ids: ["0", "3"]
    """ % env.small_image
    m87, v1 = make_project(), make_project()
    m87.compose(text)
    v1.compose(text)
    r = m87.run("up", "-d")
    theirs = v1.docker_compose("up", "-d")
    mine = m87.service("dev")
    want = [
        {"Driver": "nvidia", "Count": 2, "DeviceIDs": None,
         "Capabilities": [["gpu", "utility"]], "Options": {"visible": "yes"}},
        {"Driver": "", "Count": 0, "DeviceIDs": ["0", "3"],
         "Capabilities": [["tpu"]], "Options": None},
    ]
    got = mine["HostConfig"]["DeviceRequests"]
    assert got == want, got                                 # deploy.resources.reservations.devices
    # docker-compose sends empty lists and maps where m87 (like compose v2) leaves them out
    assert _no_empty(got) == _no_empty(v1.service("dev")["HostConfig"]["DeviceRequests"])
    if not mine["State"]["Running"]:                        # no such device here: start refused
        assert r.returncode == 1 and "device driver" in r.err, r.err
        assert theirs.returncode != 0


def test_gpus_and_default_count(env, project):
    p = project
    p.compose("""
        services:
          all:
            image: %(img)s
            command: ["sleep", "3600"]
            gpus: all
          some:
            image: %(img)s
            command: ["sleep", "3600"]
            gpus:
              - driver: nvidia
                device_ids: ["GPU-1"]
                capabilities: [compute]
            deploy:
              resources:
                reservations:
                  devices:
                    - capabilities: [video]
    """ % {"img": env.small_image})
    p.run("up", "-d")
    got = p.service("all")["HostConfig"]["DeviceRequests"]
    assert got == [{"Driver": "", "Count": -1, "DeviceIDs": None,
                    "Capabilities": [["gpu"]], "Options": None}], got          # gpus: all
    got = p.service("some")["HostConfig"]["DeviceRequests"]
    assert got == [
        {"Driver": "", "Count": -1, "DeviceIDs": None,                # no count, no ids: all
         "Capabilities": [["video"]], "Options": None},
        {"Driver": "nvidia", "Count": 0, "DeviceIDs": ["GPU-1"],      # gpus: "gpu" added
         "Capabilities": [["compute", "gpu"]], "Options": None},
    ], got
    # in the hash: another capability recreates the container
    first = p.service("all")["Id"]
    text = (p.dir / "compose.yaml").read_text()
    p.compose(text.replace("gpus: all", "gpus: [{capabilities: [x]}]"))
    p.run("up", "-d")
    assert p.service("all")["Id"] != first


# ---------------------------------------------------------------- blkio_config, volume_driver

BLKIO_MEMBERS = ["BlkioWeight", "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps",
                 "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps"]


def _blkio_file(img):
    return """
        services:
          b:
            image: %s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            volume_driver: local
            blkio_config:
              weight: 300
              weight_device: [{path: /dev/loop0, weight: 400}]
              device_read_bps: [{path: /dev/loop0, rate: 1mb}]
              device_write_bps: [{path: /dev/loop0, rate: 4096}]
              device_read_iops: [{path: /dev/loop0, rate: 100}]
              device_write_iops: [{path: /dev/loop0, rate: 50}]
    """ % img


def test_blkio_and_volume_driver_match_docker_compose(env, make_project):
    text = _blkio_file(env.small_image)
    m87, v1 = make_project(), make_project()
    m87.compose(text)
    # docker-compose 1.29 refuses volume_driver in every file format; compose v2 maps it to
    # HostConfig.VolumeDriver, as m87 does
    v1.compose(text.replace("volume_driver: local", ""))
    r = m87.run("up", "-d", check=0)
    v1.docker_compose("up", "-d", check=0)
    mine, theirs = m87.service("b"), v1.service("b")
    h = mine["HostConfig"]
    assert h["VolumeDriver"] == "local"                                            # volume_driver
    assert h["BlkioDeviceReadBps"] == [{"Path": "/dev/loop0", "Rate": 1048576}]     # device_read_bps
    assert h["BlkioDeviceWriteBps"] == [{"Path": "/dev/loop0", "Rate": 4096}]       # device_write_bps
    assert h["BlkioDeviceReadIOps"] == [{"Path": "/dev/loop0", "Rate": 100}]        # device_read_iops
    assert h["BlkioDeviceWriteIOps"] == [{"Path": "/dev/loop0", "Rate": 50}]        # device_write_iops
    if h["BlkioWeight"] == 0:
        # a kernel without the blkio weight controller (this machine's): dockerd drops weight
        # and weight_device at create with a warning, which m87 passes on
        assert "container '%s-b-1': dockerd: " % m87.name in r.err, r.err
        assert "eight" in r.err, r.err
        assert not h["BlkioWeightDevice"]
    else:
        assert h["BlkioWeight"] == 300                                             # weight
        assert h["BlkioWeightDevice"] == [{"Path": "/dev/loop0", "Weight": 400}]   # weight_device
    for member in BLKIO_MEMBERS:
        assert h[member] == theirs["HostConfig"][member], member
    assert mine["State"]["Running"], mine["State"]
    # a change of a throttle recreates
    first = mine["Id"]
    m87.compose(text.replace("rate: 50", "rate: 60"))
    m87.up()
    again = m87.service("b")
    assert again["Id"] != first
    assert again["HostConfig"]["BlkioDeviceWriteIOps"] == [{"Path": "/dev/loop0", "Rate": 60}]


def test_blkio_config_refusals(env, project):
    p = project
    cases = [
        ("weight: 5", "services.b.blkio_config.weight: "),
        ("device_read_bps: [{path: loop0, rate: 1}]",
         "services.b.blkio_config.device_read_bps[0].path: a device must be an absolute path, "
         "not 'loop0'"),
        ("device_read_iops: [{path: /dev/loop0}]",
         "services.b.blkio_config.device_read_iops[0]: missing required field 'rate'"),
        ("weight_device: [{path: /dev/loop0, rate: 10}]",
         "services.b.blkio_config.weight_device[0]: unknown field 'rate'"),
    ]
    for body, want in cases:
        p.compose("""
            services:
              b:
                image: %s
                blkio_config:
                  %s
        """ % (env.small_image, body))
        r = p.run("config", check=2)
        assert want in r.err, (body, r.err)


# ---------------------------------------------------------------- label_file


def test_label_file(env, project, tmp_path):
    """label_file is read at load like env_file (dotenv syntax, interpolated, relative to the
    project directory); labels: wins over it, as in compose v2 (docker-compose 1.29 has no
    label_file). A change in the file recreates; an error names the file and line."""
    p = project
    p.write("a.labels", "# shop\napp=shop\nover=from-file\nquoted=\"x y\"\n")
    p.write("sub/b.labels", "tier=${TIER:-edge}\n")
    p.compose("""
        services:
          l:
            image: %s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            label_file: [./a.labels, sub/b.labels]
            labels:
              over: from-labels
    """ % env.small_image)
    p.up()
    got = p.service("l")["Config"]["Labels"]
    assert got["app"] == "shop" and got["quoted"] == "x y" and got["tier"] == "edge"
    assert got["over"] == "from-labels"
    first = p.service("l")["Id"]
    p.up()
    assert p.service("l")["Id"] == first
    p.write("sub/b.labels", "tier=core\n")
    p.up()
    assert p.service("l")["Id"] != first                                  # recreated
    assert p.service("l")["Config"]["Labels"]["tier"] == "core"
    # errors: a bad line, a reserved label, a missing file
    p.write("a.labels", "ok=1\nbad line\n")
    r = p.run("config", check=2)
    assert "compose.yaml:7:18: services.l.label_file[0]: %s:2: " % (p.dir / "a.labels") in r.err, \
        r.err
    p.write("a.labels", "com.docker.compose.project=x\n")
    r = p.run("config", check=2)
    assert "label 'com.docker.compose.project' of '%s' is reserved for compose" % (
        p.dir / "a.labels") in r.err, r.err
    (p.dir / "a.labels").unlink()
    r = p.run("config", check=2)
    assert "services.l.label_file[0]: open '%s': No such file or directory" % (
        p.dir / "a.labels") in r.err, r.err


def test_label_file_travels_with_the_job(env, tmp_path):
    import subprocess
    import yaml
    src = tmp_path / "src"
    (src / "conf").mkdir(parents=True)
    (src / "conf" / "l.labels").write_text("site=north\n")
    (src / "compose.yaml").write_text(
        "services:\n  web:\n    image: busybox\n    label_file: conf/l.labels\n")
    out = subprocess.run([str(AGENT), "convert", "--bundle-dir", str(tmp_path / "b")],
                         cwd=str(src), stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True,
                         env={"PATH": os.environ.get("PATH", "")}).stdout.decode()
    job = yaml.safe_load(out)["jobs"][0]
    assert job["files"]["conf/l.labels"] == "site=north\n"
    (tmp_path / "x.labels").write_text("a=b\n")
    (src / "compose.yaml").write_text(
        "services:\n  web:\n    image: busybox\n    label_file: ../x.labels\n")
    r = subprocess.run([str(AGENT), "convert", "--bundle-dir", str(tmp_path / "b")],
                       cwd=str(src), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env={"PATH": os.environ.get("PATH", "")})
    assert r.returncode != 0
    assert ("compose.yaml:2:3: services.web.label_file: '%s' is outside the project directory"
            % (tmp_path / "x.labels")) in r.stderr.decode(), r.stderr.decode()


def test_label_file_of_an_extended_file_is_relative_to_it(env, project):
    p = project
    p.write("common/base.yml", "services:\n  base:\n    image: %s\n    label_file: l.labels\n"
            % env.small_image)
    p.write("common/l.labels", "from=common\n")
    p.compose("""
        services:
          web:
            extends: {file: common/base.yml, service: base}
    """)
    import json
    model = json.loads(p.run("config", "--format", "json", check=0).out)
    assert model["services"]["web"]["labels"] == {"from": "common"}


# ---------------------------------------------------------------- fields of a newer Engine API


def _api_version(env):
    return env.docker_api("GET", "/version")[1]["ApiVersion"]


@pytest.mark.parametrize("field,need,text", [
    ("annotations", "1.43", "annotations: {com.example.role: edge}"),
    ("healthcheck.start_interval", "1.44",
     "healthcheck: {test: [CMD, \"true\"], start_interval: 2s}"),
])
def test_newer_api_fields_accepted_and_refused_by_version(env, project, field, need, text):
    """Accepted at load (config prints them); applied by a daemon whose API has them; refused
    by up, before anything is created, with the daemon's version, by an older one (this
    machine's dockerd speaks 1.41)."""
    p = project
    p.compose("""
        services:
          web:
            image: %s
            command: ["sleep", "3600"]
            %s
    """ % (env.small_image, text))
    import json
    model = json.loads(p.run("config", "--format", "json", check=0).out)["services"]["web"]
    if field == "annotations":
        assert model["annotations"] == {"com.example.role": "edge"}
    else:
        assert model["healthcheck"]["start_interval"] == "2s"
    api = _api_version(env)
    r = p.run("up", "-d")
    if tuple(map(int, api.split("."))) >= tuple(map(int, need.split("."))):
        assert r.returncode == 0, r.err
        h = p.service("web")
        if field == "annotations":
            assert h["HostConfig"]["Annotations"] == {"com.example.role": "edge"}
        else:
            assert h["Config"]["Healthcheck"]["StartInterval"] == 2000000000
        return
    assert r.returncode == 1, r.err
    assert ("up project '%s': service 'web': %s needs Engine API %s, and dockerd speaks %s"
            % (p.name, field, need, api)) in r.err, r.err
    assert p.containers() == [] and p.networks() == []


def test_label_file_and_annotations_merge_across_files(env, project):
    p = project
    p.write("a.labels", "x=1\n")
    p.write("b.labels", "y=2\nx=from-b\n")
    p.compose("""
        services:
          web:
            image: %s
            label_file: a.labels
            annotations: {a: "1", b: "2"}
    """ % env.small_image)
    p.compose("""
        services:
          web:
            label_file: [b.labels, a.labels]
            annotations: [b=3]
    """, filename="override.yaml")
    import json
    web = json.loads(p.run("config", "--format", "json", check=0).out)["services"]["web"]
    assert web["annotations"] == {"a": "1", "b": "3"}
    assert web["labels"] == {"x": "from-b", "y": "2"}      # a.labels, then b.labels
