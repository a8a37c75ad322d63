/* The compose model's small accessors: a service, network or volume by its key, and the order
 * in which services start (each after what it depends on). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"

const struct spec_service *spec_project_service(const struct spec_project *p, const char *name)
{
    for (size_t i = 0; i < p->n_services; i++)
        if (strcmp(p->services[i].name, name) == 0)
            return &p->services[i];
    return NULL;
}

const struct spec_network *spec_project_network(const struct spec_project *p, const char *key)
{
    for (size_t i = 0; i < p->n_networks; i++)
        if (strcmp(p->networks[i].key, key) == 0)
            return &p->networks[i];
    return NULL;
}

const struct spec_volume *spec_project_volume(const struct spec_project *p, const char *key)
{
    for (size_t i = 0; i < p->n_volumes; i++)
        if (strcmp(p->volumes[i].key, key) == 0)
            return &p->volumes[i];
    return NULL;
}

static bool ready(const struct spec_project *p, const struct spec_service *s, const bool *placed)
{
    for (size_t j = 0; j < s->n_depends; j++) {
        const struct spec_service *d = spec_project_service(p, s->depends[j].service);
        if (d && !placed[d - p->services])
            return false;
    }
    return true;
}

void spec_project_order(const struct spec_project *p, size_t *order)
{
    bool *placed = m87_xcalloc(p->n_services + 1, sizeof(*placed));
    size_t n = 0;
    while (n < p->n_services) {
        size_t pick = p->n_services;
        for (size_t i = 0; i < p->n_services && pick == p->n_services; i++)
            if (!placed[i] && ready(p, &p->services[i], placed))
                pick = i;
        /* a cycle cannot pass the loader; take the first left rather than loop */
        for (size_t i = 0; pick == p->n_services && i < p->n_services; i++)
            if (!placed[i])
                pick = i;
        placed[pick] = true;
        order[n++] = pick;
    }
    free(placed);
}
