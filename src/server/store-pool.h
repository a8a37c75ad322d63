/* Private to store.c: the store's connections (store-pool.c). SQLite has one; PostgreSQL up to
 * SRV_DB_POOL_MAX (`m87-server serve --db-pool N`, docs/design.md, PostgreSQL backend). A thread
 * takes one for a transaction (srv_pool_begin) or for statements without one (srv_pool_lock),
 * which is then its current connection (srv_pool_current) until commit, rollback or unlock give
 * it back. store.h's srv_store_begin and the rest say the same for the store. */
#ifndef M87_SERVER_STORE_POOL_H
#define M87_SERVER_STORE_POOL_H

#include <stddef.h>

#include "server/db.h"
#include "m87/error.h"

struct srv_pool;

/* A pool of one connection, first (owned from now on). */
struct srv_pool *srv_pool_new(struct srv_db *first);
/* Close every connection (none may be taken) and free p; NULL is a no-op. */
void srv_pool_free(struct srv_pool *p);
/* The calling thread's current connection; the first one when it has taken none (enough for
 * srv_db_kind, and the only one before srv_pool_grow). */
struct srv_db *srv_pool_current(struct srv_pool *p);
/* Open connections to url until p has n (1 to SRV_DB_POOL_MAX, else M87_E_INVAL) on PostgreSQL;
 * SQLite keeps its one. */
int srv_pool_grow(struct srv_pool *p, const char *url, int n, struct m87_error **err);
size_t srv_pool_size(struct srv_pool *p);

/* srv_store_begin, commit, rollback, lock and unlock (store.h) on the pool. */
int srv_pool_begin(struct srv_pool *p, struct m87_error **err);
int srv_pool_commit(struct srv_pool *p, struct m87_error **err);
void srv_pool_rollback(struct srv_pool *p);
void srv_pool_lock(struct srv_pool *p);
void srv_pool_unlock(struct srv_pool *p);

#endif
