/* The health gate of one member of a rollout (docs/fleets.md, The health gate), fed by the
 * device's reports as they are stored; what a sync target says of fleets and rollouts; and a
 * device joining or leaving fleets. */
#include <stdlib.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/log.h"
#include "server/http.h"
#include "server/json.h"
#include "server/rollout.h"
#include "server/store-deployments.h"
#include "server/store-devices.h"
#include "server/store-notify.h"
#include "server/store-fleets.h"
#include "server/store-reports.h"
#include "server/store-rollouts.h"
#include "server/util.h"

void srv_rdev_set_state(struct srv_rollout_device *d, const char *state, const char *message)
{
    free(d->state);
    d->state = m87_xstrdup(state);
    free(d->message);
    d->message = message ? m87_xstrdup(message) : NULL;
}

int srv_rdev_all_succeeded(struct srv_store *st, const struct srv_rollout_device *d, bool *yes,
                           struct m87_error **err)
{
    _cleanup_(srv_deployment_release) struct srv_deployment dep = {0};
    *yes = false;
    int rc = srv_deployment_active(st, d->device_id, &dep, err);
    if (rc <= 0 || strcmp(dep.hash, d->revision) != 0)
        return rc < 0 ? -1 : 0;
    _cleanup_(m87_json_freep) struct m87_json *jobs =
        m87_json_parse(dep.jobs, strlen(dep.jobs), NULL);
    for (size_t i = 0; i < m87_json_len(jobs); i++) {
        _cleanup_free_ char *raw = NULL;
        if (srv_report_latest_job(st, d->device_id, d->revision,
                                  m87_json_str(m87_json_at(jobs, i), ""), &raw, err) < 0)
            return -1;
        _cleanup_(m87_json_freep) struct m87_json *rep =
            raw ? m87_json_parse(raw, strlen(raw), NULL) : NULL;
        if (strcmp(m87_json_str(m87_json_get(rep, "state"), ""), "succeeded") != 0)
            return 0;
    }
    *yes = true;
    return 0;
}

/* What rep says about d: a new state and message, or nothing (*state NULL). */
static int judge(struct srv_store *st, const struct srv_rollout_device *d,
                 const struct srv_report *rep, const struct m87_json *doc, const char **state,
                 char **message, bool *applied, struct m87_error **err)
{
    const char *msg = m87_json_str(m87_json_get(doc, "message"), NULL);
    *state = NULL;
    *applied = false;
    if (strcmp(rep->kind, "rollout") == 0) {
        if (strcmp(m87_json_str(m87_json_get(doc, "rollout"), ""), d->rollout) != 0 || !rep->state)
            return 0;
        if (strcmp(rep->state, "healthy") == 0)
            *state = SRV_RD_HEALTHY;
        else if (strcmp(rep->state, "failed") == 0 || strcmp(rep->state, "rolled-back") == 0)
            *state = SRV_RD_FAILED;
        if (*state && strcmp(*state, SRV_RD_FAILED) == 0)
            *message = m87_xasprintf("the agent reports %s%s%s", rep->state, msg ? ": " : "",
                                     msg ? msg : "");
        return 0;
    }
    if (strcmp(rep->kind, "health") == 0 && rep->state && strcmp(rep->state, "running") != 0) {
        *state = SRV_RD_FAILED;
        *message = msg ? m87_xstrdup(msg)
                       : m87_xasprintf("a container of job '%s' is %s", rep->job ? rep->job : "?",
                                       rep->state);
        return 0;
    }
    if (strcmp(rep->kind, "job") != 0 || !rep->state)
        return 0;
    if (strcmp(rep->state, "failed") == 0) {
        *state = SRV_RD_FAILED;
        *message = m87_xasprintf("job '%s' failed%s%s", rep->job ? rep->job : "?", msg ? ": " : "",
                                 msg ? msg : "");
        return 0;
    }
    if (strcmp(rep->state, "succeeded") == 0 && d->applied == 0)
        return srv_rdev_all_succeeded(st, d, applied, err);
    return 0;
}

/* A report srv_rollout_report judges, when the device is a member. */
static bool gated(const struct srv_report *rep)
{
    return rep->revision && (strcmp(rep->kind, "job") == 0 || strcmp(rep->kind, "health") == 0 ||
                             strcmp(rep->kind, "rollout") == 0);
}

int srv_rollout_lock_reports(struct srv *s, int64_t device_id, const struct srv_report *reps,
                             size_t n, struct m87_error **err)
{
    bool any = false;
    for (size_t i = 0; i < n && !any; i++)
        any = gated(&reps[i]);
    if (!any)
        return 0;
    struct srv_rollout_device *v = NULL;
    size_t nv = 0;
    if (srv_rdev_watching(s->store, device_id, &v, &nv, err) < 0)
        return -1;
    srv_rollout_devices_free(v, nv);
    return nv ? srv_store_lock_round(s->store, SRV_LOCK_ROLLOUT_ROUND, err) : 0;
}

int srv_rollout_report(struct srv *s, int64_t device_id, const struct srv_report *rep, bool *wake,
                       struct m87_error **err)
{
    if (!gated(rep))
        return 0;
    struct srv_rollout_device *v = NULL;
    size_t n = 0;
    if (srv_rdev_watching(s->store, device_id, &v, &n, err) < 0)
        return -1;
    _cleanup_(m87_json_freep) struct m87_json *doc =
        m87_json_parse(rep->raw, strlen(rep->raw), NULL);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct srv_rollout_device *d = &v[i];
        if (!d->revision || strcmp(d->revision, rep->revision) != 0)
            continue;
        const char *state = NULL;
        _cleanup_free_ char *message = NULL;
        bool applied = false;
        rc = judge(s->store, d, rep, doc, &state, &message, &applied, err);
        if (rc < 0)
            break;
        if (applied) {
            d->applied = srv_now();
            d->deadline = d->applied + d->health_window;
        }
        if (state)
            srv_rdev_set_state(d, state, message);
        if (state || applied) {
            rc = srv_rdev_update(s->store, d, err);
            *wake = true;
        }
    }
    srv_rollout_devices_free(v, n);
    return rc;
}

/* ---- the sync target ---- */

static void jw_fleets(struct m87_jw *w, const struct srv_release *v, size_t n)
{
    m87_jw_key(w, "fleets");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < n; i++) {
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "fleet", v[i].fleet);
        m87_jw_kint(w, "release", v[i].number);
        m87_jw_kstr(w, "hash", v[i].hash);
        m87_jw_key(w, "jobs");
        srv_jw_raw(w, v[i].jobs);
        if (v[i].sig_key) {
            m87_jw_key(w, "signature");
            m87_jw_obj_open(w);
            m87_jw_kint(w, "v", 1);
            m87_jw_kstr(w, "key", v[i].sig_key);
            m87_jw_kstr(w, "sig", v[i].sig);
            m87_jw_kint(w, "time", v[i].sig_time);
            m87_jw_obj_close(w);
        }
        m87_jw_obj_close(w);
    }
    m87_jw_arr_close(w);
}

int srv_jw_rollout_target(struct srv_store *st, struct m87_jw *w, int64_t device_id,
                          const struct srv_deployment *dep, const struct srv_revision *rev,
                          struct m87_error **err)
{
    int64_t rev_id = 0;
    struct srv_release *rels = NULL;
    size_t nr = 0;
    if (srv_revision_id(st, dep->id, rev->number, &rev_id, err) < 0 ||
        srv_revision_releases(st, rev_id, &rels, &nr, err) < 0)
        return -1;
    if (nr > 0)
        jw_fleets(w, rels, nr);
    srv_rows_free(rels, nr, &srv_release_row);
    struct srv_rollout_device *v = NULL;
    size_t n = 0;
    if (nr == 0 || srv_rdev_watching(st, device_id, &v, &n, err) < 0)
        return nr == 0 ? 0 : -1;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].revision || strcmp(v[i].revision, rev->hash) != 0)
            continue;
        m87_jw_key(w, "rollout");
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "id", v[i].rollout);
        m87_jw_kstr(w, "fleet", v[i].fleet);
        m87_jw_kint(w, "release", v[i].release);
        m87_jw_kint(w, "health_window", v[i].health_window);
        m87_jw_obj_close(w);
        break;
    }
    srv_rollout_devices_free(v, n);
    return 0;
}

/* ---- members joining and leaving ---- */

static bool strv_has(const struct m87_strv *v, const char *s)
{
    for (size_t i = 0; i < v->len; i++)
        if (strcmp(v->items[i], s) == 0)
            return true;
    return false;
}

int srv_rollout_moves(struct srv *s, int64_t device_id, const struct m87_strv *before,
                      const struct m87_strv *after, struct srv_touched *touched,
                      struct m87_error **err)
{
    struct srv_store *st = s->store;
    for (size_t i = 0; i < before->len; i++) {
        _cleanup_(srv_fleet_release) struct srv_fleet f = {0};
        if (strv_has(after, before->items[i]))
            continue;
        if (srv_fleet_find(st, before->items[i], &f, err) < 0 ||
            srv_fleet_unplace(s, device_id, f.id, touched, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < after->len; i++) {
        _cleanup_(srv_fleet_release) struct srv_fleet f = {0};
        _cleanup_(srv_release_release) struct srv_release rel = {0};
        _cleanup_(srv_placed_release) struct srv_placed p = {0};
        if (strv_has(before, after->items[i]))
            continue;
        if (srv_fleet_find(st, after->items[i], &f, err) < 0)
            return -1;
        int rc = srv_release_current(st, f.id, &rel, err);
        if (rc < 0)
            return -1;
        if (rc == 0) /* no release yet */
            continue;
        struct m87_error *e = NULL;
        if (srv_release_place(s, device_id, &rel, false, touched, &p, &e) < 0) {
            if (m87_error_code(e) != M87_E_CONFLICT) {
                *err = e;
                return -1;
            }
            /* the device keeps what it runs; the conflict is in the server's log */
            m87_log(M87_LOG_WARN, "fleet '%s' release %lld not placed: %s", f.name,
                    (long long)rel.number, e->msg);
            m87_error_free(e);
        }
    }
    return 0;
}
