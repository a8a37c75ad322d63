/* The SQLite backend of db.h: one connection to a database file, its cache of prepared
 * statements, and a checkpoint thread of its own.
 *
 * The store holds one connection under one mutex for every thread. SQLite serialises writers
 * anyway; with WAL and transactions of well under a millisecond a single connection costs little
 * concurrency, never sees SQLITE_BUSY from its own process, and keeps every prepared statement in
 * one cache. busy_timeout still covers a second process (a backup tool).
 *
 * Checkpoints run on a second connection and thread that srv_db_open starts and srv_db_close
 * stops: the automatic checkpoint would fsync inside a commit, under the store's lock, and stall
 * every request behind it. Nothing outside this file knows of them.
 *
 * srv_db_exec (BEGIN, COMMIT, ROLLBACK) first resets every statement of the cache: one left on
 * a row would keep its read open past the transaction, and WAL checkpoints wait for it. */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/log.h"
#include "server/db-backend.h"
#include "server/db.h"
#include "server/util.h"

/* Prepared statements kept per connection: every SQL constant of the store fits (about 110
 * today), with room for those to come; a miss past it is an error, not a slow path. */
#define STMT_CACHE 256
/* Seconds between WAL checkpoints. */
#define CHECKPOINT_PERIOD 5
/* How long a statement waits on another process's lock before it fails with SQLITE_BUSY. */
#define BUSY_TIMEOUT_MS 5000

struct sq_q {
    struct srv_q base;
    const char *sql;
    sqlite3_stmt *stmt;
};

struct sq_db {
    struct srv_db base;
    sqlite3 *h;
    struct sq_q cache[STMT_CACHE];
    size_t n_cache;
    sqlite3 *ckpt_h;
    pthread_t ckpt_thread;
    bool ckpt_running;
    bool ckpt_quit;
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cond;
};

static struct sq_db *db_of(struct srv_db *db)
{
    return (struct sq_db *)db;
}

static sqlite3_stmt *stmt_of(struct srv_q *q)
{
    return ((struct sq_q *)q)->stmt;
}

static bool constraint_error(struct srv_db *db)
{
    return (sqlite3_extended_errcode(db_of(db)->h) & 0xff) == SQLITE_CONSTRAINT;
}

/* *err from the connection's last error: M87_E_CONFLICT for a constraint, else M87_E_IO. */
static int db_error(struct srv_db *db, const char *what, struct m87_error **err)
{
    enum m87_errcode c = constraint_error(db) ? M87_E_CONFLICT : M87_E_IO;
    return m87_error_set(err, c, 0, "%s: %s", what, sqlite3_errmsg(db_of(db)->h));
}

/* every statement of the cache back to before its first step */
static void reset_all(struct srv_db *db)
{
    struct sq_db *d = db_of(db);
    for (size_t i = 0; i < d->n_cache; i++)
        sqlite3_reset(d->cache[i].stmt);
}

static int exec(struct srv_db *db, const char *sql, const char *what, struct m87_error **err)
{
    char *msg = NULL;
    reset_all(db);
    if (sqlite3_exec(db_of(db)->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        m87_error_set(err, M87_E_IO, 0, "%s: %s", what, msg ? msg : sqlite3_errmsg(db_of(db)->h));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static struct srv_q *q_get(struct srv_db *db, const char *sql, struct m87_error **err)
{
    struct sq_db *d = db_of(db);
    for (size_t i = 0; i < d->n_cache; i++) {
        if (d->cache[i].sql == sql) {
            sqlite3_reset(d->cache[i].stmt);
            sqlite3_clear_bindings(d->cache[i].stmt);
            return &d->cache[i].base;
        }
    }
    if (d->n_cache == STMT_CACHE) {
        m87_error_set(err, M87_E_INTERNAL, 0, "prepare statement: cache full");
        return NULL;
    }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v3(d->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
        db_error(db, "prepare statement", err);
        return NULL;
    }
    struct sq_q *q = &d->cache[d->n_cache++];
    *q = (struct sq_q){.base = {.db = db}, .sql = sql, .stmt = s};
    return &q->base;
}

static void q_int(struct srv_q *q, int idx, int64_t v)
{
    sqlite3_bind_int64(stmt_of(q), idx, v);
}

static void q_text(struct srv_q *q, int idx, const char *text)
{
    sqlite3_bind_text(stmt_of(q), idx, text, -1, SQLITE_TRANSIENT);
}

static void q_blob(struct srv_q *q, int idx, const void *data, size_t len)
{
    sqlite3_bind_blob64(stmt_of(q), idx, data, len, SQLITE_TRANSIENT);
}

static void q_null(struct srv_q *q, int idx)
{
    sqlite3_bind_null(stmt_of(q), idx);
}

static int q_step(struct srv_q *q, const char *what, struct m87_error **err)
{
    int rc = sqlite3_step(stmt_of(q));
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return db_error(q->db, what, err);
}

static void q_reset(struct srv_q *q)
{
    sqlite3_reset(stmt_of(q));
}

static int q_ncols(struct srv_q *q)
{
    return sqlite3_column_count(stmt_of(q));
}

static bool q_is_null(struct srv_q *q, int col)
{
    return sqlite3_column_type(stmt_of(q), col) == SQLITE_NULL;
}

static int64_t q_col_int(struct srv_q *q, int col)
{
    return sqlite3_column_int64(stmt_of(q), col);
}

static const char *q_col_text(struct srv_q *q, int col)
{
    return (const char *)sqlite3_column_text(stmt_of(q), col);
}

static const void *q_col_blob(struct srv_q *q, int col, size_t *len)
{
    const void *p = sqlite3_column_blob(stmt_of(q), col);
    *len = (size_t)sqlite3_column_bytes(stmt_of(q), col);
    return p;
}

static int64_t changes(struct srv_db *db)
{
    return sqlite3_changes64(db_of(db)->h);
}

static void *checkpointer(void *arg)
{
    struct sq_db *d = arg;
    pthread_mutex_lock(&d->ckpt_mu);
    while (!d->ckpt_quit) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += CHECKPOINT_PERIOD;
        pthread_cond_timedwait(&d->ckpt_cond, &d->ckpt_mu, &until);
        if (d->ckpt_quit)
            break;
        pthread_mutex_unlock(&d->ckpt_mu);
        int nlog = -1, nck = -1;
        int rc = sqlite3_wal_checkpoint_v2(d->ckpt_h, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &nck);
        m87_log(M87_LOG_DEBUG, "database checkpoint: %d of %d WAL frames", nck, nlog);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            m87_log(M87_LOG_WARN, "database checkpoint: %s", sqlite3_errmsg(d->ckpt_h));
        pthread_mutex_lock(&d->ckpt_mu);
    }
    pthread_mutex_unlock(&d->ckpt_mu);
    return NULL;
}

static int start_checkpointer(struct sq_db *d, const char *path, struct m87_error **err)
{
    if (sqlite3_open_v2(path, &d->ckpt_h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK)
        return m87_error_set(err, M87_E_IO, 0, "open database '%s': %s", path,
                             d->ckpt_h ? sqlite3_errmsg(d->ckpt_h) : "out of memory");
    sqlite3_busy_timeout(d->ckpt_h, BUSY_TIMEOUT_MS);
    /* A connection knows that the database is in WAL mode only once it has read it: until then
     * a checkpoint on it does nothing and says so only by a frame count of -1, and the WAL grew
     * without bound while the server ran (found by bench/fleet_sim: 22 MB of WAL beside a
     * 0.7 MB database). Reading the journal mode opens it. */
    if (sqlite3_exec(d->ckpt_h, "PRAGMA journal_mode", NULL, NULL, NULL) != SQLITE_OK)
        return m87_error_set(err, M87_E_IO, 0, "open database '%s' for checkpoints: %s", path,
                             sqlite3_errmsg(d->ckpt_h));
    srv_cond_init_monotonic(&d->ckpt_cond);
    if (pthread_create(&d->ckpt_thread, NULL, checkpointer, d) != 0) {
        pthread_cond_destroy(&d->ckpt_cond);
        return m87_error_set(err, M87_E_IO, 0, "start the checkpoint thread");
    }
    d->ckpt_running = true;
    return 0;
}

static void db_close(struct srv_db *db)
{
    struct sq_db *d = db_of(db);
    if (d->ckpt_running)
        srv_thread_stop(d->ckpt_thread, &d->ckpt_mu, &d->ckpt_cond, &d->ckpt_quit);
    sqlite3_close(d->ckpt_h);
    for (size_t i = 0; i < d->n_cache; i++)
        sqlite3_finalize(d->cache[i].stmt);
    sqlite3_close(d->h);
    pthread_mutex_destroy(&d->ckpt_mu);
    free(d);
}

/* journal_size_limit: the WAL file is cut back to 16 MiB when a write starts it over after a
 * checkpoint, instead of keeping the size of its busiest moment.
 * synchronous=FULL: each commit syncs the WAL before it returns, so that what the server
 * acknowledged survives a power loss (NORMAL, the WAL default, may lose the last commits; the
 * cost is in docs/api.md, Capacity). */
static int configure(struct srv_db *db, struct m87_error **err)
{
    sqlite3_busy_timeout(db_of(db)->h, BUSY_TIMEOUT_MS);
    if (exec(db, "PRAGMA journal_mode=WAL", "set journal mode", err) < 0 ||
        exec(db, "PRAGMA wal_autocheckpoint=0", "disable automatic checkpoints", err) < 0 ||
        exec(db, "PRAGMA journal_size_limit=16777216", "limit the WAL file", err) < 0 ||
        exec(db, "PRAGMA foreign_keys=ON", "enable foreign keys", err) < 0 ||
        exec(db, "PRAGMA synchronous=FULL", "set synchronous", err) < 0)
        return -1;
    return 0;
}

/* SQLite never loses its file: nothing to reconnect */
static bool unavailable(struct srv_db *db)
{
    (void)db;
    return false;
}

static int reconnect(struct srv_db *db, struct m87_error **err)
{
    (void)db;
    (void)err;
    return 0;
}

/* One server on a file: its wakeups stay in its memory and it always drives the rollouts. */
static int notify(struct srv_db *db, const char *channel, const char *payload,
                  struct m87_error **err)
{
    (void)db;
    (void)channel;
    (void)payload;
    (void)err;
    return 0;
}

static int listen_channel(struct srv_db *db, const char *channel, struct m87_error **err)
{
    (void)db;
    return m87_error_set(err, M87_E_INVAL, 0, "listen on '%s': not supported by SQLite", channel);
}

static int wait_notify(struct srv_db *db, int timeout_ms, srv_db_notify_fn fn, void *ctx,
                       struct m87_error **err)
{
    (void)db;
    (void)timeout_ms;
    (void)fn;
    (void)ctx;
    return m87_error_set(err, M87_E_INVAL, 0, "wait for notifications: not supported by SQLite");
}

static int try_lock(struct srv_db *db, int64_t key, struct m87_error **err)
{
    (void)db;
    (void)key;
    (void)err;
    return 1;
}

static int db_open(const char *path, bool create, struct srv_db **out, struct m87_error **err);

const struct srv_db_ops srv_db_sqlite_ops = {
    .kind = SRV_DB_SQLITE,
    .open = db_open,
    .close = db_close,
    .exec = exec,
    .q_get = q_get,
    .q_int = q_int,
    .q_text = q_text,
    .q_blob = q_blob,
    .q_null = q_null,
    .q_step = q_step,
    .q_reset = q_reset,
    .q_ncols = q_ncols,
    .q_is_null = q_is_null,
    .q_col_int = q_col_int,
    .q_col_text = q_col_text,
    .q_col_blob = q_col_blob,
    .changes = changes,
    .constraint_error = constraint_error,
    .unavailable = unavailable,
    .reconnect = reconnect,
    .notify = notify,
    .listen = listen_channel,
    .wait_notify = wait_notify,
    .try_lock = try_lock,
};

static int db_open(const char *path, bool create, struct srv_db **out, struct m87_error **err)
{
    struct stat sb;
    if (create && stat(path, &sb) == 0)
        return m87_error_set(err, M87_E_CONFLICT, 0, "database '%s' already exists", path);
    struct sq_db *d = m87_xcalloc(1, sizeof(*d));
    d->base = (struct srv_db){.ops = &srv_db_sqlite_ops};
    pthread_mutex_init(&d->ckpt_mu, NULL);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &d->h, flags, NULL) != SQLITE_OK) {
        m87_error_set(err, M87_E_IO, 0, "open database '%s': %s", path,
                      d->h ? sqlite3_errmsg(d->h) : "out of memory");
        db_close(&d->base);
        return -1;
    }
    if (configure(&d->base, err) < 0 || start_checkpointer(d, path, err) < 0) {
        m87_error_wrap(err, "database '%s'", path);
        db_close(&d->base);
        return -1;
    }
    *out = &d->base;
    return 0;
}
