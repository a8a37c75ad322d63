/* /v1/devices/NAME/deployments: new (empty or a clone), list, show, activate, revisions,
 * remove. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/spec-runspec.h"
#include "server/api.h"
#include "server/audit.h"
#include "server/http.h"
#include "server/json.h"
#include "server/request.h"
#include "server/revision.h"
#include "server/store-deployments.h"
#include "server/store-devices.h"
#include "server/util.h"

int srv_find_deployment(struct srv_req *r, struct srv_device *dev, struct srv_deployment *dep,
                        struct m87_error **err)
{
    if (srv_device_find(r->srv->store, r->params.v[0], dev, err) < 0)
        return -1;
    return srv_deployment_find(r->srv->store, dev->id, r->params.v[1], dep, err);
}

static int write_deployment(struct m87_jw *w, const struct srv_deployment *d)
{
    m87_jw_obj_open(w);
    srv_jw_deployment(w, d);
    m87_jw_obj_close(w);
    return 0;
}

/* The content of revision 1 of a new deployment: empty, or the clone's source. */
static int initial_content(struct srv_req *r, const struct srv_device *dev,
                           const struct m87_json *clone, struct srv_rev_content *c,
                           struct m87_error **err)
{
    static const char *const fields[] = {"id", "revision", NULL};
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = NULL;
    if (clone == NULL) {
        rs = m87_xcalloc(1, sizeof(*rs));
        srv_rev_content_from(rs, c);
        return 0;
    }
    if (m87_json_type(clone) != M87_JSON_OBJECT)
        return m87_error_set(err, M87_E_INVAL, 0, "clone: expected an object");
    if (srv_json_only(clone, "clone", fields, err) < 0)
        return -1;
    const struct m87_json *id = m87_json_get(clone, "id");
    const struct m87_json *rev = m87_json_get(clone, "revision");
    if (m87_json_type(id) != M87_JSON_STRING || id == NULL)
        return m87_error_set(err, M87_E_INVAL, 0, "clone.id: expected a deployment id string");
    int64_t number = 0;
    if (rev && m87_json_type(rev) != M87_JSON_NULL) {
        if (!srv_json_is_int(rev, &number) || number < 1)
            return m87_error_set(err, M87_E_INVAL, 0, "clone.revision: expected an integer >= 1");
    }
    _cleanup_(srv_deployment_release) struct srv_deployment src = {0};
    _cleanup_(srv_revision_release) struct srv_revision srev = {0};
    int rc = srv_deployment_find(r->srv->store, dev->id, m87_json_str(id, ""), &src, err);
    if (rc == 0)
        rc = srv_revision_get(r->srv->store, &src, number ? number : src.revision, &srev, err);
    if (rc == 0 && (rs = srv_rev_parse_stored(srev.spec, err)) == NULL)
        rc = -1;
    /* the source's signature names its deployment and number: the clone is signed anew */
    if (rc == 0)
        srv_rev_content_from(rs, c);
    return rc;
}

/* A deployment id a client chose: "d-" and 8 lower-case hex digits, as the server makes them. */
static int check_given_id(const struct m87_json *v, bool signed_, struct m87_error **err)
{
    const char *s = m87_json_str(v, NULL);
    if (v == NULL && signed_)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "id: a signed new deployment needs the id its signature names");
    if (v && (s == NULL || !srv_valid_deployment_id(s)))
        return m87_error_set(err, M87_E_INVAL, 0, "id: expected 'd-' and 8 lower-case hex digits");
    return 0;
}

/* The audit rows of a new deployment: its revision 1, and its activation when active (prev: the
 * deployment active before, zeroed for none). */
static int audit_created(struct srv_req *r, const struct srv_device *dev,
                         const struct srv_deployment *dep, const struct srv_deployment *prev,
                         const struct m87_json *clone, bool now, struct m87_error **err)
{
    char who[SRV_AUDIT_TOKEN_ID_LEN + 1];
    srv_audit_who(r, who);
    struct srv_audit_rev a = {.what = clone ? "clone" : "new",
                              .deployment = dep->public_id,
                              .revision = dep->revision,
                              .hash = dep->hash,
                              .active = dep->active,
                              .now = now,
                              .clone = m87_json_str(m87_json_get(clone, "id"), NULL),
                              .clone_revision = m87_json_int(m87_json_get(clone, "revision"), 0)};
    if (srv_audit_deploy(r->srv->store, dev->id, who, &a, err) < 0)
        return -1;
    return dep->active ? srv_audit_activate(r->srv->store, dev->id, who, dep, prev, now, err) : 0;
}

int srv_api_deployments_create(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    static const char *const fields[] = {"id", "active", "clone", NULL};
    _cleanup_(m87_json_freep) struct m87_json *body = srv_body_object(r, fields, err);
    if (body == NULL)
        return -1;
    const struct m87_json *active = m87_json_get(body, "active");
    if (active && m87_json_type(active) != M87_JSON_BOOL)
        return m87_error_set(err, M87_E_INVAL, 0, "active: expected true or false");
    bool now = false;
    if (srv_req_now(r, &now, err) < 0)
        return -1;
    if (now && !m87_json_bool(active, false))
        return m87_error_set(err, M87_E_INVAL, 0, "now: needs \"active\": true");
    _cleanup_(srv_device_release) struct srv_device dev = {0};
    _cleanup_(srv_deployment_release) struct srv_deployment dep = {0};
    _cleanup_(srv_rev_content_release) struct srv_rev_content c = {0};
    _cleanup_(srv_deployment_release) struct srv_deployment prev = {0};
    struct srv_signature sig;
    const struct m87_json *id = m87_json_get(body, "id");
    int rc = srv_req_signature(r, &sig, err);
    if (rc == 0)
        rc = check_given_id(id, sig.present, err);
    if (rc == 0)
        rc = srv_device_find(r->srv->store, r->params.v[0], &dev, err);
    if (rc == 0)
        rc = initial_content(r, &dev, m87_json_get(body, "clone"), &c, err);
    if (rc == 0)
        rc = srv_signature_apply(&sig, 1, &c, err);
    if (rc == 0 && m87_json_bool(active, false) &&
        srv_deployment_active(r->srv->store, dev.id, &prev, err) < 0)
        rc = -1;
    if (rc == 0)
        rc = srv_deployment_create(r->srv->store, dev.id, m87_json_str(id, NULL),
                                   m87_json_bool(active, false), &c, &dep, err);
    if (rc == 0)
        rc = audit_created(r, &dev, &dep, &prev, m87_json_get(body, "clone"), now, err);
    if (rc == 0 && dep.active)
        rc = srv_target_changed(r, &dev, dep.hash, now, err);
    if (rc == 0)
        write_deployment(w, &dep);
    return rc;
}

int srv_api_deployments_list(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    struct srv_device dev = {0};
    struct srv_deployment *v = NULL;
    size_t n = 0;
    if (srv_device_find(r->srv->store, r->params.v[0], &dev, err) < 0)
        return -1;
    int rc = srv_deployment_list(r->srv->store, dev.id, &v, &n, err);
    srv_device_release(&dev);
    if (rc < 0)
        return -1;
    m87_jw_obj_open(w);
    m87_jw_key(w, "deployments");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < n; i++) {
        write_deployment(w, &v[i]);
        srv_deployment_release(&v[i]);
    }
    free(v);
    m87_jw_arr_close(w);
    m87_jw_obj_close(w);
    return 0;
}

int srv_api_deployments_get(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    const char *q = srv_req_query(r, "revision");
    int64_t number = 0;
    if (q && srv_parse_int(q, 1, INT64_MAX, &number) < 0)
        return m87_error_set(err, M87_E_INVAL, 0, "revision: expected an integer >= 1");
    _cleanup_(srv_device_release) struct srv_device dev = {0};
    _cleanup_(srv_deployment_release) struct srv_deployment dep = {0};
    _cleanup_(srv_revision_release) struct srv_revision rev = {0};
    int rc = srv_find_deployment(r, &dev, &dep, err);
    if (rc == 0)
        rc = srv_revision_get(r->srv->store, &dep, number ? number : dep.revision, &rev, err);
    if (rc == 0) {
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "id", dep.public_id);
        m87_jw_kbool(w, "active", dep.active);
        m87_jw_kint(w, "revision", rev.number);
        m87_jw_kstr(w, "hash", rev.hash);
        srv_jw_time(w, "created", dep.created);
        srv_jw_time(w, "updated", dep.updated);
        srv_jw_time(w, "revision_created", rev.created);
        m87_jw_key(w, "jobs");
        srv_jw_raw(w, rev.jobs);
        m87_jw_key(w, "spec");
        srv_jw_raw(w, rev.spec);
        srv_jw_signature(w, &rev);
        m87_jw_obj_close(w);
    }
    return rc;
}

int srv_api_deployments_delete(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    (void)w;
    _cleanup_(srv_device_release) struct srv_device dev = {0};
    _cleanup_(srv_deployment_release) struct srv_deployment dep = {0};
    int rc = srv_find_deployment(r, &dev, &dep, err);
    if (rc == 0)
        rc = srv_deployment_delete(r->srv->store, &dep, err);
    return rc;
}

/* A signature sent with activate is for the deployment's newest revision (signing a revision
 * made unsigned, or with a new key); 409 when that revision has another hash. */
static int sign_head(struct srv_req *r, const struct srv_deployment *dep,
                     const struct srv_signature *sig, struct m87_error **err)
{
    _cleanup_(srv_rev_content_release) struct srv_rev_content c = {0};
    if (!sig->present)
        return 0;
    memcpy(c.hash, dep->hash, sizeof(c.hash));
    if (strlen(dep->hash) != M87_SHA256_HEX_LEN ||
        srv_signature_apply(sig, dep->revision, &c, err) < 0)
        return m87_error_set(err, M87_E_CONFLICT, 0,
                             "signature: made for revision %lld with hash %.12s, the newest "
                             "revision of '%s' is %lld with %.12s (it changed meanwhile): run the "
                             "command again",
                             (long long)sig->revision, sig->hash, dep->public_id,
                             (long long)dep->revision, dep->hash);
    return srv_revision_sign(r->srv->store, dep, dep->revision, &c, err);
}

int srv_api_deployments_activate(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    static const char *const none[] = {NULL};
    _cleanup_(m87_json_freep) struct m87_json *body = srv_body_object(r, none, err);
    if (body == NULL)
        return -1;
    bool now = false;
    struct srv_signature sig;
    if (srv_req_now(r, &now, err) < 0 || srv_req_signature(r, &sig, err) < 0)
        return -1;
    _cleanup_(srv_device_release) struct srv_device dev = {0};
    _cleanup_(srv_deployment_release) struct srv_deployment dep = {0};
    _cleanup_(srv_deployment_release) struct srv_deployment prev = {0};
    int rc = srv_find_deployment(r, &dev, &dep, err);
    if (rc == 0)
        rc = sign_head(r, &dep, &sig, err);
    if (rc == 0 && !dep.active && srv_deployment_active(r->srv->store, dev.id, &prev, err) < 0)
        rc = -1;
    /* activating the active deployment changes nothing, unless it is to be applied now */
    if (rc == 0 && !dep.active)
        rc = srv_deployment_activate(r->srv->store, &dep, err);
    if (rc == 0 && (!dep.active || now))
        rc = srv_target_changed(r, &dev, dep.hash, now, err);
    if (rc == 0 && (!dep.active || now)) {
        char who[SRV_AUDIT_TOKEN_ID_LEN + 1];
        srv_audit_who(r, who);
        rc = srv_audit_activate(r->srv->store, dev.id, who, &dep, dep.active ? &dep : &prev, now,
                                err);
    }
    dep.active = true;
    if (rc == 0)
        write_deployment(w, &dep);
    return rc;
}

int srv_api_deployments_revisions(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    _cleanup_(srv_device_release) struct srv_device dev = {0};
    _cleanup_(srv_deployment_release) struct srv_deployment dep = {0};
    struct srv_revision *v = NULL;
    size_t n = 0;
    int rc = srv_find_deployment(r, &dev, &dep, err);
    if (rc == 0)
        rc = srv_revision_list(r->srv->store, &dep, &v, &n, err);
    if (rc == 0) {
        m87_jw_obj_open(w);
        srv_jw_rows(w, "revisions", &srv_revision_row, v, n);
        m87_jw_obj_close(w);
    }
    srv_rows_free(v, n, &srv_revision_row);
    return rc;
}
