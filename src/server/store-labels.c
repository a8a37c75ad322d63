/* Labels of devices in the store.
 *
 * A table of (device_id, key, value) rather than a JSON column of devices: a change is a row
 * upserted or deleted without reading and rewriting the device's other labels, the cap is a
 * COUNT on the primary key, and the (key, value) index lets the fleet work find the devices
 * of an equality requirement in SQL when the set grows past what filtering in C after one
 * ordered scan (srv_labels_fill) can carry. */
#include <string.h>

#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-label.h"
#include "server/store-devices.h"
#include "server/store-internal.h"

static const char SQL_LABELS_OF[] =
    "SELECT key, value FROM device_labels WHERE device_id = ?1 ORDER BY key";
/* In the order of SQL_DEVICE_LIST (by name), each device's labels by key. */
static const char SQL_LABELS_ALL[] =
    "SELECT l.device_id, l.key, l.value FROM device_labels l JOIN devices d ON d.id = l.device_id"
    " ORDER BY d.name, l.key";
static const char SQL_LABEL_SET[] =
    "INSERT INTO device_labels (device_id, key, value) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (device_id, key) DO UPDATE SET value = excluded.value";
static const char SQL_LABEL_DELETE[] =
    "DELETE FROM device_labels WHERE device_id = ?1 AND key = ?2";
static const char SQL_LABEL_COUNT[] = "SELECT COUNT(*) FROM device_labels WHERE device_id = ?1";

static void add_row(struct srv_q *s, int col, struct m87_kvlist *out)
{
    const char *key = srv_q_col_text(s, col);
    const char *value = srv_q_col_text(s, col + 1);
    m87_kvlist_add(out, key ? key : "", value ? value : "");
}

int srv_labels_get(struct srv_store *st, int64_t device_id, struct m87_kvlist *out,
                   struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_LABELS_OF, device_id, err);
    if (s == NULL)
        return -1;
    int rc;
    while ((rc = srv_q_step(s, "read labels", err)) == 1)
        add_row(s, 0, out);
    if (rc < 0) {
        m87_kvlist_release(out);
        return -1;
    }
    return 0;
}

/* One pass over every label, merged into the devices as they come (both by name): the cost of a
 * list is two statements whatever the number of devices. */
int srv_labels_fill(struct srv_store *st, struct srv_device *v, size_t n, struct m87_error **err)
{
    struct srv_q *s = srv_stmt(st, SQL_LABELS_ALL, err);
    if (s == NULL)
        return -1;
    size_t j = 0;
    int rc;
    while ((rc = srv_q_step(s, "read labels", err)) == 1) {
        int64_t id = srv_q_col_int(s, 0);
        while (j < n && v[j].id != id)
            j++;
        if (j == n)
            return m87_error_set(err, M87_E_INTERNAL, 0, "read labels: device #%lld not listed",
                                 (long long)id);
        add_row(s, 1, &v[j].labels);
    }
    return rc < 0 ? -1 : 0;
}

int srv_labels_change(struct srv_store *st, const struct srv_device *d,
                      const struct m87_kvlist *changes, struct m87_error **err)
{
    for (size_t i = 0; i < changes->len; i++) {
        const struct m87_kv *kv = &changes->items[i];
        struct srv_q *s =
            srv_stmt_id_text(st, kv->value ? SQL_LABEL_SET : SQL_LABEL_DELETE, d->id, kv->key, err);
        if (s == NULL)
            return -1;
        if (kv->value)
            srv_q_text(s, 3, kv->value);
        if (srv_q_done(s, "store label", err) < 0)
            return -1;
    }
    int64_t count = 0;
    if (srv_query_int(st, SQL_LABEL_COUNT, d->id, &count, "count labels", err) < 0)
        return -1;
    if (count > SPEC_LABELS_MAX)
        return m87_error_set(err, M87_E_TOOBIG, 0,
                             "labels: a device has at most %d labels ('%s' would have %lld)",
                             SPEC_LABELS_MAX, d->name, (long long)count);
    return 0;
}
