/* m87-server private: the pure path matcher of the routing table (route.c), unit-tested. */
#ifndef M87_SERVER_ROUTE_H
#define M87_SERVER_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "server/limits.h"

struct srv_params {
    char *v[SRV_MAX_PARAMS];
    size_t n;
};

/* Match path against pattern, where "{}" stands for exactly one non-empty segment. On a match
 * the segments are copied into p (release with srv_params_release) and true is returned. */
bool srv_route_match(const char *pattern, const char *path, struct srv_params *p);
void srv_params_release(struct srv_params *p);

#endif
