/* Private to the compose executor: a service and a replica as the body of
 * POST /containers/create and as the canonical input of the config hash (compose-create.c,
 * compose-create-host.c), and the references to other containers that both resolve first
 * (compose-up-refs.c). Included by compose-internal.h. */
#ifndef M87_COMPOSE_BODY_H
#define M87_COMPOSE_BODY_H

#include <stdbool.h>

#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"

#define COMPOSE_HASH_HEX 64 /* a config hash as hex, without the NUL */

/* The per-container parts of a create body. */
struct compose_instance {
    int number;
    const char *name;     /* the container's final name (not a temporary one) */
    const char *image_id; /* com.docker.compose.image */
    const char *config_hash;
    const char *replace;                   /* on a recreate: the name of the container replaced */
    const struct m87_kvlist *anon_volumes; /* target -> volume name kept from the old one */
};

struct compose_body_opts {
    const char *network_mode; /* NetworkMode with service:X resolved; NULL: the service's */
    const char *pid_mode;     /* PidMode and IpcMode likewise */
    const char *ipc_mode;
    const struct m87_strv *volumes_from; /* service:X as ID[:MODE], container:N as N[:MODE] */
    const struct m87_strv *links;        /* links as "CONTAINER:ALIAS" for the containers of each
                                            linked service, then external_links; NULL in the hash,
                                            which takes the links as written */
    bool all_endpoints; /* API >= 1.44: every network in EndpointsConfig at create */
};

/* The JSON body of POST /containers/create for one container of s. Caller frees. */
char *compose_create_body(const struct spec_project *p, const struct spec_service *s,
                          const struct compose_body_opts *o, const struct compose_instance *in);

/* The canonical serialisation the hash is taken of: the create body without its per-container
 * parts (name, number, hash, image and replace labels, the name alias, kept anonymous
 * volumes), every map sorted by key, every network listed, followed by the platform, the
 * container_name and the injected configs and secrets with a digest of their content. Caller
 * frees. */
char *compose_hash_input(const struct spec_project *p, const struct spec_service *s,
                         const struct compose_body_opts *o);

/* sha256 hex of COMPOSE_HASH_FORMAT "\n" compose_hash_input(). out holds 65 bytes. */
void compose_config_hash(const struct spec_project *p, const struct spec_service *s,
                         const struct compose_body_opts *o, char out[COMPOSE_HASH_HEX + 1]);

/* What compose_body_opts resolved, which the options point into; release after the create. */
struct compose_refs {
    char *net, *pid, *ipc;
    struct m87_strv volumes_from, links;
};
void compose_refs_release(struct compose_refs *m);

struct compose_run;
struct compose_ctr;
/* The options of s's create body and hash: the API version's endpoints, and its references to
 * other containers resolved from the observed ones (compose-up-refs.c). M87_E_NOTFOUND when a
 * service referred to has no container. */
int compose_body_opts(struct compose_run *r, const struct spec_service *s,
                      struct compose_body_opts *bo, struct compose_refs *m, struct m87_error **err);
/* Whether k is a live container of s (compose-up-refs.c). */
bool compose_ctr_of(const struct compose_ctr *k, const struct spec_service *s);
/* The live container of s numbered n, the lowest-numbered one for n == 0; NULL when none. */
struct compose_ctr *compose_find_ctr(struct compose_run *r, const struct spec_service *s, int n);

/* The kernel members of HostConfig (GroupAdd, Runtime, OomScoreAdj, CpuPeriod, PidMode, ...),
 * and VolumesFrom and Links, each only when set; pid, ipc and volumes_from service:X and links
 * as resolved in o; the hash input (in NULL) has links as written (compose-create-host.c). */
struct m87_jw;
void compose_write_host_kernel(struct m87_jw *w, const struct spec_service *s,
                               const struct compose_body_opts *o,
                               const struct compose_instance *in);

/* Fields that need a newer Engine API than 1.41 (annotations 1.43, healthcheck.start_interval
 * 1.44): M87_E_VERSION "service 'S': FIELD needs Engine API V, and dockerd speaks API" for the
 * first selected service (all when selected is NULL) that has one and api is older. The body
 * itself always carries them when set (compose-create-host.c). */
int compose_check_api(const struct spec_project *p, const bool *selected, const char *api,
                      struct m87_error **err);

/* The post_start and pre_stop hooks of s, for the hash input only (compose-hooks.c). */
void compose_write_hooks(struct m87_jw *w, const struct spec_service *s);

/* The links of o on an endpoint at create, and from API 1.44 the MAC address on the primary
 * one (not in the hash input, which has them in HostConfig and Config). */
void compose_write_endpoint_more(struct m87_jw *w, const struct spec_service *s,
                                 const struct compose_body_opts *o,
                                 const struct compose_instance *in, bool primary);

#endif
