/* Maintenance windows of devices in the store. */
#include <string.h>

#include "m87/compiler.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "server/limits.h"
#include "server/store-devices.h"
#include "server/store-internal.h"
#include "server/util.h"

static const char SQL_WINDOW_LIST[] =
    "SELECT id, rule, created FROM device_windows WHERE device_id = ?1 ORDER BY id";
static const char SQL_WINDOW_COUNT[] = "SELECT COUNT(*) FROM device_windows WHERE device_id = ?1";
static const char SQL_WINDOW_FIND[] =
    "SELECT id FROM device_windows WHERE device_id = ?1 AND rule = ?2";
static const char SQL_WINDOW_ADD[] =
    "INSERT INTO device_windows (device_id, rule, created) VALUES (?1, ?2, ?3) RETURNING id";
static const char SQL_WINDOW_DELETE[] =
    "DELETE FROM device_windows WHERE device_id = ?1 AND id = ?2";

/* The columns of SQL_WINDOW_LIST, as a window's JSON names them. */
#define COL(member, kind) SRV_COL(struct srv_window, member, kind, #member)
static const struct srv_col window_cols[] = {
    COL(id, SRV_COL_INT),
    COL(rule, SRV_COL_TEXT),
    COL(created, SRV_COL_TIME),
};
#undef COL
const struct srv_row_type srv_window_row = {sizeof(struct srv_window), window_cols,
                                            M87_ARRAY_LEN(window_cols), "list windows"};

void srv_windows_free(struct srv_window *v, size_t n)
{
    srv_rows_free(v, n, &srv_window_row);
}

int srv_window_list(struct srv_store *st, int64_t device_id, struct srv_window **out, size_t *n,
                    struct m87_error **err)
{
    void *v = NULL;
    if (srv_rows_by_id(st, SQL_WINDOW_LIST, device_id, &srv_window_row, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

int srv_window_add(struct srv_store *st, int64_t device_id, const char *rule,
                   struct srv_window *out, struct m87_error **err)
{
    int64_t existing = 0, count = 0;
    if (srv_row_exists(st, SQL_WINDOW_FIND, device_id, rule, &existing, "read windows", err) < 0)
        return -1;
    if (existing)
        return m87_error_set(err, M87_E_CONFLICT, 0, "window %lld has the rule '%s' already",
                             (long long)existing, rule);
    if (srv_query_int(st, SQL_WINDOW_COUNT, device_id, &count, "count windows", err) < 0)
        return -1;
    if (count >= SRV_MAX_WINDOWS)
        return m87_error_set(err, M87_E_TOOBIG, 0, "a device has at most %d windows",
                             SRV_MAX_WINDOWS);
    struct srv_q *s = srv_stmt_id_text(st, SQL_WINDOW_ADD, device_id, rule, err);
    if (s == NULL)
        return -1;
    int64_t now = srv_now();
    srv_q_int(s, 3, now);
    if (srv_insert_id(s, &out->id, "store window", err) < 0)
        return -1;
    out->rule = m87_xstrdup(rule);
    out->created = now;
    return srv_device_bump_policy(st, device_id, err);
}

int srv_window_delete(struct srv_store *st, const struct srv_device *d, int64_t id,
                      struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_WINDOW_DELETE, d->id, err);
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, id);
    if (srv_q_done(s, "delete window", err) < 0)
        return -1;
    if (srv_store_changes(st) == 0)
        return m87_error_set(err, M87_E_NOTFOUND, 0, "device '%s' has no window %lld", d->name,
                             (long long)id);
    return srv_device_bump_policy(st, d->id, err);
}
