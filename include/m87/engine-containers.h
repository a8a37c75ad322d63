/* Containers of the Engine API client: list, inspect, create, start, stop, kill, remove, rename,
 * wait, and files put into a container (include/m87/engine.h has the contract of every call). */
#ifndef M87_ENGINE_CONTAINERS_H
#define M87_ENGINE_CONTAINERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "m87/buf.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"

/* Filters are name -> value pairs; a name may repeat (label=a=b, label=c). Several values of
 * one name are ANDed by dockerd for labels. */

struct engine_container_summary {
    char *id;
    char *name; /* without the leading '/' */
    char *image;
    char *image_id;
    char *state;  /* created, running, paused, restarting, removing, exited, dead */
    char *status; /* "Up 3 seconds" */
    int64_t created;
    struct m87_kvlist labels;
};

/* GET /containers/json. all: include stopped containers. */
int engine_container_list(struct engine_client *c, bool all, const struct m87_kvlist *filters,
                          struct engine_container_summary **out, size_t *n, struct m87_error **err);
void engine_container_summaries_free(struct engine_container_summary *v, size_t n);

struct engine_container_info {
    char *id;
    char *name;         /* without the leading '/' */
    char *image_id;     /* "sha256:..." the container was made from */
    char *config_image; /* Config.Image as created */
    char *status;       /* State.Status */
    bool running;
    bool restarting;
    bool oom_killed;
    int exit_code;
    int pid;
    char *health; /* State.Health.Status, NULL without a healthcheck */
    char *started_at;
    char *finished_at;
    char *error; /* State.Error, "" when none */
    bool tty;
    int64_t restart_count;
    struct m87_kvlist labels;
    struct m87_strv networks; /* names of the attached networks */
    struct m87_json *raw;     /* the whole answer, for fields not lifted here */
};

int engine_container_inspect(struct engine_client *c, const char *id,
                             struct engine_container_info **out, struct m87_error **err);
void engine_container_info_free(struct engine_container_info *v);
static inline void engine_container_info_freep(struct engine_container_info **v)
{
    engine_container_info_free(*v);
}

/* POST /containers/create?name=NAME[&platform=P] with body_json (Config fields at the top,
 * HostConfig and NetworkingConfig objects). *id gets the new container's ID. A name in use
 * fails with M87_E_CONFLICT, a missing image with M87_E_NOTFOUND. */
int engine_container_create(struct engine_client *c, const char *name, const char *platform,
                            const char *body_json, char **id, struct m87_error **err);
/* The same, adding the answer's Warnings (settings dockerd accepted and then dropped, such as
 * a block IO weight the kernel cannot apply) to warnings, which may be NULL. */
int engine_container_create_warned(struct engine_client *c, const char *name, const char *platform,
                                   const char *body_json, char **id, struct m87_strv *warnings,
                                   struct m87_error **err);

/* Start, stop and kill return 0 on success, 1 when the container already was in that state
 * (HTTP 304), -1 on failure. */
int engine_container_start(struct engine_client *c, const char *id, struct m87_error **err);

/* Stop with a grace period of timeout_s seconds before SIGKILL. timeout_s < 0 uses the
 * container's own StopTimeout (read with an inspect, default 10). The HTTP call is bounded by
 * the grace period plus a margin, never by the ordinary call bound. */
int engine_container_stop(struct engine_client *c, const char *id, int timeout_s,
                          struct m87_error **err);

/* signal: "SIGKILL", "TERM", "9"; NULL means SIGKILL. 1 when the container was not running. */
int engine_container_kill(struct engine_client *c, const char *id, const char *signal,
                          struct m87_error **err);

/* DELETE /containers/{id}. force: kill a running container; volumes: also remove its
 * anonymous volumes. */
int engine_container_remove(struct engine_client *c, const char *id, bool force, bool volumes,
                            struct m87_error **err);

int engine_container_rename(struct engine_client *c, const char *id, const char *new_name,
                            struct m87_error **err);

/* POST /containers/{id}/wait?condition=COND (NULL: "not-running"). Blocks until the condition
 * holds or timeout_ms passes (0: no bound, M87_E_TIMEOUT when it passes). *exit_code gets the
 * status code. */
int engine_container_wait(struct engine_client *c, const char *id, const char *condition,
                          long timeout_ms, int *exit_code, struct m87_error **err);

/* PUT /containers/{id}/archive?path=DIR with a tar archive. The container may be created and
 * not started. M87_E_HTTP with status 403 for a read-only root file system. */
int engine_container_archive_put(struct engine_client *c, const char *id, const char *dir,
                                 const void *tar, size_t len, struct m87_error **err);

/* Build an uncompressed tar holding one regular file (name may contain '/', parents are not
 * listed and dockerd creates them). Uses libarchive (m87_archive_lib: M87_E_IO when it cannot be
 * loaded). out is reset then filled. */
int engine_tar_single_file(const char *name, const void *content, size_t len, unsigned mode,
                           int uid, int gid, struct m87_buf *out, struct m87_error **err);

#endif
