/* Images and the pull stream of the Engine API client (include/m87/engine.h has the contract of
 * every call). */
#ifndef M87_ENGINE_IMAGES_H
#define M87_ENGINE_IMAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/list.h"

struct engine_image_info {
    char *id;                         /* "sha256:..." */
    struct m87_strv repo_tags;
    struct m87_strv repo_digests;
    int64_t size;
    char *created;
    char *os;
    char *architecture;
    struct m87_kvlist labels;
};

int engine_image_inspect(struct engine_client *c, const char *ref, struct engine_image_info **out,
                         struct m87_error **err);
void engine_image_info_free(struct engine_image_info *v);
/* GET /images/json. os, architecture and created are not filled by a list. */
int engine_image_list(struct engine_client *c, const struct m87_kvlist *filters,
                      struct engine_image_info **out, size_t *n, struct m87_error **err);
void engine_image_infos_free(struct engine_image_info *v, size_t n);
/* DELETE /images/{ref}. M87_E_CONFLICT when a container uses it and force is off. */
int engine_image_remove(struct engine_client *c, const char *ref, bool force, bool noprune,
                        struct m87_error **err);

/* Split an image reference into what POST /images/create wants: repo (registry and path,
 * without tag or digest) and tag (the tag, "sha256:..." for a digest, "latest" when none).
 * "host:5000/a/b:1" -> "host:5000/a/b", "1"; "repo:tag@sha256:x" -> "repo", "sha256:x". */
int engine_ref_split(const char *ref, char **repo, char **tag, struct m87_error **err);

struct engine_auth {
    const char *username;
    const char *password;
    const char *server_address;
    const char *identity_token;
};

/* One message of the pull stream. Strings are borrowed for the duration of the callback. */
struct engine_pull_msg {
    const char *id;        /* layer id or tag; NULL for whole-image messages */
    const char *status;    /* "Downloading", "Pull complete", ... */
    int64_t current;       /* progressDetail, -1 when absent */
    int64_t total;
};

/* Return non-zero to abandon the pull (M87_E_CANCELLED). */
typedef int (*engine_pull_fn)(void *ctx, const struct engine_pull_msg *msg);

struct engine_pull_options {
    const struct engine_auth *auth;   /* NULL: anonymous */
    const char *platform;             /* "linux/arm64" or NULL */
    long stall_ms;                    /* no byte from dockerd for this long ends the pull with
                                         M87_E_STALLED; 0: 5 minutes */
};

/* POST /images/create, reading the progress stream to its end. An error object inside the
 * stream is M87_E_PULL with dockerd's message; an answer >= 400 before the stream keeps its
 * HTTP-derived code. opts and fn may be NULL. */
int engine_image_pull(struct engine_client *c, const char *ref,
                      const struct engine_pull_options *opts, engine_pull_fn fn, void *ctx,
                      struct m87_error **err);

#endif
