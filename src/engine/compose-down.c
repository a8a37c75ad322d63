/* down, stop, start, restart. down works from labels alone when the project has no services:
 * the services come from the containers' service labels and their order from the depends_on
 * label, as compose v2 rebuilds a project it has no file for. */
#include <stdio.h>
#include <string.h>

#include "compose-internal.h"

static const struct engine_compose_options default_opts = {.timeout_s = -1};

static int connect_client(struct engine_client *c, struct m87_error **err)
{
    if (engine_client_api_version(c) == NULL && engine_client_connect(c, err) < 0)
        return -1;
    return 0;
}

/* ---- a project rebuilt from labels --------------------------------------------------------- */

static bool names_has(const struct spec_project *p, const char *name)
{
    return compose_service_index(p, name) >= 0;
}

/* "db:service_healthy:false,cache:service_started:true" into depends entries. */
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
        if (name_len > 0)
            s->depends[s->n_depends++].service = m87_xstrndup(item, name_len);
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

/* Only names and dependencies are filled: enough for compose_order. */
static void label_project(const struct spec_project *p, const struct compose_observed *obs,
                          struct spec_project *q)
{
    memset(q, 0, sizeof(*q));
    q->name = p->name;
    q->services = m87_xcalloc(obs->n ? obs->n : 1, sizeof(*q->services));
    for (size_t i = 0; i < obs->n; i++) {
        const struct compose_ctr *k = &obs->v[i];
        if (k->service == NULL || names_has(q, k->service))
            continue;
        struct spec_service *s = &q->services[q->n_services++];
        s->name = m87_xstrdup(k->service);
        depends_from_label(s, m87_kvlist_get(&k->labels, COMPOSE_L_DEPENDS_ON));
    }
}

/* ---- down ---------------------------------------------------------------------------------- */

static int remove_service(struct compose_run *r, const char *service, struct m87_strv *anon,
                          struct m87_error **err)
{
    for (size_t i = 0; i < r->obs.n; i++) {
        struct compose_ctr *k = &r->obs.v[i];
        if (k->gone || k->service == NULL || strcmp(k->service, service) != 0)
            continue;
        for (size_t j = 0; anon && j < k->volumes.len; j++)
            if (strlen(k->volumes.items[j].value) == COMPOSE_HASH_HEX)
                m87_strv_add(anon, k->volumes.items[j].value);
        if (compose_stop_remove(r, k, r->o->volumes, err) < 0)
            return -1;
    }
    return 0;
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

static int remove_orphans(struct compose_run *r, struct m87_strv *anon, struct m87_error **err)
{
    size_t left = 0;
    for (size_t i = 0; i < r->obs.n; i++) {
        struct compose_ctr *k = &r->obs.v[i];
        if (!is_orphan(r, k))
            continue;
        if (!r->o->remove_orphans) {
            left++;
            continue;
        }
        if (remove_service(r, k->service, anon, err) < 0)
            return -1;
    }
    if (left > 0)
        compose_warn(r,
                     "found %zu orphan containers for project '%s'; remove them with "
                     "--remove-orphans",
                     left, r->p->name);
    return 0;
}

static int remove_networks(struct compose_run *r, struct m87_error **err)
{
    struct m87_kvlist f;
    m87_kvlist_init(&f);
    _cleanup_free_ char *sel = m87_xasprintf("%s=%s", COMPOSE_L_PROJECT, r->p->name);
    m87_kvlist_add(&f, "label", sel);
    struct engine_network_info *v = NULL;
    size_t n = 0;
    int rc = engine_network_list(r->c, &f, &v, &n, err);
    m87_kvlist_release(&f);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct engine_network_info *info = NULL;
        struct m87_error *local = NULL;
        if (engine_network_inspect(r->c, v[i].id, &info, &local) == 0 && info->containers.len > 0) {
            compose_warn(r, "network '%s' is still in use by %zu containers; not removed",
                         v[i].name, info->containers.len);
        } else if (local == NULL && engine_network_remove(r->c, v[i].id, &local) == 0) {
            compose_emit(r, ENGINE_COMPOSE_NETWORK, NULL, v[i].name, "removed", NULL);
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
    struct m87_kvlist f;
    m87_kvlist_init(&f);
    _cleanup_free_ char *sel = m87_xasprintf("%s=%s", COMPOSE_L_PROJECT, r->p->name);
    m87_kvlist_add(&f, "label", sel);
    struct engine_volume_info *v = NULL;
    size_t n = 0;
    int rc = engine_volume_list(r->c, &f, &v, &n, err);
    m87_kvlist_release(&f);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct m87_error *local = NULL;
        if (engine_volume_remove(r->c, v[i].name, true, &local) == 0)
            compose_emit(r, ENGINE_COMPOSE_VOLUME, NULL, v[i].name, "removed", NULL);
        else if (m87_error_code(local) != M87_E_NOTFOUND)
            compose_warn(r, "volume '%s' not removed: %s", v[i].name, local->msg);
        m87_error_clear(&local);
    }
    engine_volume_infos_free(v, n);
    /* anonymous volumes kept across a recreate are mounted by name, which rm -v leaves */
    for (size_t i = 0; rc == 0 && anon && i < anon->len; i++) {
        struct m87_error *local = NULL;
        if (engine_volume_remove(r->c, anon->items[i], false, &local) == 0)
            compose_emit(r, ENGINE_COMPOSE_VOLUME, NULL, anon->items[i], "removed", NULL);
        m87_error_clear(&local);
    }
    return rc;
}

static int down_containers(struct compose_run *r, struct m87_strv *anon, struct m87_error **err)
{
    const struct spec_project *p = r->p;
    if (p->n_services == 0) {
        struct spec_project q;
        label_project(p, &r->obs, &q);
        _cleanup_free_ size_t *order = m87_xcalloc(q.n_services + 1, sizeof(*order));
        compose_order(&q, order);
        int rc = 0;
        for (size_t k = q.n_services; rc == 0 && k-- > 0;) {
            bool pick = r->o->n_services == 0;
            for (size_t j = 0; j < r->o->n_services && !pick; j++)
                pick = strcmp(r->o->services[j], q.services[order[k]].name) == 0;
            if (pick)
                rc = remove_service(r, q.services[order[k]].name, anon, err);
        }
        label_project_free(&q);
        return rc;
    }
    if (compose_select(p, r->o, false, r->selected, err) < 0)
        return -1;
    for (size_t k = p->n_services; k-- > 0;)
        if (r->selected[r->order[k]] &&
            remove_service(r, p->services[r->order[k]].name, anon, err) < 0)
            return -1;
    return r->o->n_services == 0 ? remove_orphans(r, anon, err) : 0;
}

int engine_compose_down(struct engine_client *c, const struct spec_project *p,
                        const struct engine_compose_options *opts, struct m87_error **err)
{
    if (connect_client(c, err) < 0)
        return -1;
    struct compose_run r;
    compose_run_init(&r, c, p, opts ? opts : &default_opts);
    struct m87_strv anon;
    m87_strv_init(&anon);
    int rc = compose_observe(c, p->name, &r.obs, err);
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

static int stop_selected(struct compose_run *r, struct m87_error **err)
{
    for (size_t o = r->p->n_services; o-- > 0;) {
        size_t i = r->order[o];
        if (!r->selected[i])
            continue;
        for (size_t j = 0; j < r->obs.n; j++) {
            struct compose_ctr *k = &r->obs.v[j];
            if (k->oneoff || k->service == NULL || strcmp(k->service, r->p->services[i].name) ||
                !compose_ctr_running(k))
                continue;
            if (engine_container_stop(r->c, k->id, r->o->timeout_s, err) < 0)
                return -1;
            free(k->state);
            k->state = m87_xstrdup("exited");
            compose_emit(r, ENGINE_COMPOSE_CONTAINER, k->service, k->name, "stopped", NULL);
        }
    }
    return 0;
}

/* stop (what), start, or both in that order. */
static int lifecycle(struct engine_client *c, const struct spec_project *p,
                     const struct engine_compose_options *opts, bool stop, bool start,
                     const char *verb, struct m87_error **err)
{
    if (connect_client(c, err) < 0)
        return -1;
    struct compose_run r;
    compose_run_init(&r, c, p, opts ? opts : &default_opts);
    int rc = compose_select(p, r.o, false, r.selected, err);
    if (rc == 0)
        rc = compose_observe(c, p->name, &r.obs, err);
    if (rc == 0 && stop)
        rc = stop_selected(&r, err);
    if (rc == 0 && start)
        rc = compose_start_services(&r, err);
    compose_run_release(&r);
    return rc < 0 ? m87_error_wrap(err, "%s project '%s'", verb, p->name) : 0;
}

int engine_compose_stop(struct engine_client *c, const struct spec_project *p,
                        const struct engine_compose_options *opts, struct m87_error **err)
{
    return lifecycle(c, p, opts, true, false, "stop", err);
}

int engine_compose_start(struct engine_client *c, const struct spec_project *p,
                         const struct engine_compose_options *opts, struct m87_error **err)
{
    return lifecycle(c, p, opts, false, true, "start", err);
}

int engine_compose_restart(struct engine_client *c, const struct spec_project *p,
                           const struct engine_compose_options *opts, struct m87_error **err)
{
    return lifecycle(c, p, opts, true, true, "restart", err);
}

/* ---- pull ------------------------------------------------------------------------------------ */

int engine_compose_pull(struct engine_client *c, const struct spec_project *p,
                        const struct engine_compose_options *opts, struct m87_error **err)
{
    if (connect_client(c, err) < 0)
        return -1;
    struct compose_run r;
    compose_run_init(&r, c, p, opts ? opts : &default_opts);
    int rc = compose_select(p, r.o, false, r.selected, err);
    if (rc == 0)
        rc = compose_images(&r, r.o->pull, true, err);
    compose_run_release(&r);
    return rc < 0 ? m87_error_wrap(err, "pull project '%s'", p->name) : 0;
}
