/* The SQLite store: open, migrations, statement cache, transactions.
 *
 * One connection guarded by one mutex serves every thread. SQLite serialises writers anyway;
 * with WAL and transactions of well under a millisecond a single connection costs little
 * concurrency, never sees SQLITE_BUSY from its own process, and keeps every prepared
 * statement in one cache. busy_timeout still covers a second process (a backup tool). */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/log.h"
#include "server/limits.h"
#include "server/store-internal.h"
#include "server/store.h"
#include "server/util.h"

#define STMT_CACHE 128

struct stmt_slot {
    const char *sql;
    sqlite3_stmt *stmt;
};

/* Seconds between WAL checkpoints. */
#define CHECKPOINT_PERIOD 5

struct srv_store {
    sqlite3 *db;
    pthread_mutex_t mu;
    struct stmt_slot cache[STMT_CACHE];
    size_t n_cache;
    /* checkpoints run on their own connection and thread: the automatic checkpoint would
     * fsync inside a commit, under the store's lock, and stall every request behind it */
    sqlite3 *ckpt_db;
    pthread_t ckpt_thread;
    bool ckpt_running;
    bool ckpt_quit;
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cond;
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
    /* 14: the metrics samples devices send with their sync, kept a day (store-metrics.h) */
    "CREATE TABLE device_metrics ("
    "  id INTEGER PRIMARY KEY,"
    "  device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,"
    "  created INTEGER NOT NULL,"
    "  sample TEXT NOT NULL);"
    "CREATE INDEX device_metrics_device ON device_metrics(device_id);"
    "CREATE INDEX device_metrics_created ON device_metrics(created);",
};

sqlite3 *srv_store_db(struct srv_store *st)
{
    return st->db;
}

int srv_store_error(struct srv_store *st, const char *what, struct m87_error **err)
{
    int code = sqlite3_extended_errcode(st->db);
    enum m87_errcode c = (code & 0xff) == SQLITE_CONSTRAINT ? M87_E_CONFLICT : M87_E_IO;
    return m87_error_set(err, c, 0, "%s: %s", what, sqlite3_errmsg(st->db));
}

sqlite3_stmt *srv_stmt(struct srv_store *st, const char *sql, struct m87_error **err)
{
    for (size_t i = 0; i < st->n_cache; i++) {
        if (st->cache[i].sql == sql) {
            sqlite3_reset(st->cache[i].stmt);
            sqlite3_clear_bindings(st->cache[i].stmt);
            return st->cache[i].stmt;
        }
    }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
        srv_store_error(st, "prepare statement", err);
        return NULL;
    }
    if (st->n_cache == STMT_CACHE) {
        m87_error_set(err, M87_E_INTERNAL, 0, "prepare statement: cache full");
        sqlite3_finalize(s);
        return NULL;
    }
    st->cache[st->n_cache].sql = sql;
    st->cache[st->n_cache++].stmt = s;
    return s;
}

sqlite3_stmt *srv_stmt_id(struct srv_store *st, const char *sql, int64_t id, struct m87_error **err)
{
    sqlite3_stmt *s = srv_stmt(st, sql, err);
    if (s)
        sqlite3_bind_int64(s, 1, id);
    return s;
}

sqlite3_stmt *srv_stmt_text(struct srv_store *st, const char *sql, const char *text,
                            struct m87_error **err)
{
    sqlite3_stmt *s = srv_stmt(st, sql, err);
    if (s)
        srv_bind_text(s, 1, text);
    return s;
}

sqlite3_stmt *srv_stmt_id_text(struct srv_store *st, const char *sql, int64_t id, const char *text,
                               struct m87_error **err)
{
    sqlite3_stmt *s = srv_stmt_id(st, sql, id, err);
    if (s)
        srv_bind_text(s, 2, text);
    return s;
}

int srv_exec_id(struct srv_store *st, const char *sql, int64_t id, const char *what,
                struct m87_error **err)
{
    sqlite3_stmt *s = srv_stmt_id(st, sql, id, err);
    return s ? srv_step_done(st, s, what, err) : -1;
}

int srv_step_done(struct srv_store *st, sqlite3_stmt *s, const char *what, struct m87_error **err)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return srv_store_error(st, what, err);
    return 0;
}

char *srv_col_text(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    return t ? m87_xstrdup((const char *)t) : NULL;
}

void srv_bind_text(sqlite3_stmt *s, int idx, const char *text)
{
    if (text)
        sqlite3_bind_text(s, idx, text, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, idx);
}

static int exec(struct srv_store *st, const char *sql, const char *what, struct m87_error **err)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        m87_error_set(err, M87_E_IO, 0, "%s: %s", what, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int64_t schema_version(struct srv_store *st, struct m87_error **err)
{
    if (exec(st, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
             "create schema_version", err) < 0)
        return -1;
    sqlite3_stmt *s = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(st->db, "SELECT MAX(version) FROM schema_version", -1, &s, NULL) !=
        SQLITE_OK)
        return srv_store_error(st, "read schema version", err);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static int migrate(struct srv_store *st, struct m87_error **err)
{
    if (exec(st, "BEGIN IMMEDIATE", "begin migration", err) < 0)
        return -1;
    int64_t v = schema_version(st, err);
    if (v < 0)
        goto fail;
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
        if (exec(st, migrations[i], what, err) < 0 || exec(st, bump, what, err) < 0)
            goto fail;
    }
    return exec(st, "COMMIT", "commit migration", err);
fail:
    exec(st, "ROLLBACK", "rollback", NULL);
    return -1;
}

static void *checkpointer(void *arg)
{
    struct srv_store *st = arg;
    pthread_mutex_lock(&st->ckpt_mu);
    while (!st->ckpt_quit) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += CHECKPOINT_PERIOD;
        pthread_cond_timedwait(&st->ckpt_cond, &st->ckpt_mu, &until);
        if (st->ckpt_quit)
            break;
        pthread_mutex_unlock(&st->ckpt_mu);
        int nlog = -1, nck = -1;
        int rc =
            sqlite3_wal_checkpoint_v2(st->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &nck);
        m87_log(M87_LOG_DEBUG, "database checkpoint: %d of %d WAL frames", nck, nlog);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            m87_log(M87_LOG_WARN, "database checkpoint: %s", sqlite3_errmsg(st->ckpt_db));
        pthread_mutex_lock(&st->ckpt_mu);
    }
    pthread_mutex_unlock(&st->ckpt_mu);
    return NULL;
}

static int start_checkpointer(struct srv_store *st, const char *path, struct m87_error **err)
{
    if (sqlite3_open_v2(path, &st->ckpt_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK)
        return m87_error_set(err, M87_E_IO, 0, "open database '%s': %s", path,
                             st->ckpt_db ? sqlite3_errmsg(st->ckpt_db) : "out of memory");
    sqlite3_busy_timeout(st->ckpt_db, 5000);
    /* A connection knows that the database is in WAL mode only once it has read it: until then
     * a checkpoint on it does nothing and says so only by a frame count of -1, and the WAL grew
     * without bound while the server ran (found by bench/fleet_sim: 22 MB of WAL beside a
     * 0.7 MB database). Reading the journal mode opens it. */
    if (sqlite3_exec(st->ckpt_db, "PRAGMA journal_mode", NULL, NULL, NULL) != SQLITE_OK)
        return m87_error_set(err, M87_E_IO, 0, "open database '%s' for checkpoints: %s", path,
                             sqlite3_errmsg(st->ckpt_db));
    srv_cond_init_monotonic(&st->ckpt_cond);
    if (pthread_create(&st->ckpt_thread, NULL, checkpointer, st) != 0)
        return m87_error_set(err, M87_E_IO, 0, "start the checkpoint thread");
    st->ckpt_running = true;
    return 0;
}

static void stop_checkpointer(struct srv_store *st)
{
    if (st->ckpt_running) {
        srv_thread_stop(st->ckpt_thread, &st->ckpt_mu, &st->ckpt_cond, &st->ckpt_quit);
        st->ckpt_running = false;
    }
    sqlite3_close(st->ckpt_db);
    st->ckpt_db = NULL;
}

/* journal_size_limit: the WAL file is cut back to 16 MiB when a write starts it over after a
 * checkpoint, instead of keeping the size of its busiest moment.
 * synchronous=FULL: each commit syncs the WAL before it returns, so that what the server
 * acknowledged survives a power loss (NORMAL, the WAL default, may lose the last commits; the
 * cost is in docs/api.md, Capacity). */
static int configure(struct srv_store *st, struct m87_error **err)
{
    sqlite3_busy_timeout(st->db, 5000);
    if (exec(st, "PRAGMA journal_mode=WAL", "set journal mode", err) < 0 ||
        exec(st, "PRAGMA wal_autocheckpoint=0", "disable automatic checkpoints", err) < 0 ||
        exec(st, "PRAGMA journal_size_limit=16777216", "limit the WAL file", err) < 0 ||
        exec(st, "PRAGMA foreign_keys=ON", "enable foreign keys", err) < 0 ||
        exec(st, "PRAGMA synchronous=FULL", "set synchronous", err) < 0)
        return -1;
    return 0;
}

int srv_store_open(const char *dir, bool create, struct srv_store **out, struct m87_error **err)
{
    _cleanup_free_ char *path = m87_xasprintf("%s/%s", dir, SRV_DB_FILE);
    struct stat sb;
    bool exists = stat(path, &sb) == 0;
    if (create && exists)
        return m87_error_set(err, M87_E_CONFLICT, 0, "database '%s' already exists", path);
    if (!create && !exists)
        return m87_error_set(err, M87_E_NOTFOUND, 0,
                             "no database '%s': run 'm87-server init --data %s' first", path, dir);

    struct srv_store *st = m87_xcalloc(1, sizeof(*st));
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->ckpt_mu, NULL);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        m87_error_set(err, M87_E_IO, 0, "open database '%s': %s", path,
                      st->db ? sqlite3_errmsg(st->db) : "out of memory");
        srv_store_free(st);
        return -1;
    }
    if (configure(st, err) < 0 || migrate(st, err) < 0 || start_checkpointer(st, path, err) < 0) {
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
    stop_checkpointer(st);
    for (size_t i = 0; i < st->n_cache; i++)
        sqlite3_finalize(st->cache[i].stmt);
    sqlite3_close(st->db);
    pthread_mutex_destroy(&st->ckpt_mu);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

int srv_store_begin(struct srv_store *st, struct m87_error **err)
{
    pthread_mutex_lock(&st->mu);
    if (exec(st, "BEGIN IMMEDIATE", "begin transaction", err) < 0) {
        pthread_mutex_unlock(&st->mu);
        return -1;
    }
    return 0;
}

/* A statement left on a row would keep its read open past the transaction. */
static void reset_all(struct srv_store *st)
{
    for (size_t i = 0; i < st->n_cache; i++)
        sqlite3_reset(st->cache[i].stmt);
}

void srv_store_lock(struct srv_store *st)
{
    pthread_mutex_lock(&st->mu);
}

void srv_store_unlock(struct srv_store *st)
{
    reset_all(st);
    pthread_mutex_unlock(&st->mu);
}

int srv_store_commit(struct srv_store *st, struct m87_error **err)
{
    reset_all(st);
    int rc = exec(st, "COMMIT", "commit transaction", err);
    if (rc < 0)
        exec(st, "ROLLBACK", "rollback transaction", NULL);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

void srv_store_rollback(struct srv_store *st)
{
    reset_all(st);
    exec(st, "ROLLBACK", "rollback transaction", NULL);
    pthread_mutex_unlock(&st->mu);
}
