/* GET /v1/devices/NAME/reports: the stored records, filtered and paginated by seq. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "server/api.h"
#include "server/http.h"
#include "server/json.h"
#include "server/limits.h"
#include "server/request.h"
#include "server/store-deployments.h"
#include "server/store-devices.h"
#include "server/store-reports.h"
#include "server/util.h"

struct query {
    struct srv_report_filter f;
    const char *deployment;
};

static int read_query(struct srv_req *r, struct query *q, struct m87_error **err)
{
    memset(q, 0, sizeof(*q));
    q->f.limit = SRV_REPORTS_DEFAULT_LIMIT;
    q->deployment = srv_req_query(r, "deployment");
    q->f.revision = srv_req_query(r, "revision");
    q->f.job = srv_req_query(r, "job");
    q->f.step = srv_req_query(r, "step");
    q->f.kind = srv_req_query(r, "kind");
    const char *after = srv_req_query(r, "after");
    const char *limit = srv_req_query(r, "limit");
    if (after && srv_parse_int(after, 0, INT64_MAX, &q->f.after) < 0)
        return m87_error_set(err, M87_E_INVAL, 0, "after: expected an integer >= 0");
    if (limit && srv_parse_int(limit, 1, SRV_REPORTS_MAX_LIMIT, &q->f.limit) < 0)
        return m87_error_set(err, M87_E_INVAL, 0, "limit: expected an integer from 1 to %d",
                             SRV_REPORTS_MAX_LIMIT);
    return 0;
}

/* The stored record with the server's fields added. */
void srv_jw_report(struct m87_jw *w, const char *raw, int64_t received, const char *deployment)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = m87_json_parse(raw, strlen(raw), NULL);
    m87_jw_obj_open(w);
    for (size_t i = 0; i < m87_json_len(doc); i++) {
        const char *key = NULL;
        const struct m87_json *v = m87_json_member(doc, i, &key);
        if (strcmp(key, "received") == 0 || strcmp(key, "deployment") == 0)
            continue;
        m87_jw_key(w, key);
        m87_jw_node(w, v);
    }
    srv_jw_time(w, "received", received);
    m87_jw_kstr(w, "deployment", deployment);
    m87_jw_obj_close(w);
}

int srv_api_reports_query(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    struct query q;
    if (read_query(r, &q, err) < 0)
        return -1;
    _cleanup_(srv_device_release) struct srv_device dev = {0};
    _cleanup_(srv_deployment_release) struct srv_deployment dep = {0};
    struct srv_report_row *rows = NULL;
    size_t n = 0;
    int rc = srv_device_find(r->srv->store, r->params.v[0], &dev, err);
    if (rc == 0 && q.deployment) {
        rc = srv_deployment_find(r->srv->store, dev.id, q.deployment, &dep, err);
        q.f.deployment_id = dep.id;
    }
    if (rc == 0)
        rc = srv_report_query(r->srv->store, dev.id, &q.f, &rows, &n, err);
    if (rc == 0) {
        size_t shown = n > (size_t)q.f.limit ? (size_t)q.f.limit : n;
        m87_jw_obj_open(w);
        m87_jw_key(w, "reports");
        m87_jw_arr_open(w);
        for (size_t i = 0; i < shown; i++)
            srv_jw_report(w, rows[i].raw, rows[i].received, rows[i].deployment);
        m87_jw_arr_close(w);
        m87_jw_key(w, "next");
        if (n > shown)
            m87_jw_int(w, rows[shown - 1].seq);
        else
            m87_jw_null(w);
        m87_jw_obj_close(w);
    }
    srv_report_rows_free(rows, n);
    return rc;
}
