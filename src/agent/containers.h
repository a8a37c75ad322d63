/* The containers of the applied jobs and the daemon's engine client (agent-containers.c), for
 * log shipping, health reports and image pruning. */
#ifndef M87_AGENT_CONTAINERS_H
#define M87_AGENT_CONTAINERS_H

#include <stddef.h>

#include "m87/engine.h"
#include "m87/error.h"


struct agent_daemon;
struct engine_client;

/* A container of a job the runner applied: found by the compose label of its project's working
 * directory, which is the job's workdir or a directory inside it. */
struct agent_container {
    char *id;
    char *name;
    char *job;
    char *job_hash;
    char *service;
    char *state;    /* created, running, paused, restarting, exited, dead */
    char *status;   /* "Up 3 seconds (healthy)" */
    char *image;    /* the reference it was created from (or the image ID when the tag moved) */
    char *image_id; /* "sha256:..." */
};

/* The containers of every job in the runner's state. */
int agent_containers_list(struct agent_daemon *d, struct agent_container **out, size_t *n,
                          struct m87_error **err);
void agent_containers_free(struct agent_container *v, size_t n);
/* The daemon's engine client, opened on first use. */
struct engine_client *agent_daemon_engine(struct agent_daemon *d, struct m87_error **err);

#endif
