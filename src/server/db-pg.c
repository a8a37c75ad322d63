/* The PostgreSQL backend of db.h, on libpq: srv_db_pg_ops (db-backend.h), which db-dispatch.c
 * calls through for a connection opened on a PostgreSQL url.
 *
 * Statements: the common dialect's ?N become $N (srv_pg_rewrite), and each statement is
 * prepared once per connection under a generated name, found again by the address of its text.
 * Parameters go as text (integers formatted in decimal) and blobs as binary, so that a blob
 * keeps its zero bytes without escaping. Results come in text format: integers are parsed,
 * booleans read 't' as 1, and a bytea column (sent as \x... hex) is decoded by libpq's
 * PQunescapeBytea when a column of it is read, kept with the row until the next step.
 *
 * One connection per struct pg_db, used by one thread at a time, as libpq wants. A failure
 * that leaves the connection bad (the server went away) marks it unavailable: the caller
 * answers 503 and calls srv_db_reconnect, which resets the connection and prepares the
 * statements again on their next use. TLS is whatever the connection string (sslmode=...) or
 * the PG* environment asks for: nothing here sets it.
 *
 * Longer than 600 lines: the replicas' notifications and advisory lock (the end of the file) need
 * the connection's private state, and libpq may be named only in db-pg*.c. */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/log.h"
#include "server/db-backend.h"
#include "server/db-pg.h"
#include "server/db.h"

/* Distinct statements one connection prepares; the store has fewer than 200. */
#define PG_STMT_CACHE 512

/* PostgreSQL stores no field over 1 GiB */
#define PG_MAX_BLOB ((size_t)1 << 30)

/* PostgreSQL's type oids (catalog/pg_type_d.h, stable across versions) */
#define PG_OID_BOOL 16
#define PG_OID_BYTEA 17

struct pg_q {
    struct srv_q base; /* first: db.h hands out &base */
    struct pg_db *db;
    const char *sql; /* the caller's constant: the cache key */
    char name[24];
    char *text; /* sql rewritten with $N */
    bool prepared;
    int nparams;
    char **values; /* owned copies; NULL binds NULL */
    int *lengths;
    int *formats;
    int bad_param; /* a parameter number out of range, reported at the step */
    int big_param; /* a blob over PG_MAX_BLOB, reported at the step */
    PGresult *res;
    bool ran;
    int row;
    int nrows;
    char **decoded; /* per column of the row: a decoded bytea, NUL-terminated */
    size_t *decoded_len;
    int ndecoded;
};

struct pg_db {
    struct srv_db base; /* first: db.h hands out &base */
    PGconn *conn;
    struct pg_q *cache[PG_STMT_CACHE];
    size_t n_cache;
    int64_t changes;
    bool constraint;
    bool unavailable;
};

static void pg_notice(void *arg, const char *message)
{
    (void)arg;
    m87_log(M87_LOG_DEBUG, "postgresql: %.*s", (int)strcspn(message, "\n"), message);
}

/* ---- errors ---- */

/* Fill *err from a failed result (or the connection when res is NULL) and note what kind of
 * failure it was: a constraint (SQLSTATE class 23) or a lost connection. */
static int pg_fail(struct pg_db *db, const PGresult *res, const char *what, struct m87_error **err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    if (!msg)
        msg = PQerrorMessage(db->conn);
    if (!msg || !*msg)
        msg = "unknown error";
    db->constraint = state && strncmp(state, "23", 2) == 0;
    if (PQstatus(db->conn) == CONNECTION_BAD)
        db->unavailable = true;
    const char *sep = detail ? " (" : "", *tail = detail ? ")" : "";
    int dlen = detail ? (int)strcspn(detail, "\n") : 0;
    if (db->unavailable)
        return m87_error_set(err, M87_E_CONNECT, 0, "%s: database unavailable: %.*s", what,
                             (int)strcspn(msg, "\n"), msg);
    /* class 40 (a deadlock PostgreSQL broke, a serialization failure): nothing was wrong with
     * the request, and the same again is expected to work: M87_E_TIMEOUT, a 503 to try again */
    enum m87_errcode code = db->constraint                          ? M87_E_CONFLICT
                            : state && strncmp(state, "40", 2) == 0 ? M87_E_TIMEOUT
                                                                    : M87_E_IO;
    return m87_error_set(err, code, 0, "%s: %.*s%s%.*s%s", what, (int)strcspn(msg, "\n"), msg, sep,
                         dlen, detail ? detail : "", tail);
}

/* ---- connections ---- */

static int pg_open(const char *url, bool create, struct srv_db **out, struct m87_error **err)
{
    (void)create;
    if (!srv_db_url_is_pg(url))
        return m87_error_set(err, M87_E_INVAL, 0,
                             "database '%s': not a PostgreSQL connection string", url);
    PGconn *conn = PQconnectdb(url);
    if (PQstatus(conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(conn);
        m87_error_set(err, M87_E_CONNECT, 0, "connect to database: %.*s", (int)strcspn(msg, "\n"),
                      msg);
        PQfinish(conn);
        return -1;
    }
    PQsetNoticeProcessor(conn, pg_notice, NULL);
    if (PQsetClientEncoding(conn, "UTF8") != 0) {
        m87_error_set(err, M87_E_IO, 0, "connect to database: set client encoding UTF8");
        PQfinish(conn);
        return -1;
    }
    struct pg_db *db = m87_xcalloc(1, sizeof(*db));
    db->base.ops = &srv_db_pg_ops;
    db->conn = conn;
    *out = &db->base;
    return 0;
}

static void q_clear_row(struct pg_q *q)
{
    for (int c = 0; c < q->ndecoded; c++) {
        free(q->decoded[c]);
        q->decoded[c] = NULL;
    }
}

static void q_clear_params(struct pg_q *q)
{
    for (int i = 0; i < q->nparams; i++) {
        free(q->values[i]);
        q->values[i] = NULL;
        q->lengths[i] = 0;
        q->formats[i] = 0;
    }
    q->bad_param = 0;
    q->big_param = 0;
}

static void q_reset(struct pg_q *q)
{
    q_clear_row(q);
    PQclear(q->res);
    q->res = NULL;
    q->ran = false;
    q->row = -1;
    q->nrows = 0;
}

static void q_free(struct pg_q *q)
{
    q_reset(q);
    q_clear_params(q);
    free(q->decoded);
    free(q->decoded_len);
    free(q->values);
    free(q->lengths);
    free(q->formats);
    free(q->text);
    free(q);
}

static void pg_close(struct srv_db *b)
{
    struct pg_db *db = (struct pg_db *)b;
    if (!db)
        return;
    for (size_t i = 0; i < db->n_cache; i++)
        q_free(db->cache[i]);
    PQfinish(db->conn);
    free(db);
}

/* The rows a finished command changed, as the SQLite backend counts them: only an INSERT, UPDATE
 * or DELETE sets it (PQcmdTuples also counts a SELECT's rows). */
static void note_changes(struct pg_db *db, PGresult *res)
{
    const char *status = PQcmdStatus(res);
    if (strncmp(status, "INSERT ", 7) && strncmp(status, "UPDATE ", 7) &&
        strncmp(status, "DELETE ", 7))
        return;
    db->changes = strtoll(PQcmdTuples(res), NULL, 10);
}

static int pg_exec(struct srv_db *b, const char *sql, const char *what, struct m87_error **err)
{
    struct pg_db *db = (struct pg_db *)b;
    db->constraint = false;
    PGresult *res = PQexec(db->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = pg_fail(db, res, what, err);
    else
        note_changes(db, res);
    PQclear(res);
    return rc;
}

static int64_t pg_changes(struct srv_db *b)
{
    struct pg_db *db = (struct pg_db *)b;
    return db->changes;
}

static bool pg_constraint_error(struct srv_db *b)
{
    struct pg_db *db = (struct pg_db *)b;
    return db->constraint;
}

/* Also reads what the server sent while the connection was idle (libpq's socket never blocks
 * here): a PostgreSQL that shut down or restarted has closed it, and the next statement would
 * fail on it. Twice: the first read takes the server's last message (a FATAL that libpq takes as
 * a notice when idle), the second finds the end of the stream. */
static bool pg_unavailable(struct srv_db *b)
{
    struct pg_db *db = (struct pg_db *)b;
    for (int i = 0; i < 2 && !db->unavailable; i++)
        if (!PQconsumeInput(db->conn) || PQstatus(db->conn) == CONNECTION_BAD)
            db->unavailable = true;
    return db->unavailable;
}

static int pg_reconnect(struct srv_db *b, struct m87_error **err)
{
    struct pg_db *db = (struct pg_db *)b;
    PQreset(db->conn);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(db->conn);
        db->unavailable = true;
        return m87_error_set(err, M87_E_CONNECT, 0, "reconnect to database: %.*s",
                             (int)strcspn(msg, "\n"), msg);
    }
    PQsetClientEncoding(db->conn, "UTF8");
    /* a new session has none of the old one's prepared statements */
    for (size_t i = 0; i < db->n_cache; i++) {
        q_reset(db->cache[i]);
        db->cache[i]->prepared = false;
    }
    db->unavailable = false;
    return 0;
}

/* ---- statements ---- */

static int q_prepare(struct pg_q *q, struct m87_error **err)
{
    struct pg_db *db = q->db;
    PGresult *res = PQprepare(db->conn, q->name, q->text, q->nparams, NULL);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = pg_fail(db, res, "prepare statement", err);
    else
        q->prepared = true;
    PQclear(res);
    return rc;
}

static struct srv_q *pg_q_get(struct srv_db *b, const char *sql, struct m87_error **err)
{
    struct pg_db *db = (struct pg_db *)b;
    struct pg_q *q = NULL;
    for (size_t i = 0; i < db->n_cache && !q; i++)
        if (db->cache[i]->sql == sql)
            q = db->cache[i];
    if (!q) {
        if (db->n_cache == PG_STMT_CACHE)
            return m87_error_set(err, M87_E_INTERNAL, 0, "prepare statement: cache full"), NULL;
        int nparams = 0;
        char *text = srv_pg_rewrite(sql, &nparams, err);
        if (!text)
            return m87_error_wrap(err, "prepare statement"), NULL;
        q = m87_xcalloc(1, sizeof(*q));
        q->db = db;
        q->base.db = &db->base;
        q->sql = sql;
        q->text = text;
        snprintf(q->name, sizeof(q->name), "m87_%zu", db->n_cache);
        q->nparams = nparams;
        q->values = m87_xcalloc(nparams ? nparams : 1, sizeof(*q->values));
        q->lengths = m87_xcalloc(nparams ? nparams : 1, sizeof(*q->lengths));
        q->formats = m87_xcalloc(nparams ? nparams : 1, sizeof(*q->formats));
        q->row = -1;
        db->cache[db->n_cache++] = q;
    }
    q_reset(q);
    q_clear_params(q);
    if (!q->prepared && q_prepare(q, err) < 0)
        return NULL;
    return &q->base;
}

/* The slot of parameter idx (from 1), emptied; NULL (noted for the step) when out of range. */
static int q_slot(struct pg_q *q, int idx)
{
    if (idx < 1 || idx > q->nparams) {
        q->bad_param = idx ? idx : -1;
        return -1;
    }
    free(q->values[idx - 1]);
    q->values[idx - 1] = NULL;
    q->lengths[idx - 1] = 0;
    q->formats[idx - 1] = 0;
    return idx - 1;
}

static void pg_q_int(struct srv_q *b, int idx, int64_t v)
{
    struct pg_q *q = (struct pg_q *)b;
    int i = q_slot(q, idx);
    if (i >= 0)
        q->values[i] = m87_xasprintf("%" PRId64, v);
}

static void pg_q_text(struct srv_q *b, int idx, const char *text)
{
    struct pg_q *q = (struct pg_q *)b;
    int i = q_slot(q, idx);
    if (i >= 0 && text)
        q->values[i] = m87_xstrdup(text);
}

static void pg_q_blob(struct srv_q *b, int idx, const void *data, size_t len)
{
    struct pg_q *q = (struct pg_q *)b;
    int i = q_slot(q, idx);
    if (i < 0)
        return;
    if (len >= PG_MAX_BLOB) {
        q->big_param = idx;
        return;
    }
    q->values[i] = m87_xmalloc(len ? len : 1);
    if (len)
        memcpy(q->values[i], data, len);
    q->lengths[i] = (int)len;
    q->formats[i] = 1;
}

static void pg_q_null(struct srv_q *b, int idx)
{
    struct pg_q *q = (struct pg_q *)b;
    q_slot(q, idx);
}

static int q_run(struct pg_q *q, const char *what, struct m87_error **err)
{
    struct pg_db *db = q->db;
    db->constraint = false;
    if (q->bad_param)
        return m87_error_set(err, M87_E_INTERNAL, 0,
                             "%s: parameter %d out of range (the statement has %d)", what,
                             q->bad_param, q->nparams);
    if (q->big_param)
        return m87_error_set(err, M87_E_TOOBIG, 0, "%s: parameter %d: a blob of 1 GiB or more",
                             what, q->big_param);
    if (!q->prepared && q_prepare(q, err) < 0)
        return m87_error_wrap(err, "%s", what);
    PGresult *res = PQexecPrepared(db->conn, q->name, q->nparams, (const char *const *)q->values,
                                   q->lengths, q->formats, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        pg_fail(db, res, what, err);
        PQclear(res);
        return -1;
    }
    note_changes(db, res);
    q->res = res;
    q->ran = true;
    q->row = -1;
    q->nrows = PQntuples(res);
    int ncols = PQnfields(res);
    if (ncols > q->ndecoded) {
        q->decoded = m87_xrealloc(q->decoded, (size_t)ncols * sizeof(*q->decoded));
        q->decoded_len = m87_xrealloc(q->decoded_len, (size_t)ncols * sizeof(*q->decoded_len));
        for (int c = q->ndecoded; c < ncols; c++)
            q->decoded[c] = NULL;
        q->ndecoded = ncols;
    }
    return 0;
}

static int pg_q_step(struct srv_q *b, const char *what, struct m87_error **err)
{
    struct pg_q *q = (struct pg_q *)b;
    if (!q->ran && q_run(q, what, err) < 0)
        return -1;
    q_clear_row(q);
    if (q->row < q->nrows)
        q->row++;
    return q->row < q->nrows ? 1 : 0;
}

/* ---- columns ---- */

static bool q_has(struct pg_q *q, int col)
{
    return q->res && q->row >= 0 && q->row < q->nrows && col >= 0 && col < PQnfields(q->res);
}

static int pg_q_ncols(struct srv_q *b)
{
    struct pg_q *q = (struct pg_q *)b;
    return q->res ? PQnfields(q->res) : 0;
}

static bool q_is_null(struct pg_q *q, int col)
{
    return !q_has(q, col) || PQgetisnull(q->res, q->row, col);
}

static int64_t pg_q_col_int(struct srv_q *b, int col)
{
    struct pg_q *q = (struct pg_q *)b;
    if (q_is_null(q, col))
        return 0;
    const char *v = PQgetvalue(q->res, q->row, col);
    if (PQftype(q->res, col) == PG_OID_BOOL)
        return v[0] == 't';
    return strtoll(v, NULL, 10);
}

/* The bytes of a bytea column, decoded once per row and kept NUL-terminated. */
static const char *q_bytea(struct pg_q *q, int col, size_t *len)
{
    if (!q->decoded[col]) {
        size_t n = 0;
        unsigned char *raw =
            PQunescapeBytea((const unsigned char *)PQgetvalue(q->res, q->row, col), &n);
        if (!raw)
            abort(); /* out of memory, as m87_xmalloc */
        q->decoded[col] = m87_xmalloc(n + 1);
        memcpy(q->decoded[col], raw, n);
        q->decoded[col][n] = '\0';
        q->decoded_len[col] = n;
        PQfreemem(raw);
    }
    *len = q->decoded_len[col];
    return q->decoded[col];
}

static const char *pg_q_col_text(struct srv_q *b, int col)
{
    struct pg_q *q = (struct pg_q *)b;
    if (q_is_null(q, col))
        return NULL;
    size_t len = 0;
    if (PQftype(q->res, col) == PG_OID_BYTEA)
        return q_bytea(q, col, &len);
    return PQgetvalue(q->res, q->row, col);
}

static const void *pg_q_col_blob(struct srv_q *b, int col, size_t *len)
{
    struct pg_q *q = (struct pg_q *)b;
    *len = 0;
    if (q_is_null(q, col))
        return NULL;
    if (PQftype(q->res, col) == PG_OID_BYTEA)
        return q_bytea(q, col, len);
    *len = (size_t)PQgetlength(q->res, q->row, col);
    return PQgetvalue(q->res, q->row, col);
}

static void pg_q_reset(struct srv_q *b)
{
    q_reset((struct pg_q *)b);
}

static bool pg_q_is_null(struct srv_q *b, int col)
{
    return q_is_null((struct pg_q *)b, col);
}

/* ---- between replicas: LISTEN/NOTIFY and advisory locks ---- */

/* One statement with text parameters and at most one row of one column, outside the cache
 * (these run rarely, or on a connection of their own). *out gets that value's first character,
 * or 0. */
static int pg_run(struct pg_db *db, const char *sql, int n, const char *const *values, char *out,
                  const char *what, struct m87_error **err)
{
    db->constraint = false;
    PGresult *res = PQexecParams(db->conn, sql, n, NULL, values, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = pg_fail(db, res, what, err);
    else if (out)
        *out = PQntuples(res) > 0 && PQnfields(res) > 0 ? PQgetvalue(res, 0, 0)[0] : '\0';
    PQclear(res);
    return rc;
}

static int pg_notify(struct srv_db *b, const char *channel, const char *payload,
                     struct m87_error **err)
{
    const char *values[] = {channel, payload};
    return pg_run((struct pg_db *)b, "SELECT pg_notify($1, $2)", 2, values, NULL, "notify", err);
}

static int pg_listen(struct srv_db *b, const char *channel, struct m87_error **err)
{
    struct pg_db *db = (struct pg_db *)b;
    char *id = PQescapeIdentifier(db->conn, channel, strlen(channel));
    if (id == NULL)
        return pg_fail(db, NULL, "listen", err);
    _cleanup_free_ char *sql = m87_xasprintf("LISTEN %s", id);
    PQfreemem(id);
    return pg_run(db, sql, 0, NULL, NULL, "listen", err);
}

static int pg_deliver(struct pg_db *db, srv_db_notify_fn fn, void *ctx)
{
    int n = 0;
    PGnotify *nf;
    while ((nf = PQnotifies(db->conn)) != NULL) {
        fn(ctx, nf->relname, nf->extra);
        PQfreemem(nf);
        n++;
    }
    return n;
}

static int pg_lost(struct pg_db *db, const char *what, struct m87_error **err)
{
    const char *msg = PQerrorMessage(db->conn);
    if (msg == NULL || *msg == '\0')
        msg = "connection lost";
    db->unavailable = true;
    return m87_error_set(err, M87_E_CONNECT, 0, "%s: database unavailable: %.*s", what,
                         (int)strcspn(msg, "\n"), msg);
}

static int pg_wait_notify(struct srv_db *b, int timeout_ms, srv_db_notify_fn fn, void *ctx,
                          struct m87_error **err)
{
    struct pg_db *db = (struct pg_db *)b;
    int n = pg_deliver(db, fn, ctx); /* those a statement's answer brought along */
    if (n > 0)
        return n;
    struct pollfd pfd = {.fd = PQsocket(db->conn), .events = POLLIN};
    if (pfd.fd < 0 || PQstatus(db->conn) != CONNECTION_OK)
        return pg_lost(db, "wait for notifications", err);
    int r = poll(&pfd, 1, timeout_ms);
    if (r < 0 && errno != EINTR)
        return m87_error_set(err, M87_E_IO, errno, "wait for notifications: poll");
    if (r <= 0)
        return 0;
    /* a closed socket reads as input, which PQconsumeInput then fails on */
    if (!PQconsumeInput(db->conn) || PQstatus(db->conn) != CONNECTION_OK)
        return pg_lost(db, "wait for notifications", err);
    return pg_deliver(db, fn, ctx);
}

static int pg_try_lock(struct srv_db *b, int64_t key, struct m87_error **err)
{
    char num[24];
    snprintf(num, sizeof(num), "%" PRId64, key);
    const char *values[] = {num};
    char got = 0;
    if (pg_run((struct pg_db *)b, "SELECT pg_try_advisory_lock($1::bigint)", 1, values, &got,
               "take advisory lock", err) < 0)
        return -1;
    return got == 't' ? 1 : 0;
}

const struct srv_db_ops srv_db_pg_ops = {
    .kind = SRV_DB_PG,
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .q_get = pg_q_get,
    .q_int = pg_q_int,
    .q_text = pg_q_text,
    .q_blob = pg_q_blob,
    .q_null = pg_q_null,
    .q_step = pg_q_step,
    .q_reset = pg_q_reset,
    .q_ncols = pg_q_ncols,
    .q_is_null = pg_q_is_null,
    .q_col_int = pg_q_col_int,
    .q_col_text = pg_q_col_text,
    .q_col_blob = pg_q_col_blob,
    .changes = pg_changes,
    .constraint_error = pg_constraint_error,
    .unavailable = pg_unavailable,
    .reconnect = pg_reconnect,
    .notify = pg_notify,
    .listen = pg_listen,
    .wait_notify = pg_wait_notify,
    .try_lock = pg_try_lock,
};
