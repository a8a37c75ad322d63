/* Shared by the store*.c files only: statements of the store's connection (db.h) and the rows
 * they read.
 *
 * A store file speaks db.h only, never a backend's own API (`make checkarch` refuses SQLite's and
 * libpq outside db-sqlite.c and db-pg.c), and its SQL is the common dialect of docs/design.md,
 * "Database backends". The pattern of a store function:
 *
 *     static const char SQL_THING_ADD[] =
 *         "INSERT INTO things (device_id, name, created) VALUES (?1, ?2, ?3) RETURNING id";
 *
 *     struct srv_q *s = srv_stmt_id_text(st, SQL_THING_ADD, device_id, name, err);
 *     if (s == NULL)
 *         return -1;
 *     srv_q_int(s, 3, srv_now());                 (srv_q_text binds NULL for a NULL string)
 *     if (srv_insert_id(s, &out->id, "store thing", err) < 0)
 *         return -1;
 *
 * a statement without rows ends with srv_q_done(s, what, err), then srv_store_changes(st) counts
 * what it changed; rows are read with srv_q_step (1 row, 0 end, -1 error), srv_q_col_int and
 * srv_q_col_text, or into a struct with srv_row_one, srv_row_get and srv_rows_collect; a
 * statement read only in part is srv_q_reset. */
#ifndef M87_SERVER_STORE_INTERNAL_H
#define M87_SERVER_STORE_INTERNAL_H

#include "m87/compiler.h"
#include "m87/error.h"
#include "server/db.h"
#include "server/row.h"
#include "server/store.h"

/* The store's connection. */
struct srv_db *srv_store_db(struct srv_store *st);
/* The url (or SQLite path) the store opened, for a connection of one's own. */
const char *srv_store_url(struct srv_store *st);
/* 16 hex digits naming this process among the replicas of the database. */
const char *srv_store_origin(struct srv_store *st);
/* Rows the last statement inserted, changed or deleted (srv_db_changes). */
int64_t srv_store_changes(struct srv_store *st);

/* The prepared statement for sql (a string constant: cached by its address), reset and with
 * its bindings cleared. NULL with *err when it does not prepare. */
struct srv_q *srv_stmt(struct srv_store *st, const char *sql, struct m87_error **err);
/* srv_stmt with id bound to ?1 (a row's or a device's id). */
struct srv_q *srv_stmt_id(struct srv_store *st, const char *sql, int64_t id,
                          struct m87_error **err);
/* srv_stmt with text (or NULL) bound to ?1. */
struct srv_q *srv_stmt_text(struct srv_store *st, const char *sql, const char *text,
                            struct m87_error **err);
/* srv_stmt_id with text bound to ?2 too. */
struct srv_q *srv_stmt_id_text(struct srv_store *st, const char *sql, int64_t id, const char *text,
                               struct m87_error **err);
/* Run sql, which returns no rows, with id bound to ?1. */
int srv_exec_id(struct srv_store *st, const char *sql, int64_t id, const char *what,
                struct m87_error **err);
/* A text column copied (NULL stays NULL). */
char *srv_col_text(struct srv_q *s, int col);
/* Step s, an INSERT ... RETURNING id, once: *id is the new row's id. M87_E_CONFLICT on a
 * constraint (srv_db_constraint_error tells it apart), and an error too when no row came back
 * (an INSERT ... ON CONFLICT DO NOTHING that did nothing); *err names what. */
int srv_insert_id(struct srv_q *s, int64_t *id, const char *what, struct m87_error **err);

/* Fill the zeroed elem from the row s is on, column i into type->cols[i]. */
void srv_row_fill(const struct srv_row_type *type, struct srv_q *s, void *elem);
/* Step s to its end, one element of type per row, into a new array *out of *n elements (NULL
 * and 0 for none). On a step error nothing is kept (each element released) and *err names
 * type->what. */
int srv_rows_collect(struct srv_q *s, const struct srv_row_type *type, void **out, size_t *n,
                     struct m87_error **err);
/* Step s once: 1 with *out (zeroed by the caller) filled as type says from the row, 0 when there is
 * none; *err names what on an error. */
int srv_row_one(struct srv_q *s, const struct srv_row_type *type, void *out, const char *what,
                struct m87_error **err);
/* srv_row_one where no row is M87_E_NOTFOUND with the message notfound and its arguments make. */
int srv_row_get(struct srv_q *s, const struct srv_row_type *type, void *out, const char *what,
                struct m87_error **err, const char *notfound, ...) M87_PRINTF(6, 7);
/* Insert with sql, an INSERT ... ON CONFLICT DO NOTHING RETURNING id, a row whose public id,
 * bound to ?1, is prefix and 8 random hex digits ("d-1a2b3c4d"): 32 random bits, tried again on
 * the rare clash (no row back: a failed statement would end a PostgreSQL transaction); or
 * *public_id when it is not NULL on entry (chosen by the client: M87_E_CONFLICT when taken).
 * bind(s, arg) binds the other parameters. *id and *public_id (the caller's) are then the new
 * row's; *err names what. */
int srv_insert_public(struct srv_store *st, const char *sql, const char *prefix,
                      void (*bind)(struct srv_q *s, const void *arg), const void *arg, int64_t *id,
                      char **public_id, const char *what, struct m87_error **err);
/* srv_rows_collect over sql with id bound to ?1. */
int srv_rows_by_id(struct srv_store *st, const char *sql, int64_t id,
                   const struct srv_row_type *type, void **out, size_t *n, struct m87_error **err);
/* The integer in the first column of the one row sql gives with id bound to ?1 (a count); *err
 * names what when there is no row. */
int srv_query_int(struct srv_store *st, const char *sql, int64_t id, int64_t *out, const char *what,
                  struct m87_error **err);
/* srv_query_int for sql without parameters (PostgreSQL refuses a value for a parameter the
 * statement does not have). */
int srv_query_scalar(struct srv_store *st, const char *sql, int64_t *out, const char *what,
                     struct m87_error **err);
/* 1 when sql with id bound to ?1 and text to ?2 gives a row, 0 when not; *col0 (when not NULL)
 * the integer in its first column, 0 without a row. *err names what on an error. */
int srv_row_exists(struct srv_store *st, const char *sql, int64_t id, const char *text,
                   int64_t *col0, const char *what, struct m87_error **err);

/* Delete at most batch rows with sql, whose ?1 is a time (rows older than before) and ?2 the
 * batch; *pruned the rows it deleted. *err names what. */
int srv_prune_batch(struct srv_store *st, const char *sql, int64_t before, int batch,
                    int64_t *pruned, const char *what, struct m87_error **err);

#endif
