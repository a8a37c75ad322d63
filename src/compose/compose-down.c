/* down, stop, start, restart. They work from labels alone when the project has no services:
 * the services come from the containers' service labels and their order from the depends_on
 * label, as compose v2 rebuilds a project it has no file for. */
#include <stdio.h>
#include <string.h>

#include "compose/compose-internal.h"
#include "m87/alloc.h"
#include "m87/engine-containers.h"
#include "m87/engine-networks.h"
#include "m87/engine-volumes.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"

/* Connect c unless it is already, then init r (released by the caller only on success). */
static int run_open(struct compose_run *r, struct engine_client *c, const struct spec_project *p,
                    const struct compose_options *opts, struct m87_error **err)
{
    if (engine_client_api_version(c) == NULL && engine_client_connect(c, err) < 0)
        return -1;
    compose_run_init(r, c, p, opts);
    return 0;
}

/* ---- a project rebuilt from labels --------------------------------------------------------- */

static bool names_has(const struct spec_project *p, const char *name)
{
    return compose_service_index(p, name) >= 0;
}

static enum spec_depends_condition condition_from_label(const char *text, size_t len)
{
    for (size_t i = 0; i < COMPOSE_N_CONDITIONS; i++)
        if (len == strlen(compose_condition_words[i]) &&
            strncmp(text, compose_condition_words[i], len) == 0)
            return (enum spec_depends_condition)i;
    return SPEC_DEPENDS_STARTED;
}

/* "db:service_healthy:false,cache:service_started:true" into depends entries. The label has no
 * required: a dependency is taken as required, as in the files by default. */
static void depends_from_label(struct spec_service *s, const char *label)
{
    if (label == NULL || label[0] == '\0')
        return;
    size_t cap = 1;
    for (const char *c = label; *c; c++)
        cap += *c == ',';
    s->depends = m87_xcalloc(cap, sizeof(*s->depends));
    for (const char *item = label; *item;) {
        size_t len = strcspn(item, ",");
        size_t name_len = strcspn(item, ":,");
        if (name_len > 0) {
            struct spec_depends *d = &s->depends[s->n_depends++];
            d->service = m87_xstrndup(item, name_len);
            d->required = true;
            if (item[name_len] == ':')
                d->condition =
                    condition_from_label(item + name_len + 1, strcspn(item + name_len + 1, ":,"));
        }
        item += len + (item[len] == ',');
    }
}

static void label_project_free(struct spec_project *q)
{
    for (size_t i = 0; i < q->n_services; i++) {
        free(q->services[i].name);
        for (size_t j = 0; j < q->services[i].n_depends; j++)
            free(q->services[i].depends[j].service);
        free(q->services[i].depends);
    }
    free(q->services);
}

static bool is_orphan(const struct compose_run *r, const struct compose_ctr *k)
{
    if (k->gone || k->service == NULL || names_has(r->p, k->service))
        return false;
    for (size_t i = 0; i < r->p->disabled_services.len; i++)
        if (strcmp(r->p->disabled_services.items[i], k->service) == 0)
            return false;
    return true;
}

/* The services of the containers (of the orphans only, with orphans), named, with their
 * dependencies and as many replicas as the highest number: enough for an order, a graph and
 * the start phase. */
static void label_project(const struct compose_run *r, bool orphans, struct spec_project *q)
{
    const struct compose_observed *obs = r->obs;
    memset(q, 0, sizeof(*q));
    q->name = r->p->name;
    q->services = m87_xcalloc(obs->n ? obs->n : 1, sizeof(*q->services));
    for (size_t i = 0; i < obs->n; i++) {
        const struct compose_ctr *k = &obs->v[i];
        if (k->service == NULL || (orphans && !is_orphan(r, k)))
            continue;
        ssize_t at = compose_service_index(q, k->service);
        struct spec_service *s = at >= 0 ? &q->services[at] : &q->services[q->n_services++];
        if (at < 0) {
            s->name = m87_xstrdup(k->service);
            depends_from_label(s, m87_kvlist_get(&k->labels, COMPOSE_L_DEPENDS_ON));
        }
        if (!k->oneoff && k->number > s->replicas)
            s->replicas = k->number;
    }
}

/* ---- stop and remove, dependents first ------------------------------------------------------- */

struct teardown {
    const struct spec_project *graph; /* the project, or one rebuilt from labels */
    bool remove;                      /* down; else stop */
    struct compose_ctr ***items;      /* per service: its containers to handle */
    struct m87_strv *anon;            /* anonymous volumes to remove, under the run's lock */
};

/* Nothing that the services of a graph depend on goes before them. */
static bool teardown_waits(void *ctx, size_t node, size_t other)
{
    const struct spec_project *g = ((const struct teardown *)ctx)->graph;
    return compose_depends(&g->services[other], g->services[node].name);
}

static int teardown_prepare(struct compose_run *r, void *ctx, size_t idx, size_t *n_items,
                            struct m87_error **err)
{
    (void)err;
    struct teardown *td = ctx;
    const char *service = td->graph->services[idx].name;
    td->items[idx] = m87_xcalloc(r->obs->n ? r->obs->n : 1, sizeof(**td->items));
    size_t n = 0;
    for (size_t i = 0; i < r->obs->n; i++) {
        struct compose_ctr *k = &r->obs->v[i];
        if (k->service == NULL || strcmp(k->service, service) != 0 || k->gone)
            continue;
        if (td->remove || (!k->oneoff && compose_ctr_running(k)))
            td->items[idx][n++] = k;
    }
    *n_items = n;
    return 0;
}

static int teardown_item(struct compose_run *r, void *ctx, size_t idx, size_t item,
                         struct m87_error **err)
{
    struct teardown *td = ctx;
    struct compose_ctr *k = td->items[idx][item];
    if (td->remove) {
        pthread_mutex_lock(r->lock);
        for (size_t j = 0; td->anon && j < k->volumes.len; j++)
            if (strlen(k->volumes.items[j].value) == COMPOSE_HASH_HEX)
                m87_strv_add(td->anon, k->volumes.items[j].value);
        pthread_mutex_unlock(r->lock);
        return compose_stop_remove(r, k, r->o->volumes, err);
    }
    compose_pre_stop(r, k);
    if (engine_container_stop(r->c, k->id, r->o->timeout_s, err) < 0)
        return -1;
    compose_ctr_set_state(k, "exited");
    compose_emit(r, COMPOSE_CONTAINER, k->service, k->name, "stopped", NULL);
    return 0;
}

static const struct compose_pool_ops teardown_ops = {
    .waits = teardown_waits,
    .prepare = teardown_prepare,
    .item = teardown_item,
};

/* Stop (and with remove, remove) the containers of the active services of graph, those that
 * depend on others first, independent ones in parallel. */
static int teardown(struct compose_run *r, const struct spec_project *graph, const bool *active,
                    bool remove, struct m87_strv *anon, struct m87_error **err)
{
    size_t n = graph->n_services;
    _cleanup_free_ size_t *order = m87_xcalloc(n ? n : 1, sizeof(*order));
    _cleanup_free_ size_t *reverse = m87_xcalloc(n ? n : 1, sizeof(*reverse));
    compose_order(graph, order);
    for (size_t k = 0; k < n; k++)
        reverse[k] = order[n - 1 - k];
    struct teardown td = {
        .graph = graph,
        .remove = remove,
        .items = m87_xcalloc(n ? n : 1, sizeof(*td.items)),
        .anon = anon,
    };
    int rc = compose_pool_run(r, n, reverse, active, &teardown_ops, &td, err);
    for (size_t i = 0; i < n; i++)
        free(td.items[i]);
    free(td.items);
    return rc;
}

static int remove_orphans(struct compose_run *r, struct m87_strv *anon, struct m87_error **err)
{
    size_t left = 0;
    for (size_t i = 0; i < r->obs->n; i++)
        left += is_orphan(r, &r->obs->v[i]);
    if (left > 0 && !r->o->remove_orphans) {
        compose_warn(r,
                     "found %zu orphan containers for project '%s'; remove them with "
                     "--remove-orphans",
                     left, r->p->name);
        return 0;
    }
    if (left == 0)
        return 0;
    struct spec_project q;
    label_project(r, true, &q);
    _cleanup_free_ bool *all = m87_xcalloc(q.n_services + 1, sizeof(*all));
    for (size_t i = 0; i < q.n_services; i++)
        all[i] = true;
    int rc = teardown(r, &q, all, true, anon, err);
    label_project_free(&q);
    return rc;
}

static int remove_networks(struct compose_run *r, struct m87_error **err)
{
    struct engine_network_info *v = NULL;
    size_t n = 0;
    int rc = engine_network_list(r->c, r->project_filter, &v, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct engine_network_info *info = NULL;
        struct m87_error *local = NULL;
        if (engine_network_inspect(r->c, v[i].id, &info, &local) == 0 && info->containers.len > 0) {
            compose_warn(r, "network '%s' is still in use by %zu containers; not removed",
                         v[i].name, info->containers.len);
        } else if (local == NULL && engine_network_remove(r->c, v[i].id, &local) == 0) {
            compose_emit(r, COMPOSE_NETWORK, NULL, v[i].name, "removed", NULL);
        } else if (m87_error_code(local) != M87_E_NOTFOUND) {
            compose_warn(r, "network '%s' not removed: %s", v[i].name, local->msg);
        }
        m87_error_clear(&local);
        engine_network_info_free(info);
    }
    engine_network_infos_free(v, n);
    return rc;
}

static int remove_volumes(struct compose_run *r, const struct m87_strv *anon,
                          struct m87_error **err)
{
    struct engine_volume_info *v = NULL;
    size_t n = 0;
    int rc = engine_volume_list(r->c, r->project_filter, &v, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct m87_error *local = NULL;
        if (engine_volume_remove(r->c, v[i].name, true, &local) == 0)
            compose_emit(r, COMPOSE_VOLUME, NULL, v[i].name, "removed", NULL);
        else if (m87_error_code(local) != M87_E_NOTFOUND)
            compose_warn(r, "volume '%s' not removed: %s", v[i].name, local->msg);
        m87_error_clear(&local);
    }
    engine_volume_infos_free(v, n);
    /* anonymous volumes kept across a recreate are mounted by name, which rm -v leaves */
    for (size_t i = 0; rc == 0 && anon && i < anon->len; i++) {
        struct m87_error *local = NULL;
        if (engine_volume_remove(r->c, anon->items[i], false, &local) == 0)
            compose_emit(r, COMPOSE_VOLUME, NULL, anon->items[i], "removed", NULL);
        m87_error_clear(&local);
    }
    return rc;
}

static int down_containers(struct compose_run *r, struct m87_strv *anon, struct m87_error **err)
{
    const struct spec_project *p = r->p;
    if (p->n_services == 0) {
        struct spec_project q;
        label_project(r, false, &q);
        _cleanup_free_ bool *pick = m87_xcalloc(q.n_services + 1, sizeof(*pick));
        for (size_t i = 0; i < q.n_services; i++) {
            pick[i] = r->o->n_services == 0;
            for (size_t j = 0; j < r->o->n_services && !pick[i]; j++)
                pick[i] = strcmp(r->o->services[j], q.services[i].name) == 0;
        }
        int rc = teardown(r, &q, pick, true, anon, err);
        label_project_free(&q);
        return rc;
    }
    if (compose_select(p, r->o, false, r->selected, err) < 0 ||
        teardown(r, p, r->selected, true, anon, err) < 0)
        return -1;
    return r->o->n_services == 0 ? remove_orphans(r, anon, err) : 0;
}

int compose_down(struct engine_client *c, const struct spec_project *p,
                 const struct compose_options *opts, struct m87_error **err)
{
    struct compose_run r;
    if (run_open(&r, c, p, opts, err) < 0)
        return -1;
    struct m87_strv anon;
    m87_strv_init(&anon);
    int rc = compose_observe(c, p->name, r.obs, err);
    if (rc == 0)
        rc = down_containers(&r, r.o->volumes ? &anon : NULL, err);
    /* with services named, only their containers go: networks and volumes stay */
    if (rc == 0 && r.o->n_services == 0)
        rc = remove_networks(&r, err);
    if (rc == 0 && r.o->n_services == 0 && r.o->volumes)
        rc = remove_volumes(&r, &anon, err);
    m87_strv_release(&anon);
    compose_run_release(&r);
    return rc < 0 ? m87_error_wrap(err, "down project '%s'", p->name) : 0;
}

/* ---- stop, start, restart ------------------------------------------------------------------- */

static int lifecycle_run(struct compose_run *r, bool stop, bool start, struct m87_error **err)
{
    if (stop && teardown(r, r->p, r->selected, false, NULL, err) < 0)
        return -1;
    return start ? compose_start_services(r, err) : 0;
}

/* Without files (-p NAME only) the services come from the containers' labels, as for down; a
 * service named on the command line must have a container. */
static int lifecycle_by_label(struct compose_run *r, bool stop, bool start, struct m87_error **err)
{
    struct spec_project q;
    label_project(r, false, &q);
    struct compose_run lr;
    compose_run_init(&lr, r->c, &q, r->o);
    struct compose_observed obs = *lr.obs;
    *lr.obs = *r->obs;
    *r->obs = obs;
    int rc = compose_select(&q, lr.o, false, lr.selected, err);
    if (rc == 0)
        rc = lifecycle_run(&lr, stop, start, err);
    compose_run_release(&lr);
    label_project_free(&q);
    return rc;
}

/* stop (what), start, or both in that order. */
static int lifecycle(struct engine_client *c, const struct spec_project *p,
                     const struct compose_options *opts, bool stop, bool start, const char *verb,
                     struct m87_error **err)
{
    struct compose_run r;
    if (run_open(&r, c, p, opts, err) < 0)
        return -1;
    int rc = p->n_services > 0 ? compose_select(p, r.o, false, r.selected, err) : 0;
    if (rc == 0)
        rc = compose_observe(c, p->name, r.obs, err);
    if (rc == 0)
        rc = p->n_services > 0 ? lifecycle_run(&r, stop, start, err)
                               : lifecycle_by_label(&r, stop, start, err);
    compose_run_release(&r);
    return rc < 0 ? m87_error_wrap(err, "%s project '%s'", verb, p->name) : 0;
}

int compose_stop(struct engine_client *c, const struct spec_project *p,
                 const struct compose_options *opts, struct m87_error **err)
{
    return lifecycle(c, p, opts, true, false, "stop", err);
}

int compose_start(struct engine_client *c, const struct spec_project *p,
                  const struct compose_options *opts, struct m87_error **err)
{
    return lifecycle(c, p, opts, false, true, "start", err);
}

int compose_restart(struct engine_client *c, const struct spec_project *p,
                    const struct compose_options *opts, struct m87_error **err)
{
    return lifecycle(c, p, opts, true, true, "restart", err);
}

/* ---- pull ------------------------------------------------------------------------------------ */

int compose_pull(struct engine_client *c, const struct spec_project *p,
                 const struct compose_options *opts, struct m87_error **err)
{
    struct compose_run r;
    if (run_open(&r, c, p, opts, err) < 0)
        return -1;
    int rc = compose_select(p, r.o, false, r.selected, err);
    if (rc == 0)
        rc = compose_images(&r, r.o->pull, true, err);
    compose_run_release(&r);
    return rc < 0 ? m87_error_wrap(err, "pull project '%s'", p->name) : 0;
}
