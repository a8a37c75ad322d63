/* A fleet's release placed on one device: a new revision of the device's active deployment with
 * the release's jobs merged in and the jobs of the fleet's release it replaces removed, the
 * releases it carries noted beside it (the sync target's "fleets"); the fleet's jobs removed when
 * the device leaves; and a previous revision restored for a rollback. */
#include <stdlib.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/spec-runspec.h"
#include "m87/spec-selector.h"
#include "server/audit.h"
#include "server/http.h"
#include "server/longpoll.h"
#include "server/revision.h"
#include "server/rollout.h"
#include "server/store-deployments.h"
#include "server/store-devices.h"
#include "server/store-rollouts.h"

void srv_touched_add(struct srv_touched *t, int64_t device_id)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i] == device_id)
            return;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        t->v = m87_xrealloc(t->v, t->cap * sizeof(*t->v));
    }
    t->v[t->n++] = device_id;
}

void srv_touched_notify(struct srv *s, struct srv_touched *t)
{
    for (size_t i = 0; i < t->n; i++)
        srv_longpoll_notify(s->lp, t->v[i]);
    srv_touched_release(t);
}

void srv_touched_release(struct srv_touched *t)
{
    free(t->v);
    memset(t, 0, sizeof(*t));
}

void srv_placed_release(struct srv_placed *p)
{
    free(p->revision);
    free(p->previous);
    memset(p, 0, sizeof(*p));
}

void srv_devices_free(struct srv_device *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        srv_device_release(&v[i]);
    free(v);
}

int srv_fleet_members(struct srv_store *st, const char *fleet, const char *selector,
                      struct srv_device **out, size_t *n, struct m87_error **err)
{
    struct spec_selector sel = {0};
    struct srv_device *v = NULL;
    size_t nv = 0, k = 0;
    if (spec_selector_parse(selector, &sel, err) < 0) {
        m87_error_wrap(err, "fleet '%s': stored selector", fleet);
        (*err)->code = M87_E_INTERNAL;
        return -1;
    }
    int rc = srv_device_list(st, &v, &nv, err);
    if (rc == 0)
        rc = srv_labels_fill(st, v, nv, err);
    for (size_t i = 0; rc == 0 && i < nv; i++) {
        if (spec_selector_match(&sel, &v[i].labels))
            v[k++] = v[i];
        else
            srv_device_release(&v[i]);
    }
    spec_selector_release(&sel);
    if (rc < 0) {
        srv_devices_free(v, nv);
        return -1;
    }
    *out = v;
    *n = k;
    return 0;
}

/* Whether the JSON array of job ids holds id. */
static bool jobs_have(const struct m87_json *jobs, const char *id)
{
    for (size_t i = 0; i < m87_json_len(jobs); i++)
        if (strcmp(m87_json_str(m87_json_at(jobs, i), ""), id) == 0)
            return true;
    return false;
}

static struct m87_json *parse_jobs(const char *jobs)
{
    return m87_json_parse(jobs ? jobs : "[]", jobs ? strlen(jobs) : 2, NULL);
}

/* The device's active deployment into *dep (0) or 0 with dep->id 0 when it has none. */
static int active(struct srv_store *st, int64_t device_id, struct srv_deployment *dep,
                  struct m87_error **err)
{
    int rc = srv_deployment_active(st, device_id, dep, err);
    return rc < 0 ? -1 : 0;
}

/* The releases the head revision of dep carries. */
static int head_releases(struct srv_store *st, const struct srv_deployment *dep, int64_t *rev_id,
                         struct srv_release **v, size_t *n, struct m87_error **err)
{
    if (srv_revision_id(st, dep->id, dep->revision, rev_id, err) < 0)
        return -1;
    return srv_revision_releases(st, *rev_id, v, n, err);
}

int srv_release_check_device(struct srv_store *st, int64_t fleet_id, const char *fleet,
                             const char *jobs, const struct srv_device *d, struct m87_error **err)
{
    _cleanup_(srv_deployment_release) struct srv_deployment dep = {0};
    struct srv_release *v = NULL;
    size_t n = 0;
    int64_t rev_id = 0;
    if (active(st, d->id, &dep, err) < 0)
        return -1;
    if (dep.id == 0)
        return 0;
    if (head_releases(st, &dep, &rev_id, &v, &n, err) < 0)
        return -1;
    _cleanup_(m87_json_freep) struct m87_json *mine = parse_jobs(jobs);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (v[i].fleet_id == fleet_id)
            continue;
        _cleanup_(m87_json_freep) struct m87_json *theirs = parse_jobs(v[i].jobs);
        for (size_t k = 0; rc == 0 && k < m87_json_len(mine); k++) {
            const char *id = m87_json_str(m87_json_at(mine, k), "");
            if (jobs_have(theirs, id))
                rc = m87_error_set(err, M87_E_CONFLICT, 0,
                                   "job '%s' of fleet '%s' is on device '%s' from fleet '%s' "
                                   "already: two fleets cannot place the same job id on one device",
                                   id, fleet, d->name, v[i].fleet);
        }
    }
    srv_rows_free(v, n, &srv_release_row);
    return rc;
}

/* Who placed a revision: the token whose request moved the device into or out of a fleet, else
 * who made the release, else the server (a rollout's rollback). */
static int placed_by(struct srv_store *st, const struct srv_touched *touched,
                     const struct srv_release *rel, char **who, struct m87_error **err)
{
    if (touched->who) {
        *who = m87_xstrdup(touched->who);
        return 0;
    }
    if (rel)
        return srv_audit_release_token(st, rel->id, who, err);
    *who = m87_xstrdup(SRV_AUDIT_SERVER);
    return 0;
}

/* The audit row of a revision the server placed on the device, if it made one. */
static int audit_placed(struct srv_store *st, int64_t device_id, const char *what,
                        const struct srv_deployment *dep, const struct srv_placed *p,
                        const struct srv_release *rel, bool now, const struct srv_touched *touched,
                        struct m87_error **err)
{
    _cleanup_free_ char *who = NULL;
    if (!p->changed)
        return 0;
    if (placed_by(st, touched, rel, &who, err) < 0)
        return -1;
    struct srv_audit_rev a = {.what = what,
                              .deployment = dep->public_id,
                              .revision = dep->revision + 1,
                              .hash = p->revision,
                              .active = true,
                              .now = now,
                              .fleet = rel ? rel->fleet : NULL,
                              .release = rel ? rel->number : 0};
    return srv_audit_deploy(st, device_id, who, &a, err);
}

/* A new active deployment with an empty revision 1 (the device had none). */
static int empty_deployment(struct srv_store *st, int64_t device_id, struct srv_deployment *dep,
                            struct m87_error **err)
{
    struct spec_runspec empty = {0};
    _cleanup_(srv_rev_content_release) struct srv_rev_content c = {0};
    srv_rev_content_from(&empty, &c);
    return srv_deployment_create(st, device_id, NULL, true, &c, dep, err);
}

/* Store rs as the next revision of dep unless it has its head's hash; carry is the releases the
 * new revision carries (add: one more, NULL: none). */
static int next_revision(struct srv *s, int64_t device_id, const struct srv_deployment *dep,
                         const struct spec_runspec *rs, const struct srv_release *keep,
                         size_t n_keep, int64_t skip_fleet, const struct srv_release *add, bool now,
                         struct srv_touched *touched, struct srv_placed *out,
                         struct m87_error **err)
{
    struct srv_store *st = s->store;
    _cleanup_(srv_rev_content_release) struct srv_rev_content c = {0};
    srv_rev_content_from(rs, &c);
    out->deployment_id = dep->id;
    out->previous = m87_xstrdup(dep->hash);
    out->previous_number = dep->revision;
    out->revision = m87_xstrdup(c.hash);
    if (strcmp(c.hash, dep->hash) == 0)
        return 0;
    int64_t rev_id = 0;
    if (srv_revision_add(st, dep, &c, err) < 0 ||
        srv_revision_id(st, dep->id, dep->revision + 1, &rev_id, err) < 0)
        return -1;
    for (size_t i = 0; i < n_keep; i++)
        if (keep[i].fleet_id != skip_fleet &&
            srv_revision_release_add(st, rev_id, keep[i].id, err) < 0)
            return -1;
    if (add && srv_revision_release_add(st, rev_id, add->id, err) < 0)
        return -1;
    if (srv_device_set_now(st, device_id, now ? c.hash : NULL, err) < 0)
        return -1;
    out->changed = true;
    srv_touched_add(touched, device_id);
    return 0;
}

/* The head of dep parsed, without the jobs of fleet_id's releases it carries that are not in
 * except (a JSON array of job ids; NULL: remove them all). */
static struct spec_runspec *head_without(struct srv_store *st, const struct srv_deployment *dep,
                                         const struct srv_release *carried, size_t n,
                                         int64_t fleet_id, const char *except,
                                         struct m87_error **err)
{
    _cleanup_(srv_revision_release) struct srv_revision head = {0};
    if (srv_revision_get(st, dep, dep->revision, &head, err) < 0)
        return NULL;
    struct spec_runspec *rs = srv_rev_parse_stored(head.spec, err);
    _cleanup_(m87_json_freep) struct m87_json *keep = except ? parse_jobs(except) : NULL;
    for (size_t i = 0; rs && i < n; i++) {
        if (carried[i].fleet_id != fleet_id)
            continue;
        _cleanup_(m87_json_freep) struct m87_json *jobs = parse_jobs(carried[i].jobs);
        for (size_t k = 0; k < m87_json_len(jobs); k++) {
            const char *id = m87_json_str(m87_json_at(jobs, k), "");
            if (!keep || !jobs_have(keep, id))
                srv_rev_remove(rs, id);
        }
    }
    return rs;
}

int srv_release_place(struct srv *s, int64_t device_id, const struct srv_release *rel, bool now,
                      struct srv_touched *touched, struct srv_placed *out, struct m87_error **err)
{
    struct srv_store *st = s->store;
    _cleanup_(srv_deployment_release) struct srv_deployment dep = {0};
    struct srv_release *carried = NULL;
    size_t n = 0;
    int64_t rev_id = 0;
    if (active(st, device_id, &dep, err) < 0)
        return -1;
    bool made = dep.id == 0;
    if (made && empty_deployment(st, device_id, &dep, err) < 0)
        return -1;
    if (made) { /* its activation in the audit trail; its revision 2 follows */
        _cleanup_free_ char *who = NULL;
        if (placed_by(st, touched, rel, &who, err) < 0 ||
            srv_audit_activate(st, device_id, who, &dep, NULL, now, err) < 0)
            return -1;
    }
    if (head_releases(st, &dep, &rev_id, &carried, &n, err) < 0)
        return -1;
    int rc = -1;
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs =
        head_without(st, &dep, carried, n, rel->fleet_id, rel->jobs, err);
    _cleanup_(spec_runspec_freep) struct spec_runspec *add =
        rs ? srv_rev_parse_stored(rel->spec, err) : NULL;
    if (add) {
        srv_rev_merge(rs, add);
        rc = next_revision(s, device_id, &dep, rs, carried, n, rel->fleet_id, rel, now, touched,
                           out, err);
        if (rc == 0)
            rc = audit_placed(st, device_id, "release", &dep, out, rel, now, touched, err);
        /* the same content placed by hand before: it carries the release from now on */
        if (rc == 0 && !out->changed)
            rc = srv_revision_release_drop(st, rev_id, rel->fleet_id, err);
        if (rc == 0 && !out->changed)
            rc = srv_revision_release_add(st, rev_id, rel->id, err);
    }
    srv_rows_free(carried, n, &srv_release_row);
    return rc;
}

int srv_fleet_unplace(struct srv *s, int64_t device_id, int64_t fleet_id,
                      struct srv_touched *touched, struct m87_error **err)
{
    struct srv_store *st = s->store;
    _cleanup_(srv_deployment_release) struct srv_deployment dep = {0};
    _cleanup_(srv_placed_release) struct srv_placed out = {0};
    struct srv_release *carried = NULL;
    size_t n = 0;
    int64_t rev_id = 0;
    if (active(st, device_id, &dep, err) < 0)
        return -1;
    if (dep.id == 0)
        return 0;
    if (head_releases(st, &dep, &rev_id, &carried, &n, err) < 0)
        return -1;
    int rc = -1;
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs =
        head_without(st, &dep, carried, n, fleet_id, NULL, err);
    if (rs)
        rc = next_revision(s, device_id, &dep, rs, carried, n, fleet_id, NULL, false, touched, &out,
                           err);
    if (rc == 0)
        rc = audit_placed(st, device_id, "leave-fleet", &dep, &out, NULL, false, touched, err);
    srv_rows_free(carried, n, &srv_release_row);
    return rc;
}

int srv_revision_restore(struct srv *s, int64_t device_id, int64_t deployment_id,
                         int64_t previous_number, struct srv_touched *touched, bool *done,
                         char **message, struct m87_error **err)
{
    struct srv_store *st = s->store;
    _cleanup_(srv_deployment_release) struct srv_deployment dep = {0};
    _cleanup_(srv_revision_release) struct srv_revision prev = {0};
    _cleanup_(srv_placed_release) struct srv_placed out = {0};
    struct srv_release *carried = NULL;
    size_t n = 0;
    int64_t rev_id = 0;
    *done = false;
    if (active(st, device_id, &dep, err) < 0)
        return -1;
    if (dep.id != deployment_id) {
        *message = m87_xstrdup("its active deployment is another one now: not rolled back");
        return 0;
    }
    if (srv_revision_get(st, &dep, previous_number, &prev, err) < 0 ||
        srv_revision_id(st, dep.id, previous_number, &rev_id, err) < 0 ||
        srv_revision_releases(st, rev_id, &carried, &n, err) < 0)
        return -1;
    int rc = -1;
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = srv_rev_parse_stored(prev.spec, err);
    if (rs)
        rc = next_revision(s, device_id, &dep, rs, carried, n, 0, NULL, true, touched, &out, err);
    if (rc == 0)
        rc = audit_placed(st, device_id, "rollback", &dep, &out, NULL, true, touched, err);
    srv_rows_free(carried, n, &srv_release_row);
    *done = rc == 0;
    return rc;
}
