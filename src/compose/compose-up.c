/* up: repair what an interrupted run left, then create, recreate or keep each replica, service
 * by service in dependency order; starting is compose-start.c's.
 *
 * Recreate follows compose v2: create the new container under a temporary name
 * (<old id[:12]>_<name>, labelled with the name it replaces), connect its extra networks, stop
 * and remove the old one, rename the new one. Killed at any point, the next up finds at most two
 * containers labelled with one service and number and keeps the right one. */
#include <stdio.h>
#include <string.h>

#include "compose/compose-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/engine-containers.h"
#include "m87/engine-networks.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"
#include "m87/time.h"

#define CREATE_TRIES 6 /* of a create whose name is taken */

struct up {
    struct compose_run r;
    bool *changed; /* a container of the service was created or recreated */
    bool *restart; /* a restart: true dependency changed: stop the kept containers */
    char (*hash)[COMPOSE_HASH_HEX + 1]; /* per service, set by its prepare */
};

/* ---- lookups --------------------------------------------------------------------------------- */

static bool is_temp_name(const char *name, const char *canonical)
{
    size_t ln = strlen(name), lc = strlen(canonical);
    return ln > lc && strcmp(name + ln - lc, canonical) == 0 && name[ln - lc - 1] == '_';
}

/* ---- repair ---------------------------------------------------------------------------------- */

static int keeper_score(const struct compose_ctr *k, const char *hash, const char *canonical)
{
    return (k->hash && strcmp(k->hash, hash) == 0) * 4 + (strcmp(k->name, canonical) == 0) * 2 +
           compose_ctr_running(k);
}

static int rename_ctr(struct compose_run *r, struct compose_ctr *k, const char *to,
                      struct m87_error **err)
{
    if (engine_container_rename(r->c, k->id, to, err) < 0)
        return -1;
    compose_emit(r, COMPOSE_CONTAINER, k->service, to, "renamed", k->name);
    free(k->name);
    k->name = m87_xstrdup(to);
    return 0;
}

/* Several containers of one service and number (a recreate cut short, a lost create answer):
 * keep the one with the right hash, preferring the canonical name, and remove the others; a
 * lone one under a temporary name gets the canonical name back. */
static int repair_number(struct compose_run *r, const struct spec_service *s, int n,
                         const char *hash, struct m87_error **err)
{
    _cleanup_free_ char *canonical = compose_container_name(r->p, s, n);
    struct compose_ctr *keep = NULL;
    size_t len = compose_observed_len(r);
    for (size_t i = 0; i < len; i++) {
        struct compose_ctr *k = &r->obs->v[i];
        if (!compose_ctr_of(k, s) || k->number != n)
            continue;
        if (keep == NULL) {
            keep = k;
            continue;
        }
        int a = keeper_score(k, hash, canonical), b = keeper_score(keep, hash, canonical);
        if (a > b || (a == b && k->created > keep->created))
            keep = k;
    }
    if (keep == NULL)
        return 0;
    for (size_t i = 0; i < len; i++) {
        struct compose_ctr *k = &r->obs->v[i];
        if (k == keep || !compose_ctr_of(k, s) || k->number != n)
            continue;
        compose_warn(r, "container '%s' duplicates '%s' (service '%s', number %d): removing it",
                     k->name, keep->name, s->name, n);
        if (compose_stop_remove(r, k, false, err) < 0)
            return -1;
    }
    if (strcmp(keep->name, canonical) != 0 &&
        (is_temp_name(keep->name, canonical) || s->container_name == NULL))
        return rename_ctr(r, keep, canonical, err);
    return 0;
}

static int repair(struct compose_run *r, const struct spec_service *s, const char *hash,
                  struct m87_error **err)
{
    size_t len = compose_observed_len(r);
    for (size_t i = 0; i < len; i++) {
        const struct compose_ctr *k = &r->obs->v[i];
        if (compose_ctr_of(k, s) && k->number > 0 && repair_number(r, s, k->number, hash, err) < 0)
            return m87_error_wrap(err, "service '%s'", s->name);
    }
    return 0;
}

/* Containers beyond the replica count, and ones whose number label is unusable, highest
 * numbers first. */
static int scale_down(struct compose_run *r, const struct spec_service *s, int replicas,
                      struct m87_error **err)
{
    for (;;) {
        struct compose_ctr *top = NULL;
        size_t len = compose_observed_len(r);
        for (size_t i = 0; i < len; i++) {
            struct compose_ctr *k = &r->obs->v[i];
            if (compose_ctr_of(k, s) && (k->number > replicas || k->number <= 0) &&
                (top == NULL || k->number > top->number))
                top = k;
        }
        if (top == NULL)
            return 0;
        if (compose_stop_remove(r, top, false, err) < 0)
            return m87_error_wrap(err, "scale service '%s' down", s->name);
    }
}

/* Create replica n under create_name; the new container is added to the observed list. */
static struct compose_ctr *create_ctr(struct compose_run *r, const struct spec_service *s, int n,
                                      const char *hash, const char *create_name,
                                      const struct compose_ctr *old, struct m87_error **err)
{
    struct compose_body_opts bo;
    _cleanup_(compose_refs_release) struct compose_refs refs = {0};
    if (compose_body_opts(r, s, &bo, &refs, err) < 0)
        return NULL;
    _cleanup_free_ char *name = compose_container_name(r->p, s, n);
    const char *image_id = m87_kvlist_get(r->image_ids, s->image);
    struct compose_instance in = {
        .number = n,
        .name = name,
        .image_id = image_id,
        .config_hash = hash,
        .replace = old ? old->name : NULL,
        .anon_volumes = old ? &old->volumes : NULL,
    };
    _cleanup_free_ char *body = compose_create_body(r->p, s, &bo, &in);
    _cleanup_free_ char *id = NULL;
    int adopted = 0;
    _cleanup_(m87_strv_release) struct m87_strv warned = {0};
    for (int attempt = 0; id == NULL; attempt++) {
        if (engine_container_create_warned(r->c, create_name, s->platform, body, &id, &warned,
                                           err) == 0) {
            for (size_t i = 0; i < warned.len; i++)
                compose_warn(r, "container '%s': dockerd: %s", name, warned.items[i]);
            break;
        }
        /* the name may be held by a container on its way out (see name_conflict): a few tries */
        if (m87_error_code(*err) != M87_E_CONFLICT || attempt >= CREATE_TRIES - 1)
            return NULL;
        m87_error_clear(err);
        adopted = compose_name_conflict(r, s, n, create_name, hash, &id, err);
        if (adopted < 0)
            return NULL;
        if (adopted == 2) { /* 0.1 s, then twice as long each time: 3.1 s in all */
            m87_sleep_ms(100L << attempt);
            adopted = 0;
        }
    }
    if (!adopted && compose_connect_extra(r, s, &bo, id, name, err) < 0) {
        /* a container missing a network must not be taken for a finished one later */
        engine_container_remove(r->c, id, true, false, NULL);
        return NULL;
    }
    struct compose_ctr k = {
        .id = M87_STEAL(id),
        .name = m87_xstrdup(create_name),
        .service = m87_xstrdup(s->name),
        .number = n,
        .hash = m87_xstrdup(hash),
        .image_label = image_id ? m87_xstrdup(image_id) : NULL,
        .image = m87_xstrdup(s->image),
        .state = m87_xstrdup("created"),
        .status = m87_xstrdup("Created"),
        .ports = m87_xstrdup(""),
    };
    return compose_observed_add(r, &k);
}

/* ---- recreate -------------------------------------------------------------------------------- */

/* Why k must be replaced, or NULL when it is fine. */
static const char *diverged(struct compose_run *r, const struct spec_service *s,
                            const struct compose_ctr *k, const char *hash)
{
    if (r->o->force_recreate)
        return "forced";
    if (k->hash == NULL || strcmp(k->hash, hash) != 0)
        return "configuration changed";
    const char *image_id = m87_kvlist_get(r->image_ids, s->image);
    if (image_id && (k->image_label == NULL || strcmp(k->image_label, image_id) != 0))
        return "image changed";
    const char *keys[COMPOSE_MAX_NETWORKS];
    size_t n = compose_service_networks(s, keys, COMPOSE_MAX_NETWORKS);
    for (size_t i = 0; i < n && i < COMPOSE_MAX_NETWORKS; i++) {
        _cleanup_free_ char *net = compose_network_name(r->p, keys[i]);
        if (!m87_kvlist_has(&k->networks, net))
            return "network missing";
        const char *have = m87_kvlist_get(&k->networks, net);
        const char *want = m87_kvlist_get(r->network_ids, keys[i]);
        /* the ID shows only once the container has run; a created one is judged by name */
        if (have && have[0] && want && strcmp(have, want) != 0)
            return "network recreated";
    }
    return NULL;
}

static int recreate(struct compose_run *r, const struct spec_service *s, struct compose_ctr *old,
                    const char *hash, const char *why, struct m87_error **err)
{
    _cleanup_free_ char *canonical = compose_container_name(r->p, s, old->number);
    _cleanup_free_ char *temp = m87_xasprintf("%.*s_%s", COMPOSE_SHORT_ID, old->id, canonical);
    struct compose_ctr *k = create_ctr(r, s, old->number, hash, temp, old, err);
    if (k == NULL)
        return -1;
    if (compose_stop_remove(r, old, false, err) < 0)
        return -1;
    if (engine_container_rename(r->c, k->id, canonical, err) < 0)
        return -1;
    free(k->name);
    k->name = m87_xstrdup(canonical);
    compose_emit(r, COMPOSE_CONTAINER, s->name, canonical, "recreated", why);
    return 0;
}

/* ---- one service ----------------------------------------------------------------------------- */

static void mark_changed(struct compose_run *r, struct up *u, size_t idx)
{
    pthread_mutex_lock(r->lock);
    u->changed[idx] = true;
    pthread_mutex_unlock(r->lock);
}

static int converge_replica(struct compose_run *r, struct up *u, size_t idx, int n,
                            struct m87_error **err)
{
    const struct spec_service *s = &r->p->services[idx];
    const char *hash = u->hash[idx];
    struct compose_ctr *k = compose_find_ctr(r, s, n);
    if (k == NULL) {
        _cleanup_free_ char *name = compose_container_name(r->p, s, n);
        k = create_ctr(r, s, n, hash, name, NULL, err);
        if (k == NULL)
            return -1;
        mark_changed(r, u, idx);
        compose_emit(r, COMPOSE_CONTAINER, s->name, name, "created", NULL);
        return 0;
    }
    const char *why = diverged(r, s, k, hash);
    if (why) {
        mark_changed(r, u, idx);
        return recreate(r, s, k, hash, why, err);
    }
    if (u->restart[idx] && compose_ctr_running(k)) {
        compose_pre_stop(r, k);
        if (engine_container_stop(r->c, k->id, r->o->timeout_s, err) < 0)
            return -1;
        compose_ctr_set_state(k, "exited");
        compose_emit(r, COMPOSE_CONTAINER, s->name, k->name, "stopped", "a dependency changed");
    }
    return 0;
}

static int service_hash(struct compose_run *r, const struct spec_service *s,
                        char hash[COMPOSE_HASH_HEX + 1], struct m87_error **err)
{
    struct compose_body_opts bo;
    _cleanup_(compose_refs_release) struct compose_refs refs = {0};
    if (compose_body_opts(r, s, &bo, &refs, err) < 0)
        return -1;
    compose_config_hash(r->p, s, &bo, hash);
    return 0;
}

/* A dependency declared with restart: true that was created or recreated in this run stops
 * the kept containers, so that they start again after it. Dependencies are done by now. */
static bool must_restart(struct compose_run *r, const struct up *u, const struct spec_service *s)
{
    for (size_t j = 0; j < s->n_depends; j++) {
        ssize_t d = compose_service_index(r->p, s->depends[j].service);
        if (s->depends[j].restart && d >= 0 && u->changed[d])
            return true;
    }
    return false;
}

static int converge_prepare(struct compose_run *r, void *ctx, size_t idx, size_t *n_items,
                            struct m87_error **err)
{
    struct up *u = ctx;
    const struct spec_service *s = &r->p->services[idx];
    int replicas = (int)(s->replicas > 0 ? s->replicas : 0);
    if (service_hash(r, s, u->hash[idx], err) < 0 || repair(r, s, u->hash[idx], err) < 0 ||
        scale_down(r, s, replicas, err) < 0)
        return -1;
    u->restart[idx] = must_restart(r, u, s);
    *n_items = (size_t)replicas;
    return 0;
}

static int converge_item(struct compose_run *r, void *ctx, size_t idx, size_t item,
                         struct m87_error **err)
{
    if (converge_replica(r, ctx, idx, (int)item + 1, err) < 0)
        return m87_error_wrap(err, "service '%s'", r->p->services[idx].name);
    return 0;
}

static bool converge_waits(void *ctx, size_t node, size_t other)
{
    const struct spec_project *p = ((const struct up *)ctx)->r.p;
    return compose_depends(&p->services[node], p->services[other].name);
}

static const struct compose_pool_ops converge_ops = {
    .waits = converge_waits,
    .prepare = converge_prepare,
    .item = converge_item,
};

/* ---- the plan -------------------------------------------------------------------------------- */

/* Whether converging s would make any call: a container to create, recreate, rename or remove.
 * A converged project then starts no thread. */
static bool service_has_work(struct compose_run *r, const struct spec_service *s)
{
    char hash[COMPOSE_HASH_HEX + 1];
    struct m87_error *e = NULL;
    if (r->o->force_recreate || service_hash(r, s, hash, &e) < 0) {
        m87_error_free(e); /* the converge will say it again */
        return true;
    }
    int replicas = (int)(s->replicas > 0 ? s->replicas : 0);
    for (int n = 1; n <= replicas; n++) {
        const struct compose_ctr *k = compose_find_ctr(r, s, n);
        if (k == NULL || diverged(r, s, k, hash))
            return true;
    }
    for (size_t i = 0; i < r->obs->n; i++) {
        const struct compose_ctr *k = &r->obs->v[i];
        if (!compose_ctr_of(k, s))
            continue;
        if (k->number <= 0 || k->number > replicas || k != compose_find_ctr(r, s, k->number))
            return true; /* to scale down, or a duplicate */
        _cleanup_free_ char *canonical = compose_container_name(r->p, s, k->number);
        if (strcmp(k->name, canonical) != 0 &&
            (is_temp_name(k->name, canonical) || s->container_name == NULL))
            return true;
    }
    return false;
}

static bool plan_has_work(struct compose_run *r)
{
    for (size_t i = 0; i < r->p->n_services; i++)
        if (r->selected[i] && service_has_work(r, &r->p->services[i]))
            return true;
    return false;
}

/* ---- orphans and checks ------------------------------------------------------------------ */

static bool is_orphan(const struct spec_project *p, const struct compose_ctr *k)
{
    if (k->oneoff || k->service == NULL || k->gone || compose_service_index(p, k->service) >= 0)
        return false;
    for (size_t i = 0; i < p->disabled_services.len; i++)
        if (strcmp(p->disabled_services.items[i], k->service) == 0)
            return false;
    return true;
}

static int orphans(struct compose_run *r, struct m87_error **err)
{
    struct m87_buf names;
    m87_buf_init(&names, 0);
    int rc = 0;
    for (size_t i = 0; i < r->obs->n && rc == 0; i++) {
        struct compose_ctr *k = &r->obs->v[i];
        if (!is_orphan(r->p, k))
            continue;
        if (r->o->remove_orphans)
            rc = compose_stop_remove(r, k, false, err);
        else
            m87_buf_appendf(&names, NULL, "%s%s", names.len ? ", " : "", k->name);
    }
    if (names.len > 0)
        compose_warn(r,
                     "found orphan containers (%s) for project '%s'; remove them with "
                     "--remove-orphans",
                     names.data, r->p->name);
    m87_buf_release(&names);
    return rc < 0 ? m87_error_wrap(err, "remove orphan containers") : 0;
}

/* What would fail half way is refused before anything is applied. */
static int check(const struct spec_project *p, const bool *selected, struct m87_error **err)
{
    for (size_t i = 0; i < p->n_services; i++) {
        const struct spec_service *s = &p->services[i];
        if (!selected[i])
            continue;
        if (s->image == NULL || s->image[0] == '\0')
            return m87_error_set(err, M87_E_INVAL, 0, "service '%s' has no image", s->name);
        if (s->container_name && s->replicas > 1)
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "service '%s': container_name '%s' cannot be used with %lld "
                                 "replicas",
                                 s->name, s->container_name, (long long)s->replicas);
        bool injected = false;
        for (size_t j = 0; j < s->n_configs; j++) {
            const struct spec_config *d =
                compose_find_config(p->configs, p->n_configs, s->configs[j].source);
            injected = injected || (d && d->source != SPEC_SOURCE_FILE);
        }
        for (size_t j = 0; j < s->n_secrets; j++) {
            const struct spec_config *d =
                compose_find_config(p->secrets, p->n_secrets, s->secrets[j].source);
            injected = injected || (d && d->source != SPEC_SOURCE_FILE);
        }
        if (injected && s->read_only)
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "service '%s': content and environment configs and secrets "
                                 "cannot be put into a read_only container",
                                 s->name);
    }
    return 0;
}

/* ---- up -------------------------------------------------------------------------------------- */

static int up_run(struct up *u, struct m87_error **err)
{
    struct compose_run *r = &u->r;
    const struct spec_project *p = r->p;
    if (compose_select(p, r->o, true, r->selected, err) < 0 || check(p, r->selected, err) < 0 ||
        compose_check_api(p, r->selected, engine_client_api_version(r->c), err) < 0)
        return -1;
    if (compose_observe(r->c, p->name, r->obs, err) < 0)
        return -1;
    size_t extra = 0;
    for (size_t i = 0; i < p->n_services; i++)
        extra +=
            r->selected[i] && p->services[i].replicas > 0 ? (size_t)p->services[i].replicas : 0;
    compose_observed_reserve(r->obs, extra);
    if (compose_images(r, r->o->pull, false, err) < 0 || compose_networks(r, err) < 0 ||
        compose_volumes(r, err) < 0 || orphans(r, err) < 0)
        return -1;
    if (plan_has_work(r) &&
        compose_pool_run(r, p->n_services, r->order, r->selected, &converge_ops, u, err) < 0)
        return -1;
    if (compose_start_services(r, err) < 0)
        return -1;
    return r->o->wait ? compose_wait_all(r, err) : 0;
}

int compose_up(struct engine_client *c, const struct spec_project *p,
               const struct compose_options *opts, struct m87_error **err)
{
    if (engine_client_api_version(c) == NULL && engine_client_connect(c, err) < 0)
        return -1;
    struct up u;
    compose_run_init(&u.r, c, p, opts);
    size_t n = p->n_services ? p->n_services : 1;
    u.changed = m87_xcalloc(n, sizeof(*u.changed));
    u.restart = m87_xcalloc(n, sizeof(*u.restart));
    u.hash = m87_xcalloc(n, sizeof(*u.hash));
    int rc = up_run(&u, err);
    free(u.changed);
    free(u.restart);
    free(u.hash);
    compose_run_release(&u.r);
    return rc < 0 ? m87_error_wrap(err, "up project '%s'", p->name) : 0;
}
