/* The Docker Engine API client: everything m87 says to dockerd goes through here.
 *
 * One struct engine_client per dockerd. Calls are synchronous and not thread-safe on one
 * client; a callback of a streaming call may make other calls on the same client (each
 * request uses its own connection when one is already busy).
 *
 * Every call returns 0 (or a pointer) on success and -1 (or NULL) with *err filled on
 * failure. Errors carry the HTTP status and dockerd's own message: a 404 has the code
 * M87_E_NOTFOUND, a 409 M87_E_CONFLICT, other answers >= 400 M87_E_HTTP, a socket that is
 * not there M87_E_CONNECT. Strings handed in are borrowed; everything handed out is the
 * caller's, to be freed with the matching _free function.
 *
 * This header: the client and the system calls. One header per call family beside it:
 * engine-containers.h, engine-logs.h, engine-exec.h, engine-networks.h, engine-volumes.h,
 * engine-images.h (and the pull stream), engine-events.h; engine-call.h for raw calls.
 */
#ifndef M87_ENGINE_H
#define M87_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "m87/buf.h"
#include "m87/error.h"
#include "m87/list.h"

/* API versions: we need at least ENGINE_API_MIN and know fields up to ENGINE_API_MAX. The
 * version used is min(ENGINE_API_MAX, what the daemon speaks). */
#define ENGINE_API_MIN "1.41"
#define ENGINE_API_MAX "1.45"
#define ENGINE_DEFAULT_HOST "unix:///var/run/docker.sock"

/* Caps on what dockerd may send us into memory. Streams are not buffered whole. */
#define ENGINE_MAX_RESPONSE (64u * 1024 * 1024)
#define ENGINE_MAX_STREAM_LINE (1024u * 1024)

/* ---- client ------------------------------------------------------------------------------- */

struct engine_client;

/* A transport takes one request and fills a response. The libcurl transport over the Unix
 * socket is the default; unit tests hand in a replay of recorded exchanges. */
struct engine_request {
    const char *method;
    const char *path;         /* full path with query, e.g. "/v1.41/containers/json?all=1" */
    const char *body;         /* NULL for none */
    size_t body_len;
    const char *content_type; /* NULL: application/json when there is a body */
    const struct m87_kvlist *headers; /* extra headers, may be NULL */
    long timeout_ms;          /* whole-request bound; 0: none (streams) */
    long stall_ms;            /* fail with M87_E_STALLED after this long without a byte; 0: none */
    size_t max_body;          /* cap on a buffered body */
    /* When set, the body of a 2xx answer is handed here in chunks instead of being buffered;
     * a non-zero return stops the request with M87_E_CANCELLED (or the value's meaning). */
    int (*on_data)(void *ctx, const char *data, size_t len);
    void *ctx;
};

struct engine_response {
    long status;
    struct m87_buf body;      /* error bodies and non-streamed bodies */
    char *api_version;        /* the API-Version header, when present */
    char *libpod_version;     /* Podman's Libpod-Api-Version header, when present */
};

struct engine_transport {
    int (*request)(void *tctx, const struct engine_request *req, struct engine_response *resp,
                   struct m87_error **err);
    void (*free)(void *tctx);
};

struct engine_client_options {
    const char *host;      /* "unix:///path"; NULL: $DOCKER_HOST, else ENGINE_DEFAULT_HOST */
    long timeout_ms;       /* bound of an ordinary call; 0: 60 s */
};

/* Create a client for a Unix socket. Nothing is sent until the first call; negotiation
 * (GET /_ping) happens on first use or in engine_client_connect. NULL with M87_E_INVAL for a
 * host that is not unix://. */
struct engine_client *engine_client_new(const struct engine_client_options *opts,
                                        struct m87_error **err);

/* Create a client over another transport; tctx is owned by the client (freed by ops->free). */
struct engine_client *engine_client_new_with_transport(const struct engine_transport *ops,
                                                       void *tctx, long timeout_ms);

void engine_client_free(struct engine_client *c);
static inline void engine_client_freep(struct engine_client **c)
{
    engine_client_free(*c);
}

/* Ping and negotiate the API version now. M87_E_VERSION when the daemon is older than
 * ENGINE_API_MIN, M87_E_CONNECT when the socket does not answer. */
int engine_client_connect(struct engine_client *c, struct m87_error **err);

/* The negotiated version ("1.41"), NULL before a successful connect. */
const char *engine_client_api_version(const struct engine_client *c);

/* Whether the negotiated daemon is Podman's Docker-compatible service (its ping carries a
 * Libpod-Api-Version header); false before a successful connect. */
bool engine_client_is_podman(const struct engine_client *c);

/* The socket path of a unix client ("" for other transports). */
const char *engine_client_socket(const struct engine_client *c);

/* The bound of an ordinary call, in milliseconds. */
long engine_client_timeout_ms(const struct engine_client *c);

/* A new client on the same Unix socket with the same bound and negotiated version, for another
 * thread (a client is not thread-safe). NULL for other transports. */
struct engine_client *engine_client_clone(const struct engine_client *c);

/* Compare dotted versions numerically: <0, 0, >0. */
int engine_version_cmp(const char *a, const char *b);

/* ---- system ------------------------------------------------------------------------------- */

struct engine_version_info {
    char *version;         /* "20.10.24" */
    char *api_version;     /* "1.41" */
    char *min_api_version; /* "1.12" */
    char *os;
    char *arch;
    char *kernel_version;
};

struct engine_system_info {
    char *name;
    char *server_version;
    char *docker_root_dir;
    char *driver;
    int64_t ncpu;
    int64_t mem_total;
    int64_t containers;
    int64_t containers_running;
    int64_t images;
};

/* GET /_ping (unversioned). *api_version (optional) gets the daemon's API-Version header. */
int engine_system_ping(struct engine_client *c, char **api_version, struct m87_error **err);
int engine_system_version(struct engine_client *c, struct engine_version_info **out,
                          struct m87_error **err);
void engine_version_info_free(struct engine_version_info *v);
int engine_system_info(struct engine_client *c, struct engine_system_info **out,
                       struct m87_error **err);
void engine_system_info_free(struct engine_system_info *v);

/* Free bytes for an unprivileged user on the file system holding path, or dockerd's data root
 * (from /info) when path is NULL. The agent runs beside dockerd, so statvfs sees the same
 * file system. */
int engine_disk_free(struct engine_client *c, const char *path, uint64_t *bytes,
                     struct m87_error **err);

#endif
