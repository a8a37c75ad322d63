/* GET /v1/devices/NAME/metrics?since=DURATION&limit=N: the metrics samples the device's agent sent
 * with its sync (store-metrics.h), so that a device offline still shows its last day. */
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/units.h"
#include "server/api.h"
#include "server/request.h"
#include "server/store-devices.h"
#include "server/store-metrics.h"
#include "server/util.h"

int srv_api_device_metrics(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    _cleanup_(srv_device_release) struct srv_device dev = {0};
    const char *since_text = srv_req_query(r, "since");
    const char *limit_text = srv_req_query(r, "limit");
    int64_t ns = (int64_t)SRV_METRICS_RETENTION * 1000000000LL;
    int64_t limit = SRV_METRICS_MAX_PER_DEVICE;
    struct srv_metrics_sample *v = NULL;
    size_t n = 0;

    if (since_text && (m87_parse_duration(since_text, &ns, NULL) < 0 || ns < 0))
        return m87_error_set(err, M87_E_INVAL, 0,
                             "since: expected a duration like 30m or 6h, not '%s'", since_text);
    if (limit_text && srv_parse_int(limit_text, 1, SRV_METRICS_MAX_PER_DEVICE, &limit) < 0)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "limit: expected an integer from 1 to %d, not '%s'",
                             SRV_METRICS_MAX_PER_DEVICE, limit_text);
    if (srv_device_find(r->srv->store, r->params.v[0], &dev, err) < 0 ||
        srv_metrics_list(r->srv->store, dev.id, srv_now() - ns / 1000000000LL, limit, &v, &n, err) <
            0)
        return -1;
    m87_jw_obj_open(w);
    srv_jw_metrics(w, "samples", v, n);
    m87_jw_obj_close(w);
    srv_metrics_free(v, n);
    return 0;
}
