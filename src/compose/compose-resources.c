/* Networks and volumes before containers: found by exact name (ours from one labelled list),
 * created with compose's labels when missing, external ones required to exist. */
#include <string.h>

#include "compose/compose-internal.h"
#include "m87/alloc.h"
#include "m87/engine-networks.h"
#include "m87/engine-volumes.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"

static bool strv_has(const struct m87_strv *v, const char *s)
{
    for (size_t i = 0; i < v->len; i++)
        if (strcmp(v->items[i], s) == 0)
            return true;
    return false;
}

/* ---- networks -------------------------------------------------------------------------------- */

static int network_create(struct compose_run *r, const struct spec_network *n, const char *key,
                          const char *name, char **id, struct m87_error **err)
{
    struct m87_kvlist labels;
    m87_kvlist_init(&labels);
    compose_network_labels(r->p, n, key, &labels);
    size_t n_pools = n ? n->n_ipam_pools : 0;
    struct engine_ipam_pool *pools = m87_xcalloc(n_pools ? n_pools : 1, sizeof(*pools));
    for (size_t i = 0; i < n_pools; i++) {
        pools[i].subnet = n->ipam_pools[i].subnet;
        pools[i].ip_range = n->ipam_pools[i].ip_range;
        pools[i].gateway = n->ipam_pools[i].gateway;
        if (n->ipam_pools[i].aux_addresses.len > 0)
            compose_warn(r, "network '%s': ipam aux_addresses are not applied", name);
    }
    struct engine_network_config cfg = {
        .name = name,
        .driver = n ? n->driver : NULL,
        .internal = n && n->internal,
        .attachable = n && n->attachable,
        .enable_ipv6 = n && n->enable_ipv6,
        .options = n && n->driver_opts.len ? &n->driver_opts : NULL,
        .labels = &labels,
        .ipam_driver = n ? n->ipam_driver : NULL,
        .pools = pools,
        .n_pools = n_pools,
        .ipam_options = n && n->ipam_options.len ? &n->ipam_options : NULL,
    };
    int rc = engine_network_create(r->c, &cfg, id, err);
    free(pools);
    m87_kvlist_release(&labels);
    return rc;
}

/* An existing network of that exact name (not an ID prefix), or NULL *id when there is none. */
static int network_lookup(struct compose_run *r, const char *name, char **id,
                          struct m87_kvlist *labels, struct m87_error **err)
{
    struct engine_network_info *info = NULL;
    struct m87_error *local = NULL;
    *id = NULL;
    if (engine_network_inspect(r->c, name, &info, &local) < 0) {
        if (m87_error_code(local) == M87_E_NOTFOUND) {
            m87_error_free(local);
            return 0;
        }
        *err = local;
        return -1;
    }
    *id = M87_STEAL(info->id);
    for (size_t i = 0; labels && i < info->labels.len; i++)
        m87_kvlist_add(labels, info->labels.items[i].key, info->labels.items[i].value);
    engine_network_info_free(info);
    return 0;
}

static int network_foreign(struct compose_run *r, const struct spec_network *n, const char *key,
                           const char *name, char **id, struct m87_error **err)
{
    struct m87_kvlist labels;
    m87_kvlist_init(&labels);
    int rc = network_lookup(r, name, id, &labels, err);
    if (rc == 0 && *id != NULL) {
        compose_warn(r, "network '%s' exists but was not created for project '%s'; using it", name,
                     r->p->name);
        compose_emit(r, COMPOSE_NETWORK, NULL, name, "exists", NULL);
    } else if (rc == 0) {
        rc = network_create(r, n, key, name, id, err);
        if (rc < 0 && m87_error_code(*err) == M87_E_CONFLICT) {
            /* made by someone else between our look and our create */
            m87_error_clear(err);
            rc = network_lookup(r, name, id, NULL, err);
            if (rc == 0 && *id == NULL)
                rc = m87_error_set(err, M87_E_CONFLICT, 0, "network '%s': created and gone", name);
        } else if (rc == 0) {
            compose_emit(r, COMPOSE_NETWORK, NULL, name, "created", NULL);
        }
    }
    m87_kvlist_release(&labels);
    return rc;
}

static int ensure_network(struct compose_run *r, const char *key,
                          const struct engine_network_info *ours, size_t n_ours,
                          struct m87_error **err)
{
    const struct spec_network *n = spec_project_network(r->p, key);
    _cleanup_free_ char *name = compose_network_name(r->p, key);
    _cleanup_free_ char *id = NULL;
    if (n && n->external) {
        if (network_lookup(r, name, &id, NULL, err) < 0)
            return m87_error_wrap(err, "external network '%s'", name);
        if (id == NULL)
            return m87_error_set(err, M87_E_NOTFOUND, 0,
                                 "network '%s' is declared as external, but could not be found",
                                 name);
        compose_emit(r, COMPOSE_NETWORK, NULL, name, "exists", NULL);
    }
    for (size_t i = 0; id == NULL && i < n_ours; i++) {
        if (strcmp(ours[i].name, name) != 0)
            continue;
        id = m87_xstrdup(ours[i].id);
        const char *lk = m87_kvlist_get(&ours[i].labels, COMPOSE_L_NETWORK);
        if (lk && strcmp(lk, key) != 0)
            compose_warn(r, "network '%s' was created for network '%s', not '%s'", name, lk, key);
        compose_emit(r, COMPOSE_NETWORK, NULL, name, "exists", NULL);
    }
    if (id == NULL && network_foreign(r, n, key, name, &id, err) < 0)
        return m87_error_wrap(err, "network '%s'", name);
    m87_kvlist_set(r->network_ids, key, id);
    return 0;
}

/* A container with a live endpoint or mount pins what it uses: dockerd refuses to remove a
 * network with active endpoints or a volume in use. What running containers of the project
 * show therefore exists, and a converged project needs no list call to know it. */
static bool pins(const struct compose_ctr *k)
{
    return !k->gone && (strcmp(k->state, "running") == 0 || strcmp(k->state, "paused") == 0);
}

/* The ID of the network named name as running containers show it; NULL when none is on it,
 * or when they disagree. */
static const char *network_pinned(const struct compose_run *r, const char *name)
{
    const char *id = NULL;
    for (size_t i = 0; i < r->obs->n; i++) {
        const struct compose_ctr *k = &r->obs->v[i];
        const char *v = pins(k) ? m87_kvlist_get(&k->networks, name) : NULL;
        if (v == NULL || v[0] == '\0')
            continue;
        if (id && strcmp(id, v) != 0)
            return NULL;
        id = v;
    }
    return id;
}

static bool networks_pinned(struct compose_run *r, const struct m87_strv *keys)
{
    for (size_t i = 0; i < keys->len; i++) {
        _cleanup_free_ char *name = compose_network_name(r->p, keys->items[i]);
        if (network_pinned(r, name) == NULL)
            return false;
    }
    for (size_t i = 0; i < keys->len; i++) {
        _cleanup_free_ char *name = compose_network_name(r->p, keys->items[i]);
        m87_kvlist_set(r->network_ids, keys->items[i], network_pinned(r, name));
        compose_emit(r, COMPOSE_NETWORK, NULL, name, "exists", NULL);
    }
    return true;
}

/* Networks of the project that share a name: a create of a killed run that dockerd finished
 * after the next run had created its own (CheckDuplicate does not close that race). A container
 * names its network, so dockerd refuses to start it ("is ambiguous"). The one running containers
 * use is kept, else the first listed; the others, which nothing runs on, are removed and their
 * names blanked in ours. */
static void drop_duplicates(struct compose_run *r, struct engine_network_info *ours, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ours[i].name[0] == '\0')
            continue;
        const char *pinned = network_pinned(r, ours[i].name);
        size_t keep = i;
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(ours[j].name, ours[i].name) == 0 && pinned &&
                strcmp(ours[j].id, pinned) == 0)
                keep = j;
        for (size_t j = i; j < n; j++) {
            if (j == keep || ours[j].name[0] == '\0' || strcmp(ours[j].name, ours[i].name) != 0)
                continue;
            struct m87_error *local = NULL;
            if (engine_network_remove(r->c, ours[j].id, &local) < 0 &&
                m87_error_code(local) != M87_E_NOTFOUND) {
                compose_warn(r, "network '%s': duplicate '%.12s' not removed: %s", ours[j].name,
                             ours[j].id, local->msg);
                m87_error_clear(&local);
                continue;
            }
            m87_error_clear(&local);
            compose_warn(r, "network '%s': duplicate '%.12s' removed", ours[j].name, ours[j].id);
            ours[j].name[0] = '\0';
        }
    }
}

int compose_networks_dedupe(struct compose_run *r, struct m87_error **err)
{
    struct engine_network_info *ours = NULL;
    size_t n_ours = 0;
    if (engine_network_list(r->c, r->project_filter, &ours, &n_ours, err) < 0)
        return -1;
    drop_duplicates(r, ours, n_ours);
    engine_network_infos_free(ours, n_ours);
    return 0;
}

int compose_networks(struct compose_run *r, struct m87_error **err)
{
    struct m87_strv keys;
    m87_strv_init(&keys);
    for (size_t i = 0; i < r->p->n_services; i++) {
        const char *k[COMPOSE_MAX_NETWORKS];
        size_t nk = compose_service_networks(&r->p->services[i], k, COMPOSE_MAX_NETWORKS);
        for (size_t j = 0; r->selected[i] && j < nk && j < COMPOSE_MAX_NETWORKS; j++)
            if (!strv_has(&keys, k[j]))
                m87_strv_add(&keys, k[j]);
    }
    int rc = 0;
    if (keys.len > 0 && !networks_pinned(r, &keys)) {
        struct engine_network_info *ours = NULL;
        size_t n_ours = 0;
        rc = engine_network_list(r->c, r->project_filter, &ours, &n_ours, err);
        if (rc == 0)
            drop_duplicates(r, ours, n_ours);
        for (size_t i = 0; rc == 0 && i < keys.len; i++)
            rc = ensure_network(r, keys.items[i], ours, n_ours, err);
        engine_network_infos_free(ours, n_ours);
    }
    m87_strv_release(&keys);
    return rc;
}

/* ---- volumes --------------------------------------------------------------------------------- */

static int ensure_volume(struct compose_run *r, const char *key,
                         const struct engine_volume_info *ours, size_t n_ours,
                         struct m87_error **err)
{
    const struct spec_volume *v = spec_project_volume(r->p, key);
    _cleanup_free_ char *name = compose_volume_name(r->p, key);
    if (v && v->external) {
        struct engine_volume_info *info = NULL;
        if (engine_volume_inspect(r->c, name, &info, err) < 0) {
            if (m87_error_code(*err) != M87_E_NOTFOUND)
                return -1;
            m87_error_clear(err);
            return m87_error_set(err, M87_E_NOTFOUND, 0,
                                 "volume '%s' is declared as external, but could not be found",
                                 name);
        }
        engine_volume_info_free(info);
        compose_emit(r, COMPOSE_VOLUME, NULL, name, "exists", NULL);
        return 0;
    }
    for (size_t i = 0; i < n_ours; i++) {
        if (strcmp(ours[i].name, name) == 0) {
            compose_emit(r, COMPOSE_VOLUME, NULL, name, "exists", NULL);
            return 0;
        }
    }
    struct m87_kvlist labels;
    m87_kvlist_init(&labels);
    compose_volume_labels(r->p, v, key, &labels);
    struct engine_volume_config cfg = {
        .name = name,
        .driver = v ? v->driver : NULL,
        .driver_opts = v && v->driver_opts.len ? &v->driver_opts : NULL,
        .labels = &labels,
    };
    struct engine_volume_info *info = NULL;
    int rc = engine_volume_create(r->c, &cfg, &info, err);
    m87_kvlist_release(&labels);
    if (rc < 0)
        return -1;
    /* dockerd hands back an existing volume of that name unchanged */
    const char *owner = m87_kvlist_get(&info->labels, COMPOSE_L_PROJECT);
    if (owner == NULL || strcmp(owner, r->p->name) != 0) {
        compose_warn(r, "volume '%s' already exists but was not created for project '%s'; using it",
                     name, r->p->name);
        compose_emit(r, COMPOSE_VOLUME, NULL, name, "exists", NULL);
    } else {
        compose_emit(r, COMPOSE_VOLUME, NULL, name, "created", NULL);
    }
    engine_volume_info_free(info);
    return 0;
}

static bool volume_pinned(const struct compose_run *r, const char *name)
{
    for (size_t i = 0; i < r->obs->n; i++) {
        const struct compose_ctr *k = &r->obs->v[i];
        for (size_t j = 0; pins(k) && j < k->volumes.len; j++)
            if (strcmp(k->volumes.items[j].value, name) == 0)
                return true;
    }
    return false;
}

static bool volumes_pinned(struct compose_run *r, const struct m87_strv *keys)
{
    for (size_t i = 0; i < keys->len; i++) {
        _cleanup_free_ char *name = compose_volume_name(r->p, keys->items[i]);
        if (!volume_pinned(r, name))
            return false;
    }
    for (size_t i = 0; i < keys->len; i++) {
        _cleanup_free_ char *name = compose_volume_name(r->p, keys->items[i]);
        compose_emit(r, COMPOSE_VOLUME, NULL, name, "exists", NULL);
    }
    return true;
}

int compose_volumes(struct compose_run *r, struct m87_error **err)
{
    struct m87_strv keys;
    m87_strv_init(&keys);
    for (size_t i = 0; i < r->p->n_services; i++) {
        const struct spec_service *s = &r->p->services[i];
        for (size_t j = 0; r->selected[i] && j < s->n_mounts; j++)
            if (s->mounts[j].type == SPEC_MOUNT_VOLUME && !strv_has(&keys, s->mounts[j].source))
                m87_strv_add(&keys, s->mounts[j].source);
    }
    int rc = 0;
    if (keys.len > 0 && !volumes_pinned(r, &keys)) {
        struct engine_volume_info *ours = NULL;
        size_t n_ours = 0;
        rc = engine_volume_list(r->c, r->project_filter, &ours, &n_ours, err);
        for (size_t i = 0; rc == 0 && i < keys.len; i++)
            rc = ensure_volume(r, keys.items[i], ours, n_ours, err);
        engine_volume_infos_free(ours, n_ours);
    }
    m87_strv_release(&keys);
    return rc < 0 ? m87_error_wrap(err, "volumes of project '%s'", r->p->name) : 0;
}
