/* The store: open and migrations over the connections of db.h (SQLite or PostgreSQL,
 * docs/design.md, Database backends), which store-pool.c lends to transactions and the lock. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/log.h"
#include "server/db-pg.h"
#include "server/db.h"
#include "server/limits.h"
#include "server/store-internal.h"
#include "server/store-pool.h"
#include "server/store.h"
#include "server/util.h"

struct srv_store {
    struct srv_pool *pool; /* its connections: SQLite's one, PostgreSQL's --db-pool */
    char *url;             /* what they were opened on: the listener and leader open their own */
    char origin[17]; /* this process among the replicas: its own notifications are skipped */
};

/* Applied in order; the schema_version table records how many ran. Append only. */
static const char *const migrations[] = {
    "CREATE TABLE devices ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created INTEGER NOT NULL,"
    "  last_seen INTEGER,"
    "  agent_version TEXT,"
    "  applied_revision TEXT);"
    "CREATE TABLE tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  hash TEXT NOT NULL UNIQUE,"
    "  role TEXT NOT NULL CHECK (role IN ('admin', 'device')),"
    "  device_id INTEGER REFERENCES devices(id) ON DELETE CASCADE,"
    "  created INTEGER NOT NULL,"
    "  CHECK ((role = 'admin') = (device_id IS NULL)));"
    "CREATE TABLE deployments ("
    "  id INTEGER PRIMARY KEY,"
    "  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  public_id TEXT NOT NULL,"
    "  active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),"
    "  head INTEGER NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  UNIQUE (device_id, public_id));"
    "CREATE UNIQUE INDEX deployments_one_active ON deployments(device_id) WHERE active = 1;"
    "CREATE TABLE revisions ("
    "  id INTEGER PRIMARY KEY,"
    "  deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,"
    "  number INTEGER NOT NULL,"
    "  hash TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  jobs TEXT NOT NULL,"
    "  spec TEXT NOT NULL,"
    "  UNIQUE (deployment_id, number));"
    "CREATE TABLE revision_bundles ("
    "  revision_id INTEGER NOT NULL REFERENCES revisions(id) ON DELETE CASCADE,"
    "  digest TEXT NOT NULL,"
    "  PRIMARY KEY (revision_id, digest));"
    "CREATE INDEX revision_bundles_digest ON revision_bundles(digest);"
    "CREATE TABLE bundles ("
    "  digest TEXT PRIMARY KEY,"
    "  size INTEGER NOT NULL,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE reports ("
    "  id INTEGER PRIMARY KEY,"
    "  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  revision TEXT,"
    "  deployment_id INTEGER REFERENCES deployments(id) ON DELETE SET NULL,"
    "  job TEXT,"
    "  phase TEXT,"
    "  step TEXT,"
    "  state TEXT,"
    "  raw TEXT NOT NULL,"
    "  received INTEGER NOT NULL,"
    "  UNIQUE (device_id, seq));"
    "CREATE INDEX reports_revision ON reports(device_id, revision, kind, job);"
    "CREATE INDEX reports_deployment ON reports(deployment_id);",
    /* 2: maintenance windows, the prefetch setting and the policy version the agent echoes */
    "CREATE TABLE device_windows ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  rule TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  UNIQUE (device_id, rule));"
    "ALTER TABLE devices ADD COLUMN prefetch TEXT NOT NULL DEFAULT 'always'"
    "  CHECK (prefetch IN ('always', 'window'));"
    "ALTER TABLE devices ADD COLUMN policy INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE devices ADD COLUMN now_revision TEXT;",
    /* signed revisions (docs/security.md): the signature the CLI made of the revision hash */
    "ALTER TABLE revisions ADD COLUMN sig_key TEXT;"
    "ALTER TABLE revisions ADD COLUMN sig TEXT;",
    /* sync execution: sessions (a command run on an online device) and their output */
    "CREATE TABLE sessions ("
    "  id INTEGER PRIMARY KEY,"
    "  public_id TEXT NOT NULL UNIQUE,"
    "  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  request TEXT NOT NULL,"
    "  bundle TEXT,"
    "  state TEXT NOT NULL,"
    "  exit_code INTEGER,"
    "  message TEXT,"
    "  cancel INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL,"
    "  delivered INTEGER,"
    "  started INTEGER,"
    "  ended INTEGER,"
    "  seen INTEGER,"
    "  read_at INTEGER,"
    "  next_seq INTEGER NOT NULL DEFAULT 1);"
    "CREATE INDEX sessions_device ON sessions(device_id, state);"
    "CREATE TABLE session_output ("
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  stream TEXT NOT NULL,"
    "  text TEXT NOT NULL,"
    "  time INTEGER NOT NULL,"
    "  PRIMARY KEY (session_id, seq));"
    "CREATE TABLE interactive_projects ("
    "  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  project TEXT NOT NULL,"
    "  containers TEXT NOT NULL,"
    "  updated INTEGER NOT NULL,"
    "  PRIMARY KEY (device_id, project));",
    /* image prefetch (m87 DEVICE prefetch IMAGE): the images asked for and the newest report */
    "CREATE TABLE device_prefetch ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  image TEXT NOT NULL,"
    "  requested INTEGER NOT NULL,"
    "  report TEXT,"
    "  UNIQUE (device_id, image));",
    /* an agent that stops cleanly says so in a last sync: offline at once, not after the wait */
    "ALTER TABLE devices ADD COLUMN offline INTEGER NOT NULL DEFAULT 0;",
    /* report retention: each device's bytes of reports and highest seq kept beside them by
     * triggers (the size limit reads one row, and the ack survives the pruning of its report);
     * received indexed for the pruning by age */
    "ALTER TABLE devices ADD COLUMN report_bytes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE devices ADD COLUMN report_seq INTEGER NOT NULL DEFAULT 0;"
    "UPDATE devices SET"
    "  report_bytes = (SELECT COALESCE(SUM(LENGTH(CAST(raw AS BLOB))), 0) FROM reports"
    "                  WHERE device_id = devices.id),"
    "  report_seq = (SELECT COALESCE(MAX(seq), 0) FROM reports WHERE device_id = devices.id);"
    "CREATE INDEX reports_received ON reports(received);"
    "CREATE TRIGGER reports_added AFTER INSERT ON reports BEGIN"
    "  UPDATE devices SET report_bytes = report_bytes + LENGTH(CAST(NEW.raw AS BLOB)),"
    "    report_seq = MAX(report_seq, NEW.seq) WHERE id = NEW.device_id;"
    "END;"
    "CREATE TRIGGER reports_removed AFTER DELETE ON reports BEGIN"
    "  UPDATE devices SET report_bytes = report_bytes - LENGTH(CAST(OLD.raw AS BLOB))"
    "    WHERE id = OLD.device_id;"
    "END;",
    /* revision signatures v2 (docs/security.md): when the signer signed, and whether to apply at
     * once; NULL for a signature of format v1 */
    "ALTER TABLE revisions ADD COLUMN sig_time INTEGER;"
    "ALTER TABLE revisions ADD COLUMN sig_now INTEGER NOT NULL DEFAULT 0;",
    /* device labels (docs/api.md, Labels; why a table: store-labels.c) */
    "CREATE TABLE device_labels ("
    "  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (device_id, key)) WITHOUT ROWID;"
    "CREATE INDEX device_labels_key ON device_labels(key, value);",
    /* registry credentials (m87 registries add): for one device, for the devices a label
     * selector (canonical text) selects, or for every device when both are NULL; the password
     * sealed (secret.h) */
    "CREATE TABLE registries ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  host TEXT NOT NULL,"
    "  device_id INTEGER REFERENCES devices(id) ON DELETE CASCADE,"
    "  selector TEXT,"
    "  username TEXT NOT NULL,"
    "  secret TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX registries_scope"
    "  ON registries(host, IFNULL(device_id, 0), IFNULL(selector, ''));"
    "CREATE INDEX registries_device ON registries(device_id);",
    /* fleets (docs/fleets.md): a name and a canonical selector; members are computed from the
     * labels when asked (store-fleets.c) */
    "CREATE TABLE fleets ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  selector TEXT NOT NULL,"
    "  created INTEGER NOT NULL);",
    /* fleet releases and their rollouts (docs/fleets.md, store-rollouts.c): a release is a run
     * spec of jobs, numbered per fleet; a rollout places one on the members wave by wave, one
     * row per member (indexed by the wave for the gate and by the device for its reports); the
     * releases a revision carries are listed beside it for the sync target's "fleets" */
    "CREATE TABLE fleet_releases ("
    "  id INTEGER PRIMARY KEY,"
    "  fleet_id INTEGER NOT NULL REFERENCES fleets(id) ON DELETE CASCADE,"
    "  number INTEGER NOT NULL,"
    "  hash TEXT NOT NULL,"
    "  jobs TEXT NOT NULL,"
    "  spec TEXT NOT NULL,"
    "  sig_key TEXT,"
    "  sig TEXT,"
    "  sig_time INTEGER,"
    "  created INTEGER NOT NULL,"
    "  UNIQUE (fleet_id, number));"
    "CREATE TABLE rollouts ("
    "  id INTEGER PRIMARY KEY,"
    "  public_id TEXT NOT NULL UNIQUE,"
    "  fleet_id INTEGER NOT NULL REFERENCES fleets(id) ON DELETE CASCADE,"
    "  release_id INTEGER NOT NULL REFERENCES fleet_releases(id) ON DELETE CASCADE,"
    "  state TEXT NOT NULL CHECK (state IN ('running', 'paused', 'halted', 'aborted', 'done',"
    "    'rolled-back')),"
    "  waves TEXT NOT NULL,"
    "  health_window INTEGER NOT NULL,"
    "  max_failed TEXT NOT NULL,"
    "  offline TEXT NOT NULL CHECK (offline IN ('wait', 'skip')),"
    "  wave_timeout INTEGER NOT NULL,"
    "  rollback TEXT NOT NULL CHECK (rollback IN ('on-failure', 'never')),"
    "  now INTEGER NOT NULL DEFAULT 0,"
    "  wave INTEGER NOT NULL DEFAULT 0,"
    "  wave_started INTEGER,"
    "  rollback_pending INTEGER NOT NULL DEFAULT 0,"
    "  message TEXT,"
    "  created INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL);"
    "CREATE INDEX rollouts_fleet ON rollouts(fleet_id, id);"
    "CREATE INDEX rollouts_state ON rollouts(state);"
    "CREATE TABLE rollout_devices ("
    "  rollout_id INTEGER NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,"
    "  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  wave INTEGER NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('pending', 'applying', 'healthy', 'failed',"
    "    'offline', 'rolled-back')),"
    "  deployment_id INTEGER REFERENCES deployments(id) ON DELETE SET NULL,"
    "  revision TEXT,"
    "  previous TEXT,"
    "  previous_number INTEGER,"
    "  placed INTEGER,"
    "  applied INTEGER,"
    "  deadline INTEGER,"
    "  message TEXT,"
    "  updated INTEGER NOT NULL,"
    "  PRIMARY KEY (rollout_id, device_id));"
    "CREATE INDEX rollout_devices_wave ON rollout_devices(rollout_id, wave, state);"
    "CREATE INDEX rollout_devices_device ON rollout_devices(device_id, state);"
    "CREATE INDEX rollout_devices_deadline ON rollout_devices(deadline)"
    "  WHERE deadline IS NOT NULL AND state IN ('applying', 'offline');"
    "CREATE TABLE revision_releases ("
    "  revision_id INTEGER NOT NULL REFERENCES revisions(id) ON DELETE CASCADE,"
    "  release_id INTEGER NOT NULL REFERENCES fleet_releases(id) ON DELETE CASCADE,"
    "  PRIMARY KEY (revision_id, release_id)) WITHOUT ROWID;"
    "CREATE INDEX revision_releases_release ON revision_releases(release_id);",
    /* the audit trail of remote access (store-audit.h): a row per channel, its end when the
     * device posts it */
    "CREATE TABLE remote_audit ("
    "  id INTEGER PRIMARY KEY,"
    "  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  channel TEXT NOT NULL,"
    "  token TEXT NOT NULL,"
    "  what TEXT NOT NULL,"
    "  command TEXT,"
    "  created INTEGER NOT NULL,"
    "  ended INTEGER,"
    "  exit_code INTEGER,"
    "  message TEXT,"
    "  duration_ms INTEGER,"
    "  bytes_in INTEGER NOT NULL DEFAULT 0,"
    "  bytes_out INTEGER NOT NULL DEFAULT 0,"
    "  bytes_err INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX remote_audit_channel ON remote_audit(device_id, channel);"
    "CREATE INDEX remote_audit_created ON remote_audit(device_id, created);",
    /* the audit trail of every kind (store-audit.h): sessions, deploys and activations beside
     * remote actions, each with its details as JSON; a release keeps who made it, for the
     * revisions its rollout places */
    "ALTER TABLE remote_audit ADD COLUMN kind TEXT NOT NULL DEFAULT 'remote';"
    "ALTER TABLE remote_audit ADD COLUMN detail TEXT;"
    "DROP INDEX remote_audit_channel;"
    "CREATE UNIQUE INDEX remote_audit_ref ON remote_audit(device_id, kind, channel)"
    "  WHERE kind IN ('remote', 'session');"
    "ALTER TABLE fleet_releases ADD COLUMN token TEXT;",
    /* 15: the metrics samples devices send with their sync, kept a day (store-metrics.h) */
    "CREATE TABLE device_metrics ("
    "  id INTEGER PRIMARY KEY,"
    "  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  created INTEGER NOT NULL,"
    "  sample TEXT NOT NULL);"
    "CREATE INDEX device_metrics_device ON device_metrics(device_id);"
    "CREATE INDEX device_metrics_created ON device_metrics(created);",
    /* 16: bundle bytes in the database, so that every replica reads them (docs/design.md,
     * Bundles in the database): SRV_BUNDLE_CHUNK bytes a row, numbered from 0, written with
     * their bundles row */
    "CREATE TABLE bundle_chunks ("
    "  digest TEXT NOT NULL REFERENCES bundles(digest) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  data BLOB NOT NULL,"
    "  PRIMARY KEY (digest, seq));",
    /* 17: remote channels announced to every replica (store-remote.h; written on PostgreSQL
     * only): the device's held sync on any replica delivers them, a stream request on any
     * replica finds the owner's address to relay to */
    "CREATE TABLE remote_channels ("
    "  id TEXT PRIMARY KEY,"
    "  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  device_name TEXT NOT NULL,"
    "  request TEXT NOT NULL,"
    "  owner TEXT,"
    "  created INTEGER NOT NULL,"
    "  delivered INTEGER);"
    "CREATE INDEX remote_channels_device ON remote_channels(device_id, delivered);"
    "CREATE INDEX remote_channels_created ON remote_channels(created);",
    /* 18: a name for an admin token (store-tokens.h); audit rows pruned by age (retention.c) */
    "ALTER TABLE tokens ADD COLUMN name TEXT;"
    "CREATE INDEX remote_audit_time ON remote_audit(created);",
};

struct srv_db *srv_store_db(struct srv_store *st)
{
    return srv_pool_current(st->pool);
}

struct srv_q *srv_stmt(struct srv_store *st, const char *sql, struct m87_error **err)
{
    return srv_q_get(srv_store_db(st), sql, err);
}

struct srv_q *srv_stmt_id(struct srv_store *st, const char *sql, int64_t id, struct m87_error **err)
{
    struct srv_q *s = srv_q_get(srv_store_db(st), sql, err);
    if (s)
        srv_q_int(s, 1, id);
    return s;
}

struct srv_q *srv_stmt_text(struct srv_store *st, const char *sql, const char *text,
                            struct m87_error **err)
{
    struct srv_q *s = srv_q_get(srv_store_db(st), sql, err);
    if (s)
        srv_q_text(s, 1, text);
    return s;
}

struct srv_q *srv_stmt_id_text(struct srv_store *st, const char *sql, int64_t id, const char *text,
                               struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, sql, id, err);
    if (s)
        srv_q_text(s, 2, text);
    return s;
}

int srv_exec_id(struct srv_store *st, const char *sql, int64_t id, const char *what,
                struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, sql, id, err);
    return s ? srv_q_done(s, what, err) : -1;
}

char *srv_col_text(struct srv_q *s, int col)
{
    const char *t = srv_q_col_text(s, col);
    return t ? m87_xstrdup(t) : NULL;
}

int64_t srv_store_changes(struct srv_store *st)
{
    return srv_db_changes(srv_store_db(st));
}

static const char SQL_SCHEMA_VERSION[] = "SELECT MAX(version) FROM schema_version";
/* a transaction's advisory lock (released at COMMIT or ROLLBACK); the key is "m87 mig" in ASCII,
 * so that it is unlikely to be another application's on the same database */
static const char SQL_PG_MIGRATION_LOCK[] = "SELECT pg_advisory_xact_lock(30742581879859559)";

static int64_t schema_version(struct srv_db *db, struct m87_error **err)
{
    if (srv_db_exec(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
                    "create schema_version", err) < 0)
        return -1;
    struct srv_q *s = srv_q_get(db, SQL_SCHEMA_VERSION, err);
    if (s == NULL)
        return -1;
    int rc = srv_q_step(s, "read schema version", err);
    if (rc < 0)
        return -1;
    int64_t v = rc == 1 ? srv_q_col_int(s, 0) : 0;
    srv_q_reset(s);
    return v;
}

/* The DDL of migration i for the store's backend: the same numbers on both (db-pg.h). */
static const char *migration_sql(struct srv_db *db, size_t i)
{
    return srv_db_kind(db) == SRV_DB_PG ? srv_pg_migrations[i] : migrations[i];
}

/* create: the database must hold no schema yet (PostgreSQL: a database the admin made; SQLite
 * checks that its file is new before); else it must hold one. */
static int migrate(struct srv_db *db, bool create, struct m87_error **err)
{
    bool pg = srv_db_kind(db) == SRV_DB_PG;
    if (pg && srv_pg_n_migrations != M87_ARRAY_LEN(migrations))
        return m87_error_set(err, M87_E_INTERNAL, 0,
                             "%zu PostgreSQL migrations for %zu SQLite ones (schema-pg.c)",
                             srv_pg_n_migrations, M87_ARRAY_LEN(migrations));
    if (srv_db_exec(db, pg ? "BEGIN" : "BEGIN IMMEDIATE", "begin migration", err) < 0)
        return -1;
    /* servers starting together on one PostgreSQL migrate one after the other (SQLite's BEGIN
     * IMMEDIATE already does) */
    if (pg && srv_db_exec(db, SQL_PG_MIGRATION_LOCK, "lock migrations", err) < 0)
        goto fail;
    int64_t v = schema_version(db, err);
    if (v < 0)
        goto fail;
    if (pg && create && v > 0) {
        m87_error_set(err, M87_E_CONFLICT, 0,
                      "the database already holds an m87 schema (version %lld)", (long long)v);
        goto fail;
    }
    if (pg && !create && v == 0) {
        m87_error_set(err, M87_E_NOTFOUND, 0,
                      "the database holds no m87 schema: run 'm87-server init --db' first");
        goto fail;
    }
    if (v > (int64_t)M87_ARRAY_LEN(migrations)) {
        m87_error_set(err, M87_E_VERSION, 0,
                      "database schema version %lld is newer than this server's (%zu)",
                      (long long)v, M87_ARRAY_LEN(migrations));
        goto fail;
    }
    for (size_t i = (size_t)v; i < M87_ARRAY_LEN(migrations); i++) {
        _cleanup_free_ char *what = m87_xasprintf("apply migration %zu", i + 1);
        _cleanup_free_ char *bump = m87_xasprintf(
            "DELETE FROM schema_version; INSERT INTO schema_version VALUES (%zu)", i + 1);
        if (srv_db_exec(db, migration_sql(db, i), what, err) < 0 ||
            srv_db_exec(db, bump, what, err) < 0)
            goto fail;
    }
    return srv_db_exec(db, "COMMIT", "commit migration", err);
fail:
    srv_db_exec(db, "ROLLBACK", "rollback", NULL);
    return -1;
}

static void set_origin(struct srv_store *st)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) /* unique enough: time and pid */
        r = ((uint64_t)time(NULL) << 22) ^ (uint64_t)getpid();
    snprintf(st->origin, sizeof(st->origin), "%016" PRIx64, r);
}

const char *srv_store_url(struct srv_store *st)
{
    return st->url;
}

const char *srv_store_origin(struct srv_store *st)
{
    return st->origin;
}

int srv_store_open(const char *dir, bool create, struct srv_store **out, struct m87_error **err)
{
    return srv_store_open_db(dir, NULL, create, out, err);
}

/* PostgreSQL: the url is never put in an error (it may hold a password). */
static struct srv_store *store_new(const char *url)
{
    struct srv_store *st = m87_xcalloc(1, sizeof(*st));
    st->url = m87_xstrdup(url);
    set_origin(st);
    return st;
}

static int open_pg(const char *url, bool create, struct srv_store **out, struct m87_error **err)
{
    struct srv_db *db = NULL;
    if (srv_db_open(url, create, &db, err) < 0)
        return -1;
    struct srv_store *st = store_new(url);
    st->pool = srv_pool_new(db);
    if (migrate(db, create, err) < 0) {
        m87_error_wrap(err, "database");
        srv_store_free(st);
        return -1;
    }
    *out = st;
    return 0;
}

bool srv_store_is_db_url(const char *url)
{
    return srv_db_url_is_pg(url);
}

int srv_store_open_db(const char *dir, const char *db_url, bool create, struct srv_store **out,
                      struct m87_error **err)
{
    if (db_url && srv_db_url_is_pg(db_url))
        return open_pg(db_url, create, out, err);
    if (db_url)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "--db: expected a PostgreSQL connection string (postgresql://...)");
    _cleanup_free_ char *path = m87_xasprintf("%s/%s", dir, SRV_DB_FILE);
    struct stat sb;
    bool exists = stat(path, &sb) == 0;
    if (create && exists)
        return m87_error_set(err, M87_E_CONFLICT, 0, "database '%s' already exists", path);
    if (!create && !exists)
        return m87_error_set(err, M87_E_NOTFOUND, 0,
                             "no database '%s': run 'm87-server init --data %s' first", path, dir);

    struct srv_db *db = NULL;
    if (srv_db_open(path, create, &db, err) < 0)
        return -1;
    struct srv_store *st = store_new(path);
    st->pool = srv_pool_new(db);
    if (migrate(db, create, err) < 0) {
        m87_error_wrap(err, "database '%s'", path);
        srv_store_free(st);
        return -1;
    }
    *out = st;
    return 0;
}

void srv_store_free(struct srv_store *st)
{
    if (st == NULL)
        return;
    srv_pool_free(st->pool);
    free(st->url);
    free(st);
}

int srv_store_pool_grow(struct srv_store *st, int n, struct m87_error **err)
{
    return srv_pool_grow(st->pool, st->url, n, err);
}

size_t srv_store_pool_size(struct srv_store *st)
{
    return srv_pool_size(st->pool);
}

int srv_store_begin(struct srv_store *st, struct m87_error **err)
{
    return srv_pool_begin(st->pool, err);
}

int srv_store_commit(struct srv_store *st, struct m87_error **err)
{
    return srv_pool_commit(st->pool, err);
}

void srv_store_rollback(struct srv_store *st)
{
    srv_pool_rollback(st->pool);
}

void srv_store_lock(struct srv_store *st)
{
    srv_pool_lock(st->pool);
}

void srv_store_unlock(struct srv_store *st)
{
    srv_pool_unlock(st->pool);
}
