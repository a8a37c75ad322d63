/* m87-server private: the reports devices send, in the store (store-reports.c). */
#ifndef M87_SERVER_STORE_REPORTS_H
#define M87_SERVER_STORE_REPORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "m87/list.h"
#include "server/store.h"

/* One validated report record. */
struct srv_report {
    int64_t seq;
    const char *kind;
    const char *revision;
    const char *job;
    const char *phase;
    const char *step;
    const char *state;
    char *raw; /* the record's JSON */
};

/* 1 when stored, 0 when the seq was already there (a duplicate). */
int srv_report_add(struct srv_store *st, int64_t device_id, const struct srv_report *rep,
                   struct m87_error **err);
int srv_report_max_seq(struct srv_store *st, int64_t device_id, int64_t *seq,
                       struct m87_error **err);
int srv_report_count(struct srv_store *st, int64_t *n, struct m87_error **err);
/* One batch of the retention (in a transaction): delete up to batch reports received before
 * `before` (0: none by age), and, when none of those were left, the oldest reports (up to batch)
 * of one device whose reports take more than max_bytes (0: no size limit), as many as bring it
 * to max_bytes. *pruned is how many went: 0 when there is nothing (more) to prune. */
int srv_report_prune(struct srv_store *st, int64_t before, int64_t max_bytes, int batch,
                     int64_t *pruned, struct m87_error **err);

struct srv_report_filter {
    int64_t deployment_id; /* 0: any */
    const char *revision;
    const char *job;
    const char *step;
    const char *kind;
    int64_t after;
    int64_t limit;
};

struct srv_report_row {
    int64_t seq;
    int64_t received;
    char *deployment; /* public id or NULL */
    char *raw;
};
void srv_report_rows_free(struct srv_report_row *rows, size_t n);

/* Up to f->limit + 1 rows in seq order (the extra one tells that there are more). */
int srv_report_query(struct srv_store *st, int64_t device_id, const struct srv_report_filter *f,
                     struct srv_report_row **out, size_t *n, struct m87_error **err);
/* Any report of the device for that revision hash. */
int srv_report_any_for(struct srv_store *st, int64_t device_id, const char *revision, bool *yes,
                       struct m87_error **err);

/* The newest "job" report of job for revision (*raw NULL when none). */
int srv_report_latest_job(struct srv_store *st, int64_t device_id, const char *revision,
                          const char *job, char **raw, struct m87_error **err);
/* The newest report of kind (without a job) for revision (*raw NULL when none). */
int srv_report_latest_kind(struct srv_store *st, int64_t device_id, const char *revision,
                           const char *kind, char **raw, struct m87_error **err);
/* Every "step" report of job for revision, oldest first. */
int srv_report_steps(struct srv_store *st, int64_t device_id, const char *revision, const char *job,
                     struct m87_strv *raws, struct m87_error **err);

#endif
