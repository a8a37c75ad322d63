"""A hostile server against an agent that trusts a signing key (docs/security.md, threat model):
an HTTP proxy between the agent and the real server rewrites the sync answers as a compromised
server would (replays of older signed revisions, another device's signed revision, a signature of
the old format, unsigned policy, images to pull), and the admin API asks for unsigned, replayed,
tampered, expired and other-device sessions. Every one is refused or ignored, the applied
workload keeps running, and the server's /healthz answers throughout."""

import json
import subprocess
import time

from agent_util import Device, running_ids, wait_for
from agent_util import own_server  # noqa: F401
from cli_util import Cli, add_device
from compose_util import API, unique_name
from rollout_util import RewriteProxy

SESSION_PREFIX = "m87-session-signature-v1\n"


class HostileProxy(RewriteProxy):
    """Forwards every request to the real server (rollout_util.RewriteProxy); a sync answer
    passes through rewrite(answer) when one is set (set(rewrite)). Each target that passes is
    kept in targets."""

    def __init__(self, upstream):
        self.targets = []
        super().__init__(upstream)

    def answer(self, data):
        doc = json.loads(data)
        with self.lock:
            if doc.get("target"):
                self.targets.append(doc["target"])
            if self.answer_rewrite:
                doc = self.answer_rewrite(doc)
        return json.dumps(doc).encode()

    def set(self, rewrite):
        super().set(answer=rewrite)


def keygen(cli):
    r = cli.ok("keys", "generate")
    return cli.xdg / "m87" / "signing.pub", r.out.split()[3]


def refusals(dev):
    return [r for r in dev.reports(kind="target") if r.get("state") == "refused"]


def wait_refused(dev, needle, count):
    got = wait_for(lambda: len(refusals(dev)) >= count and refusals(dev), 120,
                   lambda: "refusal %d (%s)\n%s" % (count, needle, dev.agent.log()[-3000:]))
    assert needle in got[-1]["message"], got[-1]
    return got[-1]


def healthz(server):
    status, _, _ = server.request("GET", "/healthz", token="")
    assert status == 200


def inject(target):
    """A rewrite that puts target in every sync answer."""
    def rewrite(doc):
        doc["target"] = json.loads(json.dumps(target))
        return doc
    return rewrite


def compose(dev, env, project, value):
    web = {"image": env.small_image, "restart": "always", "environment": {"V": value}}
    return dev.compose_dir(project, {"web": web})


def test_hostile_server_revisions(env, own_server, tmp_path):  # noqa: F811
    proxy = HostileProxy(own_server.url)
    dev = Device(env, own_server, tmp_path / "dev", server_url=proxy.url)
    try:
        pub, _ = keygen(dev.cli)
        project = unique_name("hos")
        # a second deployment signed before anything the device takes
        older = dev.m87("deployment", "new", "--json").json()["id"]
        wait_for(lambda: int(time.time()) > dev.server.api("GET", "/v1/devices/%s/deployments/%s"
                                                           % (dev.name, older))["signature"]["time"],
                 10, "the signing clock to pass a second")
        dep = dev.m87("deployment", "new", "--active", "--json").json()["id"]
        src = compose(dev, env, project, "1")
        dev.m87("deploy", "docker-compose.yml", cwd=src)
        # the clock knob caps the agent's long-poll at 2 s: each rewrite is seen within seconds
        (tmp_path / "clock").write_text("0\n")
        dev.agent.extra_env["M87_AGENT_CLOCK_FILE"] = str(tmp_path / "clock")
        dev.agent.start("--trust", str(pub))
        dev.wait_applied()
        first = [t for t in proxy.targets if t["deployment"] == dep][-1]
        assert first["revision"] == 2 and first["signature"]["v"] == 2
        compose(dev, env, project, "2")
        dev.m87("deploy", "docker-compose.yml", cwd=src)
        applied = dev.wait_applied()
        head = [t for t in proxy.targets if t["deployment"] == dep][-1]
        assert head["revision"] == 3
        ids = running_ids(dev.agent, project)
        assert len(ids) == 1
        pinned = (dev.agent.state / "device-name").read_text()
        assert pinned == dev.name + "\n"

        # 1. the older signed revision of the same deployment, sent again
        proxy.set(inject(first))
        wait_refused(dev, "revision 2 of %s is older than revision 3" % dep, 1)
        healthz(own_server)

        # 2. another device's signed revision (same key, same jobs)
        other_cli = Cli(tmp_path / "other", own_server)
        other_cli.xdg.mkdir(parents=True, exist_ok=True)
        (other_cli.xdg / "m87").mkdir(exist_ok=True)
        for f in ("signing.key", "signing.pub"):
            (other_cli.xdg / "m87" / f).write_bytes((dev.cli.xdg / "m87" / f).read_bytes())
            (other_cli.xdg / "m87" / f).chmod(0o600)
        other, other_token = add_device(other_cli)
        other_cli.ok(other, "deployment", "new", "--active")
        other_src = compose(dev, env, unique_name("oth"), "other")
        other_cli.ok(other, "deploy", "docker-compose.yml", cwd=other_src)
        foreign = own_server.sync(other_token)["target"]
        assert foreign["signature"]["v"] == 2
        proxy.set(inject(foreign))
        wait_refused(dev, "not signed for this device (%s)" % dev.name, 2)

        # 3. the head revision with a signature of format v1 (no device, deployment, number)
        # (a policy bump each time: the same hash and policy again is the known target, ignored)
        v1 = json.loads(json.dumps(head))
        v1["signature"] = {"key": head["signature"]["key"], "sig": head["signature"]["sig"]}
        v1["policy"] = head["policy"] + 10
        proxy.set(inject(v1))
        wait_refused(dev, "signed in format v1", 3)

        # 4. the same head revision under another deployment's id or number
        moved = json.loads(json.dumps(head))
        moved["revision"] = 4
        moved["policy"] = head["policy"] + 11
        proxy.set(inject(moved))
        wait_refused(dev, "bad signature", 4)

        # 5. a deployment signed before the revision the device took last
        got = dev.server.api("GET", "/v1/devices/%s/deployments/%s" % (dev.name, older))
        stale = {"deployment": older, "revision": got["revision"], "hash": got["hash"],
                 "spec": got["spec"], "signature": got["signature"], "policy": head["policy"] + 12}
        proxy.set(inject(stale))
        wait_refused(dev, "before the revision this device took last", 5)
        assert dev.agent.applied() == applied
        assert running_ids(dev.agent, project) == ids
        healthz(own_server)

        # 6. unsigned policy: windows that would hold the switch, "now", images to pull: the
        # signed revision is taken without them
        policy = json.loads(json.dumps(head))
        policy.update(windows=["daily 03:00-03:01"], now=True, prefetch="window",
                      policy=head["policy"] + 13)

        def with_policy(doc):
            doc["target"] = json.loads(json.dumps(policy))
            doc["prefetch_images"] = {"images": ["%s/m87-evil:1" % env.registry],
                                      "prefetch": "always", "windows": []}
            return doc
        proxy.set(with_policy)
        dev.agent.wait_log("images to prefetch ignored", 60)

        def stored_policy():
            t = json.loads((dev.agent.state / "target.json").read_text())
            return t.get("policy") == policy["policy"] and t
        stored = wait_for(stored_policy, 60, "the policy-only change to be kept")
        assert "windows" not in stored and stored["now"] is False, stored
        assert len(refusals(dev)) == 5
        status, _ = env.docker_api("GET", API + "/images/%s/m87-evil:1/json" % env.registry)
        assert status == 404
        assert running_ids(dev.agent, project) == ids

        # 7. stop everything: the server's "target": null cannot be signed
        proxy.set(inject(None))
        wait_refused(dev, "carries no signature", 6)
        assert running_ids(dev.agent, project) == ids

        # the key holder activates the older deployment: signed now, it is taken
        proxy.set(None)
        dev.m87("deployment", "activate", older)
        dev.wait_applied()
        wait_for(lambda: running_ids(dev.agent, project) == [], 120, "the old project to stop")
        assert dev.agent.proc.poll() is None
        healthz(own_server)
    finally:
        dev.cleanup()
        proxy.close()


def session(server, device, request):
    return server.api("POST", "/v1/devices/%s/sessions" % device, body=request)


def ended(server, device, sid):
    def done():
        s = server.api("GET", "/v1/devices/%s/sessions/%s" % (device, sid))
        return s["state"] in ("exited", "cancelled", "lost") and s
    return wait_for(done, 120, "session %s to end" % sid)


def sign_session(key_path, key_id, request, device, nonce, expires, tmp):
    """The signature of docs/security.md made with openssl, not with our code."""
    payload = {"device": device, "nonce": nonce, "expires": expires,
               "command": request["command"], "args": request["args"],
               "project": None, "files": [], "job": None}
    text = SESSION_PREFIX + json.dumps(payload, separators=(",", ":"))
    msg = tmp / ("payload-" + nonce)
    msg.write_text(text)  # Ed25519 signs in one go: openssl needs a file, not a pipe
    sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", str(key_path),
                          "-in", str(msg)], capture_output=True, check=True).stdout
    assert len(sig) == 64
    import base64
    signed = dict(request)
    signed["signature"] = {"key": key_id, "sig": base64.b64encode(sig).decode(),
                           "nonce": nonce, "expires": expires}
    return signed


def test_hostile_server_sessions(env, own_server, tmp_path):  # noqa: F811
    dev = Device(env, own_server, tmp_path / "dev")
    other = Device(env, own_server, tmp_path / "other")
    try:
        pub, key_id = keygen(dev.cli)
        dev.agent.start("--trust", str(pub))
        other.agent.start("--trust", str(pub))

        # the issue's own: an unsigned compose session mounting the host's root, asked for by
        # a CLI without a key (the request an admin token alone can make)
        plain = Cli(tmp_path / "plain", own_server)
        evil_dir = tmp_path / "evil"
        evil_dir.mkdir()
        (evil_dir / "docker-compose.yml").write_text(json.dumps(
            {"services": {"x": {"image": env.small_image, "volumes": ["/:/host"]}}}))
        r = plain.run(dev.name, "docker", "compose", "-p", "evil", "up", "-d", cwd=evil_dir)
        assert r.rc == 126 and "session refused: unsigned" in r.err, r
        assert dev.agent.containers("evil") == []
        # the answer that carried the session named the device: pinned
        assert (dev.agent.state / "device-name").read_text() == dev.name + "\n"
        sessions = own_server.api("GET", "/v1/devices/%s/sessions" % dev.name)["sessions"]
        s = sessions[-1]
        assert s["exit_code"] == 126 and "unsigned" in s["message"], s
        assert not (dev.agent.state / "sessions" / s["id"]).exists()
        # the same request straight from the admin API
        evil = own_server.api("GET", "/v1/devices/%s/sessions/%s" % (dev.name, s["id"]))["request"]
        assert "signature" not in evil and evil["job"]["files"]
        s = ended(own_server, dev.name, session(own_server, dev.name, evil)["id"])
        assert s["exit_code"] == 126 and "unsigned" in s["message"], s
        r = plain.run(dev.name, "docker", "ps")
        assert r.rc == 126 and "unsigned" in r.err, r
        # signed by the trusted key: it runs
        r = dev.cli.run(dev.name, "docker", "ps")
        assert r.rc == 0 and "signing the session with key %s" % key_id in r.err, r
        sessions = own_server.api("GET", "/v1/devices/%s/sessions" % dev.name)["sessions"]
        signed_id = sessions[-1]["id"]
        signed = own_server.api("GET", "/v1/devices/%s/sessions/%s" % (dev.name,
                                                                       signed_id))["request"]
        assert signed["signature"]["key"] == key_id

        # sent again (the same nonce), to another device, or changed: refused
        s = ended(own_server, dev.name, session(own_server, dev.name, signed)["id"])
        assert s["exit_code"] == 126 and "replay" in s["message"], s
        s = ended(own_server, other.name, session(own_server, other.name, signed)["id"])
        assert s["exit_code"] == 126 and "bad signature" in s["message"], s
        changed = json.loads(json.dumps(signed))
        changed["args"] = ["-a"]
        s = ended(own_server, dev.name, session(own_server, dev.name, changed)["id"])
        assert s["exit_code"] == 126 and "bad signature" in s["message"], s

        # signed by openssl from the documented format: valid now, refused once expired
        key = dev.cli.xdg / "m87" / "signing.key"
        good = sign_session(key, key_id, {"command": "ps", "args": ["-a"]}, dev.name,
                            "a" * 32, int(time.time()) + 120, tmp_path)
        s = ended(own_server, dev.name, session(own_server, dev.name, good)["id"])
        assert s["exit_code"] == 0, s
        expired = sign_session(key, key_id, {"command": "ps", "args": ["-a"]}, dev.name,
                               "b" * 32, int(time.time()) - 5, tmp_path)
        s = ended(own_server, dev.name, session(own_server, dev.name, expired)["id"])
        assert s["exit_code"] == 126 and "expired" in s["message"], s
        far = sign_session(key, key_id, {"command": "ps", "args": ["-a"]}, dev.name,
                           "c" * 32, int(time.time()) + 3600, tmp_path)
        s = ended(own_server, dev.name, session(own_server, dev.name, far)["id"])
        assert s["exit_code"] == 126 and "not valid yet" in s["message"], s
        healthz(own_server)
        assert dev.agent.proc.poll() is None and other.agent.proc.poll() is None
    finally:
        other.cleanup()
        dev.cleanup()
