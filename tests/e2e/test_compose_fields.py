"""Every Compose field of issue 3, applied by `m87-agent compose up` to the real dockerd and
read back with inspect. Fields are grouped into a few rich files (one up each) to keep the run
short; each assertion names the field it covers."""

import json
import os
import random

import pytest

from compose_util import HEX64, AGENT, free_port, free_port_range, labels_of, make_project, project  # noqa: F401
from harness.images import go_arch

pytestmark = pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built")

GiB = 1024 ** 3
MiB = 1024 ** 2
SEC = 10 ** 9


def _env_of(info):
    out = {}
    for item in info["Config"]["Env"] or []:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def _mount(info, destination):
    found = [m for m in info["Mounts"] if m["Destination"] == destination]
    assert len(found) == 1, (destination, info["Mounts"])
    return found[0]


# ---------------------------------------------------------------- process and metadata


def test_process_fields(env, project):
    p = project
    p.write(".env", "HOSTNAME_VAL=fromdotenv\nOVERRIDDEN_BY_ENV=dotenv\n")
    p.write("web.env", "FROM_FILE=1\nOVERRIDE=file\n# comment\nQUOTED=\"a b\"\n")
    arch, _ = go_arch()
    p.compose("""
        version: "3.8"
        x-labels: &labels
          m87.test/anchor: from-anchor
          m87.test/other: other
        x-base: &base
          image: ${IMG}
          stop_grace_period: 0s
        services:
          web:
            <<: *base
            platform: linux/%(arch)s
            command: ["sh", "-c", "echo $$HOME started; exec sleep 3600"]
            environment:
              PLAIN: value
              NUMBER: 42
              OVERRIDE: env
              PASSTHRU:
              DEFAULTED: ${UNSET_VAR_M87:-dflt}
              FROM_DOTENV: ${OVERRIDDEN_BY_ENV}
            env_file: [web.env]
            labels:
              <<: *labels
              m87.test/own: own
            user: "65534:65534"
            working_dir: /tmp
            hostname: ${HOSTNAME_VAL}
            healthcheck:
              test: ["CMD", "true"]
              interval: 1500ms
              timeout: 2s
              retries: 4
              start_period: 1m30s
            restart: on-failure:3
            stop_signal: SIGINT
            init: true
            logging:
              driver: json-file
              options:
                max-size: 1m
                max-file: "2"
          alt:
            <<: *base
            entrypoint: ["/bin/sh", "-c"]
            command: ["exec sleep 3600"]
            environment: [LIST=1, "SPACED=a b"]
            labels: [m87.test/list=1]
            restart: always
            deploy:
              restart_policy:
                condition: on-failure
                max_attempts: 2
            healthcheck:
              disable: true
            container_name: %(name)s-custom
            stop_grace_period: 1m30s
            depends_on: [web]
          shell:
            <<: *base
            command: sh -c 'exec sleep 3600' "x y"
            healthcheck:
              test: exit 0
            restart: unless-stopped
            tty: true
            stdin_open: true
          rep:
            <<: *base
            deploy:
              replicas: 2
              restart_policy:
                condition: any
          scl:
            <<: *base
            scale: 2
          dbg:
            <<: *base
            profiles: [debug]
    """ % {"arch": arch, "name": p.name})
    env_vars = dict(IMG=env.small_image, PASSTHRU="from-agent-env", OVERRIDDEN_BY_ENV="environ")
    p.up(env=p.environ(**env_vars))

    web = p.service("web")
    cfg, host = web["Config"], web["HostConfig"]
    assert cfg["Image"] == env.small_image                                       # image
    assert cfg["Cmd"] == ["sh", "-c", "echo $HOME started; exec sleep 3600"]     # command, $$
    e = _env_of(web)
    assert e["PLAIN"] == "value" and e["NUMBER"] == "42"                         # environment
    assert e["FROM_FILE"] == "1" and e["QUOTED"] == "a b"                        # env_file
    assert e["OVERRIDE"] == "env"                                                # env over file
    assert e["PASSTHRU"] == "from-agent-env"                                     # bare name
    assert e["DEFAULTED"] == "dflt"                                              # ${X:-d}
    assert e["FROM_DOTENV"] == "environ"                  # the environment beats .env
    assert cfg["Hostname"] == "fromdotenv"                                       # hostname, .env
    labels = labels_of(web)
    assert labels["m87.test/anchor"] == "from-anchor"                            # merge key
    assert labels["m87.test/own"] == "own"                                       # labels (map)
    assert cfg["User"] == "65534:65534"                                          # user
    assert cfg["WorkingDir"] == "/tmp"                                           # working_dir
    assert cfg["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 1500 * 10 ** 6,
                                  "Timeout": 2 * SEC, "Retries": 4,
                                  "StartPeriod": 90 * SEC}                       # healthcheck
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}  # restart
    assert cfg["StopSignal"] == "SIGINT"                                         # stop_signal
    assert cfg["StopTimeout"] == 0                                               # stop_grace
    assert host["Init"] is True                                                  # init
    assert host["LogConfig"] == {"Type": "json-file",
                                 "Config": {"max-size": "1m", "max-file": "2"}}  # logging
    assert web["State"]["Running"]
    logs = p.wait_log(web["Id"], "started") and p.logs(web["Id"])
    assert "$HOME" not in logs                                   # $$ reached the shell as $

    alt = p.inspect(p.name + "-custom")                                          # container_name
    assert labels_of(alt)["com.docker.compose.service"] == "alt"
    assert alt["Config"]["Entrypoint"] == ["/bin/sh", "-c"]                      # entrypoint
    assert alt["Config"]["Cmd"] == ["exec sleep 3600"]
    ae = _env_of(alt)
    assert ae["LIST"] == "1" and ae["SPACED"] == "a b"                           # env (list)
    assert labels_of(alt)["m87.test/list"] == "1"                                # labels (list)
    assert alt["HostConfig"]["RestartPolicy"] == {"Name": "on-failure",
                                                  "MaximumRetryCount": 2}  # deploy.restart_policy
    assert alt["Config"]["Healthcheck"]["Test"] == ["NONE"]                      # disable
    assert alt["Config"]["StopTimeout"] == 90                                    # stop_grace
    assert labels_of(alt)["com.docker.compose.depends_on"].startswith("web:service_started")

    shell = p.service("shell")
    assert shell["Config"]["Cmd"] == ["sh", "-c", "exec sleep 3600", "x y"]      # shell words
    assert shell["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "exit 0"]     # test string
    assert shell["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert shell["Config"]["Tty"] is True                                        # tty
    assert shell["Config"]["OpenStdin"] is True                                  # stdin_open

    for svc in ("rep", "scl"):                                        # deploy.replicas, scale
        names = [c["Names"][0].lstrip("/") for c in p.containers(service=svc)]
        assert names == ["%s-%s-1" % (p.name, svc), "%s-%s-2" % (p.name, svc)]
        for n in (1, 2):
            info = p.service(svc, n)
            assert info["State"]["Running"]
            assert labels_of(info)["com.docker.compose.container-number"] == str(n)
    assert p.service("rep")["HostConfig"]["RestartPolicy"]["Name"] == "always"  # condition any

    assert p.containers(service="dbg") == []                                     # profiles
    p.run("--profile", "debug", "up", "-d", "dbg", env=p.environ(**env_vars), check=0)
    assert p.service("dbg")["State"]["Running"]

    # every com.docker.compose.* label of the reference
    lab = labels_of(web)
    assert lab["com.docker.compose.project"] == p.name
    assert lab["com.docker.compose.service"] == "web"
    assert lab["com.docker.compose.container-number"] == "1"
    assert lab["com.docker.compose.oneoff"] == "False"
    assert HEX64.match(lab["com.docker.compose.config-hash"])
    assert lab["com.docker.compose.version"]
    assert lab["com.docker.compose.project.working_dir"] == str(p.dir)
    assert lab["com.docker.compose.project.config_files"] == str(p.dir / "compose.yaml")
    assert lab["com.docker.compose.image"] == web["Image"]
    assert web["Name"] == "/%s-web-1" % p.name


# ---------------------------------------------------------------- resources and security


def test_resource_and_security_fields(env, project):
    p = project
    p.compose("""
        services:
          lim:
            image: %(img)s
            command: ["sleep", "3600"]
            mem_limit: 48m
            memswap_limit: 96m
            cpus: 0.25
            cpu_shares: 512
            cpuset: "0"
            pids_limit: 50
            shm_size: 32m
            ulimits:
              nofile: {soft: 1024, hard: 2048}
              nproc: 512
            sysctls:
              net.core.somaxconn: 1024
            cap_add: [NET_ADMIN]
            cap_drop: [MKNOD]
            security_opt: ["no-new-privileges:true"]
            devices: ["/dev/null:/dev/m87null:rw"]
            extra_hosts: ["somehost:10.187.0.5", "other=10.187.0.6"]
            dns: [10.187.0.53]
            dns_search: example.test
            stop_grace_period: 0s
          dep:
            image: %(img)s
            command: ["sleep", "3600"]
            mem_limit: 1g
            cpus: 2
            pids_limit: 1000
            deploy:
              resources:
                limits: {memory: 64M, cpus: "0.5", pids: 100}
                reservations: {memory: 16M}
            read_only: true
            tmpfs: ["/run1:size=64k,mode=1770", "/run2"]
            sysctls: [net.ipv4.ip_unprivileged_port_start=1024]
            stop_grace_period: 0s
          priv:
            image: %(img)s
            privileged: false
            command: ["sleep", "3600"]
            stop_grace_period: 0s
    """ % {"img": env.small_image})
    p.up()

    lim = p.service("lim")
    h = lim["HostConfig"]
    assert h["Memory"] == 48 * MiB                                               # mem_limit
    assert h["MemorySwap"] == 96 * MiB                                           # memswap_limit
    assert h["NanoCpus"] == 250000000                                            # cpus
    assert h["CpuShares"] == 512                                                 # cpu_shares
    assert h["CpusetCpus"] == "0"                                                # cpuset
    assert h["PidsLimit"] == 50                                                  # pids_limit
    assert h["ShmSize"] == 32 * MiB                                              # shm_size
    assert sorted(h["Ulimits"], key=lambda u: u["Name"]) == [
        {"Name": "nofile", "Soft": 1024, "Hard": 2048},
        {"Name": "nproc", "Soft": 512, "Hard": 512}]                             # ulimits
    assert h["Sysctls"] == {"net.core.somaxconn": "1024"}                        # sysctls (map)
    assert h["CapAdd"] == ["NET_ADMIN"]                                          # cap_add
    assert h["CapDrop"] == ["MKNOD"]                                             # cap_drop
    assert h["SecurityOpt"] == ["no-new-privileges:true"]                        # security_opt
    assert h["Devices"] == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/m87null",
                             "CgroupPermissions": "rw"}]                         # devices
    assert sorted(h["ExtraHosts"]) == ["other:10.187.0.6", "somehost:10.187.0.5"]  # extra_hosts
    assert h["Dns"] == ["10.187.0.53"]                                           # dns
    assert h["DnsSearch"] == ["example.test"]                                    # dns_search
    assert lim["State"]["Running"]

    dep = p.service("dep")
    h = dep["HostConfig"]
    assert h["Memory"] == 64 * MiB                                    # limits.memory wins
    assert h["NanoCpus"] == 500000000                                 # limits.cpus wins
    assert h["PidsLimit"] == 100                                      # limits.pids wins
    assert h["MemoryReservation"] == 16 * MiB                         # reservations.memory
    assert h["ReadonlyRootfs"] is True                                # read_only
    assert h["Tmpfs"] == {"/run1": "size=64k,mode=1770", "/run2": ""}  # tmpfs
    assert h["Sysctls"] == {"net.ipv4.ip_unprivileged_port_start": "1024"}           # sysctls (list)
    assert dep["State"]["Running"]

    assert p.service("priv")["HostConfig"]["Privileged"] is False     # privileged (false)


def test_privileged_is_carried(env, project):
    """privileged: true cannot run in this sandbox ("unable to apply caps"), so the model is
    checked through `config` instead of a container."""
    p = project
    p.compose("""
        services:
          web:
            image: %s
            privileged: true
    """ % env.small_image)
    out = p.run("config", "--format", "json", check=0).out
    model = json.loads(out)
    assert model["services"]["web"]["privileged"] is True


# ---------------------------------------------------------------- storage


def test_storage_fields(env, project):
    p = project
    (p.dir / "bind").mkdir()
    (p.dir / "bind" / "hello.txt").write_text("bound\n")
    (p.dir / "bind2").mkdir()
    p.write("conf.txt", "config from file\n")
    p.write("secret.txt", "secret from file\n")
    # a seccomp profile that allows everything: dockerd gets its JSON, not the path
    p.write("profile.json", '{"defaultAction": "SCMP_ACT_ALLOW"}')
    ext_vol = p.name + "-extvol"
    p.api("POST", "/volumes/create", {"Name": ext_vol})
    p.extra_cleanup.append(lambda: p.env.docker_api("DELETE", "/v1.41/volumes/" + ext_vol))
    p.compose("""
        services:
          web:
            image: %(img)s
            command: ["sh", "-c", "cat /bind/hello.txt /etc/c_file /etc/c_content /c_env /run/secrets/s_file /run/secrets/custom /run/secrets/s_content; stat -c 'mode=%%a uid=%%u gid=%%g' /etc/c_content; echo READY; exec sleep 3600"]
            stop_grace_period: 0s
            volumes:
              - data:/data
              - ./bind:/bind:ro
              - /anon
              - type: tmpfs
                target: /scratch
                tmpfs: {size: 1m}
              - type: volume
                source: data2
                target: /data2
                volume: {nocopy: true}
              - type: bind
                source: ./bind2
                target: /bind2
                read_only: true
              - extvol:/ext
            configs:
              - source: c_file
                target: /etc/c_file
              - source: c_content
                target: /etc/c_content
                uid: "65534"
                gid: "65534"
                mode: 0440
              - c_env
            secrets:
              - s_file
              - source: s_env
                target: custom
              - s_content
            security_opt:
              - seccomp=./profile.json
        volumes:
          data:
            driver: local
            labels:
              m87.test/vol: data
          data2:
            name: %(name)s-named2
            driver_opts:
              type: tmpfs
              device: tmpfs
              o: size=1m
          extvol:
            external: true
            name: %(ext)s
        configs:
          c_file:
            file: ./conf.txt
          c_content:
            content: |
              config from content ${CONTENT_VAR}
          c_env:
            environment: CONFIG_ENV
        secrets:
          s_file:
            file: ./secret.txt
          s_env:
            environment: SECRET_ENV
          s_content:
            content: secret from content
    """ % {"img": env.small_image, "name": p.name, "ext": ext_vol})
    p.extra_env.update(CONTENT_VAR="interpolated", CONFIG_ENV="config from env",
                       SECRET_ENV="secret from env")
    p.up()
    web = p.service("web")

    m = _mount(web, "/data")                                                     # named short
    assert m["Type"] == "volume" and m["Name"] == "%s_data" % p.name and m["RW"] is True
    m = _mount(web, "/bind")                                                     # bind short
    assert m["Type"] == "bind" and m["Source"] == str(p.dir / "bind") and m["RW"] is False
    m = _mount(web, "/anon")                                                     # anonymous
    assert m["Type"] == "volume" and HEX64.match(m["Name"])
    m = _mount(web, "/data2")                                                    # long volume
    assert m["Type"] == "volume" and m["Name"] == "%s-named2" % p.name
    hm = [x for x in web["HostConfig"]["Mounts"] or [] if x["Target"] == "/data2"]
    assert hm and hm[0]["VolumeOptions"]["NoCopy"] is True                       # nocopy
    m = _mount(web, "/bind2")                                                    # long bind
    assert m["Type"] == "bind" and m["Source"] == str(p.dir / "bind2") and m["RW"] is False
    m = _mount(web, "/ext")                                                      # external vol
    assert m["Name"] == ext_vol
    hm = [x for x in web["HostConfig"]["Mounts"] or [] if x["Target"] == "/scratch"]
    assert hm and hm[0]["Type"] == "tmpfs" and hm[0]["TmpfsOptions"]["SizeBytes"] == MiB  # tmpfs
    m = _mount(web, "/etc/c_file")                                               # config file
    assert m["Type"] == "bind" and m["Source"] == str(p.dir / "conf.txt") and m["RW"] is False
    m = _mount(web, "/run/secrets/s_file")                                       # secret file
    assert m["Type"] == "bind" and m["Source"] == str(p.dir / "secret.txt") and m["RW"] is False

    logs = p.wait_log(web["Id"], "READY") and p.logs(web["Id"])
    assert "bound\n" in logs
    assert "config from file\n" in logs
    assert "config from content interpolated\n" in logs                         # content
    assert "config from env" in logs                                             # environment
    assert "secret from file\n" in logs
    assert "secret from env" in logs                                             # secret env
    assert "secret from content" in logs                                         # secret content
    sec = web["HostConfig"]["SecurityOpt"]                                       # seccomp=FILE
    assert len(sec) == 1 and json.loads(sec[0][len("seccomp="):]) == {"defaultAction": "SCMP_ACT_ALLOW"}
    assert "mode=440 uid=65534 gid=65534" in logs                                # uid/gid/mode

    vols = {v["Name"]: v for v in p.volumes()}
    v = vols["%s_data" % p.name]
    assert v["Driver"] == "local"
    assert v["Labels"]["m87.test/vol"] == "data"                                 # labels
    assert v["Labels"]["com.docker.compose.project"] == p.name
    assert v["Labels"]["com.docker.compose.volume"] == "data"
    v = vols["%s-named2" % p.name]                                               # name
    assert v["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}  # driver_opts
    assert ext_vol not in vols                                      # external: not labelled

    p.run("down", check=0)
    names = [v["Name"] for v in p.api("GET", "/volumes")["Volumes"]]
    assert "%s_data" % p.name in names                              # down keeps volumes
    p.run("down", "-v", check=0)
    names = [v["Name"] for v in p.api("GET", "/volumes")["Volumes"]]
    assert "%s_data" % p.name not in names and "%s-named2" % p.name not in names  # down -v
    assert ext_vol in names                                         # external survives -v


# ---------------------------------------------------------------- networking


def test_network_fields(env, project):
    p = project
    octet = random.randint(1, 250)
    subnet = "10.187.%d.0/24" % octet
    ext_net = p.name + "-extnet"
    p.api("POST", "/networks/create", {"Name": ext_net, "CheckDuplicate": True})
    p.extra_cleanup.append(lambda: p.env.docker_api("DELETE", "/v1.41/networks/" + ext_net))
    p1, p4, p5 = free_port(), free_port(), free_port()
    r = free_port_range(2)
    p.compose("""
        services:
          web:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            ports:
              - "127.0.0.1:%(p1)d:80"
              - "%(r0)d-%(r1)d:8080-8081"
              - "9000"
              - "127.0.0.1:%(p4)d:53/udp"
              - target: 81
                published: "%(p5)d"
                host_ip: 127.0.0.1
                protocol: tcp
                mode: host
            expose: ["3000", "4000-4001/udp"]
            networks:
              front:
                aliases: [webalias]
                ipv4_address: 10.187.%(octet)d.10
              back:
              ext:
          nm:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            network_mode: "service:web"
          nonet:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            network_mode: none
          plain:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
            networks: [back]
          dflt:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
        networks:
          front:
            driver: bridge
            driver_opts:
              com.docker.network.driver.mtu: "1400"
            ipam:
              config:
                - subnet: %(subnet)s
                  gateway: 10.187.%(octet)d.1
                  ip_range: 10.187.%(octet)d.128/25
            labels:
              m87.test/net: front
          back:
            internal: true
            name: %(name)s-backnet
          ext:
            external: true
            name: %(ext)s
    """ % dict(img=env.small_image, p1=p1, r0=r, r1=r + 1, p4=p4, p5=p5, octet=octet,
               subnet=subnet, name=p.name, ext=ext_net))
    p.up()
    web = p.service("web")
    pb = web["HostConfig"]["PortBindings"]
    assert pb["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(p1)}]        # ports short
    assert pb["8080/tcp"] == [{"HostIp": "", "HostPort": str(r)}]                # range
    assert pb["8081/tcp"] == [{"HostIp": "", "HostPort": str(r + 1)}]
    assert pb["9000/tcp"] == [{"HostIp": "", "HostPort": ""}]                    # ephemeral
    assert pb["53/udp"] == [{"HostIp": "127.0.0.1", "HostPort": str(p4)}]        # protocol
    assert pb["81/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(p5)}]        # ports long
    exposed = set(web["Config"]["ExposedPorts"])
    assert {"3000/tcp", "4000/udp", "4001/udp", "80/tcp", "81/tcp"} <= exposed   # expose
    live = web["NetworkSettings"]["Ports"]
    assert live["9000/tcp"] and live["9000/tcp"][0]["HostPort"] not in ("", "0")

    nets = web["NetworkSettings"]["Networks"]
    front = "%s_front" % p.name
    assert set(nets) == {front, "%s-backnet" % p.name, ext_net}                  # networks
    assert nets[front]["IPAddress"] == "10.187.%d.10" % octet                    # ipv4_address
    assert "webalias" in nets[front]["Aliases"]                                  # aliases
    assert "web" in nets[front]["Aliases"]
    assert "web" in nets["%s-backnet" % p.name]["Aliases"]

    fn = p.network(front)
    assert fn["Driver"] == "bridge"                                              # driver
    assert fn["Options"]["com.docker.network.driver.mtu"] == "1400"              # driver_opts
    assert fn["IPAM"]["Config"] == [{"Subnet": subnet, "Gateway": "10.187.%d.1" % octet,
                                     "IPRange": "10.187.%d.128/25" % octet}]     # ipam
    assert fn["Labels"]["m87.test/net"] == "front"                               # labels
    assert fn["Labels"]["com.docker.compose.project"] == p.name
    assert fn["Labels"]["com.docker.compose.network"] == "front"
    bn = p.network("%s-backnet" % p.name)                                        # name
    assert bn["Internal"] is True                                                # internal
    assert "com.docker.compose.project" not in (p.network(ext_net)["Labels"] or {})  # external

    nm = p.service("nm")
    assert nm["HostConfig"]["NetworkMode"] == "container:" + web["Id"]   # network_mode service:
    assert nm["State"]["Running"]
    assert p.service("nonet")["HostConfig"]["NetworkMode"] == "none"     # network_mode none
    dflt = p.service("dflt")
    assert set(dflt["NetworkSettings"]["Networks"]) == {"%s_default" % p.name}  # default net
    assert p.network("%s_default" % p.name)["Labels"]["com.docker.compose.network"] == "default"
    plain = p.service("plain")
    assert set(plain["NetworkSettings"]["Networks"]) == {"%s-backnet" % p.name}  # list form

    p.run("down", check=0)
    names = {n["Name"] for n in p.api("GET", "/networks")}
    assert front not in names and "%s-backnet" % p.name not in names and \
        "%s_default" % p.name not in names                                       # down
    assert ext_net in names                                              # external survives


# ---------------------------------------------------------------- project-level


def test_name_key_and_default_file(env, make_project):
    """`name:` names the project; without -f the file is found as compose does."""
    p = make_project(prefix="m87n")
    p.write("docker-compose.yml", """
        name: %s
        services:
          web:
            image: %s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
    """ % (p.name, env.small_image))
    p.run("up", "-d", files=[], project=False, check=0)
    info = p.service("web")
    assert info["Name"] == "/%s-web-1" % p.name
    assert labels_of(info)["com.docker.compose.project.config_files"] == \
        str(p.dir / "docker-compose.yml")


def test_directory_name_is_the_default_project(env, make_project):
    p = make_project(subdir="M87Dir_%s" % os.urandom(3).hex())
    p.name = p.dir.name.lower()                                       # normalised
    p.write("compose.yaml", """
        services:
          web:
            image: %s
            command: ["sleep", "3600"]
            stop_grace_period: 0s
    """ % env.small_image)
    p.run("up", "-d", files=[], project=False, check=0)
    assert p.container_names() == ["%s-web-1" % p.name]


def test_override_file_merges(env, project):
    p = project
    p.compose("""
        services:
          web:
            image: %s
            command: ["sleep", "3600"]
            environment: {A: base, B: base}
            labels: {m87.test/l: base}
            stop_grace_period: 0s
    """ % env.small_image)
    p.compose("""
        services:
          web:
            environment: {B: override, C: override}
            labels: {m87.test/l: override}
    """, filename="override.yaml")
    p.up()
    web = p.service("web")
    e = _env_of(web)
    assert (e["A"], e["B"], e["C"]) == ("base", "override", "override")
    assert labels_of(web)["m87.test/l"] == "override"
    assert labels_of(web)["com.docker.compose.project.config_files"] == "%s,%s" % (
        p.dir / "compose.yaml", p.dir / "override.yaml")


def test_pull_policy_and_platform(env, project):
    p = project
    fresh = env.build_small_image(7, tag="pp-%s" % p.name).ref       # never pulled before
    never = env.build_small_image(8, tag="ppn-%s" % p.name).ref
    arch, _ = go_arch()
    other = "s390x" if arch != "s390x" else "amd64"

    def image_present(ref):
        status, _ = env.docker_api("GET", "/v1.41/images/%s/json" % ref)
        return status == 200

    p.compose("""
        services:
          missing:
            image: %s
            pull_policy: missing
            command: ["sleep", "3600"]
            stop_grace_period: 0s
          always:
            image: %s
            pull_policy: always
            command: ["sleep", "3600"]
            stop_grace_period: 0s
    """ % (fresh, env.small_image))
    env.pull(env.small_image)
    r = p.run("--progress", "plain", "up", "-d", check=0)
    assert image_present(fresh)                                      # missing: pulled
    assert "Pulling always" in r.err or "Pulled always" in r.err     # always: pulled again
    r = p.run("--progress", "plain", "up", "-d", check=0)
    assert "Pulling missing" not in r.err and "Pulled missing" not in r.err  # present: not

    p.compose("""
        services:
          never:
            image: %s
            pull_policy: never
            command: ["sleep", "3600"]
    """ % never, filename="never.yaml")
    r = p.run("up", "-d", "never", files=[str(p.dir / "never.yaml")], check=1)
    assert not image_present(never)                                  # never: not pulled
    assert never in r.err or "never" in r.err

    p.compose("""
        services:
          plat:
            image: %s
            platform: linux/%s
            command: ["sleep", "3600"]
    """ % (never, other), filename="plat.yaml")
    p.run("up", "-d", files=[str(p.dir / "plat.yaml")], check=1)  # platform is sent
