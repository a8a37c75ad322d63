#!/usr/bin/python3
"""Fleet rollout at scale: starts a real m87-server and runs build/bench/fleet_sim against it.

    /usr/bin/python3 bench/fleet_rollout.py [--devices 1000] [fleet_sim options...]

fleet_sim (bench/fleet_sim.c) simulates the devices on the agent protocol, each holding its own
long-poll as an agent does: N devices labelled into one fleet, a share --offline that never
syncs, a share --fail whose job fails, an apply time in --apply (seconds), and --rollouts
releases rolled out one after the other in --waves (default twenty waves, 5% each) with a health
window of --health-window seconds (default 2), --offline skip and --max-failed 100%. It reports
the wave advance after the gate (from the answer to the last report of a wave's healthy members,
plus the window, to the first target of the next wave), the server's RSS and its database and
WAL size. This script makes a data directory under /tmp, starts `m87-server serve` (M87_BUILD,
default build/) on a free port of 127.0.0.1 without the per-address connection limit (every
simulated device connects from 127.0.0.1), runs fleet_sim, and removes everything.

A measurement, not a test: nothing is asserted; it fails only when the server or the simulator
does.
"""

import argparse
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = pathlib.Path(os.environ.get("M87_BUILD", ROOT / "build"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--devices", type=int, default=1000)
    args, rest = ap.parse_known_args()
    server_bin, sim = BUILD / "bin" / "m87-server", BUILD / "bench" / "fleet_sim"
    for b in (server_bin, sim):
        if not b.exists():
            sys.exit("fleet_rollout: %s is missing: run make tests" % b)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="m87-fleet-bench-"))
    data = tmp / "data"
    token = subprocess.run([str(server_bin), "init", "--data", str(data)], check=True,
                           capture_output=True, text=True).stdout.strip()
    port = free_port()
    log = open(tmp / "server.log", "w")
    srv = subprocess.Popen([str(server_bin), "serve", "--data", str(data), "--listen",
                            "127.0.0.1:%d" % port, "--max-connections-per-address", "0"],
                           stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        rc = subprocess.run([str(sim), "--server", "127.0.0.1:%d" % port, "--admin", token,
                             "--devices", str(args.devices), "--server-pid", str(srv.pid),
                             "--data", str(data)] + rest).returncode
    finally:
        srv.terminate()
        srv.wait(timeout=60)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
