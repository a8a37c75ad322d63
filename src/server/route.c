/* The path matcher of the routing table: pure, so that unit tests pin it. */
#include <stdlib.h>
#include <string.h>

#include "m87/alloc.h"
#include "server/limits.h"
#include "server/route.h"

void srv_params_release(struct srv_params *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i]);
    p->n = 0;
}

bool srv_route_match(const char *pattern, const char *path, struct srv_params *p)
{
    struct srv_params got = {.n = 0};
    const char *pp = pattern, *sp = path;

    while (*pp != '\0') {
        if (strncmp(pp, "{}", 2) == 0) {
            size_t len = strcspn(sp, "/");
            if (len == 0 || len > SRV_MAX_SEGMENT || got.n == SRV_MAX_PARAMS)
                goto no;
            got.v[got.n++] = m87_xstrndup(sp, len);
            pp += 2;
            sp += len;
            continue;
        }
        if (*pp != *sp)
            goto no;
        pp++;
        sp++;
    }
    if (*sp != '\0')
        goto no;
    *p = got;
    return true;
no:
    srv_params_release(&got);
    return false;
}
