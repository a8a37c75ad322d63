/* What the create of one replica needs besides its body (compose-up.c): the extra networks of a
 * new container, and a name already taken. */
#include <stdio.h>
#include <string.h>

#include "compose/compose-internal.h"
#include "m87/alloc.h"
#include "m87/engine-containers.h"
#include "m87/engine-networks.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"

/* ---- create ---------------------------------------------------------------------------------- */

int compose_connect_extra(struct compose_run *r, const struct spec_service *s,
                          const struct compose_body_opts *bo, const char *id, const char *name,
                          struct m87_error **err)
{
    const char *keys[COMPOSE_MAX_NETWORKS];
    size_t n = compose_service_networks(s, keys, COMPOSE_MAX_NETWORKS);
    for (size_t i = 1; !bo->all_endpoints && i < n && i < COMPOSE_MAX_NETWORKS; i++) {
        const struct spec_service_network *sn = NULL;
        for (size_t j = 0; j < s->n_networks && sn == NULL; j++)
            if (strcmp(s->networks[j].key, keys[i]) == 0)
                sn = &s->networks[j];
        struct m87_strv aliases;
        m87_strv_init(&aliases);
        m87_strv_add(&aliases, name);
        m87_strv_add(&aliases, s->name);
        for (size_t j = 0; sn && j < sn->aliases.len; j++)
            m87_strv_add(&aliases, sn->aliases.items[j]);
        struct engine_endpoint_config ep = {
            .aliases = &aliases,
            .ipv4_address = sn ? sn->ipv4_address : NULL,
            .ipv6_address = sn ? sn->ipv6_address : NULL,
        };
        _cleanup_free_ char *net = compose_network_name(r->p, keys[i]);
        const char *nid = m87_kvlist_get(r->network_ids, keys[i]);
        int rc = engine_network_connect(r->c, nid ? nid : net, id, &ep, err);
        m87_strv_release(&aliases);
        if (rc < 0)
            return m87_error_wrap(err, "connect container '%s' to network '%s'", name, net);
    }
    return 0;
}

/* A name already taken: ours with the right config is adopted, ours otherwise is removed (so
 * the create can be retried), anyone else's is an error. 1: adopted, 0: removed, 2: nothing by
 * that name can be inspected (try again a little later). */
int compose_name_conflict(struct compose_run *r, const struct spec_service *s, int n,
                          const char *name, const char *hash, char **id, struct m87_error **err)
{
    _cleanup_(engine_container_info_freep) struct engine_container_info *info = NULL;
    if (engine_container_inspect(r->c, name, &info, err) < 0) {
        if (m87_error_code(*err) != M87_E_NOTFOUND)
            return -1;
        /* not to be seen: a removal dockerd finished for a run killed after asking, or the
         * create of such a run that dockerd has not finished (the name is taken first) */
        m87_error_clear(err);
        return 2;
    }
    const char *proj = m87_kvlist_get(&info->labels, COMPOSE_L_PROJECT);
    const char *svc = m87_kvlist_get(&info->labels, COMPOSE_L_SERVICE);
    const char *num = m87_kvlist_get(&info->labels, COMPOSE_L_NUMBER);
    const char *h = m87_kvlist_get(&info->labels, COMPOSE_L_HASH);
    if (proj == NULL || strcmp(proj, r->p->name) != 0)
        return m87_error_set(err, M87_E_CONFLICT, 0,
                             "container name '%s' is in use by a container of another project",
                             name);
    char want[16];
    snprintf(want, sizeof(want), "%d", n);
    bool same = svc && strcmp(svc, s->name) == 0 && num && strcmp(num, want) == 0 && h &&
                strcmp(h, hash) == 0 && !info->running;
    const char *keys[COMPOSE_MAX_NETWORKS];
    size_t nk = compose_service_networks(s, keys, COMPOSE_MAX_NETWORKS);
    for (size_t i = 0; same && i < nk && i < COMPOSE_MAX_NETWORKS; i++) {
        _cleanup_free_ char *net = compose_network_name(r->p, keys[i]);
        bool found = false;
        for (size_t j = 0; j < info->networks.len && !found; j++)
            found = strcmp(info->networks.items[j], net) == 0;
        same = found;
    }
    if (same) {
        *id = m87_xstrdup(info->id);
        compose_emit(r, COMPOSE_CONTAINER, s->name, name, "adopted", NULL);
        return 1;
    }
    if (compose_remove_forced(r, info->id, false, err) < 0)
        return -1;
    compose_emit(r, COMPOSE_CONTAINER, s->name, name, "removed", "in the way");
    return 0;
}
