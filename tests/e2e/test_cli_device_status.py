"""m87 DEVICE status: the health gate of one device (exit 0 healthy, 1 issues, 2 the command
failed), against reports posted as the device through POST /v1/agent/sync."""

import time

from cli_util import (RUNSPEC_TWO, Cli, Server, add_device, check_sanitizers,  # noqa: F401
                      new_deployment, write, cli, server)


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Device:
    def __init__(self, cli, server, tmp_path, deploy=True):
        self.cli, self.server = cli, server
        self.name, self.token = add_device(cli)
        self.seq = 0
        self.hash = None
        if deploy:
            self.dep = new_deployment(cli, self.name)
            d = cli.ok(self.name, "deploy", write(tmp_path / "rs.yml", RUNSPEC_TWO),
                       "--json").json()
            self.hash = d["hash"]

    def rec(self, kind, **fields):
        self.seq += 1
        r = {"seq": self.seq, "kind": kind, "time": now(), "revision": self.hash}
        r.update(fields)
        return r

    def job(self, job, state, **fields):
        return self.rec("job", job=job, state=state, **fields)

    def health(self, container, state, message=None):
        return self.rec("health", job="app", service="web", container=container,
                        container_id="c" * 64, state=state, message=message)

    def sync(self, *reports, applied=True):
        r = self.server.sync(self.token, reports=reports, applied=self.hash if applied else None)
        assert "ack" in r, r

    def status(self, *extra):
        return self.cli.run(self.name, "status", *extra)


def test_never_connected_is_an_issue(cli, server, tmp_path):
    dev = Device(cli, server, tmp_path, deploy=False)
    r = dev.status()
    assert r.rc == 1, r
    assert r.out.splitlines()[0] == "%s: 1 issue" % dev.name
    assert "issue       offline (last seen never)" in r.out
    assert "deployment  none" in r.out
    q = dev.status("--quiet")
    assert q.rc == 1 and q.out == "", q
    s = dev.status("--short")
    assert s.rc == 1 and s.out == "%s 1 issue: offline (last seen never)\n" % dev.name, s


def test_online_without_deployment_is_healthy(cli, server, tmp_path):
    dev = Device(cli, server, tmp_path, deploy=False)
    dev.server.sync(dev.token)
    r = dev.status("--short")
    assert r.rc == 0 and r.out == "%s healthy\n" % dev.name, r
    j = dev.status("--json")
    assert j.rc == 0, j
    doc = j.json()
    assert doc["healthy"] is True and doc["online"] is True and doc["deployment"] is None
    assert doc["issues"] == [] and doc["jobs"] == {}


def test_not_picked_up_then_applied_and_succeeded(cli, server, tmp_path):
    dev = Device(cli, server, tmp_path)
    dev.sync(applied=False)
    r = dev.status("--short")
    assert r.rc == 1, r
    assert "not picked up yet" in r.out
    dev.sync(dev.job("app", "succeeded"), dev.job("backup", "running"))
    r = dev.status()
    assert r.rc == 1 and "issue       job backup running" in r.out, r
    dev.sync(dev.job("backup", "succeeded"))
    r = dev.status()
    assert r.rc == 0, r
    assert r.out.splitlines()[0] == "%s: healthy" % dev.name
    assert "job         app: succeeded" in r.out and "applied" in r.out
    doc = dev.status("--json").json()
    assert doc["applied"] is True and doc["jobs"] == {"app": "succeeded", "backup": "succeeded"}
    assert doc["deployment"]["hash"] == dev.hash


def test_failed_job_and_unhealthy_container(cli, server, tmp_path):
    dev = Device(cli, server, tmp_path)
    dev.sync(dev.job("app", "failed", message="step 'up' failed with exit code 1 after 3 attempts"),
             dev.job("backup", "succeeded"))
    r = dev.status("--short")
    assert r.rc == 1, r
    assert "job app failed: step 'up' failed with exit code 1 after 3 attempts" in r.out
    dev.sync(dev.job("app", "succeeded"), dev.health("app-web-1", "unhealthy",
                                                       "health check failed"))
    r = dev.status()
    assert r.rc == 1, r
    assert "container   app-web-1: unhealthy" in r.out
    assert "issue       container app-web-1 unhealthy: health check failed" in r.out
    doc = dev.status("--json").json()
    assert doc["healthy"] is False
    assert doc["containers"] == [{"container": "app-web-1", "service": "web", "job": "app",
                                  "state": "unhealthy"}]
    # the newest record of the container counts: it recovered
    dev.sync(dev.health("app-web-1", "running"))
    r = dev.status("--short")
    assert r.rc == 0 and r.out == "%s healthy\n" % dev.name, r


def test_usage_errors_exit_2(cli, server, tmp_path):
    dev = Device(cli, server, tmp_path, deploy=False)
    r = dev.status("--quiet", "--json")
    assert r.rc == 2 and "exclude each other" in r.err, r
    r = dev.status("extra")
    assert r.rc == 2, r
    r = cli.run("no-such-device", "status")
    assert r.rc == 2 and "no-such-device" in r.err, r
    h = dev.status("--help")
    assert h.rc == 0 and "Exit status: 0 healthy, 1 issues, 2" in h.out
