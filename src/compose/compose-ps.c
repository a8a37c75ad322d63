/* ps: the project's containers from one list call; health and exit code are read from the
 * status text dockerd already wrote ("Up 3 minutes (healthy)", "Exited (3) 2 seconds ago"), so
 * that ps costs no inspect per container (but on Podman, see podman_health). */
#include <stdio.h>
#include <string.h>

#include "compose/compose-internal.h"
#include "m87/alloc.h"
#include "m87/engine-containers.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/spec-project.h"

static char *health_of(const char *status)
{
    if (strstr(status, "(healthy)"))
        return m87_xstrdup("healthy");
    if (strstr(status, "(unhealthy)"))
        return m87_xstrdup("unhealthy");
    if (strstr(status, "(health: starting)"))
        return m87_xstrdup("starting");
    return NULL;
}

static int exit_code_of(const char *status)
{
    const char *open = strncmp(status, "Exited (", 8) == 0 ? status + 8 : NULL;
    return open ? (int)strtol(open, NULL, 10) : 0;
}

static bool wanted(const struct compose_run *r, const struct compose_ctr *k)
{
    if (k->oneoff || k->service == NULL)
        return false;
    if (r->o->n_services == 0)
        return true;
    for (size_t i = 0; i < r->o->n_services; i++)
        if (strcmp(r->o->services[i], k->service) == 0)
            return true;
    return false;
}

static int by_service_number(const void *a, const void *b)
{
    const struct compose_container *x = a, *y = b;
    int c = strcmp(x->service, y->service);
    if (c != 0)
        return c;
    return (x->number > y->number) - (x->number < y->number);
}

/* Podman's list writes no health into Status ("Up 3 minutes", never "(healthy)"): a running
 * container's health is read from its inspect there, and written into the status text as
 * dockerd writes it, so that ps reads the same on both. */
static void podman_health(struct engine_client *c, struct compose_container *d)
{
    if (!engine_client_is_podman(c) || d->health != NULL || strcmp(d->state, "running") != 0)
        return;
    _cleanup_(engine_container_info_freep) struct engine_container_info *info = NULL;
    if (engine_container_inspect(c, d->id, &info, NULL) < 0 || info->health == NULL)
        return;
    d->health = m87_xstrdup(info->health);
    char *status = strcmp(info->health, "starting") == 0
                       ? m87_xasprintf("%s (health: starting)", d->status)
                       : m87_xasprintf("%s (%s)", d->status, info->health);
    free(d->status);
    d->status = status;
}

static void fill(struct compose_container *d, const struct compose_ctr *k)
{
    d->id = m87_xstrdup(k->id);
    d->name = m87_xstrdup(k->name);
    d->service = m87_xstrdup(k->service);
    d->number = k->number;
    d->image = m87_xstrdup(k->image ? k->image : "");
    d->state = m87_xstrdup(k->state);
    d->health = health_of(k->status);
    d->status = m87_xstrdup(k->status);
    d->exit_code = exit_code_of(k->status);
    d->ports = m87_xstrdup(k->ports ? k->ports : "");
}

int compose_ps(struct engine_client *c, const struct spec_project *p,
               const struct compose_options *opts, struct compose_container **out, size_t *n,
               struct m87_error **err)
{
    struct compose_run r;
    compose_run_init(&r, c, p, opts);
    int rc = 0;
    /* a project known only by name has no services to check the names against */
    if (p->n_services > 0)
        rc = compose_select(p, r.o, false, r.selected, err);
    if (rc == 0)
        rc = compose_observe(c, p->name, r.obs, err);
    if (rc == 0) {
        struct compose_container *v = m87_xcalloc(r.obs->n ? r.obs->n : 1, sizeof(*v));
        size_t len = 0;
        for (size_t i = 0; i < r.obs->n; i++)
            if (wanted(&r, &r.obs->v[i])) {
                fill(&v[len], &r.obs->v[i]);
                podman_health(c, &v[len++]);
            }
        qsort(v, len, sizeof(*v), by_service_number);
        *out = v;
        *n = len;
    }
    compose_run_release(&r);
    return rc < 0 ? m87_error_wrap(err, "ps project '%s'", p->name) : 0;
}

void compose_containers_free(struct compose_container *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(v[i].id);
        free(v[i].name);
        free(v[i].service);
        free(v[i].image);
        free(v[i].state);
        free(v[i].health);
        free(v[i].status);
        free(v[i].ports);
    }
    free(v);
}
