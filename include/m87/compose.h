/* The compose executor: applies a loaded Compose project (include/m87/spec-project.h) through the
 * Engine API client (include/m87/engine.h), with the observable behaviour of Docker Compose v2:
 * containers PROJECT-SERVICE-N (or container_name), network PROJECT_default, volumes
 * PROJECT_KEY, every com.docker.compose.* label, so that docker compose and docker-compose list
 * and remove what m87 made.
 *
 * What happens is reported through an event callback, one event per observable step, so that
 * a terminal front end, a plain log and the agent's report queue can each render it.
 *
 * Every call returns 0 on success and -1 with *err filled on failure; p and opts are borrowed.
 */
#ifndef M87_COMPOSE_H
#define M87_COMPOSE_H

#include "m87/engine-creds.h"
#include "m87/engine-images.h"
#include "m87/engine-logs.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/spec-project.h"

struct spec_project;

enum compose_event_kind {
    COMPOSE_PULL,      /* pull progress of an image: pull is set */
    COMPOSE_PULLED,    /* an image is present: object = image ref */
    COMPOSE_NETWORK,   /* object = network name, action = created / removed / exists */
    COMPOSE_VOLUME,    /* object = volume name, action = created / removed / exists */
    COMPOSE_CONTAINER, /* object = container name, action = created, recreated,
                                 started, running (unchanged), stopped, removed, waiting,
                                 healthy, exited */
    COMPOSE_WARNING,   /* detail = the text */
    COMPOSE_HOOK,      /* a line of a lifecycle hook's output: object = container name,
                          action = "post_start" / "pre_stop", detail = the line */
};

struct compose_event {
    enum compose_event_kind kind;
    const char *service; /* NULL when not about one service */
    const char *object;
    const char *action;
    const char *detail;                 /* extra text, may be NULL */
    const struct engine_pull_msg *pull; /* COMPOSE_PULL only */
};

/* Called from the executor's worker threads as well as the calling one (pulls and containers
 * are worked on in parallel), but never concurrently: one call at a time, under the run's
 * lock, so ctx needs no lock of its own. ev and its strings are valid during the call only.
 * The lock is held for the call: a slow callback holds up every worker. */
typedef void (*compose_event_fn)(void *ctx, const struct compose_event *ev);

enum compose_pull {
    COMPOSE_PULL_POLICY = 0, /* each service's pull_policy (default: missing) */
    COMPOSE_PULL_ALWAYS,
    COMPOSE_PULL_MISSING,
    COMPOSE_PULL_NEVER,
};

struct compose_options {
    const char *const *services; /* limit to these services (and their dependencies for up);
                                    NULL: all */
    size_t n_services;
    bool remove_orphans;
    bool force_recreate;
    bool wait;            /* up: wait until running, healthy where there is a
                             healthcheck, or completed for completion dependencies */
    long wait_timeout_ms; /* 0: no bound */
    enum compose_pull pull;
    int timeout_s;                    /* stop grace period for down/stop/restart/recreate; -1: each
                                         container's own */
    bool volumes;                     /* down -v: remove named and anonymous volumes */
    long pull_stall_ms;               /* 0: the pull default */
    const struct engine_creds *creds; /* registry credentials of the pulls (engine-creds.h), looked
                                         up before they start; NULL: anonymous pulls */
    compose_event_fn on_event;
    void *ctx;
};

/* up -d: pull what is needed (before anything is stopped), create networks and volumes, create
 * or recreate the containers whose config hash changed, remove orphans when asked, start in
 * dependency order waiting for the conditions. Success only when every container of the
 * selected services runs (or completed, for a one-shot dependency). A failure names the
 * container and quotes its last log lines. */
int compose_up(struct engine_client *c, const struct spec_project *p,
               const struct compose_options *opts, struct m87_error **err);

/* down: stop and remove the project's containers in reverse dependency order (orphans too when
 * asked), then its networks, and its volumes with opts->volumes. Works from labels alone when
 * p has no services (a project known only by name). */
int compose_down(struct engine_client *c, const struct spec_project *p,
                 const struct compose_options *opts, struct m87_error **err);

/* pull: the images of the selected services, honouring opts->pull (ALWAYS by default). */
int compose_pull(struct engine_client *c, const struct spec_project *p,
                 const struct compose_options *opts, struct m87_error **err);

int compose_stop(struct engine_client *c, const struct spec_project *p,
                 const struct compose_options *opts, struct m87_error **err);
int compose_start(struct engine_client *c, const struct spec_project *p,
                  const struct compose_options *opts, struct m87_error **err);
int compose_restart(struct engine_client *c, const struct spec_project *p,
                    const struct compose_options *opts, struct m87_error **err);

struct compose_container {
    char *id;
    char *name;
    char *service;
    int number;
    char *image;
    char *state;  /* running, exited, ... */
    char *health; /* NULL without a healthcheck */
    char *status; /* "Up 3 seconds" */
    int exit_code;
    char *ports; /* "0.0.0.0:8080->80/tcp, ..." */
};

/* ps: the project's containers (all states), ordered by service and number. */
int compose_ps(struct engine_client *c, const struct spec_project *p,
               const struct compose_options *opts, struct compose_container **out, size_t *n,
               struct m87_error **err);
void compose_containers_free(struct compose_container *v, size_t n);

/* logs: lines of the selected services' containers, each handed to fn with the container's
 * name; follow streams until fn returns non-zero or every container stops. */
typedef int (*compose_log_fn)(void *ctx, const char *container, enum engine_stream stream,
                              const char *line, size_t len);

struct compose_logs_options {
    bool follow;
    bool timestamps;
    const char *tail; /* NULL: all */
};

int compose_logs(struct engine_client *c, const struct spec_project *p,
                 const struct compose_options *opts, const struct compose_logs_options *lopts,
                 compose_log_fn fn, void *ctx, struct m87_error **err);

#endif
