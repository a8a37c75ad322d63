/* Images a device is asked to pull ahead of any deployment (m87 DEVICE prefetch IMAGE), with the
 * newest "prefetch" report the device sent for each. */
#include <string.h>

#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/list.h"
#include "server/limits.h"
#include "server/store-devices.h"
#include "server/store-internal.h"
#include "server/util.h"

static const char SQL_PREFETCH_LIST[] =
    "SELECT image, requested, report FROM device_prefetch WHERE device_id = ?1 ORDER BY id";
static const char SQL_PREFETCH_COUNT[] =
    "SELECT COUNT(*) FROM device_prefetch WHERE device_id = ?1";
static const char SQL_PREFETCH_ADD[] = "INSERT INTO device_prefetch (device_id, image, requested)"
                                       " VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
static const char SQL_PREFETCH_CLEAR[] = "DELETE FROM device_prefetch WHERE device_id = ?1";
static const char SQL_PREFETCH_NOTE[] =
    "UPDATE device_prefetch SET report = ?3 WHERE device_id = ?1 AND image = ?2";

/* The columns of SQL_PREFETCH_LIST (the report is read, not written as it is). */
#define COL(member, kind, key) SRV_COL(struct srv_prefetch, member, kind, key)
static const struct srv_col prefetch_cols[] = {
    COL(image, SRV_COL_TEXT, "image"),
    COL(requested, SRV_COL_TIME, "requested"),
    COL(report, SRV_COL_JSON, NULL),
};
#undef COL
const struct srv_row_type srv_prefetch_row = {sizeof(struct srv_prefetch), prefetch_cols,
                                              M87_ARRAY_LEN(prefetch_cols), "list prefetch images"};

void srv_prefetch_free(struct srv_prefetch *v, size_t n)
{
    srv_rows_free(v, n, &srv_prefetch_row);
}

int srv_prefetch_list(struct srv_store *st, int64_t device_id, struct srv_prefetch **out, size_t *n,
                      struct m87_error **err)
{
    void *v = NULL;
    if (srv_rows_by_id(st, SQL_PREFETCH_LIST, device_id, &srv_prefetch_row, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

int srv_prefetch_add(struct srv_store *st, int64_t device_id, const struct m87_strv *images,
                     struct m87_error **err)
{
    int64_t added = 0, have = 0;

    for (size_t i = 0; i < images->len; i++) {
        struct srv_q *s = srv_stmt_id_text(st, SQL_PREFETCH_ADD, device_id, images->items[i], err);
        if (s == NULL)
            return -1;
        srv_q_int(s, 3, srv_now());
        if (srv_q_done(s, "store prefetch image", err) < 0)
            return -1;
        added += srv_store_changes(st);
    }
    if (srv_query_int(st, SQL_PREFETCH_COUNT, device_id, &have, "count prefetch images", err) < 0)
        return -1;
    if (have > SRV_MAX_PREFETCH)
        return m87_error_set(err, M87_E_TOOBIG, 0, "a device has at most %d prefetch images",
                             SRV_MAX_PREFETCH);
    return added ? srv_device_bump_policy(st, device_id, err) : 0;
}

int srv_prefetch_clear(struct srv_store *st, int64_t device_id, struct m87_error **err)
{
    if (srv_exec_id(st, SQL_PREFETCH_CLEAR, device_id, "clear prefetch images", err) < 0)
        return -1;
    return srv_store_changes(st) ? srv_device_bump_policy(st, device_id, err) : 0;
}

int srv_prefetch_note(struct srv_store *st, int64_t device_id, const char *image,
                      const char *report, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id_text(st, SQL_PREFETCH_NOTE, device_id, image, err);
    if (s == NULL)
        return -1;
    srv_q_text(s, 3, report);
    return srv_q_done(s, "store prefetch report", err);
}
