#!/usr/bin/python3
"""Fleet rollout at scale: wave advance, server RSS and database size with simulated devices.

    /usr/bin/python3 bench/fleet_rollout.py [--devices 1000] [--waves 10%,20%,...,100%]
        [--failed-share 0.0] [--offline-share 0.0] [--apply-delay-ms 0] [--json FILE]

Starts a real m87-server on loopback (M87_BUILD, default build/) and registers --devices
devices in one fleet. Each simulated device speaks the agent protocol (POST /v1/agent/sync):
all but --offline-share of them sync once before the rollout, so the server sees them online;
the others never do (the rollout runs with --offline skip). One release is rolled out with the
waves given and a health window of 1 s. For every member of the current wave that has a target,
the simulator sends, after --apply-delay-ms, a `job` record `succeeded` (or `failed` for
--failed-share of them; max_failed is then 100%: they are counted, the rollout goes on). For
each wave after the first it measures the time from the moment its gate was met (the end of the
last health window of the wave before: deadlines are whole seconds, met at the start of their
second) to the first target of the new wave (its first device by name asking for it).
Reported: p50 and p99 of that over the waves, the server's RSS and the database size (with its
WAL) at the end.

This is a measurement, not a test: nothing is asserted. The server must not scan the fleet per
tick (rollout.c): the work per wave is proportional to the wave.
"""

import argparse
import calendar
import concurrent.futures as cf
import json
import pathlib
import random
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from cli_util import Server  # noqa: E402

POOL = 16


def parse_time(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def percentile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--waves", default="10%,20%,30%,40%,50%,60%,70%,80%,90%,100%")
    ap.add_argument("--failed-share", type=float, default=0.0)
    ap.add_argument("--offline-share", type=float, default=0.0)
    ap.add_argument("--apply-delay-ms", type=int, default=0)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    rnd = random.Random(87)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="m87-fleet-bench-"))
    server = Server(tmp / "server").start()
    try:
        return run(args, rnd, server, tmp)
    finally:
        server.stop()


def run(args, rnd, server, tmp):
    n = args.devices
    names = ["gw-%06d" % i for i in range(n)]
    tokens = {}
    t0 = time.monotonic()
    for name in names:
        tokens[name] = server.api("POST", "/v1/devices",
                                  {"name": name, "labels": {"bench": "1"}})["token"]
    print("registered %d devices in %.1f s" % (n, time.monotonic() - t0))
    offline = set(rnd.sample(names, int(n * args.offline_share)))
    failing = set(rnd.sample(names, int(n * args.failed_share)))
    with cf.ThreadPoolExecutor(POOL) as ex:
        list(ex.map(lambda d: server.sync(tokens[d]), [d for d in names if d not in offline]))
    server.api("POST", "/v1/fleets", {"name": "bench", "selector": "bench=1"})
    spec = {"jobs": [{"id": "app", "steps": [{"name": "s", "run": ["true"]}]}]}
    max_failed = "100%" if failing else "0"  # failures are counted, the rollout goes on
    ro = server.api("POST", "/v1/fleets/bench/releases",
                    {"spec": spec, "waves": args.waves, "health_window": 1,
                     "offline": "skip", "max_failed": max_failed})["rollout"]
    rid = ro["id"]
    path = "/v1/fleets/bench/rollouts/" + rid
    reported = set()
    advances = []

    def report(name):
        time.sleep(args.apply_delay_ms / 1000.0)
        target = server.sync(tokens[name])["target"]
        state = "failed" if name in failing else "succeeded"
        server.sync(tokens[name], applied=target["hash"], reports=[
            {"seq": 1, "kind": "job", "revision": target["hash"], "job": "app", "state": state}])

    wave = 0
    while True:
        doc = server.api("GET", path)
        if doc["state"] != "running":
            break
        if doc["wave"] != wave:
            rows = [d for d in doc["devices"] if d["wave"] == doc["wave"]]
            if wave > 0 and rows:
                before = [d for d in prev_rows(server, path, wave) if d["healthy_at"]]
                gate = max(parse_time(d["healthy_at"]) for d in before) if before else None
                first = sorted(d["device"] for d in rows)[0]
                while not server.sync(tokens[first]).get("target"):
                    time.sleep(0.005)
                if gate:
                    advances.append(time.time() - gate)
            wave = doc["wave"]
        todo = [d["device"] for d in doc["devices"] if d["wave"] == wave and
                d["state"] == "applying" and d["device"] not in reported]
        with cf.ThreadPoolExecutor(POOL) as ex:
            list(ex.map(report, todo))
        reported.update(todo)
        time.sleep(0.05)
    pid = server.proc.pid
    rss = int([line for line in open("/proc/%d/status" % pid)
               if line.startswith("VmRSS")][0].split()[1]) // 1024
    db = sum(f.stat().st_size for f in (tmp / "server" / "data").glob("m87.db*")) / 1048576.0
    result = {"devices": n, "state": doc["state"], "waves": len(doc["waves"]),
              "advance_p50_s": round(statistics.median(advances), 3) if advances else None,
              "advance_p99_s": round(percentile(advances, 99), 3) if advances else None,
              "server_rss_mib": rss, "database_mib": round(db, 1)}
    print(json.dumps(result))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result) + "\n")
    return 0


def prev_rows(server, path, wave):
    return [d for d in server.api("GET", path)["devices"] if d["wave"] == wave]


if __name__ == "__main__":
    sys.exit(main())
