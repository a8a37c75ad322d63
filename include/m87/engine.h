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
 */
#ifndef M87_ENGINE_H
#define M87_ENGINE_H

#include "m87/alloc.h"
#include "m87/base64.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/lines.h"
#include "m87/list.h"
#include "m87/log.h"

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

/* ---- containers ----------------------------------------------------------------------------- */

/* Filters are name -> value pairs; a name may repeat (label=a=b, label=c). Several values of
 * one name are ANDed by dockerd for labels. */

struct engine_container_summary {
    char *id;
    char *name;            /* without the leading '/' */
    char *image;
    char *image_id;
    char *state;           /* created, running, paused, restarting, removing, exited, dead */
    char *status;          /* "Up 3 seconds" */
    int64_t created;
    struct m87_kvlist labels;
};

/* GET /containers/json. all: include stopped containers. */
int engine_container_list(struct engine_client *c, bool all, const struct m87_kvlist *filters,
                          struct engine_container_summary **out, size_t *n,
                          struct m87_error **err);
void engine_container_summaries_free(struct engine_container_summary *v, size_t n);

struct engine_container_info {
    char *id;
    char *name;            /* without the leading '/' */
    char *image_id;        /* "sha256:..." the container was made from */
    char *config_image;    /* Config.Image as created */
    char *status;          /* State.Status */
    bool running;
    bool restarting;
    bool oom_killed;
    int exit_code;
    int pid;
    char *health;          /* State.Health.Status, NULL without a healthcheck */
    char *started_at;
    char *finished_at;
    char *error;           /* State.Error, "" when none */
    bool tty;
    int64_t restart_count;
    struct m87_kvlist labels;
    struct m87_strv networks;   /* names of the attached networks */
    struct m87_json *raw;       /* the whole answer, for fields not lifted here */
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

/* ---- logs --------------------------------------------------------------------------------- */

enum engine_stream {
    ENGINE_STREAM_STDIN = 0,
    ENGINE_STREAM_STDOUT = 1,
    ENGINE_STREAM_STDERR = 2,
    ENGINE_STREAM_SYSTEM = 3, /* dockerd's own error message inside the stream */
};

/* Output of logs, exec and attach: bytes of one stream. In line mode, one call per complete
 * line without its newline (a last line without one is delivered at the end). Return
 * non-zero to stop the stream (the call then fails with M87_E_CANCELLED). */
typedef int (*engine_output_fn)(void *ctx, enum engine_stream stream, const char *data,
                                size_t len);

struct engine_logs_options {
    bool follow;
    bool no_stdout;        /* both streams are read unless turned off */
    bool no_stderr;
    bool timestamps;       /* each line starts with an RFC 3339 timestamp and a space */
    const char *since;     /* unix seconds with optional fraction, or NULL */
    const char *until;
    const char *tail;      /* "all" or a number; NULL: all */
    bool lines;            /* deliver whole lines instead of chunks */
};

/* GET /containers/{id}/logs. The container's Config.Tty (read with an inspect) decides the
 * framing: raw bytes (all reported as stdout) for a TTY, the 8-byte multiplexed frames
 * otherwise, reassembled across chunk boundaries. No time bound when following. */
int engine_container_logs(struct engine_client *c, const char *id,
                          const struct engine_logs_options *opts, engine_output_fn fn, void *ctx,
                          struct m87_error **err);

/* The demultiplexer on its own, for any stream framed like logs (exec, attach). */
struct engine_demux;
struct engine_demux *engine_demux_new(bool tty, bool lines, engine_output_fn fn, void *ctx);
/* Feed bytes in any chunking. 0, -1 with *err (a bad header, a line past the cap), or
 * M87_E_CANCELLED when the callback asked to stop. */
int engine_demux_feed(struct engine_demux *d, const char *data, size_t len,
                      struct m87_error **err);
/* End of stream: deliver pending partial lines; an incomplete frame is an error. */
int engine_demux_finish(struct engine_demux *d, struct m87_error **err);
void engine_demux_free(struct engine_demux *d);

/* ---- exec ----------------------------------------------------------------------------------- */

struct engine_exec_config {
    const struct m87_strv *argv;   /* required */
    const struct m87_strv *env;    /* "K=V", may be NULL */
    const char *user;
    const char *working_dir;
    bool tty;
};

int engine_exec_create(struct engine_client *c, const char *container_id,
                       const struct engine_exec_config *cfg, char **exec_id,
                       struct m87_error **err);
/* Start attached and read its output to the end. fn may be NULL to discard output. */
int engine_exec_start(struct engine_client *c, const char *exec_id, bool tty, engine_output_fn fn,
                      void *ctx, struct m87_error **err);

struct engine_exec_info {
    bool running;
    int exit_code;
    int pid;
};

int engine_exec_inspect(struct engine_client *c, const char *exec_id, struct engine_exec_info *out,
                        struct m87_error **err);

/* Create, start, wait: run argv in a container, collect stdout and stderr (each capped at
 * max_output bytes, extra output is an M87_E_TOOBIG error) and the exit code. out_stdout and
 * out_stderr may be NULL. */
int engine_exec_run(struct engine_client *c, const char *container_id,
                    const struct engine_exec_config *cfg, size_t max_output,
                    struct m87_buf *out_stdout, struct m87_buf *out_stderr, int *exit_code,
                    struct m87_error **err);

/* ---- networks ----------------------------------------------------------------------------- */

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

/* ---- volumes ------------------------------------------------------------------------------- */

struct engine_volume_config {
    const char *name;                 /* required */
    const char *driver;               /* NULL: "local" */
    const struct m87_kvlist *driver_opts;
    const struct m87_kvlist *labels;
};

struct engine_volume_info {
    char *name;
    char *driver;
    char *mountpoint;
    char *scope;
    struct m87_kvlist labels;
    struct m87_kvlist options;
};

/* POST /volumes/create. Idempotent in dockerd: an existing volume of that name and driver is
 * returned unchanged. out may be NULL. */
int engine_volume_create(struct engine_client *c, const struct engine_volume_config *cfg,
                         struct engine_volume_info **out, struct m87_error **err);
int engine_volume_inspect(struct engine_client *c, const char *name,
                          struct engine_volume_info **out, struct m87_error **err);
void engine_volume_info_free(struct engine_volume_info *v);
int engine_volume_list(struct engine_client *c, const struct m87_kvlist *filters,
                       struct engine_volume_info **out, size_t *n, struct m87_error **err);
void engine_volume_infos_free(struct engine_volume_info *v, size_t n);
/* M87_E_CONFLICT while in use. */
int engine_volume_remove(struct engine_client *c, const char *name, bool force,
                         struct m87_error **err);

/* ---- images ------------------------------------------------------------------------------- */

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

/* ---- events --------------------------------------------------------------------------------- */

struct engine_event {
    const char *type;      /* container, network, volume, image, ... */
    const char *action;    /* start, die, health_status: healthy, ... */
    const char *actor_id;
    const struct m87_kvlist *attributes; /* labels and name, image, exitCode, ... */
    int64_t time;          /* unix seconds */
    int64_t time_nano;
};

/* Return non-zero to end the stream (the call then returns 0: stopping is not a failure). */
typedef int (*engine_event_fn)(void *ctx, const struct engine_event *ev);

struct engine_events_options {
    const char *since;     /* unix seconds, NULL: now */
    const char *until;     /* NULL: endless */
    const struct m87_kvlist *filters;
};

/* GET /events, one callback per event, no time bound. */
int engine_events(struct engine_client *c, const struct engine_events_options *opts,
                  engine_event_fn fn, void *ctx, struct m87_error **err);

#endif
