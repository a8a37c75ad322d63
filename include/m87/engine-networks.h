/* Networks of the Engine API client (include/m87/engine.h has the contract of every call). */
#ifndef M87_ENGINE_NETWORKS_H
#define M87_ENGINE_NETWORKS_H

#include <stdbool.h>
#include <stddef.h>
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/list.h"

struct engine_ipam_pool {
    const char *subnet;
    const char *ip_range;
    const char *gateway;
};

struct engine_network_config {
    const char *name;                 /* required */
    const char *driver;               /* NULL: "bridge" */
    bool internal;
    bool attachable;
    bool enable_ipv6;
    const struct m87_kvlist *options; /* driver options, may be NULL */
    const struct m87_kvlist *labels;
    const char *ipam_driver;          /* NULL: "default" */
    const struct engine_ipam_pool *pools;
    size_t n_pools;
    const struct m87_kvlist *ipam_options;
};

struct engine_network_info {
    char *id;
    char *name;
    char *driver;
    char *scope;
    bool internal;
    struct m87_kvlist labels;
    struct m87_strv containers;       /* IDs of attached containers (inspect only) */
};

/* POST /networks/create with CheckDuplicate. *id gets the new network's ID. A name in use
 * fails with M87_E_CONFLICT. */
int engine_network_create(struct engine_client *c, const struct engine_network_config *cfg,
                          char **id, struct m87_error **err);
/* GET /networks/{id or exact name}; a name that only matches an ID prefix is M87_E_NOTFOUND. */
int engine_network_inspect(struct engine_client *c, const char *id_or_name,
                           struct engine_network_info **out, struct m87_error **err);
void engine_network_info_free(struct engine_network_info *v);
int engine_network_list(struct engine_client *c, const struct m87_kvlist *filters,
                        struct engine_network_info **out, size_t *n, struct m87_error **err);
void engine_network_infos_free(struct engine_network_info *v, size_t n);

struct engine_endpoint_config {
    const struct m87_strv *aliases;
    const char *ipv4_address;
    const char *ipv6_address;
    const struct m87_strv *links;
    const struct m87_kvlist *driver_opts;
};

/* ep may be NULL. */
int engine_network_connect(struct engine_client *c, const char *network, const char *container,
                           const struct engine_endpoint_config *ep, struct m87_error **err);
int engine_network_disconnect(struct engine_client *c, const char *network,
                              const char *container, bool force, struct m87_error **err);
/* M87_E_HTTP with status 403 while containers are attached. */
int engine_network_remove(struct engine_client *c, const char *id, struct m87_error **err);

#endif
