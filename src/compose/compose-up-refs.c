/* The references of a service to other containers, resolved before each create and hash
 * (compose-up.c): network_mode, pid and ipc service:X and volumes_from X become X's first
 * container's ID, links the names of the linked service's containers. Also the lookups of the
 * observed containers by service and number that both need. */
#include <string.h>

#include "compose/compose-internal.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"

/* ---- lookups --------------------------------------------------------------------------------- */

/* Entries are looked at by the jobs of other services and replicas while their owners change
 * them: the fields that never change (service, oneoff, number) are tested before any other. */
bool compose_ctr_of(const struct compose_ctr *k, const struct spec_service *s)
{
    return !k->oneoff && k->service && strcmp(k->service, s->name) == 0 && !k->gone;
}

/* The live container of service s with number n (the lowest-numbered one for n == 0). */
struct compose_ctr *compose_find_ctr(struct compose_run *r, const struct spec_service *s, int n)
{
    struct compose_ctr *best = NULL;
    size_t len = compose_observed_len(r);
    for (size_t i = 0; i < len; i++) {
        struct compose_ctr *k = &r->obs->v[i];
        if (k->number <= 0 || (n > 0 && k->number != n) || !compose_ctr_of(k, s))
            continue;
        if (best == NULL || k->number < best->number)
            best = k;
    }
    return best;
}

/* ---- references ------------------------------------------------------------------------------ */

void compose_refs_release(struct compose_refs *m)
{
    free(m->net);
    free(m->pid);
    free(m->ipc);
    m87_strv_release(&m->volumes_from);
    m87_strv_release(&m->links);
}

static const struct compose_ctr *first_ctr(struct compose_run *r, const struct spec_service *s,
                                           const char *field, const char *svc,
                                           struct m87_error **err)
{
    ssize_t t = compose_service_index(r->p, svc);
    const struct compose_ctr *k = t >= 0 ? compose_find_ctr(r, &r->p->services[t], 0) : NULL;
    if (k == NULL)
        m87_error_set(err, M87_E_NOTFOUND, 0, "service '%s': %s: no container of service '%s'",
                      s->name, field, svc);
    return k;
}

/* service:NAME becomes container:ID of NAME's first container, which converged before us. */
static int resolve_mode(struct compose_run *r, const struct spec_service *s, const char *field,
                        const char *mode, char **out, struct m87_error **err)
{
    if (mode == NULL || strncmp(mode, "service:", 8) != 0)
        return 0;
    const struct compose_ctr *k = first_ctr(r, s, field, mode + 8, err);
    if (k == NULL)
        return -1;
    *out = m87_xasprintf("container:%s", k->id);
    return 0;
}

/* volumes_from: service:X[:MODE] as X's first container's ID[:MODE], container:N[:MODE] as
 * N[:MODE]. */
static int resolve_volumes_from(struct compose_run *r, const struct spec_service *s,
                                struct m87_strv *out, struct m87_error **err)
{
    for (size_t i = 0; i < s->volumes_from.len; i++) {
        const char *v = s->volumes_from.items[i];
        const char *name = strchr(v, ':') + 1;
        size_t len = strcspn(name, ":");
        if (strncmp(v, "container:", 10) == 0) {
            m87_strv_add(out, name);
            continue;
        }
        _cleanup_free_ char *svc = m87_xstrndup(name, len);
        const struct compose_ctr *k = first_ctr(r, s, "volumes_from", svc, err);
        if (k == NULL)
            return -1;
        _cleanup_free_ char *e = m87_xasprintf("%s%s", k->id, name + len);
        m87_strv_add(out, e);
    }
    return 0;
}

static void add_unique(struct m87_strv *v, const char *s)
{
    for (size_t i = 0; i < v->len; i++)
        if (strcmp(v->items[i], s) == 0)
            return;
    m87_strv_add(v, s);
}

/* links SERVICE[:ALIAS]: every container C of SERVICE as C:ALIAS and C:SERVICE-N, as compose v2
 * (which names the number of the linking container; the linked one's is meant); then
 * external_links CONTAINER[:ALIAS] as CONTAINER:ALIAS. */
static void resolve_links(struct compose_run *r, const struct spec_service *s, struct m87_strv *out)
{
    size_t len = compose_observed_len(r);
    for (size_t i = 0; i < s->links.len; i++) {
        const char *l = s->links.items[i];
        _cleanup_free_ char *svc = m87_xstrndup(l, strcspn(l, ":"));
        const char *alias = l[strlen(svc)] == ':' ? l + strlen(svc) + 1 : svc;
        ssize_t t = compose_service_index(r->p, svc);
        for (size_t j = 0; t >= 0 && j < len; j++) {
            const struct compose_ctr *k = &r->obs->v[j];
            if (k->number <= 0 || !compose_ctr_of(k, &r->p->services[t]))
                continue;
            _cleanup_free_ char *a = m87_xasprintf("%s:%s", k->name, alias);
            _cleanup_free_ char *b = m87_xasprintf("%s:%s-%d", k->name, svc, k->number);
            add_unique(out, a);
            add_unique(out, b);
        }
    }
    for (size_t i = 0; i < s->external_links.len; i++) {
        const char *l = s->external_links.items[i];
        _cleanup_free_ char *e = strchr(l, ':') ? m87_xstrdup(l) : m87_xasprintf("%s:%s", l, l);
        add_unique(out, e);
    }
}

int compose_body_opts(struct compose_run *r, const struct spec_service *s,
                      struct compose_body_opts *bo, struct compose_refs *m, struct m87_error **err)
{
    const char *api = engine_client_api_version(r->c);
    *bo = (struct compose_body_opts){0};
    bo->all_endpoints = api && engine_version_cmp(api, "1.44") >= 0;
    if (resolve_mode(r, s, "network_mode", s->network_mode, &m->net, err) < 0 ||
        resolve_mode(r, s, "pid", s->pid, &m->pid, err) < 0 ||
        resolve_mode(r, s, "ipc", s->ipc, &m->ipc, err) < 0 ||
        resolve_volumes_from(r, s, &m->volumes_from, err) < 0)
        return -1;
    resolve_links(r, s, &m->links);
    bo->network_mode = m->net;
    bo->pid_mode = m->pid;
    bo->ipc_mode = m->ipc;
    bo->volumes_from = s->volumes_from.len ? &m->volumes_from : NULL;
    bo->links = s->links.len + s->external_links.len ? &m->links : NULL;
    return 0;
}
