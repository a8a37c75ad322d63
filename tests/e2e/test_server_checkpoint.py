"""The server's database stays small while it runs: its checkpoint thread copies the WAL into
the database file every few seconds. A checkpoint connection that had never read the database
did nothing at all (SQLite then reports -1 frames), and the WAL grew without bound while the
database file kept its size of the first start (bench/fleet_sim found it: 22 MB of WAL beside
0.7 MB of data)."""

import os

import pytest

from cli_util import Server, add_device, check_sanitizers, cli, server  # noqa: F401
from harness.postgres import server_backend
from harness.procs import wait_for

pytestmark = pytest.mark.skipif(server_backend() == "postgres",
                                reason="SQLite's WAL checkpoints (M87_TEST_DB=postgres)")


def test_running_server_checkpoints_its_wal(cli, server):
    db = server.data / "m87.db"
    size0 = os.path.getsize(db)
    for _ in range(60):
        name, token = add_device(cli)
        server.sync(token)
    # the devices' rows are in the WAL; a checkpoint (every 5 s) moves them into the file
    wait_for(lambda: os.path.getsize(db) > size0, timeout=30,
             what="the database file to grow while the server runs (a checkpoint)")
    assert server.proc.poll() is None
