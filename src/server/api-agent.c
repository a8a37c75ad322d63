/* POST /v1/agent/sync: store the device's reports, answer with the acknowledged seq and, when it
 * differs from what the device applied, its target; with nothing to say, hold the request
 * (longpoll.c) until the target changes or the wait ends. */
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/time.h"
#include "server/api.h"
#include "server/http.h"
#include "server/json.h"
#include "server/limits.h"
#include "server/longpoll.h"
#include "server/request.h"
#include "server/retention.h"
#include "server/rollout.h"
#include "server/revision.h"
#include "server/store-deployments.h"
#include "server/store-devices.h"
#include "server/store-metrics.h"
#include "server/store-notify.h"
#include "server/store-reports.h"
#include "server/store.h"
#include "server/util.h"

struct sync {
    char *applied;
    char *waiting; /* the target the device keeps and waits to apply (a maintenance window) */
    char *agent_version;
    char *registries; /* the digest of the registry entries the agent holds, NULL: none */
    int64_t wait;
    int64_t policy; /* -1: the agent did not say */
    bool offline;   /* the agent's last sync before it stops: answered at once */
    struct srv_report *reports;
    size_t n_reports;
    char *metrics; /* the sample the agent sent (JSON text), NULL: none */
    bool owned; /* the reports' string fields are copies */
};

static void sync_free(void *p)
{
    struct sync *s = p;
    for (size_t i = 0; i < s->n_reports; i++) {
        struct srv_report *rep = &s->reports[i];
        free(rep->raw);
        if (s->owned) {
            free((char *)rep->revision);
            free((char *)rep->job);
            free((char *)rep->phase);
            free((char *)rep->step);
            free((char *)rep->state);
        }
    }
    free(s->reports);
    free(s->applied);
    free(s->waiting);
    free(s->agent_version);
    free(s->registries);
    free(s->metrics);
    free(s);
}

static bool is_int(const struct m87_json *v)
{
    int64_t ignored;
    return srv_json_is_int(v, &ignored);
}

/* Numbers beyond int64 range are refused: copying them (m87_jw_node) would convert them to
 * int64_t, which is undefined for them. The depth is bounded by the body check. */
static bool numbers_in_range(const struct m87_json *n)
{
    switch (m87_json_type(n)) {
    case M87_JSON_NUMBER: {
        double d = m87_json_double(n, 0);
        return d >= -9.0e18 && d <= 9.0e18;
    }
    case M87_JSON_ARRAY:
    case M87_JSON_OBJECT:
        for (size_t i = 0; i < m87_json_len(n); i++) {
            const struct m87_json *c = m87_json_type(n) == M87_JSON_ARRAY
                                           ? m87_json_at(n, i)
                                           : m87_json_member(n, i, NULL);
            if (!numbers_in_range(c))
                return false;
        }
        return true;
    default:
        return true;
    }
}

/* A string or null member; -1 naming it otherwise. */
static int opt_str(const struct m87_json *rec, size_t i, const char *key, const char **out,
                   struct m87_error **err)
{
    const struct m87_json *v = m87_json_get(rec, key);
    *out = NULL;
    if (v == NULL || m87_json_type(v) == M87_JSON_NULL)
        return 0;
    if (m87_json_type(v) != M87_JSON_STRING)
        return m87_error_set(err, M87_E_INVAL, 0, "reports[%zu].%s: expected a string or null", i,
                             key);
    *out = m87_json_str(v, NULL);
    return 0;
}

static int check_record(const struct m87_json *rec, size_t i, struct srv_report *out,
                        struct m87_error **err)
{
    static const char *const strings[] = {"time", "job_hash", "output",   "message",
                                          "next", "rollout",  "previous", NULL};
    static const char *const ints[] = {"attempt", "attempts", "exit_code", "duration_ms", NULL};
    static const char *const kinds[] = {"step",   "job",     "log",   "health", "window", "target",
                                        "prefetch", "rollout", "audit", NULL};
    if (m87_json_type(rec) != M87_JSON_OBJECT)
        return m87_error_set(err, M87_E_INVAL, 0, "reports[%zu]: expected an object", i);
    if (!numbers_in_range(rec))
        return m87_error_set(err, M87_E_INVAL, 0, "reports[%zu]: a number is out of range", i);
    if (!srv_json_is_int(m87_json_get(rec, "seq"), &out->seq) || out->seq < 1)
        return m87_error_set(err, M87_E_INVAL, 0, "reports[%zu].seq: must be a positive integer",
                             i);
    const char *kind = m87_json_str(m87_json_get(rec, "kind"), NULL);
    for (size_t k = 0; kind && kinds[k]; k++)
        if (strcmp(kinds[k], kind) == 0)
            out->kind = kinds[k];
    if (out->kind == NULL)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "reports[%zu].kind: must be step, job, log, health, window, target, "
                             "prefetch, rollout or audit",
                             i);
    const char *ignored = NULL;
    for (size_t k = 0; strings[k]; k++)
        if (opt_str(rec, i, strings[k], &ignored, err) < 0)
            return -1;
    for (size_t k = 0; ints[k]; k++) {
        const struct m87_json *v = m87_json_get(rec, ints[k]);
        if (v && m87_json_type(v) != M87_JSON_NULL && !is_int(v))
            return m87_error_set(err, M87_E_INVAL, 0, "reports[%zu].%s: expected an integer", i,
                                 ints[k]);
    }
    if (opt_str(rec, i, "revision", &out->revision, err) < 0 ||
        opt_str(rec, i, "job", &out->job, err) < 0 ||
        opt_str(rec, i, "phase", &out->phase, err) < 0 ||
        opt_str(rec, i, "step", &out->step, err) < 0 ||
        opt_str(rec, i, "state", &out->state, err) < 0)
        return -1;
    if (out->phase && strcmp(out->phase, "steps") != 0 && strcmp(out->phase, "undo") != 0 &&
        strcmp(out->phase, "stop") != 0)
        return m87_error_set(err, M87_E_INVAL, 0, "reports[%zu].phase: must be steps, undo or stop",
                             i);
    if (strcmp(out->kind, "window") == 0 &&
        (out->state == NULL ||
         (strcmp(out->state, "waiting") != 0 && strcmp(out->state, "open") != 0)))
        return m87_error_set(err, M87_E_INVAL, 0, "reports[%zu].state: must be waiting or open", i);
    if (strcmp(out->kind, "rollout") == 0 &&
        (out->state == NULL ||
         (strcmp(out->state, "healthy") != 0 && strcmp(out->state, "failed") != 0 &&
          strcmp(out->state, "rolled-back") != 0)))
        return m87_error_set(err, M87_E_INVAL, 0,
                             "reports[%zu].state: must be healthy, failed or rolled-back", i);
    return 0;
}

/* Validate the records; the kept fields point into doc, raw is a copy. */
static int read_reports(const struct m87_json *arr, struct sync *s, struct m87_error **err)
{
    if (arr == NULL || m87_json_type(arr) == M87_JSON_NULL)
        return 0;
    if (m87_json_type(arr) != M87_JSON_ARRAY)
        return m87_error_set(err, M87_E_INVAL, 0, "reports: expected an array");
    size_t n = m87_json_len(arr);
    if (n > SRV_MAX_REPORTS)
        return m87_error_set(err, M87_E_TOOBIG, 0, "reports: %zu records exceed the limit of %u", n,
                             SRV_MAX_REPORTS);
    s->reports = m87_xcalloc(n ? n : 1, sizeof(*s->reports));
    for (size_t i = 0; i < n; i++) {
        struct srv_report *rep = &s->reports[i];
        const struct m87_json *rec = m87_json_at(arr, i);
        if (check_record(rec, i, rep, err) < 0)
            return -1;
        struct m87_jw *w = m87_jw_new();
        m87_jw_node(w, rec);
        rep->raw = m87_jw_finish(w);
        s->n_reports = i + 1;
        if (strlen(rep->raw) > SRV_MAX_REPORT)
            return m87_error_set(err, M87_E_TOOBIG, 0,
                                 "reports[%zu]: record of %zu bytes exceeds the limit of %u", i,
                                 strlen(rep->raw), SRV_MAX_REPORT);
    }
    return 0;
}

/* "metrics": a sample of the device's state (docs/remote.md), kept as it came: an object whose
 * numbers fit int64, at most SRV_METRICS_MAX_SAMPLE bytes. */
static int read_metrics(const struct m87_json *body, struct sync *s, struct m87_error **err)
{
    const struct m87_json *v = m87_json_get(body, "metrics");
    if (v == NULL || m87_json_type(v) == M87_JSON_NULL)
        return 0;
    if (m87_json_type(v) != M87_JSON_OBJECT)
        return m87_error_set(err, M87_E_INVAL, 0, "metrics: expected an object or null");
    if (!numbers_in_range(v))
        return m87_error_set(err, M87_E_INVAL, 0, "metrics: a number is out of range");
    struct m87_jw *w = m87_jw_new();
    m87_jw_node(w, v);
    s->metrics = m87_jw_finish(w);
    if (strlen(s->metrics) > SRV_METRICS_MAX_SAMPLE)
        return m87_error_set(err, M87_E_TOOBIG, 0,
                             "metrics: sample of %zu bytes exceeds the limit of %u",
                             strlen(s->metrics), SRV_METRICS_MAX_SAMPLE);
    return 0;
}

/* "waiting": the revision hash the device stores and waits to apply; what it has in place of
 * "applied" when the target is decided. */
static int read_waiting(const struct m87_json *body, struct sync *s, struct m87_error **err)
{
    const struct m87_json *v = m87_json_get(body, "waiting");
    if (v == NULL || m87_json_type(v) == M87_JSON_NULL)
        return 0;
    if (m87_json_type(v) != M87_JSON_STRING || !srv_valid_hex64(m87_json_str(v, "")))
        return m87_error_set(err, M87_E_INVAL, 0,
                             "waiting: expected a revision hash (64 hex digits) or null");
    s->waiting = m87_xstrdup(m87_json_str(v, ""));
    return 0;
}

static int read_top(const struct m87_json *body, struct sync *s, int longpoll_max,
                    struct m87_error **err)
{
    static const char *const fields[] = {"applied", "agent_version", "reports", "wait",    "policy",
                                         "waiting", "registries",    "offline", "metrics", NULL};
    if (srv_json_only(body, NULL, fields, err) < 0 || read_waiting(body, s, err) < 0 ||
        read_metrics(body, s, err) < 0)
        return -1;
    const struct m87_json *reg = m87_json_get(body, "registries");
    if (reg && m87_json_type(reg) != M87_JSON_NULL) {
        if (m87_json_type(reg) != M87_JSON_STRING || !srv_valid_hex64(m87_json_str(reg, "")))
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "registries: expected the digest of the registry entries the "
                                 "device holds (64 hex digits) or null");
        s->registries = m87_xstrdup(m87_json_str(reg, ""));
    }
    const struct m87_json *offline = m87_json_get(body, "offline");
    if (offline && m87_json_type(offline) != M87_JSON_NULL &&
        m87_json_type(offline) != M87_JSON_BOOL)
        return m87_error_set(err, M87_E_INVAL, 0, "offline: expected true or false");
    s->offline = m87_json_bool(offline, false);
    const struct m87_json *applied = m87_json_get(body, "applied");
    if (applied && m87_json_type(applied) != M87_JSON_NULL) {
        if (m87_json_type(applied) != M87_JSON_STRING ||
            !srv_valid_hex64(m87_json_str(applied, "")))
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "applied: expected a revision hash (64 hex digits) or null");
        s->applied = m87_xstrdup(m87_json_str(applied, ""));
    }
    const struct m87_json *ver = m87_json_get(body, "agent_version");
    if (ver && m87_json_type(ver) != M87_JSON_NULL) {
        const char *v = m87_json_str(ver, NULL);
        if (v == NULL || strlen(v) > SRV_MAX_AGENT_VERSION)
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "agent_version: expected a string of at most %d bytes",
                                 SRV_MAX_AGENT_VERSION);
        s->agent_version = m87_xstrdup(v);
    }
    const struct m87_json *wait = m87_json_get(body, "wait");
    s->wait = SRV_DEFAULT_WAIT;
    if (wait && m87_json_type(wait) != M87_JSON_NULL) {
        if (!srv_json_is_int(wait, &s->wait) || s->wait < 0 || s->wait > SRV_MAX_WAIT)
            return m87_error_set(err, M87_E_INVAL, 0, "wait: expected an integer from 0 to %d",
                                 SRV_MAX_WAIT);
    }
    if (s->wait > longpoll_max || s->offline)
        s->wait = s->offline ? 0 : longpoll_max;
    const struct m87_json *policy = m87_json_get(body, "policy");
    s->policy = -1;
    if (policy && m87_json_type(policy) != M87_JSON_NULL) {
        if (!srv_json_is_int(policy, &s->policy) || s->policy < 0)
            return m87_error_set(err, M87_E_INVAL, 0, "policy: expected an integer >= 0 or null");
    }
    return read_reports(m87_json_get(body, "reports"), s, err);
}

static int write_target(struct srv_store *st, struct m87_jw *w, int64_t device_id,
                        const struct srv_deployment *dep, const struct srv_revision *rev,
                        struct m87_error **err)
{
    m87_jw_kstr(w, "deployment", dep->public_id);
    m87_jw_kint(w, "revision", rev->number);
    m87_jw_kstr(w, "hash", rev->hash);
    m87_jw_key(w, "spec");
    srv_jw_raw(w, rev->spec);
    if (rev->sig_key) /* signed revisions: docs/security.md */
        srv_jw_signature(w, rev);
    /* the fleet releases it carries and the rollout watching it (docs/fleets.md) */
    return srv_jw_rollout_target(st, w, device_id, dep, rev, err);
}

/* The answer: {"ack":N} plus "target" when it differs from what the device applied, or when
 * the device's policy (windows, prefetch, now) is not the one the agent has. */
static int answer(struct srv_req *r, const struct sync *s, bool first, struct m87_jw *w,
                  bool *has_target, struct m87_error **err)
{
    struct srv_store *st = r->srv->store;
    _cleanup_(srv_device_release) struct srv_device dev = {0};
    _cleanup_(srv_deployment_release) struct srv_deployment dep = {0};
    _cleanup_(srv_revision_release) struct srv_revision rev = {0};
    int64_t ack = 0;
    *has_target = false;
    /* seen when the request comes, not when a held one ends: that could follow the goodbye of
     * the agent's next life (its requests do not outlive it, their holds do) */
    if ((first &&
         srv_device_seen(st, r->device_id, s->agent_version, s->applied, s->offline, err) < 0) ||
        srv_report_max_seq(st, r->device_id, &ack, err) < 0)
        return -1;
    /* a device removed while its sync was held has no target: answered as such */
    struct m87_error *e = NULL;
    if (srv_device_by_id(st, r->device_id, &dev, &e) < 0 && m87_error_code(e) != M87_E_NOTFOUND) {
        *err = e;
        return -1;
    }
    m87_error_free(e);
    int rc = srv_deployment_active(st, r->device_id, &dep, err);
    const char *has = s->waiting ? s->waiting : s->applied;
    if (rc == 1 &&
        (has == NULL || strcmp(has, dep.hash) != 0 || (s->policy >= 0 && s->policy != dev.policy)))
        rc = srv_revision_get(st, &dep, dep.revision, &rev, err) < 0 ? -1 : 2;
    if (rc >= 0) {
        m87_jw_obj_open(w);
        m87_jw_kint(w, "ack", ack);
        if (rc == 2) {
            m87_jw_key(w, "target");
            m87_jw_obj_open(w);
            if (write_target(st, w, r->device_id, &dep, &rev, err) < 0 ||
                srv_jw_policy(st, w, &dev, rev.hash, err) < 0)
                rc = -1;
            m87_jw_obj_close(w);
        } else if (rc == 0 && has) {
            m87_jw_key(w, "target");
            m87_jw_null(w);
        }
        if (rc >= 0 && srv_jw_prefetch_sync(st, w, &dev, err) < 0)
            rc = -1;
        bool registries = false; /* credentials are not signed: docs/security.md */
        if (rc >= 0 &&
            srv_jw_registries_sync(r->srv, w, dev.id, s->registries, &registries, err) < 0)
            rc = -1;
        size_t n_sessions = 0; /* sync execution: sessions to start now (api-sessions.c) */
        if (rc >= 0 && srv_jw_agent_sessions(st, w, r->device_id, &n_sessions, err) < 0)
            rc = -1;
        /* remote access: channels its agent is to join (api-remote.c) */
        size_t n_remote = 0;
        if (rc >= 0 && srv_jw_remote_sync(r->srv, w, r->device_id, &n_remote, err) < 0)
            rc = -1;
        n_sessions += n_remote;
        /* with what is signed: the name signatures give the device (docs/security.md) */
        if (dev.name && (rc == 2 || n_sessions > 0))
            m87_jw_kstr(w, "device", dev.name);
        m87_jw_obj_close(w);
        *has_target = rc == 2 || (rc == 0 && has) || n_sessions > 0 || registries;
    }
    return rc < 0 ? -1 : 0;
}

/* One transaction: store the reports (first round only), then the answer. */
static int run(struct srv_req *r, struct sync *s, bool store_reports, struct m87_jw *w,
               bool *has_target, struct m87_error **err)
{
    struct srv_store *st = r->srv->store;
    uint64_t stored = 0;
    bool wake = false; /* a member of a rollout changed: the driver looks again */
    if (srv_store_begin(st, err) < 0)
        return -1;
    /* the device's syncs, its admin's changes and the rollout rounds that place on it run one
     * after the other (request.c, serialise); the round's lock first, as everywhere */
    if ((store_reports &&
         srv_rollout_lock_reports(r->srv, r->device_id, s->reports, s->n_reports, err) < 0) ||
        srv_device_lock(st, r->device_id, err) < 0) {
        srv_store_rollback(st);
        return -1;
    }
    if (store_reports && s->metrics &&
        srv_metrics_add(st, r->device_id, s->metrics, srv_now(), SRV_METRICS_MAX_PER_DEVICE, err) <
            0) {
        srv_store_rollback(st);
        return -1;
    }
    for (size_t i = 0; store_reports && i < s->n_reports; i++) {
        int rc = srv_report_add(st, r->device_id, &s->reports[i], err);
        if (rc < 0) {
            srv_store_rollback(st);
            return m87_error_wrap(err, "reports[%zu]", i);
        }
        stored += (uint64_t)rc;
        if (rc > 0 && (srv_prefetch_report(st, r->device_id, &s->reports[i], err) < 0 ||
                       srv_rollout_report(r->srv, r->device_id, &s->reports[i], &wake, err) < 0)) {
            srv_store_rollback(st);
            return -1;
        }
    }
    bool offline = store_reports && s->offline;
    if (answer(r, s, store_reports, w, has_target, err) < 0 ||
        (wake && srv_store_notify(st, SRV_WAKE_ROLLOUTS, 0, err) < 0) ||
        (offline && srv_store_notify(st, SRV_WAKE_SYNCS, r->device_id, err) < 0)) {
        srv_store_rollback(st);
        return -1;
    }
    if (srv_store_commit(st, err) < 0)
        return -1;
    atomic_fetch_add(&r->srv->metrics.reports_stored, stored);
    if (wake)
        srv_rollouts_wake(r->srv->rollouts);
    if (offline) /* its held request, if any, is gone with it */
        srv_longpoll_notify(r->srv->lp, r->device_id);
    return 0;
}

static struct sync *parse(struct srv_req *r, struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *body = srv_body_object(r, NULL, err);
    if (body == NULL)
        return NULL;
    struct sync *s = m87_xcalloc(1, sizeof(*s));
    /* the kept string fields point into body: copy what outlives it */
    if (read_top(body, s, r->srv->longpoll_max, err) < 0) {
        sync_free(s);
        return NULL;
    }
    for (size_t i = 0; i < s->n_reports; i++) {
        struct srv_report *rep = &s->reports[i];
        rep->revision = rep->revision ? m87_xstrdup(rep->revision) : NULL;
        rep->job = rep->job ? m87_xstrdup(rep->job) : NULL;
        rep->phase = rep->phase ? m87_xstrdup(rep->phase) : NULL;
        rep->step = rep->step ? m87_xstrdup(rep->step) : NULL;
        rep->state = rep->state ? m87_xstrdup(rep->state) : NULL;
    }
    s->owned = true;
    return s;
}

static void hold_or_answer(struct srv_req *r, struct sync *s, uint64_t gen)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    r->waiter.device_id = r->device_id;
    r->waiter.conn = r->conn;
    r->waiter.deadline = now;
    r->waiter.deadline.tv_sec += s->wait;
    r->held = true;
    if (srv_longpoll_hold(r->srv->lp, &r->waiter, gen))
        return;
    /* something changed meanwhile, or the server is stopping: answer now */
    r->held = false;
    srv_api_sync(r);
}

static void reply_retry(struct srv_req *r, unsigned status, const char *code, int64_t secs,
                        const char *msg)
{
    char text[24];
    snprintf(text, sizeof(text), "%lld", (long long)secs);
    struct MHD_Response *resp = srv_error_response(code, msg);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, text);
    srv_reply_response(r, status, resp);
    atomic_fetch_add(&r->srv->metrics.reports_refused, 1);
}

/* Reports refused before anything is stored (the agent keeps them and sends them again): a disk
 * nearly full (507), a device past its ingest limit (429). True when a reply was queued. */
static bool refuse_reports(struct srv_req *r, const struct sync *s)
{
    struct srv *srv = r->srv;
    if (srv->disk_reserve > 0) {
        int64_t avail = srv_disk_free(srv->data_dir);
        if (avail >= 0 && avail < srv->disk_reserve) {
            _cleanup_free_ char *msg = m87_xasprintf(
                "the server's disk is nearly full (%lld MiB free, %lld MiB kept in reserve): "
                "reports are refused until space is freed; the device keeps them",
                (long long)(avail >> 20), (long long)(srv->disk_reserve >> 20));
            reply_retry(r, 507, "insufficient_storage", SRV_DISK_RETRY_AFTER, msg);
            return true;
        }
    }
    int64_t bytes = 0;
    for (size_t i = 0; i < s->n_reports; i++)
        bytes += (int64_t)strlen(s->reports[i].raw);
    int64_t wait = srv_ingest_take(srv->ingest, r->device_id, bytes, m87_mono_ms());
    if (wait <= 0)
        return false;
    int64_t secs = (wait + 999) / 1000;
    _cleanup_free_ char *msg = m87_xasprintf(
        "device '%s' sent more reports than its limit of bytes per minute: try again in %lld s "
        "(nothing of this sync was stored)",
        r->device_name, (long long)secs);
    reply_retry(r, 429, "too_many_requests", secs, msg);
    return true;
}

void srv_api_sync(struct srv_req *r)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct sync *s = r->state;
    bool first = s == NULL;
    if (first) {
        if ((s = parse(r, &err)) == NULL) {
            srv_reply_fail(r, err);
            return;
        }
        r->state = s;
        r->state_free = sync_free;
        if (s->n_reports > 0 && refuse_reports(r, s))
            return;
    }
    r->held = false;
    uint64_t gen = srv_longpoll_gen(r->srv->lp);
    struct m87_jw *w = m87_jw_new();
    bool has_target = false;
    if (run(r, s, first, w, &has_target, &err) < 0) {
        m87_jw_free(w);
        srv_reply_fail(r, err);
        return;
    }
    if (first && !has_target && s->n_reports == 0 && s->wait > 0) {
        m87_jw_free(w);
        hold_or_answer(r, s, gen);
        return;
    }
    srv_reply_json(r, 200, w);
}
