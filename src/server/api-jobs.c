/* /v1/devices/NAME/deployments/ID/jobs: put a run spec's jobs, remove one. Each makes one new
 * revision from the newest. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/spec-runspec.h"
#include "server/api.h"
#include "server/audit.h"
#include "server/http.h"
#include "server/limits.h"
#include "server/revision.h"
#include "server/store-deployments.h"
#include "server/store-devices.h"

/* The signature of the new revision: the one sent with the request, which must be for the hash
 * made and the next number (a signature names its revision number: none is carried over). */
static int sign_content(struct srv_req *r, const struct srv_revision *prev,
                        struct srv_rev_content *c, struct m87_error **err)
{
    struct srv_signature sig;
    if (srv_req_signature(r, &sig, err) < 0)
        return -1;
    return srv_signature_apply(&sig, prev->number + 1, c, err);
}

/* Store rs as the next revision of dep (whose newest is prev) and answer with the deployment. */
static int next_revision(struct srv_req *r, const struct srv_device *dev,
                         struct srv_deployment *dep, const struct srv_revision *prev,
                         const struct spec_runspec *rs, struct m87_jw *w, struct m87_error **err)
{
    bool now_flag = false;
    if (srv_req_now(r, &now_flag, err) < 0)
        return -1;
    if (now_flag && !dep->active)
        return m87_error_set(err, M87_E_CONFLICT, 0,
                             "now: deployment '%s' is not active: activate it with now=1",
                             dep->public_id);
    struct srv_rev_content c;
    srv_rev_content_from(rs, &c);
    int rc = sign_content(r, prev, &c, err);
    if (rc == 0)
        rc = srv_revision_add(r->srv->store, dep, &c, err);
    srv_rev_content_release(&c);
    _cleanup_(srv_deployment_release) struct srv_deployment now = {0};
    if (rc == 0)
        rc = srv_deployment_find(r->srv->store, dev->id, dep->public_id, &now, err);
    if (rc == 0 && now.active)
        rc = srv_target_changed(r, dev, now.hash, now_flag, err);
    if (rc == 0) {
        char who[SRV_AUDIT_TOKEN_ID_LEN + 1];
        srv_audit_who(r, who);
        struct srv_audit_rev a = {.what = strcmp(r->method, "DELETE") == 0 ? "remove-job" : "jobs",
                                  .deployment = now.public_id,
                                  .revision = now.revision,
                                  .hash = now.hash,
                                  .active = now.active,
                                  .now = now_flag};
        rc = srv_audit_deploy(r->srv->store, dev->id, who, &a, err);
    }
    if (rc == 0) {
        m87_jw_obj_open(w);
        srv_jw_deployment(w, &now);
        m87_jw_obj_close(w);
    }
    return rc;
}

/* Load the newest revision (into *rev) and its run spec of the deployment in the path. */
static struct spec_runspec *load_head(struct srv_req *r, struct srv_device *dev,
                                      struct srv_deployment *dep, struct srv_revision *rev,
                                      struct m87_error **err)
{
    struct spec_runspec *rs = NULL;
    if (srv_find_deployment(r, dev, dep, err) == 0 &&
        srv_revision_get(r->srv->store, dep, dep->revision, rev, err) == 0)
        rs = srv_rev_parse_stored(rev->spec, err);
    return rs;
}

int srv_api_jobs_put(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    const char *text = r->body.data ? r->body.data : "";
    /* a run spec in JSON is checked as JSON first: YAML would accept more than JSON */
    _cleanup_(m87_json_freep) struct m87_json *doc =
        m87_json_parse_max(text, r->body.len, SRV_JSON_MAX_DEPTH, err);
    if (doc == NULL)
        return -1;
    _cleanup_(spec_runspec_freep) struct spec_runspec *add =
        spec_runspec_parse(text, r->body.len, "body", err);
    if (add == NULL)
        return -1;
    _cleanup_(srv_device_release) struct srv_device dev = {0};
    _cleanup_(srv_deployment_release) struct srv_deployment dep = {0};
    _cleanup_(srv_revision_release) struct srv_revision rev = {0};
    _cleanup_(spec_runspec_freep) struct spec_runspec *base = load_head(r, &dev, &dep, &rev, err);
    int rc = -1;
    if (base) {
        srv_rev_merge(base, add);
        rc = next_revision(r, &dev, &dep, &rev, base, w, err);
    }
    return rc;
}

int srv_api_jobs_delete(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    _cleanup_(srv_device_release) struct srv_device dev = {0};
    _cleanup_(srv_deployment_release) struct srv_deployment dep = {0};
    _cleanup_(srv_revision_release) struct srv_revision rev = {0};
    _cleanup_(spec_runspec_freep) struct spec_runspec *base = load_head(r, &dev, &dep, &rev, err);
    int rc = -1;
    if (base && !srv_rev_remove(base, r->params.v[2]))
        m87_error_set(err, M87_E_NOTFOUND, 0, "deployment '%s' has no job '%s'", dep.public_id,
                      r->params.v[2]);
    else if (base)
        rc = next_revision(r, &dev, &dep, &rev, base, w, err);
    return rc;
}
