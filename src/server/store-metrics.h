/* m87-server private: the metrics samples devices send with their sync (docs/remote.md,
 * "Metrics while offline"), kept a day and at most SRV_METRICS_MAX_PER_DEVICE per device
 * (store-metrics.c). A sample is the agent's JSON object, stored as it came; its time is the
 * server's when the sync came. Rows go with their device. */
#ifndef M87_SERVER_STORE_METRICS_H
#define M87_SERVER_STORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "m87/json-write.h"
#include "server/store.h"

#define SRV_METRICS_RETENTION 86400     /* seconds a sample is kept */
#define SRV_METRICS_MAX_PER_DEVICE 1440 /* one a minute for a day; the agent's default is 5 min */
#define SRV_METRICS_MAX_SAMPLE (4u * 1024) /* bytes of one sample's JSON (it is about 400) */

struct srv_metrics_sample {
    int64_t created; /* unix seconds */
    char *sample;    /* the JSON object */
};

/* Store the device's sample (JSON text of an object, at most SRV_METRICS_MAX_SAMPLE bytes) as
 * received at now (unix seconds), and drop its oldest beyond the keep newest. */
int srv_metrics_add(struct srv_store *st, int64_t device_id, const char *sample, int64_t now,
                    int64_t keep, struct m87_error **err);
/* The device's samples received at or after since, oldest first: the newest limit of them. */
int srv_metrics_list(struct srv_store *st, int64_t device_id, int64_t since, int64_t limit,
                     struct srv_metrics_sample **out, size_t *n, struct m87_error **err);
/* Delete up to batch samples received before before (unix seconds); *pruned: how many. */
int srv_metrics_prune(struct srv_store *st, int64_t before, int batch, int64_t *pruned,
                      struct m87_error **err);
void srv_metrics_free(struct srv_metrics_sample *v, size_t n);
/* "key": [{"time": RFC 3339, "metrics": {...}}, ...] into an open object. */
void srv_jw_metrics(struct m87_jw *w, const char *key, const struct srv_metrics_sample *v,
                    size_t n);

#endif
