/* /v1/devices/NAME/windows and PATCH /v1/devices/NAME: maintenance windows, the prefetch
 * setting (written into answers by api-policy.c) and labels. Every change bumps the device's policy
 * and wakes its held sync, so that the agent gets them at once. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/spec-window.h"
#include "server/api.h"
#include "server/audit.h"
#include "server/http.h"
#include "server/request.h"
#include "server/rollout.h"
#include "server/store-devices.h"
#include "server/util.h"

int srv_api_windows_list(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    _cleanup_(srv_device_release) struct srv_device d = {0};
    if (srv_device_find(r->srv->store, r->params.v[0], &d, err) < 0)
        return -1;
    m87_jw_obj_open(w);
    int rc = srv_jw_windows(r->srv->store, w, &d, true, err);
    m87_jw_kstr(w, "prefetch", d.prefetch);
    m87_jw_obj_close(w);
    return rc;
}

/* The body's rule, checked and made canonical. */
static char *body_rule(struct srv_req *r, struct m87_error **err)
{
    static const char *const fields[] = {"rule", NULL};
    _cleanup_(m87_json_freep) struct m87_json *body = srv_body_object(r, fields, err);
    if (body == NULL)
        return NULL;
    const struct m87_json *rule = m87_json_get(body, "rule");
    if (rule == NULL || m87_json_type(rule) != M87_JSON_STRING) {
        m87_error_set(err, M87_E_INVAL, 0, "rule: expected a string like 'daily 02:00-04:00'");
        return NULL;
    }
    struct spec_window win;
    if (spec_window_parse(m87_json_str(rule, ""), &win, err) < 0) {
        m87_error_wrap(err, "rule");
        return NULL;
    }
    return spec_window_format(&win);
}

int srv_api_windows_add(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    _cleanup_free_ char *rule = body_rule(r, err);
    if (rule == NULL)
        return -1;
    _cleanup_(srv_device_release) struct srv_device d = {0};
    struct srv_window win = {0};
    int rc = srv_device_find(r->srv->store, r->params.v[0], &d, err);
    if (rc == 0)
        rc = srv_window_add(r->srv->store, d.id, rule, &win, err);
    if (rc == 0) {
        srv_jw_window(w, &win);
        r->notify_device = d.id;
    }
    free(win.rule);
    return rc;
}

int srv_api_windows_delete(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    (void)w;
    _cleanup_(srv_device_release) struct srv_device d = {0};
    int64_t id = 0;
    if (srv_device_find(r->srv->store, r->params.v[0], &d, err) < 0)
        return -1;
    int rc = 0;
    if (srv_parse_int(r->params.v[1], 1, INT64_MAX, &id) < 0)
        rc = m87_error_set(err, M87_E_NOTFOUND, 0, "device '%s' has no window '%s'", d.name,
                           r->params.v[1]);
    if (rc == 0)
        rc = srv_window_delete(r->srv->store, &d, id, err);
    if (rc == 0)
        r->notify_device = d.id;
    return rc;
}

/* Labels merge: a key with a string sets it, with null removes it, one left out stays. They are
 * not the agent's business: a change of them does not wake its sync. The answer says which
 * fleets the device joined and left by the change. */
int srv_api_devices_patch(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    static const char *const fields[] = {"prefetch", "labels", NULL};
    _cleanup_(m87_json_freep) struct m87_json *body = srv_body_object(r, fields, err);
    if (body == NULL)
        return -1;
    const struct m87_json *pf = m87_json_get(body, "prefetch");
    const char *value = m87_json_str(pf, NULL);
    if (pf && (value == NULL || (strcmp(value, "always") != 0 && strcmp(value, "window") != 0)))
        return m87_error_set(err, M87_E_INVAL, 0, "prefetch: expected \"always\" or \"window\"");
    _cleanup_(m87_kvlist_release) struct m87_kvlist labels = {0};
    const struct m87_json *lj = m87_json_get(body, "labels");
    if (lj && srv_body_labels(lj, true, &labels, err) < 0)
        return -1;
    struct srv_store *st = r->srv->store;
    _cleanup_(srv_device_release) struct srv_device d = {0};
    _cleanup_(m87_kvlist_release) struct m87_kvlist now = {0};
    _cleanup_(m87_strv_release) struct m87_strv before = {0};
    _cleanup_(m87_strv_release) struct m87_strv after = {0};
    if (srv_device_find(st, r->params.v[0], &d, err) < 0 ||
        srv_labels_get(st, d.id, &d.labels, err) < 0 ||
        srv_fleets_matching(st, &d.labels, &before, err) < 0 ||
        srv_labels_change(st, &d, &labels, err) < 0 || srv_labels_get(st, d.id, &now, err) < 0 ||
        srv_fleets_matching(st, &now, &after, err) < 0)
        return -1;
    if (labels.len > 0) /* registry credentials for a selector may now apply, or no longer */
        r->notify_device = d.id;
    /* the fleets joined give their current release, those left take their jobs back */
    char who[SRV_AUDIT_TOKEN_ID_LEN + 1];
    srv_audit_who(r, who);
    struct srv_touched touched = {.who = who};
    int rc = srv_rollout_moves(r->srv, d.id, &before, &after, &touched, err);
    srv_touched_release(&touched); /* this device only: woken by notify_device */
    if (rc < 0)
        return -1;
    if (value && strcmp(value, d.prefetch) != 0) {
        rc = srv_device_set_prefetch(st, d.id, value, err);
        r->notify_device = d.id;
    }
    return rc < 0 ? -1 : srv_write_device_moves(r, w, &before, &after, err);
}
