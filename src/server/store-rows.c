/* Reading rows of a statement into structs their column tables describe (server/row.h). */
#include <stdbool.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "server/store-internal.h"

void srv_row_fill(const struct srv_row_type *type, sqlite3_stmt *s, void *elem)
{
    size_t n = (size_t)sqlite3_column_count(s);
    for (size_t i = 0; i < type->ncols && i < n; i++) {
        const struct srv_col *c = &type->cols[i];
        void *m = (char *)elem + c->offset;
        int col = (int)i;
        switch (c->kind) {
        case SRV_COL_INT:
            *(int64_t *)m = sqlite3_column_type(s, col) == SQLITE_NULL
                                ? c->null_value
                                : sqlite3_column_int64(s, col);
            break;
        case SRV_COL_BOOL:
            *(bool *)m = sqlite3_column_int64(s, col) != 0;
            break;
        case SRV_COL_TIME:
            *(int64_t *)m = sqlite3_column_int64(s, col);
            break;
        case SRV_COL_TEXT:
        case SRV_COL_JSON:
            *(char **)m = srv_col_text(s, col);
            break;
        }
    }
}

int srv_rows_collect(struct srv_store *st, sqlite3_stmt *s, const struct srv_row_type *type,
                     void **out, size_t *n, struct m87_error **err)
{
    char *v = NULL;
    size_t len = 0, cap = 0;
    int rc;

    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            v = m87_xrealloc(v, cap * type->size);
        }
        void *elem = v + len * type->size;
        memset(elem, 0, type->size);
        srv_row_fill(type, s, elem);
        len++;
    }
    if (rc != SQLITE_DONE) {
        srv_rows_free(v, len, type);
        return srv_store_error(st, type->what, err);
    }
    *out = v;
    *n = len;
    return 0;
}

int srv_rows_by_id(struct srv_store *st, const char *sql, int64_t id,
                   const struct srv_row_type *type, void **out, size_t *n, struct m87_error **err)
{
    sqlite3_stmt *s = srv_stmt_id(st, sql, id, err);
    if (s == NULL)
        return -1;
    return srv_rows_collect(st, s, type, out, n, err);
}

int srv_query_int(struct srv_store *st, const char *sql, int64_t id, int64_t *out, const char *what,
                  struct m87_error **err)
{
    sqlite3_stmt *s = srv_stmt_id(st, sql, id, err);
    if (s == NULL)
        return -1;
    if (sqlite3_step(s) != SQLITE_ROW)
        return srv_store_error(st, what, err);
    *out = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return 0;
}

int srv_row_exists(struct srv_store *st, const char *sql, int64_t id, const char *text,
                   int64_t *col0, const char *what, struct m87_error **err)
{
    sqlite3_stmt *s = srv_stmt_id(st, sql, id, err);
    if (s == NULL)
        return -1;
    srv_bind_text(s, 2, text);
    int rc = sqlite3_step(s);
    if (col0)
        *col0 = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return srv_store_error(st, what, err);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 1 : 0;
}

int srv_row_one(struct srv_store *st, sqlite3_stmt *s, const struct srv_row_type *type, void *out,
                const char *what, struct m87_error **err)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return srv_store_error(st, what, err);
    srv_row_fill(type, s, out);
    sqlite3_reset(s);
    return 1;
}
