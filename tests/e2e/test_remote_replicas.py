"""Remote access across replicas (docs/remote.md, "Channels across replicas"; issue 18).

Real parts: the harness's PostgreSQL 15 and two `m87-server serve --db URL` replicas on it
(replica_util.Cluster), a real `m87-agent run` daemon talking to replica A only and the real
`m87` CLI talking to replica B only. A channel opened on B reaches the agent's sync held on A
through the database."""

import os
import re

import pytest

from agent_util import Device, wait_for
from harness.postgres import server_backend
from replica_util import Cluster, Via
from server_util import SERVER_BIN


def url_of(replica):
    return "http://127.0.0.1:%d" % replica.port


@pytest.fixture
def pair(tmp_path):
    if not os.access(SERVER_BIN, os.X_OK):
        pytest.fail(f"{SERVER_BIN} is not built")
    if server_backend() == "postgres":  # `make check-pg`: these start their own PostgreSQL
        pytest.skip("runs on a PostgreSQL of its own in the default pass")
    c = Cluster(tmp_path, 2)
    yield c
    c.close()


@pytest.fixture
def dev(env, pair, tmp_path):
    """A device whose agent talks to A only, its CLI to B only; exec, forward and cp allowed."""
    a, b = pair.replicas
    d = Device(env, Via(url_of(b), pair.admin), tmp_path, server_url=url_of(a))
    d.agent.config["remote"] = "exec, shell, forward, cp"
    d.agent.start()
    wait_for(lambda: (d.agent.daemon_state() or {}).get("connected"), 60,
             lambda: "the agent to connect to A\n" + d.agent.log()[-2000:])
    yield d
    d.agent.stop()


def test_channel_opened_on_b_reaches_the_sync_held_on_a(dev, pair):
    a, b = pair.replicas
    # the agent's sync is held on A when the channel opens on B
    wait_for(lambda: any(" /v1/agent/sync" in ln for ln in a.read_log().splitlines()), 30,
             "the agent's sync on A")
    ch = dev.server.api("POST", "/v1/devices/%s/remote" % dev.name,
                        {"what": "exec", "command": ["true"]})
    assert re.fullmatch(r"r-[0-9a-f]{16}", ch["id"]), ch
    dev.agent.wait_log("remote %s: exec" % ch["id"], 30)
    assert not any(" /v1/agent/sync" in ln for ln in b.read_log().splitlines()), b.log_path

