/* The store's connections and its transactions (store-pool.h, docs/design.md, PostgreSQL
 * backend, Connections).
 *
 * SQLite keeps one connection (db-sqlite.c says why), PostgreSQL up to SRV_DB_POOL_MAX, all
 * opened at start. A thread takes a free one for a transaction or the lock, waiting on cond while
 * every one is taken, and keeps it as its current connection (a thread-specific value of the
 * pool's key) until it gives it back: store.c's srv_store_db and srv_stmt reach it from there, so
 * that the store*.c files need not pass it. With one connection this is the single lock of before.
 *
 * Each connection has its own cache of prepared statements (db-pg.c) and is opened again by
 * itself after an outage: the next begin or lock that takes it reconnects it. */
#include <pthread.h>
#include <stdlib.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/log.h"
#include "server/db.h"
#include "server/limits.h"
#include "server/store-pool.h"

struct srv_pool {
    pthread_mutex_t mu;
    pthread_cond_t cond; /* a connection came back */
    pthread_key_t current;
    struct srv_db *conns[SRV_DB_POOL_MAX];
    size_t n;
    size_t free[SRV_DB_POOL_MAX]; /* indexes into conns, a stack: the last used is warmest */
    size_t n_free;
};

struct srv_pool *srv_pool_new(struct srv_db *first)
{
    struct srv_pool *p = m87_xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cond, NULL);
    if (pthread_key_create(&p->current, NULL) != 0)
        m87_oom();
    p->conns[0] = first;
    p->n = 1;
    p->free[0] = 0;
    p->n_free = 1;
    return p;
}

void srv_pool_free(struct srv_pool *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++)
        srv_db_close(p->conns[i]);
    pthread_key_delete(p->current);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

struct srv_db *srv_pool_current(struct srv_pool *p)
{
    struct srv_db *db = pthread_getspecific(p->current);
    return db ? db : p->conns[0];
}

int srv_pool_grow(struct srv_pool *p, const char *url, int n, struct m87_error **err)
{
    if (n < 1 || n > SRV_DB_POOL_MAX)
        return m87_error_set(err, M87_E_INVAL, 0, "database pool: expected 1 to %d connections",
                             SRV_DB_POOL_MAX);
    if (srv_db_kind(p->conns[0]) == SRV_DB_SQLITE)
        return 0;
    while (p->n < (size_t)n) {
        struct srv_db *db = NULL;
        if (srv_db_open(url, false, &db, err) < 0)
            return m87_error_wrap(err, "database pool: connection %zu of %d", p->n + 1, n);
        pthread_mutex_lock(&p->mu);
        p->conns[p->n] = db;
        p->free[p->n_free++] = p->n;
        p->n++;
        pthread_mutex_unlock(&p->mu);
        pthread_cond_signal(&p->cond);
    }
    return 0;
}

size_t srv_pool_size(struct srv_pool *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->n;
    pthread_mutex_unlock(&p->mu);
    return n;
}

/* A thread that takes a second connection of the same store before giving back its first would
 * wait for itself once the pool is exhausted: a bug, stopped here. */
static struct srv_db *take(struct srv_pool *p)
{
    if (pthread_getspecific(p->current) != NULL) {
        m87_log(M87_LOG_ERR, "store: a thread took a second connection of the same store");
        abort();
    }
    pthread_mutex_lock(&p->mu);
    while (p->n_free == 0)
        pthread_cond_wait(&p->cond, &p->mu);
    struct srv_db *db = p->conns[p->free[--p->n_free]];
    pthread_mutex_unlock(&p->mu);
    pthread_setspecific(p->current, db);
    return db;
}

static void give(struct srv_pool *p)
{
    struct srv_db *db = pthread_getspecific(p->current);
    if (db == NULL) /* nothing taken: a bug, but the pool stays whole */
        return;
    pthread_setspecific(p->current, NULL);
    pthread_mutex_lock(&p->mu);
    size_t i = 0;
    while (i < p->n && p->conns[i] != db)
        i++;
    p->free[p->n_free++] = i;
    pthread_mutex_unlock(&p->mu);
    pthread_cond_signal(&p->cond);
}

/* A connection PostgreSQL lost is opened again before its next use; while the database is still
 * away the statement fails with M87_E_CONNECT, which a request answers with 503. */
static void reconnect_if_lost(struct srv_db *db)
{
    if (!srv_db_unavailable(db))
        return;
    _cleanup_error_ struct m87_error *err = NULL;
    if (srv_db_reconnect(db, &err) == 0)
        m87_log(M87_LOG_INFO, "database: connected again");
}

/* SQLite takes the write lock at BEGIN IMMEDIATE rather than at the first write, so that two
 * writers never deadlock on an upgrade; PostgreSQL locks rows as they are written. */
static const char *begin_sql(struct srv_db *db)
{
    return srv_db_kind(db) == SRV_DB_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN";
}

int srv_pool_begin(struct srv_pool *p, struct m87_error **err)
{
    struct srv_db *db = take(p);
    reconnect_if_lost(db);
    _cleanup_error_ struct m87_error *first = NULL;
    if (srv_db_exec(db, begin_sql(db), "begin transaction", &first) == 0)
        return 0;
    /* a connection that broke while idle (PostgreSQL restarted) is found out here, before the
     * transaction did anything: connect again and begin once more */
    if (srv_db_unavailable(db)) {
        reconnect_if_lost(db);
        if (srv_db_exec(db, begin_sql(db), "begin transaction", err) == 0)
            return 0;
    } else if (err) {
        *err = M87_STEAL(first);
    }
    give(p);
    return -1;
}

void srv_pool_lock(struct srv_pool *p)
{
    reconnect_if_lost(take(p));
}

void srv_pool_unlock(struct srv_pool *p)
{
    give(p);
}

int srv_pool_commit(struct srv_pool *p, struct m87_error **err)
{
    struct srv_db *db = pthread_getspecific(p->current);
    int rc = srv_db_exec(db, "COMMIT", "commit transaction", err);
    if (rc < 0)
        srv_db_exec(db, "ROLLBACK", "rollback transaction", NULL);
    give(p);
    return rc;
}

void srv_pool_rollback(struct srv_pool *p)
{
    srv_db_exec(pthread_getspecific(p->current), "ROLLBACK", "rollback transaction", NULL);
    give(p);
}
