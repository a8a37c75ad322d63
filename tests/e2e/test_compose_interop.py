"""What m87-agent creates is Docker Compose's: Debian's docker-compose 1.29 (by labels) lists
it with `ps` and removes it with `down`, on the same dockerd and files."""

import os

import pytest

from compose_util import AGENT, DOCKER_COMPOSE, make_project, project  # noqa: F401

pytestmark = [
    pytest.mark.skipif(not AGENT.exists(), reason="build/bin/m87-agent not built"),
    pytest.mark.skipif(not os.access(DOCKER_COMPOSE, os.X_OK), reason="no docker-compose"),
]


def test_docker_compose_ps_and_down(env, project):
    p = project
    p.compose("""
        services:
          web:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 1s
            networks: [default, back]
            volumes: [data:/data]
          worker:
            image: %(img)s
            command: ["sleep", "3600"]
            stop_grace_period: 1s
            scale: 2
        networks:
          back:
        volumes:
          data:
    """ % {"img": env.small_image})
    p.up()
    ours = {c["Id"] for c in p.containers()}
    assert len(ours) == 3

    r = p.docker_compose("ps", "-q", check=0)
    assert set(r.out.split()) == ours
    r = p.docker_compose("ps", check=0)
    for name in ("%s-web-1" % p.name, "%s-worker-1" % p.name, "%s-worker-2" % p.name):
        assert name in r.out
    assert r.out.count(" Up ") == 3 or r.out.count("Up") >= 3

    r = p.docker_compose("down", "-v", "-t", "1", check=0)
    assert p.containers() == []
    assert p.networks() == []                                   # p_default and p_back
    assert p.volumes() == []
    assert p.run("ps", "-a", "--format", "json", check=0).out == ""

    # and we find nothing left to do with ours afterwards: a fresh up works
    p.up()
    assert len(p.containers()) == 3
