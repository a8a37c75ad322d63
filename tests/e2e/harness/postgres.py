"""A private PostgreSQL server (Debian's postgresql-15) for the tests of m87-server on
PostgreSQL, started like the private dockerd: under a temporary directory, on a free port of
127.0.0.1, stopped and removed afterwards.

PostgreSQL refuses to run as root, so the cluster belongs to Debian's `postgres` system user:
`Postgres` makes a directory of its own under /tmp (the test's temporary directory is root's,
mode 0700, out of reach of that user), runs `initdb` and `pg_ctl` there through `runuser`, and
creates a role and a database for the test. The role logs in with a password (scram-sha-256)
over TCP; the Unix socket stays inside the directory.
"""

import os
import pwd
import subprocess

from . import procs

PG_BIN = os.environ.get("M87_TEST_PG_BIN", "/usr/lib/postgresql/15/bin")
PG_USER = "postgres"


class PostgresError(RuntimeError):
    pass


class Postgres(procs.Daemon):
    """pg_ctl runs the server (as PG_USER), so stop() is pg_ctl's; the rest is procs.Daemon's."""

    dir_prefix = "m87pg-"
    dir_parent = "/tmp"

    def __init__(self, port=None, role="m87", password="m87-test-password", database="m87"):
        super().__init__()
        self.port = port or procs.free_port()
        self.role, self.password, self.database = role, password, database
        self.started = False

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    @property
    def socket_dir(self):
        return os.path.join(self.dir, "run")

    @property
    def log(self):
        return os.path.join(self.dir, "postgres.log")

    def url(self, database=None):
        """The connection string m87-server takes (--db)."""
        return "postgresql://%s:%s@127.0.0.1:%d/%s" % (self.role, self.password, self.port,
                                                      database or self.database)

    def _as_postgres(self, *argv, timeout=120, input=None):
        r = subprocess.run(["runuser", "-u", PG_USER, "--"] + list(argv), input=input,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                           text=True, cwd="/")
        if r.returncode != 0:
            raise PostgresError("%s failed (%d): %s" % (" ".join(argv), r.returncode, r.stdout))
        return r.stdout

    def psql(self, sql, database=None):
        """Run sql as the superuser over the socket; its output (unaligned, tuples only)."""
        return self._as_postgres(os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t",
                                 "-v", "ON_ERROR_STOP=1", "-h", self.socket_dir,
                                 "-p", str(self.port), "-d", database or "postgres",
                                 "-c", sql)

    def start(self, timeout=60):
        pw = pwd.getpwnam(PG_USER)
        self.make_dir()
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.makedirs(self.socket_dir)
        os.chown(self.socket_dir, pw.pw_uid, pw.pw_gid)
        self._as_postgres(os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", PG_USER,
                          "--auth-local=peer", "--auth-host=scram-sha-256", "-E", "UTF8",
                          "--locale=C.UTF-8")
        self._pg_ctl_start(timeout)
        self.psql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (self.role, self.password))
        self.psql("CREATE DATABASE %s OWNER %s" % (self.database, self.role))
        return self

    def _pg_ctl_start(self, timeout=60):
        opts = ("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s "
                "-c max_connections=200" % (self.port, self.socket_dir))
        self._as_postgres(os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", self.log,
                          "-o", opts, "-w", "-t", str(timeout), "start", timeout=timeout + 10)
        self.started = True

    def create_database(self, name):
        self.psql("CREATE DATABASE %s OWNER %s" % (name, self.role))
        return self.url(name)

    def stop(self, mode="fast"):
        if self.started:
            try:
                self._as_postgres(os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", mode,
                                  "-w", "stop")
            except (PostgresError, subprocess.TimeoutExpired):
                self._as_postgres(os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m",
                                  "immediate", "-w", "stop")
            self.started = False

    def start_again(self):
        """Start the cluster stop() stopped (the end of an outage)."""
        self._pg_ctl_start()

    def restart(self):
        """Stop and start the same cluster (a database outage the tests can cause)."""
        self.stop()
        self._pg_ctl_start()


# ---- the server suites on PostgreSQL (M87_TEST_DB=postgres) ----------------------------------
# One PostgreSQL per test process (a pytest-xdist worker), started on first use and stopped when
# the process exits; every m87-server the helpers init gets a fresh database of its own on it.

_shared = None


def server_backend():
    """The backend the server suites run on: "postgres" or "sqlite" (M87_TEST_DB)."""
    v = os.environ.get("M87_TEST_DB", "sqlite").strip().lower() or "sqlite"
    if v not in ("sqlite", "postgres"):
        raise ValueError("M87_TEST_DB=%r: expected sqlite or postgres" % v)
    return v


def shared():
    """This process's PostgreSQL, started on first use."""
    global _shared
    if _shared is None:
        import atexit
        _shared = Postgres().start()
        atexit.register(_shared.close)
    return _shared


def server_db_args():
    """The `m87-server init|serve` options that put a new server on the backend of M87_TEST_DB:
    none for SQLite (the data directory's m87.db), ["--db", URL] of a new database on the shared
    PostgreSQL otherwise."""
    if server_backend() != "postgres":
        return []
    import uuid
    return ["--db", shared().create_database("m87_" + uuid.uuid4().hex[:12])]
