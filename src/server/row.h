/* m87-server private: a row struct of the store described once, member by member, as a const
 * table (row.c, store-rows.c): which column of a query fills which member, which members the
 * struct owns, and under which key a member is written as JSON. */
#ifndef M87_SERVER_ROW_H
#define M87_SERVER_ROW_H

#include <stddef.h>
#include <stdint.h>

#include "m87/json-write.h"

enum srv_col_kind {
    SRV_COL_INT,  /* int64_t; a NULL column reads as null_value */
    SRV_COL_BOOL, /* bool: the column is not 0 */
    SRV_COL_TIME, /* int64_t seconds (NULL reads as 0); JSON: RFC 3339 UTC, null for 0 */
    SRV_COL_TEXT, /* char *, owned (NULL stays NULL); JSON: a string or null */
    SRV_COL_JSON, /* char *, owned: JSON text we stored; JSON: written as the value it holds */
};

/* One member of a row struct. */
struct srv_col {
    size_t offset;
    enum srv_col_kind kind;
    const char *key; /* its JSON key, NULL: not written by srv_jw_row */
    int64_t null_value;
};

/* A member of struct type; SRV_COL_NULL for an integer whose NULL column reads as null_value. */
#define SRV_COL(type, member, kind, key)                                                           \
    {                                                                                              \
        offsetof(type, member), kind, key, 0                                                       \
    }
#define SRV_COL_NULL(type, member, key, null_value)                                                \
    {                                                                                              \
        offsetof(type, member), SRV_COL_INT, key, null_value                                       \
    }

/* The struct a row becomes: its size, its members in the order of the query's columns (a query
 * may give only the first ones; the others stay zero) and what the query is, for errors ("list
 * windows"). */
struct srv_row_type {
    size_t size;
    const struct srv_col *cols;
    size_t ncols;
    const char *what;
};

/* Free the members elem owns and zero it. */
void srv_row_release(const struct srv_row_type *type, void *elem);
/* Release each of the n elements of v, then free v (NULL is a no-op). */
void srv_rows_free(void *v, size_t n, const struct srv_row_type *type);
/* "key": value of each member of elem that has a key, in the table's order (into an open
 * object). */
void srv_jw_row(struct m87_jw *w, const struct srv_row_type *type, const void *elem);
/* "key": [{...}, ...] of the n elements of v, each as srv_jw_row writes it. */
void srv_jw_rows(struct m87_jw *w, const char *key, const struct srv_row_type *type, const void *v,
                 size_t n);

#endif
