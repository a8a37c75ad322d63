/* Reading every row of a statement into an array of structs. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "server/store-internal.h"

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
        type->fill(s, elem);
        len++;
    }
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; type->release && i < len; i++)
            type->release(v + i * type->size);
        free(v);
        return srv_store_error(st, type->what, err);
    }
    *out = v;
    *n = len;
    return 0;
}
