/* /v1/fleets/NAME/releases, /rollouts, /status: a fleet's new release and its rollout, the
 * rollouts shown, paused, resumed and aborted, and what the members run (docs/fleets.md). The
 * state machine itself is rollout.c: a handler changes a rollout's row and wakes it. */
#include <stdio.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/sign.h"
#include "m87/spec-runspec.h"
#include "server/api.h"
#include "server/audit.h"
#include "server/http.h"
#include "server/json.h"
#include "server/request.h"
#include "server/revision.h"
#include "server/rollout.h"
#include "server/store-deployments.h"
#include "server/store-devices.h"
#include "server/store-fleets.h"
#include "server/store-notify.h"
#include "server/store-reports.h"
#include "server/store-rollouts.h"
#include "server/util.h"

#define RELEASE_SIGNATURE_HEADER "M87-Release-Signature"
#define DEFAULT_WAVES "1,10%,50%,100%"
#define DEFAULT_HEALTH_WINDOW 300
#define DEFAULT_WAVE_TIMEOUT 7200
#define MAX_SECONDS (366 * 86400)

struct release_sig {
    bool present;
    char hash[M87_SHA256_HEX_LEN + 1];
    int64_t release;
    int64_t time;
    char key[32];
    char sig[96];
};

/* `M87-Release-Signature: v1 HASH RELEASE TIME KEYID SIG` (docs/security.md, Fleets). */
static int read_signature(struct srv_req *r, struct release_sig *s, struct m87_error **err)
{
    static const char hex[] = "0123456789abcdef";
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    const char *text = srv_req_header(r, RELEASE_SIGNATURE_HEADER);
    char v[8], hash[80], rel[24], time[24], key[40], sig[120], extra[2];
    memset(s, 0, sizeof(*s));
    if (text == NULL)
        return 0;
    if (strlen(text) > 300 ||
        sscanf(text, "%7s %79s %23s %23s %39s %119s %1s", v, hash, rel, time, key, sig, extra) !=
            6 ||
        strcmp(v, "v1") != 0 || !srv_all_of(hash, M87_SHA256_HEX_LEN, hex) ||
        srv_parse_int(rel, 1, INT64_MAX, &s->release) < 0 || rel[0] == '0' ||
        srv_parse_int(time, 1, INT64_MAX, &s->time) < 0 || time[0] == '0' ||
        !srv_all_of(key, M87_SIGN_KEY_ID_LEN, hex) || !srv_all_of(sig, M87_SIGN_SIG_TEXT_LEN, b64))
        return m87_error_set(err, M87_E_INVAL, 0,
                             RELEASE_SIGNATURE_HEADER ": expected 'v1 HASH RELEASE TIME KEYID "
                                                      "SIGNATURE' (64 hex digits, a release "
                                                      "number, Unix seconds, %d hex digits, "
                                                      "base64 of 64 bytes)",
                             M87_SIGN_KEY_ID_LEN);
    memcpy(s->hash, hash, sizeof(s->hash));
    memcpy(s->key, key, M87_SIGN_KEY_ID_LEN + 1);
    memcpy(s->sig, sig, M87_SIGN_SIG_TEXT_LEN + 1);
    s->present = true;
    return 0;
}

/* The options of a rollout from the body into ro (defaults for those absent). */
static int read_options(const struct m87_json *body, struct srv_rollout *ro, const char **waves,
                        struct m87_error **err)
{
    const struct m87_json *v;
    *waves = DEFAULT_WAVES;
    if ((v = m87_json_get(body, "waves")) && (*waves = m87_json_str(v, NULL)) == NULL)
        return m87_error_set(err, M87_E_INVAL, 0, "waves: expected a string like '1,10%%,100%%'");
    ro->health_window = DEFAULT_HEALTH_WINDOW;
    if ((v = m87_json_get(body, "health_window")) &&
        (!srv_json_is_int(v, &ro->health_window) || ro->health_window < 0 ||
         ro->health_window > MAX_SECONDS))
        return m87_error_set(err, M87_E_INVAL, 0, "health_window: expected seconds from 0 to %d",
                             MAX_SECONDS);
    ro->wave_timeout = DEFAULT_WAVE_TIMEOUT;
    if ((v = m87_json_get(body, "wave_timeout")) &&
        (!srv_json_is_int(v, &ro->wave_timeout) || ro->wave_timeout < 1 ||
         ro->wave_timeout > MAX_SECONDS))
        return m87_error_set(err, M87_E_INVAL, 0, "wave_timeout: expected seconds from 1 to %d",
                             MAX_SECONDS);
    const char *mf = "0", *off = "wait", *rb = "on-failure";
    if ((v = m87_json_get(body, "max_failed")) && (mf = m87_json_str(v, NULL)) == NULL)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "max_failed: expected a string like '2' or '10%%'");
    if (srv_max_failed_check(mf, err) < 0)
        return -1;
    if ((v = m87_json_get(body, "offline")) &&
        ((off = m87_json_str(v, "")) == NULL ||
         (strcmp(off, "wait") != 0 && strcmp(off, "skip") != 0)))
        return m87_error_set(err, M87_E_INVAL, 0, "offline: expected 'wait' or 'skip'");
    if ((v = m87_json_get(body, "rollback")) &&
        (strcmp(rb = m87_json_str(v, ""), "on-failure") != 0 && strcmp(rb, "never") != 0))
        return m87_error_set(err, M87_E_INVAL, 0, "rollback: expected 'on-failure' or 'never'");
    if ((v = m87_json_get(body, "now")) && m87_json_type(v) != M87_JSON_BOOL)
        return m87_error_set(err, M87_E_INVAL, 0, "now: expected true or false");
    ro->now = m87_json_bool(v, false);
    ro->max_failed = m87_xstrdup(mf);
    ro->offline = m87_xstrdup(off);
    ro->rollback = m87_xstrdup(rb);
    return 0;
}

/* The release's jobs: "spec", a run spec with at least one job. */
static struct spec_runspec *read_spec(const struct m87_json *body, struct m87_error **err)
{
    const struct m87_json *spec = m87_json_get(body, "spec");
    if (spec == NULL || m87_json_type(spec) != M87_JSON_OBJECT) {
        m87_error_set(err, M87_E_INVAL, 0, "spec: expected a run spec object");
        return NULL;
    }
    struct m87_jw *w = m87_jw_new();
    m87_jw_node(w, spec);
    _cleanup_free_ char *text = m87_jw_finish(w);
    struct spec_runspec *rs = spec_runspec_parse(text, strlen(text), "spec", err);
    if (rs && rs->n_jobs == 0) {
        m87_error_set(err, M87_E_INVAL, 0, "spec: a release needs at least one job");
        spec_runspec_free(rs);
        return NULL;
    }
    return rs;
}

static int check_signature(const struct release_sig *sig, const struct srv_fleet *f,
                           const struct srv_release *rel, struct m87_error **err)
{
    if (!sig->present)
        return 0;
    if (strcmp(sig->hash, rel->hash) != 0 || sig->release != rel->number)
        return m87_error_set(err, M87_E_CONFLICT, 0,
                             "signature: made for release %lld with hash %.12s, the server makes "
                             "release %lld of fleet '%s' with %.12s (another release came "
                             "meanwhile): run the command again",
                             (long long)sig->release, sig->hash, (long long)rel->number, f->name,
                             rel->hash);
    return 0;
}

/* Every member may take the release's jobs; its rows in the waves of ro. */
static int add_members(struct srv_store *st, const struct srv_fleet *f, struct srv_release *rel,
                       struct srv_rollout *ro, const char *waves, struct m87_error **err)
{
    struct srv_device *v = NULL;
    size_t n = 0;
    if (srv_fleet_members(st, f->name, f->selector, &v, &n, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = srv_release_check_device(st, f->id, f->name, rel->jobs, &v[i], err);
    if (rc == 0)
        rc = srv_waves_parse(waves, (int64_t)n, &ro->waves, err);
    if (rc == 0)
        rc = srv_release_create(st, rel, err);
    if (rc == 0) {
        ro->release_id = rel->id;
        ro->release = rel->number;
        rc = srv_rollout_create(st, ro, err);
    }
    _cleanup_(m87_json_freep) struct m87_json *ends =
        rc == 0 ? m87_json_parse(ro->waves, strlen(ro->waves), NULL) : NULL;
    size_t wave = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        while (wave < m87_json_len(ends) && (int64_t)i >= m87_json_int(m87_json_at(ends, wave), 0))
            wave++;
        rc = srv_rdev_add(st, ro->id, v[i].id, (int64_t)wave + 1, err);
    }
    srv_devices_free(v, n);
    return rc;
}

static void jw_rollout(struct m87_jw *w, const struct srv_rollout *ro)
{
    m87_jw_obj_open(w);
    srv_jw_row(w, &srv_rollout_row, ro);
    m87_jw_obj_close(w);
}

int srv_api_fleet_release(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    static const char *const fields[] = {"spec",       "waves",   "health_window",
                                         "max_failed", "offline", "wave_timeout",
                                         "rollback",   "now",     NULL};
    _cleanup_(m87_json_freep) struct m87_json *body = srv_body_object(r, fields, err);
    if (body == NULL)
        return -1;
    struct release_sig sig;
    _cleanup_(srv_rollout_release) struct srv_rollout ro = {0};
    _cleanup_(srv_release_release) struct srv_release rel = {0};
    _cleanup_(srv_fleet_release) struct srv_fleet f = {0};
    _cleanup_(srv_rollout_release) struct srv_rollout running = {0};
    const char *waves = NULL;
    if (read_signature(r, &sig, err) < 0 || read_options(body, &ro, &waves, err) < 0)
        return -1;
    /* the waves are checked before anything else (a count of members comes later) */
    _cleanup_free_ char *probe = NULL;
    if (srv_waves_parse(waves, 1, &probe, err) < 0)
        return -1;
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = read_spec(body, err);
    if (rs == NULL || srv_fleet_find(r->srv->store, r->params.v[0], &f, err) < 0)
        return -1;
    int rc = srv_rollout_active(r->srv->store, f.id, &running, err);
    if (rc != 0)
        return rc < 0 ? -1
                      : m87_error_set(err, M87_E_CONFLICT, 0,
                                      "fleet '%s' has rollout %s %s: abort it first (m87 fleet %s "
                                      "abort %s)",
                                      f.name, running.public_id, running.state, f.name,
                                      running.public_id);
    _cleanup_(srv_rev_content_release) struct srv_rev_content c = {0};
    srv_rev_content_from(rs, &c);
    rel.fleet_id = f.id;
    rel.fleet = m87_xstrdup(f.name);
    rel.hash = m87_xstrdup(c.hash);
    rel.jobs = M87_STEAL(c.jobs);
    rel.spec = M87_STEAL(c.spec);
    if (sig.present) {
        rel.sig_key = m87_xstrdup(sig.key);
        rel.sig = m87_xstrdup(sig.sig);
        rel.sig_time = sig.time;
    }
    ro.fleet_id = f.id;
    if (srv_release_next(r->srv->store, f.id, &rel.number, err) < 0 ||
        check_signature(&sig, &f, &rel, err) < 0 ||
        add_members(r->srv->store, &f, &rel, &ro, waves, err) < 0)
        return -1;
    char who[SRV_AUDIT_TOKEN_ID_LEN + 1]; /* for the audit rows of the revisions it places */
    srv_audit_who(r, who);
    if (srv_audit_release_token_set(r->srv->store, rel.id, who, err) < 0)
        return -1;
    if (srv_store_notify(r->srv->store, SRV_WAKE_ROLLOUTS, 0, err) < 0) /* the driving replica */
        return -1;
    srv_rollouts_wake(r->srv->rollouts);
    _cleanup_(srv_rollout_release) struct srv_rollout out = {0};
    if (srv_rollout_by_id(r->srv->store, ro.id, &out, err) < 0)
        return -1;
    m87_jw_obj_open(w);
    m87_jw_key(w, "release");
    m87_jw_obj_open(w);
    srv_jw_row(w, &srv_release_row, &rel);
    m87_jw_kbool(w, "signed", rel.sig_key != NULL);
    m87_jw_obj_close(w);
    m87_jw_key(w, "rollout");
    jw_rollout(w, &out);
    m87_jw_obj_close(w);
    return 0;
}

int srv_api_rollouts_list(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    _cleanup_(srv_fleet_release) struct srv_fleet f = {0};
    struct srv_rollout *v = NULL;
    size_t n = 0;
    if (srv_fleet_find(r->srv->store, r->params.v[0], &f, err) < 0 ||
        srv_rollout_list(r->srv->store, f.id, &v, &n, err) < 0)
        return -1;
    m87_jw_obj_open(w);
    srv_jw_rows(w, "rollouts", &srv_rollout_row, v, n);
    m87_jw_obj_close(w);
    srv_rows_free(v, n, &srv_rollout_row);
    return 0;
}

static int find_rollout(struct srv_req *r, struct srv_fleet *f, struct srv_rollout *ro,
                        struct m87_error **err)
{
    if (srv_fleet_find(r->srv->store, r->params.v[0], f, err) < 0)
        return -1;
    return srv_rollout_find(r->srv->store, f->id, f->name, r->params.v[1], ro, err);
}

/* The rollout with "devices": every member's row, by wave then name. */
static int write_rollout(struct srv_store *st, struct m87_jw *w, const struct srv_rollout *ro,
                         struct m87_error **err)
{
    struct srv_rollout_device *v = NULL;
    size_t n = 0;
    if (srv_rdev_list(st, ro->id, 0, &v, &n, err) < 0)
        return -1;
    m87_jw_obj_open(w);
    srv_jw_row(w, &srv_rollout_row, ro);
    srv_jw_rows(w, "devices", &srv_rollout_device_row, v, n);
    m87_jw_obj_close(w);
    srv_rollout_devices_free(v, n);
    return 0;
}

int srv_api_rollouts_get(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    _cleanup_(srv_fleet_release) struct srv_fleet f = {0};
    _cleanup_(srv_rollout_release) struct srv_rollout ro = {0};
    if (find_rollout(r, &f, &ro, err) < 0)
        return -1;
    return write_rollout(r->srv->store, w, &ro, err);
}

static void set_state(struct srv_rollout *ro, const char *state, const char *message)
{
    free(ro->state);
    ro->state = m87_xstrdup(state);
    free(ro->message);
    ro->message = message ? m87_xstrdup(message) : NULL;
}

/* pause, resume, abort: what the rollout may go to from its state. */
static int change(struct srv_req *r, struct m87_jw *w, const char *action, bool rollback,
                  struct m87_error **err)
{
    _cleanup_(srv_fleet_release) struct srv_fleet f = {0};
    _cleanup_(srv_rollout_release) struct srv_rollout ro = {0};
    if (find_rollout(r, &f, &ro, err) < 0)
        return -1;
    bool running = strcmp(ro.state, SRV_RO_RUNNING) == 0;
    bool paused = strcmp(ro.state, SRV_RO_PAUSED) == 0;
    bool ended = !running && !paused;
    if (strcmp(action, "pause") == 0 && !running)
        return m87_error_set(err, M87_E_CONFLICT, 0, "rollout %s is %s: only a running one pauses",
                             ro.public_id, ro.state);
    if (strcmp(action, "resume") == 0 && !paused)
        return m87_error_set(err, M87_E_CONFLICT, 0, "rollout %s is %s: only a paused one resumes",
                             ro.public_id, ro.state);
    if (strcmp(action, "abort") == 0 && ended &&
        !(rollback && strcmp(ro.state, SRV_RO_HALTED) == 0))
        return m87_error_set(err, M87_E_CONFLICT, 0, "rollout %s is %s already", ro.public_id,
                             ro.state);
    if (strcmp(action, "pause") == 0)
        set_state(&ro, SRV_RO_PAUSED, "paused by an admin");
    else if (strcmp(action, "resume") == 0)
        set_state(&ro, SRV_RO_RUNNING, NULL);
    else {
        if (!ended)
            set_state(&ro, SRV_RO_ABORTED, "aborted by an admin");
        ro.rollback_pending = rollback;
    }
    if (strcmp(action, "resume") == 0)
        ro.wave_started = srv_now(); /* the wave's timeout counts from the resume */
    if (srv_rollout_update(r->srv->store, &ro, err) < 0)
        return -1;
    if (srv_store_notify(r->srv->store, SRV_WAKE_ROLLOUTS, 0, err) < 0) /* the driving replica */
        return -1;
    srv_rollouts_wake(r->srv->rollouts);
    return write_rollout(r->srv->store, w, &ro, err);
}

int srv_api_rollouts_pause(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    static const char *const none[] = {NULL};
    _cleanup_(m87_json_freep) struct m87_json *body = srv_body_object(r, none, err);
    return body ? change(r, w, "pause", false, err) : -1;
}

int srv_api_rollouts_resume(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    static const char *const none[] = {NULL};
    _cleanup_(m87_json_freep) struct m87_json *body = srv_body_object(r, none, err);
    return body ? change(r, w, "resume", false, err) : -1;
}

int srv_api_rollouts_abort(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    static const char *const fields[] = {"rollback", NULL};
    _cleanup_(m87_json_freep) struct m87_json *body = srv_body_object(r, fields, err);
    if (body == NULL)
        return -1;
    const struct m87_json *rb = m87_json_get(body, "rollback");
    if (rb && m87_json_type(rb) != M87_JSON_BOOL)
        return m87_error_set(err, M87_E_INVAL, 0, "rollback: expected true or false");
    return change(r, w, "abort", m87_json_bool(rb, false), err);
}

/* One member in the status of its fleet. */
static int write_member(struct srv_req *r, struct m87_jw *w, const struct srv_fleet *f,
                        const struct srv_device *d, const struct srv_rollout_device *row,
                        struct m87_error **err)
{
    struct srv_store *st = r->srv->store;
    _cleanup_(srv_deployment_release) struct srv_deployment dep = {0};
    int64_t release = 0, rev_id = 0;
    bool waiting = false;
    int rc = srv_deployment_active(st, d->id, &dep, err);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        struct srv_release *v = NULL;
        size_t n = 0;
        if (srv_revision_id(st, dep.id, dep.revision, &rev_id, err) < 0 ||
            srv_revision_releases(st, rev_id, &v, &n, err) < 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (v[i].fleet_id == f->id)
                release = v[i].number;
        srv_rows_free(v, n, &srv_release_row);
        _cleanup_free_ char *window = NULL;
        if (srv_report_latest_kind(st, d->id, dep.hash, "window", &window, err) < 0)
            return -1;
        _cleanup_(m87_json_freep) struct m87_json *wd =
            window ? m87_json_parse(window, strlen(window), NULL) : NULL;
        waiting = strcmp(m87_json_str(m87_json_get(wd, "state"), ""), "waiting") == 0;
    }
    bool applied = rc == 1 && d->applied && strcmp(d->applied, dep.hash) == 0;
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "device", d->name);
    m87_jw_kbool(w, "online", srv_device_online(r->srv, d));
    m87_jw_key(w, "release");
    if (release)
        m87_jw_int(w, release);
    else
        m87_jw_null(w);
    m87_jw_kstr(w, "revision", rc == 1 ? dep.hash : NULL);
    m87_jw_kbool(w, "applied", applied);
    m87_jw_kbool(w, "waiting_for_window", waiting && !applied);
    m87_jw_kstr(w, "rollout_state", row ? row->state : NULL);
    m87_jw_key(w, "health");
    rc = srv_jw_health(st, w, d, err);
    m87_jw_obj_close(w);
    return rc;
}

int srv_api_fleet_status(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    struct srv_store *st = r->srv->store;
    _cleanup_(srv_fleet_release) struct srv_fleet f = {0};
    _cleanup_(srv_release_release) struct srv_release cur = {0};
    struct srv_rollout *ros = NULL;
    size_t nro = 0;
    struct srv_device *v = NULL;
    size_t n = 0;
    struct srv_rollout_device *rows = NULL;
    size_t nrows = 0;
    int rc = srv_fleet_find(st, r->params.v[0], &f, err);
    int has = rc == 0 ? srv_release_current(st, f.id, &cur, err) : -1;
    rc = has < 0 ? -1 : srv_rollout_list(st, f.id, &ros, &nro, err);
    if (rc == 0 && nro > 0)
        rc = srv_rdev_list(st, ros[0].id, 0, &rows, &nrows, err);
    if (rc == 0)
        rc = srv_fleet_members(st, f.name, f.selector, &v, &n, err);
    if (rc == 0) {
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "fleet", f.name);
        m87_jw_key(w, "release");
        if (has == 1)
            m87_jw_int(w, cur.number);
        else
            m87_jw_null(w);
        m87_jw_key(w, "rollout");
        if (nro > 0)
            jw_rollout(w, &ros[0]);
        else
            m87_jw_null(w);
        m87_jw_key(w, "members");
        m87_jw_arr_open(w);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            const struct srv_rollout_device *row = NULL;
            for (size_t k = 0; k < nrows; k++)
                if (rows[k].device_id == v[i].id)
                    row = &rows[k];
            rc = write_member(r, w, &f, &v[i], row, err);
        }
        m87_jw_arr_close(w);
        m87_jw_obj_close(w);
    }
    srv_devices_free(v, n);
    srv_rollout_devices_free(rows, nrows);
    srv_rows_free(ros, nro, &srv_rollout_row);
    return rc;
}
