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
/* Open the PostgreSQL database url names (db.h) and apply the migrations it lacks. */
int srv_store_open_url(const char *url, struct srv_store **out, struct m87_error **err);
/* The schema version this server's migrations reach. */
size_t srv_store_schema_version(void);
void srv_store_free(struct srv_store *st);

/* Every other store call runs between begin and commit/rollback, which hold the store's lock
 * and a transaction. commit failing rolls back; both release the lock. */
int srv_store_begin(struct srv_store *st, struct m87_error **err);
int srv_store_commit(struct srv_store *st, struct m87_error **err);
void srv_store_rollback(struct srv_store *st);
/* The lock without a transaction, for a single read statement (auto-committed). */
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
