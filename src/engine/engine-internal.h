/* Private to src/engine: the client struct and the libcurl transport. */
#ifndef M87_ENGINE_INTERNAL_H
#define M87_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "m87/engine-call.h"
#include "m87/engine-containers.h"
#include "m87/engine-creds.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"

struct engine_client {
    const struct engine_transport *ops;
    void *tctx;
    char *socket_path;
    long timeout_ms;
    char *api_version; /* negotiated, NULL until then */
    char *libpod_version; /* Podman's own API version ("4.3.1"), NULL for dockerd */
};

/* engine_do without the negotiated /vVERSION prefix, for paths outside the compat API (Podman's
 * /vLIBPOD/libpod/...). Connects first when the client has not. */
int engine_do_unversioned(struct engine_client *c, const struct engine_call *call, const char *path,
                          struct engine_response *resp, struct m87_error **err);

/* Podman (engine-podman.c): without systemd, Podman runs no health check by itself (it
 * schedules them as systemd timers); run the check of the inspected running container v when one
 * is due (as dockerd spaces them). True when a check ran: v's health is stale then. */
bool engine_podman_health_run(struct engine_client *c, const struct engine_container_info *v);

/* The libcurl transport on a Unix socket. */
void *engine_curl_transport_new(const char *socket_path);
extern const struct engine_transport engine_curl_transport;

/* GET base (which may carry a query already) with filters added as "filters=" when not empty,
 * and check that the answer is of type. -1 with *err wrapped as "list WHAT", or M87_E_PARSE
 * "list WHAT: answer is not an array|object". */
int engine_get_list(struct engine_client *c, const char *base, const struct m87_kvlist *filters,
                    enum m87_json_type type, const char *what, struct m87_json **out,
                    struct m87_error **err);

/* GET path, an object describing the KIND named name. -1 with *err wrapped as
 * "inspect KIND 'NAME'", or M87_E_PARSE "inspect KIND 'NAME': answer is not an object". */
int engine_get_object(struct engine_client *c, const char *path, const char *kind, const char *name,
                      struct m87_json **out, struct m87_error **err);

/* How one member of a typed answer is read from dockerd's JSON (and released). */
enum engine_field_kind {
    ENGINE_FIELD_STR,    /* char *: the string, NULL when absent or not a string */
    ENGINE_FIELD_TEXT,   /* char *: the string, "" when absent */
    ENGINE_FIELD_NAME,   /* char *: a container name (or the first of an array) without its '/' */
    ENGINE_FIELD_BOOL,   /* bool, false when absent */
    ENGINE_FIELD_INT,    /* int, 0 when absent */
    ENGINE_FIELD_INT64,  /* int64_t, 0 when absent */
    ENGINE_FIELD_LABELS, /* struct m87_kvlist of an object of strings */
    ENGINE_FIELD_REFS,   /* struct m87_strv: image references of an array, without "<none>" ones */
    ENGINE_FIELD_KEYS,   /* struct m87_strv of the member names of an object */
};

#define ENGINE_FIELD_DEPTH 3

/* A member at offset, read from the object at path (keys, the unused ones NULL). */
struct engine_field {
    size_t offset;
    enum engine_field_kind kind;
    const char *path[ENGINE_FIELD_DEPTH];
};

/* A row of a table: ENGINE_FIELD(struct engine_volume_info, name, STR, "Name"). */
#define ENGINE_FIELD(type, member, kind, ...)                                                      \
    {                                                                                              \
        offsetof(type, member), ENGINE_FIELD_##kind,                                               \
        {                                                                                          \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }

/* A struct of size bytes whose owned members are all in v. */
struct engine_fields {
    size_t size;
    const struct engine_field *v;
    size_t n;
};

/* Fill every member of t in obj from doc (missing members read as described above). */
void engine_fields_read(const struct engine_fields *t, void *obj, const struct m87_json *doc);
/* Free what the members of t in obj own; obj itself stays. */
void engine_fields_release(const struct engine_fields *t, void *obj);
/* A new zeroed struct filled from doc; the caller frees it with engine_fields_free. */
void *engine_fields_new(const struct engine_fields *t, const struct m87_json *doc);
/* Release and free obj; NULL is a no-op. */
void engine_fields_free(const struct engine_fields *t, void *obj);
/* An array of structs, one per element of arr (*n of them, never NULL); the caller frees it with
 * engine_fields_array_free. */
void *engine_fields_array(const struct engine_fields *t, const struct m87_json *arr, size_t *n);
/* Release n structs of v and free v; NULL is a no-op. */
void engine_fields_array_free(const struct engine_fields *t, void *v, size_t n);

/* Credentials (engine-creds.c): fill out from the auths entry key of c (found stays false for
 * an entry without credentials). The errors of engine_creds_lookup for a bad entry. */
/* Fill out from the m87 server's entry of host (ENGINE_CREDS_SERVER's key): a username
 * "<token>" makes the password an identity token. */
void engine_creds_server_entry(const struct engine_creds *c, const char *host,
                               struct engine_registry_auth *out);
int engine_creds_auths_entry(const struct engine_creds *c, const char *key,
                             struct engine_registry_auth *out, struct m87_error **err);

#endif
