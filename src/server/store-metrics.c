/* The metrics samples of devices in the store (store-metrics.h). */
#include "m87/compiler.h"
#include "server/row.h"
#include "server/store-internal.h"
#include "server/store-metrics.h"

static const char SQL_METRICS_ADD[] =
    "INSERT INTO device_metrics (device_id, created, sample) VALUES (?1, ?2, ?3)";
/* the newest keep stay: the id of the (keep+1)-th newest and those before it go */
static const char SQL_METRICS_CAP[] =
    "DELETE FROM device_metrics WHERE device_id = ?1 AND id <= (SELECT id FROM device_metrics "
    "WHERE device_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)";
static const char SQL_METRICS_LIST[] =
    "SELECT created, sample FROM (SELECT id, created, sample FROM device_metrics "
    "WHERE device_id = ?1 AND created >= ?2 ORDER BY id DESC LIMIT ?3) AS newest ORDER BY id";
static const char SQL_METRICS_PRUNE[] =
    "DELETE FROM device_metrics WHERE id IN (SELECT id FROM device_metrics WHERE created < ?1 "
    "ORDER BY created LIMIT ?2)";

#define COL(member, kind, key) SRV_COL(struct srv_metrics_sample, member, kind, key)
static const struct srv_col metrics_cols[] = {
    COL(created, SRV_COL_TIME, "time"),
    COL(sample, SRV_COL_JSON, "metrics"),
};
#undef COL
static const struct srv_row_type metrics_row = {sizeof(struct srv_metrics_sample), metrics_cols,
                                                M87_ARRAY_LEN(metrics_cols),
                                                "read the metrics samples"};

int srv_metrics_add(struct srv_store *st, int64_t device_id, const char *sample, int64_t now,
                    int64_t keep, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_METRICS_ADD, device_id, err);
    if (!s)
        return -1;
    srv_q_int(s, 2, now);
    srv_q_text(s, 3, sample);
    if (srv_q_done(s, "store the metrics sample", err) < 0)
        return -1;
    s = srv_stmt_id(st, SQL_METRICS_CAP, device_id, err);
    if (!s)
        return -1;
    srv_q_int(s, 2, keep);
    return srv_q_done(s, "drop the oldest metrics samples", err);
}

int srv_metrics_list(struct srv_store *st, int64_t device_id, int64_t since, int64_t limit,
                     struct srv_metrics_sample **out, size_t *n, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_METRICS_LIST, device_id, err);
    void *v = NULL;
    if (!s)
        return -1;
    srv_q_int(s, 2, since);
    srv_q_int(s, 3, limit);
    if (srv_rows_collect(s, &metrics_row, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

int srv_metrics_prune(struct srv_store *st, int64_t before, int batch, int64_t *pruned,
                      struct m87_error **err)
{
    return srv_prune_batch(st, SQL_METRICS_PRUNE, before, batch, pruned,
                           "prune old metrics samples", err);
}

void srv_metrics_free(struct srv_metrics_sample *v, size_t n)
{
    srv_rows_free(v, n, &metrics_row);
}

void srv_jw_metrics(struct m87_jw *w, const char *key, const struct srv_metrics_sample *v, size_t n)
{
    srv_jw_rows(w, key, &metrics_row, v, n);
}
