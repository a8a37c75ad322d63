/* Private to the compose executor (src/compose/compose-*.c): labels, the create body and the
 * config hash, the observed state of a project, and the run context shared by up, down and
 * the smaller verbs. */
#ifndef M87_COMPOSE_INTERNAL_H
#define M87_COMPOSE_INTERNAL_H

#include <pthread.h>
#include <sys/types.h>

#include "m87/compiler.h"
#include "m87/compose.h"
#include "m87/engine-call.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"

/* ---- labels ---------------------------------------------------------------------------------- */

#define COMPOSE_LABEL_PREFIX "com.docker.compose."
#define COMPOSE_L_PROJECT "com.docker.compose.project"
#define COMPOSE_L_SERVICE "com.docker.compose.service"
#define COMPOSE_L_NUMBER "com.docker.compose.container-number"
#define COMPOSE_L_ONEOFF "com.docker.compose.oneoff"
#define COMPOSE_L_HASH "com.docker.compose.config-hash"
#define COMPOSE_L_VERSION "com.docker.compose.version"
#define COMPOSE_L_WORKING_DIR "com.docker.compose.project.working_dir"
#define COMPOSE_L_CONFIG_FILES "com.docker.compose.project.config_files"
#define COMPOSE_L_ENV_FILE "com.docker.compose.project.environment_file"
#define COMPOSE_L_DEPENDS_ON "com.docker.compose.depends_on"
#define COMPOSE_L_IMAGE "com.docker.compose.image"
#define COMPOSE_L_REPLACE "com.docker.compose.replace"
#define COMPOSE_L_NETWORK "com.docker.compose.network"
#define COMPOSE_L_VOLUME "com.docker.compose.volume"

/* The value of the version label. docker-compose 1.29 treats containers whose version label
 * is below 1.21.0 as made under a legacy project name, so a compose-like version is written
 * rather than m87's own. */
#define COMPOSE_VERSION_VALUE "2.40.3"

/* First line of the config hash's input: bumped whenever the serialisation changes, so that a
 * new m87 recreates everything once rather than comparing hashes of different things. */
#define COMPOSE_HASH_FORMAT "m87-compose-config-hash/2"

#define COMPOSE_SHORT_ID 12

/* ---- names ----------------------------------------------------------------------------------- */

/* container_name, or PROJECT-SERVICE-N. Caller frees. */
char *compose_container_name(const struct spec_project *p, const struct spec_service *s,
                             int number);
/* The real name of a project network / volume key: its name:, else PROJECT_KEY. */
char *compose_network_name(const struct spec_project *p, const char *key);
char *compose_volume_name(const struct spec_project *p, const char *key);

/* The network keys a service joins: its networks (primary first), or "default" when it has
 * neither networks nor network_mode. n is 0 for a network_mode service. Borrowed strings; the
 * callers' arrays hold COMPOSE_MAX_NETWORKS. */
#define COMPOSE_MAX_NETWORKS 64
size_t compose_service_networks(const struct spec_service *s, const char **keys, size_t max);

/* "db:service_healthy:false,cache:service_started:true". Caller frees. */
char *compose_depends_label(const struct spec_service *s);
/* The words of that label for each enum spec_depends_condition, written and read back. */
#define COMPOSE_N_CONDITIONS 3
extern const char *const compose_condition_words[COMPOSE_N_CONDITIONS];

#include "compose/compose-body.h" /* the create body and the hash */

/* The labels of a container, added to out: the user's, then compose's own over them. Without an
 * instance (the hash input), only the user's labels and none under COMPOSE_LABEL_PREFIX. */
void compose_container_labels(const struct spec_project *p, const struct spec_service *s,
                              const struct compose_instance *in, struct m87_kvlist *out);
/* Init f as the Engine filter "label=com.docker.compose.project=PROJECT"; release it after. */
void compose_project_filter(const char *project, struct m87_kvlist *f);
/* Labels of a project network / volume: the user's, then project, key and version. */
void compose_network_labels(const struct spec_project *p, const struct spec_network *n,
                            const char *key, struct m87_kvlist *out);
void compose_volume_labels(const struct spec_project *p, const struct spec_volume *v,
                           const char *key, struct m87_kvlist *out);

/* The top-level config or secret a service refers to, or NULL. */
const struct spec_config *compose_find_config(const struct spec_config *v, size_t n,
                                              const char *key);

struct compose_run;

/* ---- observed state ---------------------------------------------------------------------- */

/* One container of the project as GET /containers/json shows it: everything the plan needs,
 * so that a converged project costs no per-container inspect. */
struct compose_ctr {
    char *id;
    char *name;
    char *service; /* NULL when the label is missing */
    int number;    /* 0 when the label is missing or bad */
    char *hash;
    char *image_label; /* com.docker.compose.image */
    char *image;
    char *state; /* created, running, exited, ... */
    char *status;
    bool oneoff;
    int64_t created;
    struct m87_kvlist labels;
    struct m87_kvlist networks; /* name -> NetworkID ("" before the first start) */
    struct m87_kvlist volumes;  /* target -> volume name, for volume mounts */
    char *ports;                /* "0.0.0.0:8080->80/tcp, 9000/tcp" */
    bool gone;                  /* removed during this run */
};

struct compose_observed {
    struct compose_ctr *v;
    size_t n;
    size_t cap;
};

/* The containers labelled with the project (one-offs included: see ->oneoff). */
int compose_observe(struct engine_client *c, const char *project, struct compose_observed *out,
                    struct m87_error **err);
void compose_observed_release(struct compose_observed *o);

/* Make room for extra more entries up front: entries are referred to by pointer while new ones
 * are added, so the array must not move afterwards. */
void compose_observed_reserve(struct compose_observed *o, size_t extra);
/* Entries of a run are shared by its threads: an entry is added whole, under the run's lock,
 * and from then on only the job of its service and number changes it (state, name, gone).
 * Others may scan it, testing service, oneoff and number (which never change) first. */

/* Move filled (its labels, networks and volumes ignored) into a new entry at the end, within
 * the reserve, and clear filled. */
struct compose_ctr *compose_observed_add(struct compose_run *r, struct compose_ctr *filled);
/* The number of entries, read under the lock (another thread may be adding one). */
size_t compose_observed_len(struct compose_run *r);
void compose_ctr_set_state(struct compose_ctr *k, const char *state);

bool compose_ctr_running(const struct compose_ctr *k);

/* ---- services -------------------------------------------------------------------------------- */

/* Index of the service named name, or -1. */
ssize_t compose_service_index(const struct spec_project *p, const char *name);

/* s depends on name through depends_on or network_mode service:NAME. */
bool compose_depends(const struct spec_service *s, const char *name);

/* Services in dependency order (dependencies first, ties in file order). */
void compose_order(const struct spec_project *p, size_t *order);

/* selected[i] for every service named in opts (all when none), plus, when with_deps, what
 * they depend on. M87_E_INVAL for a name that is no service. */
int compose_select(const struct spec_project *p, const struct compose_options *o, bool with_deps,
                   bool *selected, struct m87_error **err);

/* ---- the run --------------------------------------------------------------------------------- */

/* The state every thread of a run shares; the storage behind compose_run's pointers. */
struct compose_shared;

/* One run of a verb. The pool's workers (compose-pool.c) each get a view of it: the same
 * shared state through the same pointers, and a client of their own in c. */
struct compose_run {
    struct engine_client *c; /* the client of the thread using this view */
    const struct spec_project *p;
    const struct compose_options *o;
    pthread_mutex_t *lock; /* events, and additions to obs, come from several threads */
    struct compose_observed *obs;
    struct m87_kvlist *image_ids;            /* image ref -> ID */
    struct m87_kvlist *network_ids;          /* network key -> ID */
    const struct m87_kvlist *project_filter; /* compose_project_filter of p->name */
    bool *selected;
    size_t *order;
    struct compose_shared *own; /* NULL in a view */
};

/* o NULL: the defaults (the containers' own stop timeouts, nothing else set). */
void compose_run_init(struct compose_run *r, struct engine_client *c, const struct spec_project *p,
                      const struct compose_options *o);
void compose_run_release(struct compose_run *r);

/* A view of r for a thread with client c (borrowed). Nothing to release. */
void compose_run_view(const struct compose_run *r, struct engine_client *c,
                      struct compose_run *out);

void compose_emit(struct compose_run *r, enum compose_event_kind kind, const char *service,
                  const char *object, const char *action, const char *detail);
void compose_warn(struct compose_run *r, const char *fmt, ...) M87_PRINTF(2, 3);

/* ---- the pool ------------------------------------------------------------------------------ */

/* At most this many containers (or services being prepared) are worked on at a time: dockerd
 * serialises much of a create or a start, so more threads buy little and cost memory. */
#define COMPOSE_PARALLEL 4
/* A worker's stack: what workers run (curl, yajl, the executor) needs far less than glibc's
 * default of 8 MiB. Only address space is saved (the resident set is the same), which still
 * matters next to other processes on a small device. */
#define COMPOSE_STACK_SIZE (256 * 1024)

/* Work over the services as a graph: a node's turn comes when every node it waits for is
 * done; its prepare runs once and gives the number of its items (its containers), which then
 * run in parallel with whatever else is ready. Each callback gets a view of the run whose
 * client belongs to the thread calling it. */
struct compose_pool_ops {
    bool (*waits)(void *ctx, size_t node, size_t other); /* node starts after other is done */
    int (*prepare)(struct compose_run *r, void *ctx, size_t node, size_t *n_items,
                   struct m87_error **err);
    int (*item)(struct compose_run *r, void *ctx, size_t node, size_t item, struct m87_error **err);
};

/* Run the active ones of n nodes; order is the order ready nodes are taken in. The first
 * failure ends the run: nothing is taken after it, what is in flight finishes (each item is a
 * whole, crash-safe step), and that failure is returned. Without a Unix socket client (the
 * replay of the unit tests) everything runs in the calling thread. */
int compose_pool_run(struct compose_run *r, size_t n, const size_t *order, const bool *active,
                     const struct compose_pool_ops *ops, void *ctx, struct m87_error **err);

/* After a create: connect the container to the service's networks past the first (API < 1.44
 * takes one endpoint at create); a name already taken (1 adopted, 0 removed, 2 nothing
 * inspectable by that name yet) (compose-up-create.c). */
int compose_connect_extra(struct compose_run *r, const struct spec_service *s,
                          const struct compose_body_opts *bo, const char *id, const char *name,
                          struct m87_error **err);
int compose_name_conflict(struct compose_run *r, const struct spec_service *s, int n,
                          const char *name, const char *hash, char **id, struct m87_error **err);

/* Remove container id (forced, with its anonymous volumes when asked) and return once it is
 * gone: a removal already under way is waited for, a container already gone is no error. */
int compose_remove_forced(struct compose_run *r, const char *id, bool volumes,
                          struct m87_error **err);

/* Stop (the run's timeout; its pre_stop hooks first) and remove a container, reporting both; a
 * container already gone is no error, and one whose removal is already under way is waited for
 * until it is gone. */
int compose_stop_remove(struct compose_run *r, struct compose_ctr *k, bool volumes,
                        struct m87_error **err);

/* Put the service's content and environment configs and secrets into a created container. */
int compose_inject_files(struct compose_run *r, const struct spec_service *s, const char *id,
                         struct m87_error **err);

/* Lifecycle hooks (compose-hooks.c). Run s's post_start hooks in k, just started, in order;
 * their output goes to the events. One that cannot be run, or exits with a non-zero code, is
 * an error naming the hook, its exit code and its last output lines. */
int compose_post_start(struct compose_run *r, const struct spec_service *s,
                       const struct compose_ctr *k, struct m87_error **err);
/* Before k is stopped: when it is running and its service (in r->p) has pre_stop hooks, run
 * them in order. A failure is a warning, and the caller stops the container anyway. */
void compose_pre_stop(struct compose_run *r, const struct compose_ctr *k);

/* Append the last lines of a container's log ("\n  line" each) to *err's message. */
void compose_quote_logs(struct engine_client *c, const char *id, struct m87_error **err);

/* Images: inspect the selected services' images, pull what policy asks for (in parallel),
 * fill r->image_ids. mode is the effective override (POLICY: each service's own). */
int compose_images(struct compose_run *r, enum compose_pull mode, bool for_pull_verb,
                   struct m87_error **err);

/* Networks and volumes the selected services use: found, or created with labels. */
int compose_networks(struct compose_run *r, struct m87_error **err);
/* Remove the project's networks that duplicate another's name, keeping the one running
 * containers use (see compose_networks); for a start that dockerd refused as ambiguous. */
int compose_networks_dedupe(struct compose_run *r, struct m87_error **err);
int compose_volumes(struct compose_run *r, struct m87_error **err);

/* Start phase: wait for the dependency conditions of each selected service, inject files,
 * start what is not running. */
int compose_start_services(struct compose_run *r, struct m87_error **err);

/* Block until the dependency condition holds for every container of service dep. */
int compose_wait_condition(struct compose_run *r, const struct spec_service *dep,
                           enum spec_depends_condition cond, struct m87_error **err);

/* --wait: every container of the selected services running, healthy or completed. */
int compose_wait_all(struct compose_run *r, struct m87_error **err);

#endif
