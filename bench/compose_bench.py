#!/usr/bin/python3
"""m87-agent compose against Debian's docker-compose 1.29, on one dockerd.

    /usr/bin/python3 bench/compose_bench.py [--reps 3] [--sizes 10,30] [--json FILE]

Starts its own test environment (private dockerd + registry + busybox images, from
tests/e2e/harness) unless M87_TEST_DOCKER_HOST and friends point at a running one (see
`cd tests/e2e && python3 -m harness`). Uses build/bin/m87-agent (or $M87_BUILD/bin/m87-agent).

For each generated stack (N services of the small busybox image, each with an environment,
a label, a port-less sleep command and one network) and each tool, a repetition runs:
cold `up -d` (images present, nothing created), no-op `up -d` on the converged stack,
`up -d` after a change of one service's environment, and `down`. Every command is timed
(wall clock), and its CPU time (user + system) and peak RSS are read by GNU time. The table
shows the medians and the ratios docker-compose / m87-agent. This is a measurement, not a
test: nothing is asserted, failures are shown in the table. The machine's load average is
printed on stderr at the start and the end: on a busy machine the wall time of a short
command (a no-op up) measures the machine more than the tool.
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from harness import TestEnv  # noqa: E402

BUILD = pathlib.Path(os.environ.get("M87_BUILD", ROOT / "build"))
AGENT = BUILD / "bin" / "m87-agent"
DOCKER_COMPOSE = "/usr/bin/docker-compose"
GNU_TIME = "/usr/bin/time"
SCENARIOS = ("cold up", "no-op up", "change env", "down")

# Exits at once on SIGTERM, so `down` measures the tools, not a 10 s grace period.
COMMAND = '["sh", "-c", "trap \'exit 0\' TERM; sleep 3600 & wait"]'


def stack_yaml(image, n, generation):
    lines = ["services:"]
    for i in range(n):
        gen = generation if i == 0 else 0
        lines += [
            "  svc%02d:" % i,
            "    image: %s" % image,
            "    command: %s" % COMMAND,
            "    environment:",
            "      SERVICE_INDEX: \"%d\"" % i,
            "      GENERATION: \"%d\"" % gen,
            "    labels:",
            "      bench.m87/service: \"svc%02d\"" % i,
            "    networks: [net]",
        ]
    lines += ["networks:", "  net: {}", ""]
    return "\n".join(lines)


class Tool:
    def __init__(self, name, argv_prefix, env):
        self.name = name
        self.prefix = argv_prefix
        self.env = env

    def run(self, args, log):
        """Run one command; returns dict(wall, cpu, rss_kib, rc).

        CPU and peak RSS come from GNU time, which execs the command from its own small
        process: a child forked from this Python process would carry Python's resident set
        into its ru_maxrss, because Linux keeps the high-water mark across exec."""
        with tempfile.NamedTemporaryFile("r") as out:
            t0 = time.monotonic()
            proc = subprocess.run([GNU_TIME, "-o", out.name, "-f", "%e %U %S %M %x"] +
                                  self.prefix + args, env=self.env, stdin=subprocess.DEVNULL,
                                  stdout=log, stderr=log)
            wall = time.monotonic() - t0
            fields = out.read().split()[-5:]
        _, user, system, rss, rc = fields
        return {"wall": wall, "cpu": float(user) + float(system), "rss_kib": int(rss),
                "rc": int(rc) if proc.returncode == 0 or int(rc) else proc.returncode}


def make_tools(env, workdir, n):
    environ = dict(os.environ)
    environ["DOCKER_HOST"] = env.docker_host
    for key in ("COMPOSE_PROJECT_NAME", "COMPOSE_FILE", "COMPOSE_PROFILES"):
        environ.pop(key, None)
    tools = []
    for name, prefix in (("m87-agent", [str(AGENT), "compose", "--progress", "quiet"]),
                         ("docker-compose", [DOCKER_COMPOSE, "--no-ansi"])):
        d = workdir / ("%s-%d" % (name, n))
        d.mkdir(parents=True, exist_ok=True)
        project = "bench%s%d" % ("m87" if name == "m87-agent" else "dc", n)
        tool = Tool(name, prefix + ["-p", project, "-f", str(d / "compose.yaml")], environ)
        tool.dir = d
        tools.append(tool)
    return tools


def write_stack(tool, image, n, generation):
    (tool.dir / "compose.yaml").write_text(stack_yaml(image, n, generation))


def one_rep(tool, image, n, rep, log):
    """cold up, no-op up, change one env, down. Returns {scenario: measurement}."""
    out = {}
    write_stack(tool, image, n, 0)
    tool.run(["down", "-t", "1"], log)                       # start from nothing
    out["cold up"] = tool.run(["up", "-d"], log)
    out["no-op up"] = tool.run(["up", "-d"], log)
    write_stack(tool, image, n, rep + 1)
    out["change env"] = tool.run(["up", "-d"], log)
    out["down"] = tool.run(["down"], log)
    return out


def median(values):
    return statistics.median(values) if values else float("nan")


def summarise(samples):
    """samples: [measurement] -> dict of medians, with failures counted."""
    ok = [s for s in samples if s["rc"] == 0]
    return {"wall": median([s["wall"] for s in ok]), "cpu": median([s["cpu"] for s in ok]),
            "rss_mib": median([s["rss_kib"] / 1024.0 for s in ok]),
            "failed": len(samples) - len(ok), "n": len(samples)}


def ratio(a, b):
    if not b or b != b or a != a:
        return float("nan")
    return a / b


def print_table(results, out=sys.stdout):
    head = ("%-6s %-11s | %9s %9s %7s | %8s %8s %7s | %8s %8s %6s" %
            ("stack", "scenario", "m87 wall", "dc wall", "ratio", "m87 cpu", "dc cpu", "ratio",
             "m87 RSS", "dc RSS", "ratio"))
    out.write(head + "\n" + "-" * len(head) + "\n")
    for n in sorted(results):
        for sc in SCENARIOS:
            m = results[n]["m87-agent"][sc]
            d = results[n]["docker-compose"][sc]
            flag = ""
            if m["failed"] or d["failed"]:
                flag = "  (failed runs: m87 %d/%d, dc %d/%d)" % (m["failed"], m["n"],
                                                                 d["failed"], d["n"])
            out.write("%-6s %-11s | %8.3fs %8.3fs %6.1fx | %7.3fs %7.3fs %6.1fx | "
                      "%6.1fMB %6.1fMB %5.1fx%s\n" % (
                          "%d svc" % n, sc, m["wall"], d["wall"], ratio(d["wall"], m["wall"]),
                          m["cpu"], d["cpu"], ratio(d["cpu"], m["cpu"]),
                          m["rss_mib"], d["rss_mib"], ratio(d["rss_mib"], m["rss_mib"]), flag))
    out.write("wall: elapsed time; cpu: user+system of the command (and its children); RSS: "
              "peak resident set; ratio = docker-compose / m87-agent (higher is better for "
              "m87); medians.\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sizes", default="10,30")
    ap.add_argument("--json", help="also write the raw measurements here")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x]
    for path in (AGENT, pathlib.Path(DOCKER_COMPOSE), pathlib.Path(GNU_TIME)):
        if not os.access(path, os.X_OK):
            sys.exit("compose_bench: %s is missing (make; ./scripts/install-deps.sh)" % path)

    sys.stderr.write("compose_bench: load average %.2f %.2f %.2f\n" % os.getloadavg())
    env = TestEnv.from_environ()
    env.start()
    raw = {}
    results = {}
    try:
        env.pull(env.small_image)                            # cold up means images present
        workdir = pathlib.Path(tempfile.mkdtemp(prefix="m87bench-"))
        with open(workdir / "commands.log", "wb") as log:
            for n in sizes:
                raw[n] = {}
                results[n] = {}
                tools = make_tools(env, workdir, n)
                samples = {t.name: {sc: [] for sc in SCENARIOS} for t in tools}
                for rep in range(args.reps):
                    for tool in tools:                       # alternate to share any drift
                        sys.stderr.write("compose_bench: %d services, %s, repetition %d/%d\n" % (
                            n, tool.name, rep + 1, args.reps))
                        for sc, meas in one_rep(tool, env.small_image, n, rep, log).items():
                            samples[tool.name][sc].append(meas)
                for tool in tools:
                    tool.run(["down", "-t", "1"], log)
                    raw[n][tool.name] = samples[tool.name]
                    results[n][tool.name] = {sc: summarise(samples[tool.name][sc])
                                             for sc in SCENARIOS}
        sys.stderr.write("compose_bench: command output in %s\n" % (workdir / "commands.log"))
        sys.stderr.write("compose_bench: load average %.2f %.2f %.2f\n" % os.getloadavg())
    finally:
        env.stop()
    print_table(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"raw": raw, "medians": results}, f, indent=1)


if __name__ == "__main__":
    main()
