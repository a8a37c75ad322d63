/* GET /v1/devices/NAME/status and the health of GET /v1/devices/NAME: what the newest reports
 * of a revision's jobs say. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/spec-runspec.h"
#include "server/api.h"
#include "server/http.h"
#include "server/json.h"
#include "server/request.h"
#include "server/revision.h"
#include "server/store-deployments.h"
#include "server/store-devices.h"
#include "server/store-reports.h"
#include "server/store-sessions.h"

/* Copy member key of obj, or null when absent. */
static void copy_member(struct m87_jw *w, const struct m87_json *obj, const char *key)
{
    const struct m87_json *v = m87_json_get(obj, key);
    m87_jw_key(w, key);
    if (v)
        m87_jw_node(w, v);
    else
        m87_jw_null(w);
}

/* The newest report of each (phase, step), in the order first seen. */
static void write_steps(struct m87_jw *w, const struct m87_strv *raws)
{
    size_t n = raws->len;
    _cleanup_free_ struct m87_json **docs = m87_xcalloc(n ? n : 1, sizeof(*docs));
    for (size_t i = 0; i < n; i++)
        docs[i] = m87_json_parse(raws->items[i], strlen(raws->items[i]), NULL);
    m87_jw_arr_open(w);
    for (size_t i = 0; i < n; i++) {
        const char *phase = m87_json_str(m87_json_get(docs[i], "phase"), "");
        const char *step = m87_json_str(m87_json_get(docs[i], "step"), "");
        bool seen = false;
        size_t last = i;
        for (size_t k = 0; k < n; k++) {
            bool same = strcmp(m87_json_str(m87_json_get(docs[k], "phase"), ""), phase) == 0 &&
                        strcmp(m87_json_str(m87_json_get(docs[k], "step"), ""), step) == 0;
            if (same && k < i)
                seen = true;
            if (same)
                last = k;
        }
        if (seen)
            continue;
        const struct m87_json *d = docs[last];
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "name", step);
        m87_jw_kstr(w, "phase", phase[0] ? phase : "steps");
        copy_member(w, d, "state");
        copy_member(w, d, "attempt");
        copy_member(w, d, "exit_code");
        copy_member(w, d, "duration_ms");
        copy_member(w, d, "output");
        copy_member(w, d, "time");
        m87_jw_obj_close(w);
    }
    m87_jw_arr_close(w);
    for (size_t i = 0; i < n; i++)
        m87_json_free(docs[i]);
}

static int write_job(struct srv_store *st, struct m87_jw *w, int64_t device_id,
                     const char *revision, const struct spec_job *job, struct m87_error **err)
{
    _cleanup_free_ char *raw = NULL;
    struct m87_strv steps;
    m87_strv_init(&steps);
    if (srv_report_latest_job(st, device_id, revision, job->id, &raw, err) < 0 ||
        srv_report_steps(st, device_id, revision, job->id, &steps, err) < 0) {
        m87_strv_release(&steps);
        return -1;
    }
    _cleanup_(m87_json_freep) struct m87_json *rep =
        raw ? m87_json_parse(raw, strlen(raw), NULL) : NULL;
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "id", job->id);
    m87_jw_kstr(w, "hash", job->hash);
    m87_jw_kbool(w, "enabled", job->enabled);
    m87_jw_kstr(w, "state", m87_json_str(m87_json_get(rep, "state"), "pending"));
    copy_member(w, rep, "message");
    copy_member(w, rep, "step");
    copy_member(w, rep, "exit_code");
    copy_member(w, rep, "attempts");
    copy_member(w, rep, "time");
    m87_jw_key(w, "steps");
    write_steps(w, &steps);
    m87_jw_obj_close(w);
    m87_strv_release(&steps);
    return 0;
}

static int pick_deployment(struct srv_req *r, const struct srv_device *dev,
                           struct srv_deployment *dep, struct m87_error **err)
{
    const char *id = srv_req_query(r, "deployment");
    if (id)
        return srv_deployment_find(r->srv->store, dev->id, id, dep, err);
    int rc = srv_deployment_active(r->srv->store, dev->id, dep, err);
    if (rc == 0)
        return m87_error_set(err, M87_E_NOTFOUND, 0, "device '%s' has no active deployment",
                             dev->name);
    return rc < 0 ? -1 : 0;
}

static int write_status(struct srv_req *r, struct m87_jw *w, const struct srv_device *dev,
                        const struct srv_deployment *dep, const struct spec_runspec *rs,
                        struct m87_error **err)
{
    bool picked = dev->applied && strcmp(dev->applied, dep->hash) == 0;
    if (!picked && srv_report_any_for(r->srv->store, dev->id, dep->hash, &picked, err) < 0)
        return -1;
    m87_jw_obj_open(w);
    m87_jw_key(w, "device");
    m87_jw_obj_open(w);
    srv_jw_device(r->srv, w, dev);
    m87_jw_obj_close(w);
    m87_jw_key(w, "deployment");
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "id", dep->public_id);
    m87_jw_kint(w, "revision", dep->revision);
    m87_jw_kstr(w, "hash", dep->hash);
    m87_jw_obj_close(w);
    m87_jw_kstr(w, "applied_revision", dev->applied);
    m87_jw_kbool(w, "picked_up", picked);
    srv_jw_time(w, "last_seen", dev->last_seen);
    _cleanup_free_ char *window = NULL;
    if (srv_jw_policy(r->srv->store, w, dev, dep->hash, err) < 0 ||
        srv_report_latest_kind(r->srv->store, dev->id, dep->hash, "window", &window, err) < 0)
        return -1;
    m87_jw_key(w, "window");
    srv_jw_raw(w, window);
    if (srv_jw_prefetch_status(r->srv->store, w, dev, err) < 0 ||
        srv_jw_interactive(r->srv->store, w, dev->id, err) < 0) /* sync execution's stacks */
        return -1;
    m87_jw_key(w, "jobs");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < rs->n_jobs; i++)
        if (write_job(r->srv->store, w, dev->id, dep->hash, &rs->jobs[i], err) < 0)
            return -1;
    m87_jw_arr_close(w);
    m87_jw_obj_close(w);
    return 0;
}

int srv_api_status(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    _cleanup_(srv_device_release) struct srv_device dev = {0};
    _cleanup_(srv_deployment_release) struct srv_deployment dep = {0};
    _cleanup_(srv_revision_release) struct srv_revision rev = {0};
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = NULL;
    int rc = srv_device_find(r->srv->store, r->params.v[0], &dev, err);
    if (rc == 0)
        rc = srv_labels_get(r->srv->store, dev.id, &dev.labels, err);
    if (rc == 0)
        rc = pick_deployment(r, &dev, &dep, err);
    if (rc == 0)
        rc = srv_revision_get(r->srv->store, &dep, dep.revision, &rev, err);
    if (rc == 0 && (rs = srv_rev_parse_stored(rev.spec, err)) == NULL)
        rc = -1;
    if (rc == 0)
        rc = write_status(r, w, &dev, &dep, rs, err);
    return rc;
}

/* The overall state from the jobs' states (docs/api.md). */
static const char *overall(const char *const *states, size_t n)
{
    bool pending = false, failing = false, running = false;
    for (size_t i = 0; i < n; i++) {
        pending |= strcmp(states[i], "pending") == 0;
        failing |= strcmp(states[i], "failed") == 0;
        running |= strcmp(states[i], "running") == 0;
    }
    return failing ? "failing" : pending ? "pending" : running ? "running" : "ok";
}

int srv_jw_health(struct srv_store *st, struct m87_jw *w, const struct srv_device *d,
                  struct m87_error **err)
{
    _cleanup_(srv_deployment_release) struct srv_deployment dep = {0};
    int rc = srv_deployment_active(st, d->id, &dep, err);
    if (rc <= 0) {
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "state", "none");
        m87_jw_key(w, "jobs");
        m87_jw_obj_open(w);
        m87_jw_obj_close(w);
        m87_jw_obj_close(w);
        return rc;
    }
    _cleanup_(m87_json_freep) struct m87_json *jobs =
        m87_json_parse(dep.jobs, strlen(dep.jobs), NULL);
    size_t n = m87_json_len(jobs);
    struct m87_strv states;
    m87_strv_init(&states);
    for (size_t i = 0; i < n && rc >= 0; i++) {
        _cleanup_free_ char *raw = NULL;
        rc = srv_report_latest_job(st, d->id, dep.hash, m87_json_str(m87_json_at(jobs, i), ""),
                                   &raw, err);
        _cleanup_(m87_json_freep) struct m87_json *rep =
            raw ? m87_json_parse(raw, strlen(raw), NULL) : NULL;
        m87_strv_add(&states, m87_json_str(m87_json_get(rep, "state"), "pending"));
    }
    if (rc >= 0) {
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "state", overall((const char *const *)states.items, states.len));
        m87_jw_key(w, "jobs");
        m87_jw_obj_open(w);
        for (size_t i = 0; i < states.len; i++)
            m87_jw_kstr(w, m87_json_str(m87_json_at(jobs, i), ""), states.items[i]);
        m87_jw_obj_close(w);
        m87_jw_obj_close(w);
    }
    m87_strv_release(&states);
    return rc < 0 ? -1 : 0;
}
