/* Row structs described by their column tables (server/row.h): released and written as JSON. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "m87/json-write.h"
#include "server/json.h"
#include "server/row.h"

void srv_row_release(const struct srv_row_type *type, void *elem)
{
    for (size_t i = 0; i < type->ncols; i++) {
        const struct srv_col *c = &type->cols[i];
        if (c->kind == SRV_COL_TEXT || c->kind == SRV_COL_JSON)
            free(*(char **)((char *)elem + c->offset));
    }
    memset(elem, 0, type->size);
}

void srv_rows_free(void *v, size_t n, const struct srv_row_type *type)
{
    for (size_t i = 0; i < n; i++)
        srv_row_release(type, (char *)v + i * type->size);
    free(v);
}

void srv_jw_row(struct m87_jw *w, const struct srv_row_type *type, const void *elem)
{
    for (size_t i = 0; i < type->ncols; i++) {
        const struct srv_col *c = &type->cols[i];
        const void *m = (const char *)elem + c->offset;
        if (c->key == NULL)
            continue;
        switch (c->kind) {
        case SRV_COL_INT:
            m87_jw_kint(w, c->key, *(const int64_t *)m);
            break;
        case SRV_COL_BOOL:
            m87_jw_kbool(w, c->key, *(const bool *)m);
            break;
        case SRV_COL_TIME:
            srv_jw_time(w, c->key, *(const int64_t *)m);
            break;
        case SRV_COL_TEXT:
            m87_jw_kstr(w, c->key, *(char *const *)m);
            break;
        case SRV_COL_JSON:
            m87_jw_key(w, c->key);
            srv_jw_raw(w, *(char *const *)m);
            break;
        }
    }
}

void srv_jw_rows(struct m87_jw *w, const char *key, const struct srv_row_type *type, const void *v,
                 size_t n)
{
    m87_jw_key(w, key);
    m87_jw_arr_open(w);
    for (size_t i = 0; i < n; i++) {
        m87_jw_obj_open(w);
        srv_jw_row(w, type, (const char *)v + i * type->size);
        m87_jw_obj_close(w);
    }
    m87_jw_arr_close(w);
}
