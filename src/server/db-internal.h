/* Shared by the db*.c files only: what a database backend provides to db.c, which defines the
 * functions of db.h once and calls the backend of each connection through its table. A backend
 * (db-sqlite.c, db-pg.c) embeds struct srv_db and struct srv_q as the first member of its own
 * connection and statement, and fills a const struct srv_db_ops whose functions have the
 * contracts of their namesakes in db.h. */
#ifndef M87_SERVER_DB_INTERNAL_H
#define M87_SERVER_DB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "server/db.h"

struct srv_db_ops {
    void (*close)(struct srv_db *db);
    int (*exec)(struct srv_db *db, const char *sql, const char *what, struct m87_error **err);
    struct srv_q *(*q_get)(struct srv_db *db, const char *sql, struct m87_error **err);
    void (*q_int)(struct srv_q *q, int idx, int64_t v);
    void (*q_text)(struct srv_q *q, int idx, const char *text); /* never NULL: db.c binds NULL */
    void (*q_blob)(struct srv_q *q, int idx, const void *data, size_t len);
    void (*q_null)(struct srv_q *q, int idx);
    int (*q_step)(struct srv_q *q, const char *what, struct m87_error **err);
    void (*q_reset)(struct srv_q *q);
    int (*q_ncols)(struct srv_q *q);
    bool (*q_is_null)(struct srv_q *q, int col);
    int64_t (*q_col_int)(struct srv_q *q, int col);
    const char *(*q_col_text)(struct srv_q *q, int col);
    const void *(*q_col_blob)(struct srv_q *q, int col, size_t *len);
    int64_t (*changes)(struct srv_db *db);
    bool (*constraint_error)(struct srv_db *db);
    void (*reset_all)(struct srv_db *db);
};

/* The head of every backend's connection. */
struct srv_db {
    const struct srv_db_ops *ops;
    enum srv_db_kind kind;
};

/* The head of every backend's prepared statement. */
struct srv_q {
    struct srv_db *db;
};

/* A backend's open (the contract of srv_db_open, url already known to be the backend's). */
int srv_db_sqlite_open(const char *path, bool create, struct srv_db **out, struct m87_error **err);
/* Defined by db-pg.c; db.c calls it only when built with M87_WITH_PG (the Makefile sets it when
 * src/server/db-pg.c exists). */
int srv_db_pg_open(const char *url, bool create, struct srv_db **out, struct m87_error **err);

#endif
