/* m87-server private: the counters behind GET /metrics (metrics.c), bumped by the request
 * handling. */
#ifndef M87_SERVER_METRICS_H
#define M87_SERVER_METRICS_H

#include <stdatomic.h>

struct srv_metrics {
    atomic_uint_fast64_t by_status[600];
    atomic_uint_fast64_t reports_stored;
    atomic_uint_fast64_t auth_failed;    /* requests with a missing or unknown token */
    atomic_uint_fast64_t auth_throttled; /* requests refused by the failed-auth limit */
    atomic_uint_fast64_t reports_pruned; /* reports deleted by the retention */
    atomic_uint_fast64_t reports_refused; /* syncs whose reports were refused (429, 507) */
};

#endif
