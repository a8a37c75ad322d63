/* /v1/devices: create (with the device token, shown once, and labels), list (filtered by a label
 * selector), show, delete, labels changed, and the device token: rotate, revoke. */
#include <stdlib.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/spec-label.h"
#include "m87/spec-selector.h"
#include "server/api.h"
#include "server/audit.h"
#include "server/auth.h"
#include "server/http.h"
#include "server/json.h"
#include "server/limits.h"
#include "server/request.h"
#include "server/rollout.h"
#include "server/store-deployments.h"
#include "server/store-devices.h"
#include "server/store.h"
#include "server/util.h"

int srv_body_labels(const struct m87_json *labels, bool removals, struct m87_kvlist *changes,
                    struct m87_error **err)
{
    if (m87_json_type(labels) != M87_JSON_OBJECT)
        return m87_error_set(err, M87_E_INVAL, 0, "labels: expected an object of %s",
                             removals ? "string values or null" : "string values");
    for (size_t i = 0; i < m87_json_len(labels); i++) {
        const char *key = NULL;
        const struct m87_json *v = m87_json_member(labels, i, &key);
        if (spec_label_check_key(key, err) < 0)
            return m87_error_wrap(err, "labels");
        if (removals && m87_json_type(v) == M87_JSON_NULL) {
            m87_kvlist_set(changes, key, NULL);
            continue;
        }
        if (m87_json_type(v) != M87_JSON_STRING)
            return m87_error_set(err, M87_E_INVAL, 0, "labels: label '%s': expected a string%s",
                                 key, removals ? " or null" : "");
        if (spec_label_check_value(key, m87_json_str(v, ""), err) < 0)
            return m87_error_wrap(err, "labels");
        m87_kvlist_set(changes, key, m87_json_str(v, ""));
    }
    /* removals may name more: the store counts what the device ends up with */
    if (!removals && changes->len > SPEC_LABELS_MAX)
        return m87_error_set(err, M87_E_TOOBIG, 0, "labels: a device has at most %d labels",
                             SPEC_LABELS_MAX);
    return 0;
}

int srv_api_devices_create(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    static const char *const fields[] = {"name", "labels", NULL};
    _cleanup_(m87_json_freep) struct m87_json *body = srv_body_object(r, fields, err);
    if (body == NULL)
        return -1;
    const struct m87_json *name = m87_json_get(body, "name");
    if (name == NULL)
        return m87_error_set(err, M87_E_INVAL, 0, "name: missing");
    if (m87_json_type(name) != M87_JSON_STRING || !srv_valid_device_name(m87_json_str(name, "")))
        return m87_error_set(err, M87_E_INVAL, 0, "name: must match [a-z0-9][a-z0-9_.-]{0,62}");
    _cleanup_(m87_kvlist_release) struct m87_kvlist labels = {0};
    const struct m87_json *lj = m87_json_get(body, "labels");
    if (lj && srv_body_labels(lj, false, &labels, err) < 0)
        return -1;

    _cleanup_free_ char *token = NULL;
    char hash[M87_SHA256_HEX_LEN + 1];
    if (srv_token_new(SRV_ROLE_DEVICE, &token, hash, err) < 0)
        return -1;
    _cleanup_(srv_device_release) struct srv_device d = {0};
    _cleanup_(m87_strv_release) struct m87_strv none = {0};
    _cleanup_(m87_strv_release) struct m87_strv fleets = {0};
    if (srv_device_create(r->srv->store, m87_json_str(name, ""), hash, &d, err) < 0 ||
        srv_labels_change(r->srv->store, &d, &labels, err) < 0 ||
        srv_labels_get(r->srv->store, d.id, &d.labels, err) < 0 ||
        srv_fleets_matching(r->srv->store, &d.labels, &fleets, err) < 0)
        return -1;
    /* the fleets it joins give it their current release */
    char who[SRV_AUDIT_TOKEN_ID_LEN + 1];
    srv_audit_who(r, who);
    struct srv_touched touched = {.who = who};
    int rc = srv_rollout_moves(r->srv, d.id, &none, &fleets, &touched, err);
    srv_touched_release(&touched); /* a new device has no held sync yet */
    if (rc < 0)
        return -1;
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "name", d.name);
    m87_jw_kstr(w, "token", token);
    srv_jw_time(w, "created", d.created);
    m87_jw_key(w, "labels");
    m87_jw_kvlist(w, &d.labels);
    srv_jw_fleet_moves(w, &none, &fleets);
    m87_jw_obj_close(w);
    return 0;
}

/* The devices, with their labels, that meet the selector of the "select" query argument (every
 * device without one): filtered in C after two statements (store-labels.c). */
/* The query of GET /v1/devices besides select: which devices, in which order, which page. */
struct list_query {
    int state;        /* -1 any, 0 offline, 1 online */
    const char *sort; /* "name", "last_seen", "created" */
    int dir;          /* 1 ascending, -1 descending */
    int64_t limit;    /* 0: all (and no health) */
    int64_t offset;
};

static int list_query(struct srv_req *r, struct list_query *q, struct m87_error **err)
{
    const char *state = srv_req_query(r, "state"), *sort = srv_req_query(r, "sort");
    const char *limit = srv_req_query(r, "limit"), *offset = srv_req_query(r, "offset");
    *q = (struct list_query){.state = -1, .sort = "name", .dir = 1};
    if (state && strcmp(state, "online") != 0 && strcmp(state, "offline") != 0)
        return m87_error_set(err, M87_E_INVAL, 0, "state: expected online or offline, not '%s'",
                             state);
    if (state)
        q->state = strcmp(state, "online") == 0;
    if (sort) {
        q->dir = sort[0] == '-' ? -1 : 1;
        q->sort = sort + (sort[0] == '-');
        if (strcmp(q->sort, "name") != 0 && strcmp(q->sort, "last_seen") != 0 &&
            strcmp(q->sort, "created") != 0)
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "sort: expected name, last_seen or created (with - for "
                                 "descending), not '%s'",
                                 sort);
    }
    if (limit && srv_parse_int(limit, 1, SRV_DEVICES_MAX_LIMIT, &q->limit) < 0)
        return m87_error_set(err, M87_E_INVAL, 0, "limit: expected 1 to %d, not '%s'",
                             SRV_DEVICES_MAX_LIMIT, limit);
    if (offset && srv_parse_int(offset, 0, INT64_MAX, &q->offset) < 0)
        return m87_error_set(err, M87_E_INVAL, 0, "offset: expected a number from 0, not '%s'",
                             offset);
    return 0;
}

static int cmp_devices(const void *a, const void *b, void *arg)
{
    const struct srv_device *x = *(struct srv_device *const *)a;
    const struct srv_device *y = *(struct srv_device *const *)b;
    const struct list_query *q = arg;
    int c = 0;
    if (strcmp(q->sort, "last_seen") == 0)
        c = (x->last_seen > y->last_seen) - (x->last_seen < y->last_seen);
    else if (strcmp(q->sort, "created") == 0)
        c = (x->created > y->created) - (x->created < y->created);
    if (c == 0)
        c = strcmp(x->name, y->name);
    return c * q->dir;
}

/* The page of the devices that pick holds (the matching ones, sorted), with "total". */
static int write_list(struct srv_req *r, struct m87_jw *w, struct srv_device **pick, size_t n,
                      const struct list_query *q, struct m87_error **err)
{
    size_t from = q->offset < (int64_t)n ? (size_t)q->offset : n;
    size_t to = q->limit && (size_t)q->limit < n - from ? from + (size_t)q->limit : n;
    m87_jw_obj_open(w);
    m87_jw_key(w, "devices");
    m87_jw_arr_open(w);
    for (size_t i = from; i < to; i++) {
        m87_jw_obj_open(w);
        srv_jw_device(r->srv, w, pick[i]);
        if (q->limit) {
            m87_jw_key(w, "health");
            if (srv_jw_health(r->srv->store, w, pick[i], err) < 0)
                return -1;
        }
        m87_jw_obj_close(w);
    }
    m87_jw_arr_close(w);
    m87_jw_kint(w, "total", (int64_t)n);
    m87_jw_obj_close(w);
    return 0;
}

int srv_api_devices_list(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    const char *text = srv_req_query(r, "select");
    struct spec_selector sel = {0};
    struct list_query q;
    if (list_query(r, &q, err) < 0)
        return -1;
    if (text && spec_selector_parse(text, &sel, err) < 0)
        return m87_error_wrap(err, "select");
    struct srv_device *v = NULL;
    size_t n = 0, k = 0;
    int rc = srv_device_list(r->srv->store, &v, &n, err);
    if (rc == 0)
        rc = srv_labels_fill(r->srv->store, v, n, err);
    _cleanup_free_ struct srv_device **pick = m87_xcalloc(n ? n : 1, sizeof(*pick));
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (spec_selector_match(&sel, &v[i].labels) &&
            (q.state < 0 || srv_device_online(r->srv, &v[i]) == (q.state == 1)))
            pick[k++] = &v[i];
    if (rc == 0) {
        qsort_r(pick, k, sizeof(*pick), cmp_devices, &q);
        rc = write_list(r, w, pick, k, &q, err);
    }
    for (size_t i = 0; i < n; i++)
        srv_device_release(&v[i]);
    free(v);
    spec_selector_release(&sel);
    return rc;
}

int srv_write_device(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    return srv_write_device_moves(r, w, NULL, NULL, err);
}

int srv_write_device_moves(struct srv_req *r, struct m87_jw *w, const struct m87_strv *before,
                           const struct m87_strv *after, struct m87_error **err)
{
    struct srv_store *st = r->srv->store;
    _cleanup_(srv_device_release) struct srv_device d = {0};
    _cleanup_(srv_deployment_release) struct srv_deployment dep = {0};
    if (srv_device_find(st, r->params.v[0], &d, err) < 0 ||
        srv_labels_get(st, d.id, &d.labels, err) < 0)
        return -1;
    int rc = srv_deployment_active(st, d.id, &dep, err);
    if (rc >= 0) {
        m87_jw_obj_open(w);
        srv_jw_device(r->srv, w, &d);
        m87_jw_key(w, "active_deployment");
        if (rc == 1) {
            m87_jw_obj_open(w);
            srv_jw_deployment(w, &dep);
            m87_jw_obj_close(w);
        } else {
            m87_jw_null(w);
        }
        m87_jw_key(w, "health");
        rc = srv_jw_health(st, w, &d, err);
        if (rc >= 0)
            rc = srv_jw_windows(st, w, &d, true, err);
        if (before && after)
            srv_jw_fleet_moves(w, before, after);
        m87_jw_obj_close(w);
    }
    return rc < 0 ? -1 : 0;
}

int srv_api_devices_delete(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    (void)w;
    return srv_change_device(r, srv_device_delete, err);
}

/* A new token replaces every token the device had: the old one stops working with this commit,
 * and a sync held with it is answered (its next request gets 401). */
int srv_api_devices_token_rotate(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    static const char *const none[] = {NULL};
    _cleanup_(m87_json_freep) struct m87_json *body = srv_body_object(r, none, err);
    if (body == NULL)
        return -1;
    _cleanup_free_ char *token = NULL;
    char hash[M87_SHA256_HEX_LEN + 1];
    _cleanup_(srv_device_release) struct srv_device d = {0};
    if (srv_device_find(r->srv->store, r->params.v[0], &d, err) < 0)
        return -1;
    int rc = srv_token_new(SRV_ROLE_DEVICE, &token, hash, err);
    if (rc == 0)
        rc = srv_token_revoke_device(r->srv->store, d.id, err);
    if (rc == 0)
        rc = srv_token_add(r->srv->store, hash, SRV_ROLE_DEVICE, d.id, err);
    if (rc == 0) {
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "name", d.name);
        m87_jw_kstr(w, "token", token);
        m87_jw_obj_close(w);
        r->notify_device = d.id;
    }
    return rc;
}

int srv_api_devices_token_revoke(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    (void)w;
    return srv_change_device(r, srv_token_revoke_device, err);
}
