/* Reading rows of a statement into structs their column tables describe (server/row.h), and
 * inserting a row under a random public id. */
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "server/db.h"
#include "server/store-internal.h"

void srv_row_fill(const struct srv_row_type *type, struct srv_q *s, void *elem)
{
    size_t n = (size_t)srv_q_ncols(s);
    for (size_t i = 0; i < type->ncols && i < n; i++) {
        const struct srv_col *c = &type->cols[i];
        void *m = (char *)elem + c->offset;
        int col = (int)i;
        switch (c->kind) {
        case SRV_COL_INT:
            *(int64_t *)m = srv_q_is_null(s, col) ? c->null_value : srv_q_col_int(s, col);
            break;
        case SRV_COL_BOOL:
            *(bool *)m = srv_q_col_int(s, col) != 0;
            break;
        case SRV_COL_TIME:
            *(int64_t *)m = srv_q_col_int(s, col);
            break;
        case SRV_COL_TEXT:
        case SRV_COL_JSON:
            *(char **)m = srv_col_text(s, col);
            break;
        }
    }
}

int srv_rows_collect(struct srv_q *s, const struct srv_row_type *type, void **out, size_t *n,
                     struct m87_error **err)
{
    char *v = NULL;
    size_t len = 0, cap = 0;
    int rc;

    while ((rc = srv_q_step(s, type->what, err)) == 1) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            v = m87_xrealloc(v, cap * type->size);
        }
        void *elem = v + len * type->size;
        memset(elem, 0, type->size);
        srv_row_fill(type, s, elem);
        len++;
    }
    if (rc < 0) {
        srv_rows_free(v, len, type);
        return -1;
    }
    *out = v;
    *n = len;
    return 0;
}

int srv_rows_by_id(struct srv_store *st, const char *sql, int64_t id,
                   const struct srv_row_type *type, void **out, size_t *n, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, sql, id, err);
    if (s == NULL)
        return -1;
    return srv_rows_collect(s, type, out, n, err);
}

/* The integer in the first column of the one row s gives. */
static int query_int(struct srv_q *s, int64_t *out, const char *what, struct m87_error **err)
{
    int rc = srv_q_step(s, what, err);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return m87_error_set(err, M87_E_INTERNAL, 0, "%s: no row", what);
    *out = srv_q_col_int(s, 0);
    srv_q_reset(s);
    return 0;
}

int srv_query_int(struct srv_store *st, const char *sql, int64_t id, int64_t *out, const char *what,
                  struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, sql, id, err);
    return s ? query_int(s, out, what, err) : -1;
}

int srv_query_scalar(struct srv_store *st, const char *sql, int64_t *out, const char *what,
                     struct m87_error **err)
{
    struct srv_q *s = srv_stmt(st, sql, err);
    return s ? query_int(s, out, what, err) : -1;
}

int srv_row_exists(struct srv_store *st, const char *sql, int64_t id, const char *text,
                   int64_t *col0, const char *what, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id_text(st, sql, id, text, err);
    if (s == NULL)
        return -1;
    int rc = srv_q_step(s, what, err);
    if (col0)
        *col0 = rc == 1 ? srv_q_col_int(s, 0) : 0;
    if (rc < 0)
        return -1;
    srv_q_reset(s);
    return rc;
}

int srv_prune_batch(struct srv_store *st, const char *sql, int64_t before, int batch,
                    int64_t *pruned, const char *what, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, sql, before, err);
    *pruned = 0;
    if (!s)
        return -1;
    srv_q_int(s, 2, batch);
    if (srv_q_done(s, what, err) < 0)
        return -1;
    *pruned = srv_store_changes(st);
    return 0;
}

int srv_row_one(struct srv_q *s, const struct srv_row_type *type, void *out, const char *what,
                struct m87_error **err)
{
    int rc = srv_q_step(s, what, err);
    if (rc != 1)
        return rc;
    srv_row_fill(type, s, out);
    srv_q_reset(s);
    return 1;
}

int srv_row_get(struct srv_q *s, const struct srv_row_type *type, void *out, const char *what,
                struct m87_error **err, const char *notfound, ...)
{
    int rc = srv_row_one(s, type, out, what, err);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    va_list ap;
    va_start(ap, notfound);
    _cleanup_free_ char *msg = m87_xvasprintf(notfound, ap);
    va_end(ap);
    return m87_error_set(err, M87_E_NOTFOUND, 0, "%s", msg);
}

int srv_insert_id(struct srv_q *s, int64_t *id, const char *what, struct m87_error **err)
{
    int rc = srv_q_step(s, what, err);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return m87_error_set(err, M87_E_INTERNAL, 0, "%s: no id returned", what);
    *id = srv_q_col_int(s, 0);
    srv_q_reset(s);
    return 0;
}

int srv_insert_public(struct srv_store *st, const char *sql, const char *prefix,
                      void (*bind)(struct srv_q *s, const void *arg), const void *arg, int64_t *id,
                      char **public_id, const char *what, struct m87_error **err)
{
    const char *given = *public_id;
    for (int attempt = 0; attempt < 8; attempt++) {
        unsigned char rnd[4];
        if (!given && m87_random_bytes(rnd, sizeof(rnd), err) < 0)
            return -1;
        _cleanup_free_ char *pid =
            given ? m87_xstrdup(given)
                  : m87_xasprintf("%s%02x%02x%02x%02x", prefix, rnd[0], rnd[1], rnd[2], rnd[3]);
        struct srv_q *s = srv_stmt_text(st, sql, pid, err);
        if (s == NULL)
            return -1;
        bind(s, arg);
        int rc = srv_q_step(s, what, err);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            *id = srv_q_col_int(s, 0);
            srv_q_reset(s);
            free(*public_id);
            *public_id = M87_STEAL(pid);
            return 0;
        }
        if (given)
            return m87_error_set(err, M87_E_CONFLICT, 0, "%s: the id '%s' is taken", what, given);
    }
    return m87_error_set(err, M87_E_INTERNAL, 0, "%s: no free id", what);
}
