/* m87-server private: the store (store.c, SQLite): opening it, its transactions and lock, and the
 * tokens it keeps. The records live in store-devices.h, store-deployments.h, store-reports.h and
 * store-sessions.h; store-internal.h is what the store*.c files share. */
#ifndef M87_SERVER_STORE_H
#define M87_SERVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "server/auth.h"

struct srv_store;

/* Open DIR/m87.db. create: make it (it must not exist); else it must exist. Migrations are
 * applied in order in both cases. */
int srv_store_open(const char *dir, bool create, struct srv_store **out, struct m87_error **err);
/* srv_store_open on the database db_url names: NULL for DIR/m87.db, else a PostgreSQL connection
 * string (srv_db_url_is_pg; M87_E_INVAL for anything else), which is never repeated in *err (it
 * may hold a password). PostgreSQL: the database must exist; create: it must hold no m87 schema
 * yet (M87_E_CONFLICT), else it must hold one (M87_E_NOTFOUND). dir is not used then. */
int srv_store_open_db(const char *dir, const char *db_url, bool create, struct srv_store **out,
                      struct m87_error **err);
/* True for a url srv_store_open_db takes: a PostgreSQL connection string. */
bool srv_store_is_db_url(const char *url);
void srv_store_free(struct srv_store *st);

/* Open connections until the store has n (1 to SRV_DB_POOL_MAX, else M87_E_INVAL) on PostgreSQL
 * (`serve --db-pool`); SQLite keeps its one. -1 with *err when one does not open (those opened
 * stay). */
int srv_store_pool_grow(struct srv_store *st, int n, struct m87_error **err);
/* The connections the store holds. */
size_t srv_store_pool_size(struct srv_store *st);

/* Every other store call runs between begin and commit/rollback, which take one of the store's
 * connections (waiting while every one is taken) and hold a transaction on it: the calling
 * thread's until commit or rollback give it back (commit failing rolls back). A thread holds at
 * most one connection of a store at a time. With one connection (SQLite) they are the store's
 * lock. */
int srv_store_begin(struct srv_store *st, struct m87_error **err);
int srv_store_commit(struct srv_store *st, struct m87_error **err);
void srv_store_rollback(struct srv_store *st);
/* A connection without a transaction, for a single read statement (auto-committed). */
void srv_store_lock(struct srv_store *st);
void srv_store_unlock(struct srv_store *st);

int srv_token_add(struct srv_store *st, const char *hash, enum srv_role role, int64_t device_id,
                  struct m87_error **err);
/* Forget every token of the device: it has none until a new one is added. */
int srv_token_revoke_device(struct srv_store *st, int64_t device_id, struct m87_error **err);
/* 1 with role and device (id, name) when the hash is known, 0 when not. */
int srv_token_lookup(struct srv_store *st, const char *hash, enum srv_role *role,
                     int64_t *device_id, char **device_name, struct m87_error **err);

#endif
