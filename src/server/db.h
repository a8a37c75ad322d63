/* m87-server private: the database under the store, one API over two backends (docs/design.md,
 * "Database backends"): SQLite (db-sqlite.c, the embedded default) and PostgreSQL (db-pg.c,
 * libpq). The store*.c files speak only this; nothing else in the server sees a database.
 *
 * SQL given here is the common dialect both engines run: parameters are ?1, ?2, ... (db-pg.c
 * rewrites them as $1, $2, ... outside string literals), integers are 64-bit, new ids come from
 * INSERT ... RETURNING id, upserts are INSERT ... ON CONFLICT. A statement's text is a string
 * constant: its address names it in each connection's cache of prepared statements. */
#ifndef M87_SERVER_DB_H
#define M87_SERVER_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"

struct srv_db;   /* one connection */
struct srv_q;    /* a prepared statement of one connection, with its bindings and current row */

enum srv_db_kind {
    SRV_DB_SQLITE,
    SRV_DB_PG,
};

/* Open a connection. url is a file path for SQLite ("DIR/m87.db") or a libpq connection
 * string ("postgresql://..." or "host=... dbname=..."); create: SQLite makes the file (it must
 * not exist), PostgreSQL ignores it. */
int srv_db_open(const char *url, bool create, struct srv_db **out, struct m87_error **err);
void srv_db_close(struct srv_db *db);
enum srv_db_kind srv_db_kind(const struct srv_db *db);
/* True for a url that names PostgreSQL (postgresql:// or postgres:// or key=value). */
bool srv_db_url_is_pg(const char *url);

/* Run sql (one or more statements, no parameters, no rows: DDL, BEGIN, COMMIT); *err names
 * what. */
int srv_db_exec(struct srv_db *db, const char *sql, const char *what, struct m87_error **err);

/* The prepared statement for sql (cached by its address), reset, bindings cleared. NULL with
 * *err when it does not prepare. */
struct srv_q *srv_q_get(struct srv_db *db, const char *sql, struct m87_error **err);
/* Parameters, counted from 1 as in ?1. A text or blob is copied or kept until the next reset. */
void srv_q_int(struct srv_q *q, int idx, int64_t v);
void srv_q_text(struct srv_q *q, int idx, const char *text); /* NULL binds NULL */
void srv_q_blob(struct srv_q *q, int idx, const void *data, size_t len);
void srv_q_null(struct srv_q *q, int idx);

/* Run (on the first call) and move to the next row: 1 on a row, 0 at the end, -1 with *err
 * (prefixed with what) on an error. A statement without rows gives 0. */
int srv_q_step(struct srv_q *q, const char *what, struct m87_error **err);
/* Step a statement that gives no rows (or ignore them): 0, or -1 with *err. */
int srv_q_done(struct srv_q *q, const char *what, struct m87_error **err);
/* Back to before the first step; bindings kept. */
void srv_q_reset(struct srv_q *q);

/* The current row's columns, counted from 0. */
int srv_q_ncols(struct srv_q *q);
bool srv_q_is_null(struct srv_q *q, int col);
int64_t srv_q_col_int(struct srv_q *q, int col);      /* NULL reads as 0 */
const char *srv_q_col_text(struct srv_q *q, int col); /* NULL stays NULL; valid until the next step */
const void *srv_q_col_blob(struct srv_q *q, int col, size_t *len);

/* Rows the last statement of the connection inserted, changed or deleted. */
int64_t srv_db_changes(struct srv_db *db);
/* True when the last error was a constraint violation (UNIQUE, CHECK, FOREIGN KEY). */
bool srv_db_constraint_error(struct srv_db *db);

/* Connection loss (PostgreSQL; SQLite never loses its file): true after a statement failed
 * because the connection to the database is gone (the server stopped, the network broke), or
 * when the idle connection was closed by the server (it shut down or restarted), which this reads
 * without waiting. The caller answers 503 with Retry-After and calls srv_db_reconnect before
 * using db again. */
bool srv_db_unavailable(struct srv_db *db);
/* Connect again with the same connection string: 0, and statements are prepared again on their
 * next use (a struct srv_q from before stays valid, reset); -1 with *err (M87_E_CONNECT) while
 * the database is still unreachable, and db stays unavailable. */
int srv_db_reconnect(struct srv_db *db, struct m87_error **err);

/* ---- between replicas (docs/operations.md, Replicas): notifications and advisory locks ---- */

/* Called by srv_db_wait_notify for each notification: its channel and payload (borrowed). */
typedef void (*srv_db_notify_fn)(void *ctx, const char *channel, const char *payload);

/* Send payload to the listeners of channel: PostgreSQL delivers it when the current transaction
 * commits (nothing when it rolls back), at once outside one. SQLite: 0, nothing sent (one server
 * process, whose wakeups stay in its memory). -1 with *err. */
int srv_db_notify(struct srv_db *db, const char *channel, const char *payload,
                  struct m87_error **err);
/* Listen on channel with this connection, which is then kept for srv_db_wait_notify. SQLite:
 * -1 with *err (M87_E_INVAL, "not supported"). */
int srv_db_listen(struct srv_db *db, const char *channel, struct m87_error **err);
/* Wait up to timeout_ms for the notifications of the channels listened to and call fn for each:
 * the count delivered (0 when none came in time), or -1 with *err (srv_db_unavailable true when
 * the connection is lost: reconnect, or open anew, and listen again). SQLite: -1 (M87_E_INVAL). */
int srv_db_wait_notify(struct srv_db *db, int timeout_ms, srv_db_notify_fn fn, void *ctx,
                       struct m87_error **err);
/* Take the session-level advisory lock key if free (PostgreSQL pg_try_advisory_lock; held until
 * the connection ends): 1 when this connection holds it now, 0 when another does, -1 with *err.
 * SQLite: 1 (one server is always the holder). */
int srv_db_try_lock(struct srv_db *db, int64_t key, struct m87_error **err);

#endif
