/* Reports bounded: pruned by age and by size per device on a thread of their own, a per-device
 * limit of the bytes sent per minute, and the free space of the data directory's disk. The same
 * thread prunes the metrics samples older than a day (store-metrics.h) and the audit rows older
 * than their retention (store-audit.h). */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/statvfs.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/log.h"
#include "server/retention.h"
#include "server/store-audit.h"
#include "server/store-metrics.h"
#include "server/store-reports.h"
#include "server/store.h"
#include "server/util.h"

/* Rows deleted in one transaction, and transactions in one round: a round of a large backlog
 * holds the lock for a few ms at a time and lets requests in between. */
#define PRUNE_BATCH 256
#define PRUNE_ROUND 64

struct srv_pruner {
    struct srv_store *st;
    int64_t retention;
    int64_t max_bytes;
    int64_t audit_retention;
    int64_t period_ms;
    atomic_uint_fast64_t *pruned;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool quit;
};

/* One batch; the number of reports, metrics samples and audit rows pruned, -1 on an error
 * (logged). */
static int64_t prune_batch(struct srv_pruner *p)
{
    _cleanup_error_ struct m87_error *err = NULL;
    int64_t n = 0, samples = 0, audit = 0;
    int64_t now = srv_now();
    int64_t before = p->retention > 0 ? now - p->retention : 0;
    if (srv_store_begin(p->st, &err) < 0)
        goto fail;
    if (srv_report_prune(p->st, before, p->max_bytes, PRUNE_BATCH, &n, &err) < 0 ||
        srv_metrics_prune(p->st, now - SRV_METRICS_RETENTION, PRUNE_BATCH, &samples, &err) < 0 ||
        (p->audit_retention > 0 &&
         srv_audit_prune(p->st, now - p->audit_retention, PRUNE_BATCH, &audit, &err) < 0)) {
        srv_store_rollback(p->st);
        goto fail;
    }
    if (srv_store_commit(p->st, &err) < 0)
        goto fail;
    atomic_fetch_add(p->pruned, (uint64_t)n);
    return n + samples + audit;
fail:
    m87_log(M87_LOG_ERR, "prune reports, metrics and audit: %s", err->msg);
    return -1;
}

static void *pruner_main(void *arg)
{
    struct srv_pruner *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->quit) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += p->period_ms / 1000;
        until.tv_nsec += (p->period_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->cond, &p->mu, &until);
        for (int i = 0; i < PRUNE_ROUND && !p->quit; i++) {
            pthread_mutex_unlock(&p->mu);
            int64_t n = prune_batch(p);
            pthread_mutex_lock(&p->mu);
            if (n <= 0)
                break;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

struct srv_pruner *srv_pruner_start(struct srv_store *st, int64_t retention, int64_t max_bytes,
                                    int64_t audit_retention, int64_t period_ms,
                                    atomic_uint_fast64_t *pruned)
{
    struct srv_pruner *p = m87_xcalloc(1, sizeof(*p));
    p->st = st;
    p->retention = retention;
    p->max_bytes = max_bytes;
    p->audit_retention = audit_retention;
    p->period_ms = period_ms;
    p->pruned = pruned;
    pthread_mutex_init(&p->mu, NULL);
    srv_cond_init_monotonic(&p->cond);
    if (pthread_create(&p->thread, NULL, pruner_main, p) != 0)
        m87_oom();
    return p;
}

void srv_pruner_stop(struct srv_pruner *p)
{
    if (p == NULL)
        return;
    srv_thread_stop(p->thread, &p->mu, &p->cond, &p->quit);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* ---- the ingest limit ------------------------------------------------------------------------ */

#define SETS 4096u /* the table: SETS x WAYS devices */
#define WAYS 4u

struct bucket {
    int64_t device_id; /* 0: free */
    double tokens;     /* bytes the device may still send */
    int64_t updated;   /* ms when tokens was computed */
};

struct srv_ingest {
    pthread_mutex_t lock;
    double burst;
    double per_ms;
    struct bucket *slots;
};

struct srv_ingest *srv_ingest_new(int64_t per_minute)
{
    if (per_minute <= 0)
        return NULL;
    struct srv_ingest *in = m87_xcalloc(1, sizeof(*in));
    pthread_mutex_init(&in->lock, NULL);
    in->burst = (double)per_minute;
    in->per_ms = (double)per_minute / 60000.0;
    in->slots = m87_xcalloc(SETS * WAYS, sizeof(*in->slots));
    return in;
}

void srv_ingest_free(struct srv_ingest *in)
{
    if (in == NULL)
        return;
    pthread_mutex_destroy(&in->lock);
    free(in->slots);
    free(in);
}

/* Under the lock: the device's bucket, refilled to now; a new one (full) replaces the fullest. */
static struct bucket *bucket_for(struct srv_ingest *in, int64_t device_id, int64_t now_ms)
{
    struct bucket *set = &in->slots[((uint64_t)device_id % SETS) * WAYS];
    struct bucket *b = NULL;
    for (unsigned i = 0; i < WAYS && b == NULL; i++)
        if (set[i].device_id == device_id)
            b = &set[i];
    if (b == NULL) {
        b = &set[0];
        for (unsigned i = 0; i < WAYS; i++) {
            double t = set[i].tokens + (double)(now_ms - set[i].updated) * in->per_ms;
            if (set[i].device_id == 0 || t > b->tokens + (double)(now_ms - b->updated) * in->per_ms)
                b = &set[i];
            if (set[i].device_id == 0)
                break;
        }
        *b = (struct bucket){device_id, in->burst, now_ms};
    }
    b->tokens += (double)(now_ms - b->updated) * in->per_ms;
    if (b->tokens > in->burst)
        b->tokens = in->burst;
    b->updated = now_ms;
    return b;
}

int64_t srv_ingest_take(struct srv_ingest *in, int64_t device_id, int64_t bytes, int64_t now_ms)
{
    if (in == NULL || bytes <= 0)
        return 0;
    pthread_mutex_lock(&in->lock);
    struct bucket *b = bucket_for(in, device_id, now_ms);
    double need = (double)bytes < in->burst ? (double)bytes : in->burst;
    int64_t wait = 0;
    if (b->tokens >= need)
        b->tokens -= (double)bytes;
    else
        wait = (int64_t)((need - b->tokens) / in->per_ms) + 1;
    pthread_mutex_unlock(&in->lock);
    return wait;
}

int64_t srv_disk_free(const char *dir)
{
    struct statvfs sv;
    if (statvfs(dir, &sv) < 0)
        return -1;
    return (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
}
