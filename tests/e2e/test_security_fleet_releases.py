"""Fleet release signatures against an agent that trusts a signing key (docs/security.md,
"Fleet releases"): a target without a device signature whose fleet releases are signed by the
trusted key is applied; a bad signature, a release number below the one taken, an untrusted key
or a changed job of the device's own (one no release covers) is refused with a `target` record
`refused`, and the applied revision keeps running. The targets come from a real m87-server; a
rewriting proxy adds their `fleets` member as the server's fleet releases would (rollout_util),
signed here with openssl from the documented bytes, not with our code."""

import base64
import json
import subprocess

from agent_util import Device, wait_for
from agent_util import own_server  # noqa: F401 (fixture)
from cli_util import Cli
from compose_util import unique_name
from rollout_util import RewriteProxy
from test_security_hostile_server import keygen, refusals, wait_refused

RELEASE_PREFIX = "m87-fleet-release-signature-v1\n"
TIME = 1800000000


def sign_release(key_path, fleet, release, relhash, tmp):
    """The signature of a release, made with openssl over the documented bytes."""
    text = "%sfleet %s\nrelease %d\nhash %s\ntime %d\n" % (RELEASE_PREFIX, fleet, release,
                                                            relhash, TIME)
    msg = tmp / ("release-%s-%d" % (fleet, release))
    msg.write_text(text)  # Ed25519 signs in one go: openssl needs a file, not a pipe
    sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", str(key_path),
                          "-in", str(msg)], capture_output=True, check=True).stdout
    assert len(sig) == 64
    return base64.b64encode(sig).decode()


def app_job(version):
    return {"id": "app", "steps": [{"name": "up", "run": "echo app-%d" % version}]}


class Fleet:
    """The device's active deployment gets jobs through the admin API (unsigned revisions); a
    scratch deployment of the same device computes the hash of a release's jobs alone (the
    server's revision hash of a spec holding just them is the RELHASH of docs/api.md)."""

    def __init__(self, dev, dep):
        self.dev = dev
        self.dep = dep
        self.releases = {}  # revision hash -> the fleets entry the proxy adds
        self.known = set()  # revision hashes that pass as they are

    def base(self, dep_id):
        return "/v1/devices/%s/deployments/%s" % (self.dev.name, dep_id)

    def post(self, jobs):
        self.dev.server.api("POST", self.base(self.dep) + "/jobs", {"jobs": jobs})
        return self.dev.server.api("GET", self.base(self.dep))

    def relhash(self, jobs):
        scratch = self.dev.server.api("POST", "/v1/devices/%s/deployments" % self.dev.name,
                                      {"active": False})["id"]
        self.dev.server.api("POST", self.base(scratch) + "/jobs", {"jobs": jobs})
        return self.dev.server.api("GET", self.base(scratch))["hash"]

    def rewrite(self, doc):
        """A revision goes to the device once its release entry is made (the server wakes the
        held sync as soon as the revision is posted): until then the answer holds no target."""
        t = doc.get("target")
        if t and t.get("hash") in self.releases:
            t["fleets"] = [self.releases[t["hash"]]]
        elif t and t.get("hash") not in self.known:
            del doc["target"]
        return doc


def entry(key_path, key_id, release, relhash, tmp, jobs=("app",), signed_release=None):
    sig = sign_release(key_path, "edge", release if signed_release is None else signed_release,
                       relhash, tmp)
    return {"fleet": "edge", "release": release, "hash": relhash, "jobs": list(jobs),
            "signature": {"v": 1, "key": key_id, "sig": sig, "time": TIME}}


def test_fleet_release_signatures(env, own_server, tmp_path):  # noqa: F811
    proxy = RewriteProxy(own_server.url)
    dev = Device(env, own_server, tmp_path / "dev", server_url=proxy.url)
    try:
        pub, key_id = keygen(dev.cli)
        key = dev.cli.xdg / "m87" / "signing.key"
        dep = dev.m87("deployment", "new", "--active", "--json").json()["id"]
        # the device's own job, signed for it by the CLI
        project = unique_name("flt")
        src = dev.compose_dir(project, {"web": {"image": env.small_image, "restart": "always"}})
        dev.m87("deploy", "docker-compose.yml", cwd=src)
        dev.agent.start("--trust", str(pub))
        fleet = Fleet(dev, dep)
        fleet.known.add(dev.wait_applied())
        proxy.set(answer=fleet.rewrite)

        # 1. release 2 of fleet edge (job app), signed by the trusted key: applied
        rev = fleet.post([app_job(1)])
        fleet.releases[rev["hash"]] = entry(key, key_id, 2, fleet.relhash([app_job(1)]), tmp_path)
        assert "signature" not in rev or rev["signature"] is None
        taken = dev.wait_applied()
        assert taken == rev["hash"]
        seen = json.loads((dev.agent.state / "trust-seen.json").read_text())
        assert seen["fleets"] == {"edge": 2}, seen
        assert refusals(dev) == []

        # 2. a bad signature: the signature of release 2 sent for release 3
        rev = fleet.post([app_job(2)])
        fleet.releases[rev["hash"]] = entry(key, key_id, 3, fleet.relhash([app_job(2)]), tmp_path,
                                            signed_release=2)
        wait_refused(dev, "release 3 of fleet edge: bad signature (key %s)" % key_id, 1)

        # 3. a release number below the one taken
        rev = fleet.post([app_job(3)])
        fleet.releases[rev["hash"]] = entry(key, key_id, 1, fleet.relhash([app_job(3)]), tmp_path)
        wait_refused(dev, "release 1 of fleet edge is older than release 2", 2)

        # 4. a key the device does not trust
        other = Cli(tmp_path / "other", own_server)
        other_pub, other_id = keygen(other)
        rev = fleet.post([app_job(4)])
        fleet.releases[rev["hash"]] = entry(other.xdg / "m87" / "signing.key", other_id, 5,
                                            fleet.relhash([app_job(4)]), tmp_path)
        wait_refused(dev, "signed with unknown key %s" % other_id, 3)

        # 5. a job of the device's own changed under a well signed release
        own = [j for j in rev["spec"]["jobs"] if j["id"] == project]
        assert len(own) == 1
        changed = {"id": project, "steps": [{"name": "up", "run": "echo not-signed"}]}
        rev = fleet.post([app_job(5), changed])
        fleet.releases[rev["hash"]] = entry(key, key_id, 6, fleet.relhash([app_job(5)]), tmp_path)
        wait_refused(dev, "job '%s' is in no fleet release and differs from the one in the "
                     "device's verified target" % project, 4)

        # none of them ran: the release taken keeps running, the number did not move
        assert dev.agent.applied() == taken
        seen = json.loads((dev.agent.state / "trust-seen.json").read_text())
        assert seen["fleets"] == {"edge": 2}, seen
        assert all(r["revision"] != taken for r in refusals(dev))

        # 6. the next release, signed: applied, and its number remembered
        rev = fleet.post([app_job(6), own[0]])
        fleet.releases[rev["hash"]] = entry(key, key_id, 7, fleet.relhash([app_job(6)]), tmp_path)
        wait_for(lambda: dev.agent.applied() == rev["hash"], 120,
                 lambda: "release 7 to be applied\n" + dev.agent.log()[-3000:])
        seen = json.loads((dev.agent.state / "trust-seen.json").read_text())
        assert seen["fleets"] == {"edge": 7}, seen
        assert len(refusals(dev)) == 4
        assert other_pub.exists()
    finally:
        proxy.close()
        dev.cleanup()


def test_rollout_rollback_under_trusted_keys(env, own_server, tmp_path):  # noqa: F811
    """A fleet release placed by a rollout that fails its window is rolled back by the agent to
    the revision it kept, signatures or not; and when the server itself sends the kept revision
    back during a window (a rollout rolled back), it is applied without a signature of its own:
    the device verified it when it came (docs/security.md)."""
    proxy = RewriteProxy(own_server.url)
    dev = Device(env, own_server, tmp_path / "dev", server_url=proxy.url)
    try:
        pub, key_id = keygen(dev.cli)
        key = dev.cli.xdg / "m87" / "signing.key"
        dep = dev.m87("deployment", "new", "--active", "--json").json()["id"]
        own = unique_name("own")
        src = dev.compose_dir(own, {"web": {"image": env.small_image, "restart": "always"}})
        dev.m87("deploy", "docker-compose.yml", cwd=src)
        dev.agent.start("--trust", str(pub))
        fleet = Fleet(dev, dep)
        first = dev.wait_applied()
        fleet.known.add(first)
        rollout = {"id": "r-00000001", "fleet": "edge", "release": 2}

        def rewrite(doc):
            doc = fleet.rewrite(doc)
            t = doc.get("target")
            if t and t.get("fleets"):
                t.pop("signature", None)  # taken on the fleet release's signature alone
                t["rollout"] = dict(rollout, health_window=600)
            return doc
        proxy.set(answer=rewrite)

        # 1. release 2: its container exits within the window
        app = unique_name("app")
        src = dev.compose_dir(app, {"web": {"image": env.small_image, "restart": "no",
                                            "command": ["sh", "-c", "sleep 10; exit 3"]}})
        dev.m87("deploy", "docker-compose.yml", cwd=src)
        got = dev.server.api("GET", fleet.base(dep))
        [job] = [j for j in got["spec"]["jobs"] if j["id"] == app]
        fleet.releases[got["hash"]] = entry(key, key_id, 2, fleet.relhash([job]), tmp_path,
                                            jobs=(app,))
        recs = wait_for(lambda: len([r for r in dev.reports(kind="rollout")]) >= 2 and
                        dev.reports(kind="rollout"), 180,
                        lambda: "the rollout records\n" + dev.agent.log()[-3000:])
        assert [(r["state"], r["revision"]) for r in recs] == [("failed", got["hash"]),
                                                               ("rolled-back", got["hash"])]
        assert recs[1]["previous"] == first
        wait_for(lambda: dev.agent.applied() == first and dev.agent.containers(app) == [], 120,
                 lambda: "the revision before, without the release's containers\n" +
                 dev.agent.log()[-3000:])
        assert refusals(dev) == []

        # 2. release 3, good, watched; the server sends the kept revision back in its window
        rollout["release"] = 3
        dev.compose_dir(app, {"web": {"image": env.small_image, "restart": "always"}})
        dev.m87("deploy", "docker-compose.yml", cwd=src)
        got = dev.server.api("GET", fleet.base(dep))
        [job] = [j for j in got["spec"]["jobs"] if j["id"] == app]
        fleet.releases[got["hash"]] = entry(key, key_id, 3, fleet.relhash([job]), tmp_path,
                                            jobs=(app,))
        dev.agent.wait_log("revision %s applied; watching it for 600 s" % got["hash"][:12])
        # the server's own way back: the release's job removed, an unsigned revision whose hash
        # is that of the revision the device kept
        fleet.known.add(first)
        dev.server.api("DELETE", fleet.base(dep) + "/jobs/" + app)
        back = dev.server.api("GET", fleet.base(dep))
        assert back["hash"] == first and not back.get("signature")
        wait_for(lambda: dev.agent.applied() == first and dev.agent.containers(app) == [], 120,
                 lambda: "the kept revision again\n" + dev.agent.log()[-3000:])
        assert refusals(dev) == []
        assert "is the revision this device kept to go back to" in dev.agent.log()
        assert not (dev.agent.state / "rollout.json").exists()
        dev.projects.add(app)
    finally:
        proxy.close()
        dev.cleanup()
