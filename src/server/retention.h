/* m87-server private: what keeps the reports bounded (retention.c): a thread that prunes them by
 * age and by size per device in small batches, the limit of report bytes a device may send per
 * minute, and the disk space kept in reserve. */
#ifndef M87_SERVER_RETENTION_H
#define M87_SERVER_RETENTION_H

#include <stdatomic.h>
#include <stdint.h>

#define SRV_REPORT_RETENTION (30 * 86400)             /* seconds: 30 days */
#define SRV_REPORT_MAX_PER_DEVICE ((int64_t)64 << 20) /* bytes of reports kept per device */
#define SRV_REPORT_INGEST_LIMIT ((int64_t)4 << 20)    /* bytes a device may send a minute */
#define SRV_DISK_RESERVE ((int64_t)256 << 20)         /* free bytes below which reports wait */
/* seconds an audit row is kept after its last event: a year, the span audit logs are commonly
 * asked to cover (an incident found months later can still be traced to a token) */
#define SRV_AUDIT_RETENTION (365 * 86400)
#define SRV_DISK_RETRY_AFTER 60 /* seconds a device is told to wait when the disk is nearly full   \
                                 */

struct srv_store;
struct srv_ingest;
struct srv_pruner;

/* Prune every period_ms, in batches that each hold the store's lock briefly: reports received
 * more than retention seconds ago (0: kept by age), and the oldest of a device whose reports take
 * more than max_bytes (0: no size limit), metrics samples older than SRV_METRICS_RETENTION
 * (whatever retention says), and audit rows whose last event is more than audit_retention
 * seconds ago (0: kept forever). Each pruned report is counted in *pruned. */
struct srv_pruner *srv_pruner_start(struct srv_store *st, int64_t retention, int64_t max_bytes,
                                    int64_t audit_retention, int64_t period_ms,
                                    atomic_uint_fast64_t *pruned);
/* Stop and free (NULL: nothing). */
void srv_pruner_stop(struct srv_pruner *p);

/* A token bucket of per_minute bytes for each device (NULL for 0: no limit). Thread-safe; the
 * table has a fixed size, a device forgotten to make room starts again with a full bucket. */
struct srv_ingest *srv_ingest_new(int64_t per_minute);
void srv_ingest_free(struct srv_ingest *in);
/* 0 when the device may send bytes now (they are counted), else the ms until it may. More bytes
 * than a minute's worth need a full bucket. */
int64_t srv_ingest_take(struct srv_ingest *in, int64_t device_id, int64_t bytes, int64_t now_ms);

/* The bytes free for the server on the file system of dir, -1 when statvfs fails. */
int64_t srv_disk_free(const char *dir);

#endif
