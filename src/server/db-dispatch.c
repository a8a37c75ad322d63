/* db.h over its backends (db-backend.h): the url picks one at open, the connection's table
 * serves every call after. */
#include "m87/error.h"
#include "server/db-backend.h"
#include "server/db.h"

/* Weak: a program linked without the SQLite backend (tests/db/db_conformance) refuses a SQLite
 * path with a clear error instead of failing to link, and m87-server, until db-pg.o and libpq
 * are linked into it, a PostgreSQL url. A weak reference does not pull an object out of an
 * archive: the program that has a backend links its object by name. */
extern const struct srv_db_ops srv_db_sqlite_ops __attribute__((weak));
extern const struct srv_db_ops srv_db_pg_ops __attribute__((weak));

int srv_db_open(const char *url, bool create, struct srv_db **out, struct m87_error **err)
{
    bool pg = srv_db_url_is_pg(url);
    const struct srv_db_ops *ops = pg ? &srv_db_pg_ops : &srv_db_sqlite_ops;
    if (!ops && pg) /* the url is not repeated: it may hold a password */
        return m87_error_set(err, M87_E_INVAL, 0,
                             "a PostgreSQL database: this program is built without PostgreSQL "
                             "(libpq)");
    if (!ops)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "database '%s': this program has no SQLite backend", url);
    return ops->open(url, create, out, err);
}

void srv_db_close(struct srv_db *db)
{
    if (db)
        db->ops->close(db);
}

enum srv_db_kind srv_db_kind(const struct srv_db *db)
{
    return db->ops->kind;
}

int srv_db_exec(struct srv_db *db, const char *sql, const char *what, struct m87_error **err)
{
    return db->ops->exec(db, sql, what, err);
}

struct srv_q *srv_q_get(struct srv_db *db, const char *sql, struct m87_error **err)
{
    return db->ops->q_get(db, sql, err);
}

void srv_q_int(struct srv_q *q, int idx, int64_t v)
{
    q->db->ops->q_int(q, idx, v);
}

void srv_q_text(struct srv_q *q, int idx, const char *text)
{
    q->db->ops->q_text(q, idx, text);
}

void srv_q_blob(struct srv_q *q, int idx, const void *data, size_t len)
{
    q->db->ops->q_blob(q, idx, data, len);
}

void srv_q_null(struct srv_q *q, int idx)
{
    q->db->ops->q_null(q, idx);
}

int srv_q_step(struct srv_q *q, const char *what, struct m87_error **err)
{
    return q->db->ops->q_step(q, what, err);
}

int srv_q_done(struct srv_q *q, const char *what, struct m87_error **err)
{
    return q->db->ops->q_step(q, what, err) < 0 ? -1 : 0;
}

void srv_q_reset(struct srv_q *q)
{
    q->db->ops->q_reset(q);
}

int srv_q_ncols(struct srv_q *q)
{
    return q->db->ops->q_ncols(q);
}

bool srv_q_is_null(struct srv_q *q, int col)
{
    return q->db->ops->q_is_null(q, col);
}

int64_t srv_q_col_int(struct srv_q *q, int col)
{
    return q->db->ops->q_col_int(q, col);
}

const char *srv_q_col_text(struct srv_q *q, int col)
{
    return q->db->ops->q_col_text(q, col);
}

const void *srv_q_col_blob(struct srv_q *q, int col, size_t *len)
{
    return q->db->ops->q_col_blob(q, col, len);
}

int64_t srv_db_changes(struct srv_db *db)
{
    return db->ops->changes(db);
}

bool srv_db_constraint_error(struct srv_db *db)
{
    return db->ops->constraint_error(db);
}

bool srv_db_unavailable(struct srv_db *db)
{
    return db->ops->unavailable(db);
}

int srv_db_reconnect(struct srv_db *db, struct m87_error **err)
{
    return db->ops->reconnect(db, err);
}

int srv_db_notify(struct srv_db *db, const char *channel, const char *payload,
                  struct m87_error **err)
{
    return db->ops->notify(db, channel, payload, err);
}

int srv_db_listen(struct srv_db *db, const char *channel, struct m87_error **err)
{
    return db->ops->listen(db, channel, err);
}

int srv_db_wait_notify(struct srv_db *db, int timeout_ms, srv_db_notify_fn fn, void *ctx,
                       struct m87_error **err)
{
    return db->ops->wait_notify(db, timeout_ms, fn, ctx, err);
}

int srv_db_try_lock(struct srv_db *db, int64_t key, struct m87_error **err)
{
    return db->ops->try_lock(db, key, err);
}
