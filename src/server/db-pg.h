/* m87-server private: what db-pg.c (the PostgreSQL backend of db.h) shares with its tests. */
#ifndef M87_SERVER_DB_PG_H
#define M87_SERVER_DB_PG_H

#include <stddef.h>

#include "m87/error.h"

/* Largest parameter number a statement may use (?1 .. ?SRV_PG_MAX_PARAMS); PostgreSQL allows
 * 65535, our statements use a handful. */
#define SRV_PG_MAX_PARAMS 999

/* The statement sql of the common dialect with its parameters ?N written $N, as PostgreSQL
 * takes them; text inside string literals ('...', E'...'), quoted identifiers ("..."), and
 * comments (-- and nested block comments) is copied as it is. *nparams gets the highest N
 * used (0 for none). NULL with *err (M87_E_INVAL) for a bare '?' or a number out of
 * 1..SRV_PG_MAX_PARAMS, which the common dialect does not allow. Dollar-quoted strings
 * ($$...$$) are PostgreSQL's own, not the common dialect's, and are not recognised. Caller
 * frees. */
char *srv_pg_rewrite(const char *sql, int *nparams, struct m87_error **err);

/* The schema for PostgreSQL (schema-pg.c): one entry per migration of store.c's migrations[],
 * same count and order, each run in a transaction of its own. */
extern const char *const srv_pg_migrations[];
extern const size_t srv_pg_n_migrations;

#endif
