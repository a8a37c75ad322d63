/* Shared by the store*.c files only. */
#ifndef M87_SERVER_STORE_INTERNAL_H
#define M87_SERVER_STORE_INTERNAL_H

#include <sqlite3.h>

#include "m87/compiler.h"
#include "m87/error.h"
#include "server/row.h"
#include "server/store.h"

/* A prepared statement for sql (a string constant: cached by its address), reset and with
 * its bindings cleared. NULL with *err when it does not prepare. */
sqlite3_stmt *srv_stmt(struct srv_store *st, const char *sql, struct m87_error **err);
/* srv_stmt with id bound to ?1 (a row's or a device's id). */
sqlite3_stmt *srv_stmt_id(struct srv_store *st, const char *sql, int64_t id,
                          struct m87_error **err);
/* srv_stmt with text (or NULL) bound to ?1. */
sqlite3_stmt *srv_stmt_text(struct srv_store *st, const char *sql, const char *text,
                            struct m87_error **err);
/* srv_stmt_id with text bound to ?2 too. */
sqlite3_stmt *srv_stmt_id_text(struct srv_store *st, const char *sql, int64_t id, const char *text,
                               struct m87_error **err);
/* Fill *err from the connection's last error, prefixed with what. */
int srv_store_error(struct srv_store *st, const char *what, struct m87_error **err);
/* Step a statement that returns no rows. */
int srv_step_done(struct srv_store *st, sqlite3_stmt *s, const char *what, struct m87_error **err);
/* Run sql, which returns no rows, with id bound to ?1. */
int srv_exec_id(struct srv_store *st, const char *sql, int64_t id, const char *what,
                struct m87_error **err);
/* A text column copied (NULL stays NULL). */
char *srv_col_text(sqlite3_stmt *s, int col);
/* Bind text or NULL. */
void srv_bind_text(sqlite3_stmt *s, int idx, const char *text);
sqlite3 *srv_store_db(struct srv_store *st);

/* Fill the zeroed elem from the row s is on, column i into type->cols[i]. */
void srv_row_fill(const struct srv_row_type *type, sqlite3_stmt *s, void *elem);
/* Step s to its end, one element of type per row, into a new array *out of *n elements (NULL
 * and 0 for none). On a step error nothing is kept (each element released) and *err names
 * type->what. */
int srv_rows_collect(struct srv_store *st, sqlite3_stmt *s, const struct srv_row_type *type,
                     void **out, size_t *n, struct m87_error **err);
/* Step s once: 1 when it is on a row, 0 at the end; *err names what on an error. */
int srv_step_row(struct srv_store *st, sqlite3_stmt *s, const char *what, struct m87_error **err);
/* Step s once: 1 with *out (zeroed by the caller) filled as type says from the row, 0 when there is
 * none; *err names what on an error. */
int srv_row_one(struct srv_store *st, sqlite3_stmt *s, const struct srv_row_type *type, void *out,
                const char *what, struct m87_error **err);
/* srv_row_one where no row is M87_E_NOTFOUND with the message notfound and its arguments make. */
int srv_row_get(struct srv_store *st, sqlite3_stmt *s, const struct srv_row_type *type, void *out,
                const char *what, struct m87_error **err, const char *notfound, ...)
    M87_PRINTF(7, 8);
/* Insert with sql a row whose public id, bound to ?1, is prefix and 8 random hex digits
 * ("d-1a2b3c4d"): 32 random bits, tried again on the rare clash; or *public_id when it is not
 * NULL on entry (chosen by the client: M87_E_CONFLICT when taken). bind(s, arg) binds the other
 * parameters. *id and *public_id (the caller's) are then the new row's; *err names what. */
int srv_insert_public(struct srv_store *st, const char *sql, const char *prefix,
                      void (*bind)(sqlite3_stmt *s, const void *arg), const void *arg, int64_t *id,
                      char **public_id, const char *what, struct m87_error **err);
/* srv_rows_collect over sql with id bound to ?1. */
int srv_rows_by_id(struct srv_store *st, const char *sql, int64_t id,
                   const struct srv_row_type *type, void **out, size_t *n, struct m87_error **err);
/* The integer in the first column of the one row sql gives with id bound to ?1 (ignored when sql
 * has no parameter) (a count);
 * *err names what when there is no row. */
int srv_query_int(struct srv_store *st, const char *sql, int64_t id, int64_t *out, const char *what,
                  struct m87_error **err);
/* 1 when sql with id bound to ?1 and text to ?2 gives a row, 0 when not; *col0 (when not NULL)
 * the integer in its first column, 0 without a row. *err names what on an error. */
int srv_row_exists(struct srv_store *st, const char *sql, int64_t id, const char *text,
                   int64_t *col0, const char *what, struct m87_error **err);

#endif
