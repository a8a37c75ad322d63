/* GET /healthz and GET /metrics (Prometheus text format). */
#include <microhttpd.h>
#include <string.h>

#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "server/api.h"
#include "server/http.h"
#include "server/limits.h"
#include "server/longpoll.h"
#include "server/request.h"
#include "server/store-devices.h"
#include "server/store.h"
#include "server/util.h"

void srv_api_healthz(struct srv_req *r)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kbool(w, "ok", true);
    m87_jw_obj_close(w);
    srv_reply_json(r, 200, w);
}

void srv_api_metrics(struct srv_req *r)
{
    struct srv *s = r->srv;
    _cleanup_error_ struct m87_error *err = NULL;
    int64_t online = 0;
    if (srv_store_begin(s->store, &err) < 0) {
        srv_reply_fail(r, err);
        return;
    }
    int rc = srv_device_count_online(s->store, srv_now() - s->longpoll_max - SRV_ONLINE_GRACE,
                                     &online, &err);
    srv_store_rollback(s->store);
    if (rc < 0) {
        srv_reply_fail(r, err);
        return;
    }
    struct m87_buf b;
    m87_buf_init(&b, 0);
    m87_buf_appendf(&b, NULL,
                    "# HELP m87_http_requests_total HTTP requests answered.\n"
                    "# TYPE m87_http_requests_total counter\n");
    for (size_t code = 100; code < M87_ARRAY_LEN(s->metrics.by_status); code++) {
        uint64_t n = atomic_load(&s->metrics.by_status[code]);
        if (n)
            m87_buf_appendf(&b, NULL, "m87_http_requests_total{code=\"%zu\"} %llu\n", code,
                            (unsigned long long)n);
    }
    m87_buf_appendf(&b, NULL,
                    "# HELP m87_devices_online Devices seen within the long-poll window.\n"
                    "# TYPE m87_devices_online gauge\n"
                    "m87_devices_online %lld\n"
                    "# HELP m87_longpolls_held Agent syncs held open now.\n"
                    "# TYPE m87_longpolls_held gauge\n"
                    "m87_longpolls_held %zu\n"
                    "# HELP m87_reports_stored_total Reports stored.\n"
                    "# TYPE m87_reports_stored_total counter\n"
                    "m87_reports_stored_total %llu\n"
                    "# HELP m87_auth_failures_total Requests with a missing or unknown token.\n"
                    "# TYPE m87_auth_failures_total counter\n"
                    "m87_auth_failures_total %llu\n"
                    "# HELP m87_auth_throttled_total Requests refused: too many failed "
                    "authentications from their source.\n"
                    "# TYPE m87_auth_throttled_total counter\n"
                    "m87_auth_throttled_total %llu\n"
                    "# HELP m87_reports_pruned_total Reports deleted by the retention.\n"
                    "# TYPE m87_reports_pruned_total counter\n"
                    "m87_reports_pruned_total %llu\n"
                    "# HELP m87_reports_refused_total Syncs whose reports were refused: the "
                    "device's ingest limit, or a nearly full disk.\n"
                    "# TYPE m87_reports_refused_total counter\n"
                    "m87_reports_refused_total %llu\n",
                    (long long)online, srv_longpoll_held(s->lp),
                    (unsigned long long)atomic_load(&s->metrics.reports_stored),
                    (unsigned long long)atomic_load(&s->metrics.auth_failed),
                    (unsigned long long)atomic_load(&s->metrics.auth_throttled),
                    (unsigned long long)atomic_load(&s->metrics.reports_pruned),
                    (unsigned long long)atomic_load(&s->metrics.reports_refused));
    char *text = m87_buf_steal(&b);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
    srv_reply_response(r, 200, resp);
}
