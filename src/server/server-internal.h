/* m87-server private declarations: nothing outside src/server includes this.
 *
 * Layout: http.c (libmicrohttpd glue, body collection, replies), route.c (the pure path
 * matcher), routes.c (the table), auth.c, api-*.c (one file per resource), longpoll.c (held
 * syncs), metrics.c, store*.c (SQLite), revision.c (run spec merging and revision hashes),
 * serve.c (daemon life cycle), init.c (the data directory). */
#ifndef M87_SERVER_INTERNAL_H
#define M87_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "m87/base64.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/log.h"
#include "m87/spec-runspec.h"
#include "m87/spec-window.h"
#include "m87/units.h"
#include "m87/version.h"

struct MHD_Connection;
struct MHD_Daemon;
struct MHD_Response;

/* ---- limits ------------------------------------------------------------------------------- */

#define SRV_MAX_JSON_BODY (64u * 1024)
#define SRV_MAX_SPEC_BODY SPEC_RUNSPEC_MAX_FILE
#define SRV_MAX_SYNC_BODY (4u * 1024 * 1024)
#define SRV_MAX_BUNDLE ((uint64_t)256 * 1024 * 1024)
#define SRV_MAX_REPORTS 500u
#define SRV_MAX_REPORT (64u * 1024)
#define SRV_MAX_WAIT 300
#define SRV_DEFAULT_WAIT 60
#define SRV_ONLINE_GRACE 30   /* seconds past the longest wait that still count as online */
#define SRV_JSON_MAX_DEPTH 32 /* nesting of request JSON: yajl frees trees recursively */
#define SRV_MAX_PARAMS 3      /* path parameters of a route */
#define SRV_MAX_SEGMENT 256   /* bytes of one path segment */
#define SRV_REPORTS_DEFAULT_LIMIT 100
#define SRV_REPORTS_MAX_LIMIT 1000
#define SRV_MAX_AGENT_VERSION 64
#define SRV_MAX_WINDOWS 32    /* maintenance windows per device */
#define SRV_MAX_PREFETCH 64   /* images a device is asked to prefetch */
#define SRV_MAX_IMAGE_REF 512 /* bytes of an image reference to prefetch */
#define SRV_DB_FILE "m87.db"
#define SRV_BUNDLE_DIR "bundles"

/* ---- pure helpers (util.c, route.c): unit-tested -------------------------------------------- */

/* [a-z0-9][a-z0-9_.-]{0,62} */
bool srv_valid_device_name(const char *s);
/* "d-" + 8 lower-case hex digits */
bool srv_valid_deployment_id(const char *s);
/* 64 lower-case hex digits */
bool srv_valid_hex64(const char *s);
/* RFC 3339 UTC with seconds; t == 0 gives "" (callers write null instead). */
void srv_time_format(int64_t t, char out[32]);
int64_t srv_now(void);
/* Parse a decimal integer in [min, max] taking the whole string; -1 when it is not one. */
int srv_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);
/* Range header against a resource of size bytes: 0 = serve the whole body (no header, or one
 * that is ignored), 1 = bytes [*first, *last], -1 = unsatisfiable (416). */
int srv_parse_range(const char *header, uint64_t size, uint64_t *first, uint64_t *last);

struct srv_params {
    char *v[SRV_MAX_PARAMS];
    size_t n;
};

/* Match path against pattern, where "{}" stands for exactly one non-empty segment. On a match
 * the segments are copied into p (release with srv_params_release) and true is returned. */
bool srv_route_match(const char *pattern, const char *path, struct srv_params *p);
void srv_params_release(struct srv_params *p);

/* ---- tokens (auth.c) ------------------------------------------------------------------------- */

enum srv_role {
    SRV_ROLE_NONE = 0,
    SRV_ROLE_ADMIN,
    SRV_ROLE_DEVICE,
};

#define SRV_TOKEN_ADMIN_PREFIX "m87a_"
#define SRV_TOKEN_DEVICE_PREFIX "m87d_"

/* A new random token for role and its hex SHA-256. *token is the caller's. */
int srv_token_new(enum srv_role role, char **token, char hash[M87_SHA256_HEX_LEN + 1],
                  struct m87_error **err);

/* ---- store (store*.c) ------------------------------------------------------------------------ */

struct srv_store;

/* Open DIR/m87.db. create: make it (it must not exist); else it must exist. Migrations are
 * applied in order in both cases. */
int srv_store_open(const char *dir, bool create, struct srv_store **out, struct m87_error **err);
void srv_store_free(struct srv_store *st);

/* Every other store call runs between begin and commit/rollback, which hold the store's lock
 * and a transaction. commit failing rolls back; both release the lock. */
int srv_store_begin(struct srv_store *st, struct m87_error **err);
int srv_store_commit(struct srv_store *st, struct m87_error **err);
void srv_store_rollback(struct srv_store *st);
/* The lock without a transaction, for a single read statement (auto-committed). */
void srv_store_lock(struct srv_store *st);
void srv_store_unlock(struct srv_store *st);

struct srv_device {
    int64_t id;
    char *name;
    int64_t created;
    int64_t last_seen; /* 0: never */
    char *agent_version;
    char *applied;
    char *prefetch;     /* "always" or "window" */
    int64_t policy;     /* bumped by every change of windows, prefetch or now_revision */
    char *now_revision; /* the revision hash to apply at once (--now), or NULL */
    bool offline;       /* its agent said in its last sync that it stops */
};
void srv_device_release(struct srv_device *d);

struct srv_deployment {
    int64_t id;
    int64_t device_id;
    char *public_id;
    bool active;
    int64_t created;
    int64_t updated; /* the newest revision's creation */
    int64_t revision;
    char *hash;
    char *jobs; /* JSON array of job ids */
};
void srv_deployment_release(struct srv_deployment *d);

struct srv_revision {
    int64_t number;
    char *hash;
    int64_t created;
    char *jobs; /* JSON array of job ids */
    char *spec; /* spec_runspec_dump JSON */
    /* the signature of the hash (docs/security.md): key id (NULL: unsigned) and base64 */
    char *sig_key;
    char *sig;
};
void srv_revision_release(struct srv_revision *r);

/* What makes a revision, computed by revision.c from a run spec. */
struct srv_rev_content {
    char *spec;
    char hash[M87_SHA256_HEX_LEN + 1];
    char *jobs;
    struct m87_strv bundles;
    char *sig_key; /* the signature stored with it, or NULL */
    char *sig;
};
void srv_rev_content_release(struct srv_rev_content *c);

int srv_token_add(struct srv_store *st, const char *hash, enum srv_role role, int64_t device_id,
                  struct m87_error **err);
/* Forget every token of the device: it has none until a new one is added. */
int srv_token_revoke_device(struct srv_store *st, int64_t device_id, struct m87_error **err);
/* 1 with role and device (id, name) when the hash is known, 0 when not. */
int srv_token_lookup(struct srv_store *st, const char *hash, enum srv_role *role,
                     int64_t *device_id, char **device_name, struct m87_error **err);

/* M87_E_CONFLICT when the name exists. */
int srv_device_create(struct srv_store *st, const char *name, const char *token_hash,
                      struct srv_device *out, struct m87_error **err);
/* M87_E_NOTFOUND "device 'NAME' not found". */
int srv_device_find(struct srv_store *st, const char *name, struct srv_device *out,
                    struct m87_error **err);
int srv_device_by_id(struct srv_store *st, int64_t id, struct srv_device *out,
                     struct m87_error **err);
int srv_device_list(struct srv_store *st, struct srv_device **out, size_t *n,
                    struct m87_error **err);
int srv_device_delete(struct srv_store *st, int64_t id, struct m87_error **err);
/* last_seen = now; agent_version when not NULL; applied (NULL stores null); offline: the agent
 * said it stops (any other sync clears it). */
int srv_device_seen(struct srv_store *st, int64_t id, const char *agent_version,
                    const char *applied, bool offline, struct m87_error **err);
/* The settings of docs/api.md; each bumps the device's policy when the value changes. */
int srv_device_set_prefetch(struct srv_store *st, int64_t id, const char *prefetch,
                            struct m87_error **err);
/* hash NULL: no revision is to be applied at once. */
int srv_device_set_now(struct srv_store *st, int64_t id, const char *hash, struct m87_error **err);
int srv_device_bump_policy(struct srv_store *st, int64_t id, struct m87_error **err);

/* An image a device is asked to prefetch (store-prefetch.c). */
struct srv_prefetch {
    char *image;
    int64_t requested;
    char *report; /* the newest "prefetch" record the device sent for it, or NULL */
};
void srv_prefetch_free(struct srv_prefetch *v, size_t n);
/* The device's images, oldest first. */
int srv_prefetch_list(struct srv_store *st, int64_t device_id, struct srv_prefetch **out, size_t *n,
                      struct m87_error **err);
/* Add the images not there yet (bumps the policy when one is new); M87_E_TOOBIG past
 * SRV_MAX_PREFETCH. */
int srv_prefetch_add(struct srv_store *st, int64_t device_id, const struct m87_strv *images,
                     struct m87_error **err);
/* Forget every image (bumps the policy when there was one). */
int srv_prefetch_clear(struct srv_store *st, int64_t device_id, struct m87_error **err);
/* Keep report as the newest record of image, when the device is asked for it. */
int srv_prefetch_note(struct srv_store *st, int64_t device_id, const char *image,
                      const char *report, struct m87_error **err);
/* "prefetch_images": {"images": [...], "windows", "prefetch"} of a sync answer, written only when
 * the device is asked for images (api-prefetch.c). */
int srv_jw_prefetch_sync(struct srv_store *st, struct m87_jw *w, const struct srv_device *d,
                         struct m87_error **err);
struct srv_report;
/* A stored "prefetch" report (other kinds are no-ops): kept as its image's newest. M87_E_INVAL
 * "reports[...].image" when it names none. */
int srv_prefetch_report(struct srv_store *st, int64_t device_id, const struct srv_report *rep,
                        struct m87_error **err);
/* "prefetch_images": [{"image","requested","state",...}] of the status answer. */
int srv_jw_prefetch_status(struct srv_store *st, struct m87_jw *w, const struct srv_device *d,
                           struct m87_error **err);

struct srv_window {
    int64_t id;
    char *rule; /* canonical (spec_window_format) */
    int64_t created;
};
void srv_windows_free(struct srv_window *v, size_t n);
/* The device's windows, oldest first. */
int srv_window_list(struct srv_store *st, int64_t device_id, struct srv_window **out, size_t *n,
                    struct m87_error **err);
/* M87_E_CONFLICT when the device has that rule already, M87_E_TOOBIG past SRV_MAX_WINDOWS. */
int srv_window_add(struct srv_store *st, int64_t device_id, const char *rule,
                   struct srv_window *out, struct m87_error **err);
/* M87_E_NOTFOUND "device 'NAME' has no window ID". */
int srv_window_delete(struct srv_store *st, const struct srv_device *d, int64_t id,
                      struct m87_error **err);

int srv_device_count_online(struct srv_store *st, int64_t since, int64_t *n,
                            struct m87_error **err);

/* M87_E_NOTFOUND "deployment 'ID' not found". */
int srv_deployment_find(struct srv_store *st, int64_t device_id, const char *public_id,
                        struct srv_deployment *out, struct m87_error **err);
/* 1 and *out when the device has an active deployment, 0 when not. */
int srv_deployment_active(struct srv_store *st, int64_t device_id, struct srv_deployment *out,
                          struct m87_error **err);
int srv_deployment_list(struct srv_store *st, int64_t device_id, struct srv_deployment **out,
                        size_t *n, struct m87_error **err);
/* A new deployment whose revision 1 is c; active deactivates the device's other ones. */
int srv_deployment_create(struct srv_store *st, int64_t device_id, bool active,
                          const struct srv_rev_content *c, struct srv_deployment *out,
                          struct m87_error **err);
int srv_deployment_activate(struct srv_store *st, const struct srv_deployment *d,
                            struct m87_error **err);
/* M87_E_CONFLICT when d is active. */
int srv_deployment_delete(struct srv_store *st, const struct srv_deployment *d,
                          struct m87_error **err);
/* Revision d->revision + 1. */
int srv_revision_add(struct srv_store *st, const struct srv_deployment *d,
                     const struct srv_rev_content *c, struct m87_error **err);
/* M87_E_NOTFOUND "deployment 'ID' has no revision N". */
int srv_revision_get(struct srv_store *st, const struct srv_deployment *d, int64_t number,
                     struct srv_revision *out, struct m87_error **err);
int srv_revision_list(struct srv_store *st, const struct srv_deployment *d,
                      struct srv_revision **out, size_t *n, struct m87_error **err);
/* Store a signature with revision number of d (replacing one it had). */
int srv_revision_sign(struct srv_store *st, const struct srv_deployment *d, int64_t number,
                      const char *sig_key, const char *sig, struct m87_error **err);

/* 1 with *size when the bundle is stored, 0 when not. */
int srv_bundle_find(struct srv_store *st, const char *digest, uint64_t *size,
                    struct m87_error **err);
int srv_bundle_add(struct srv_store *st, const char *digest, uint64_t size, struct m87_error **err);
/* 1 when a revision of a deployment of the device references digest. */
int srv_bundle_referenced(struct srv_store *st, int64_t device_id, const char *digest,
                          struct m87_error **err);

/* One validated report record. */
struct srv_report {
    int64_t seq;
    const char *kind;
    const char *revision;
    const char *job;
    const char *phase;
    const char *step;
    const char *state;
    char *raw; /* the record's JSON */
};

/* 1 when stored, 0 when the seq was already there (a duplicate). */
int srv_report_add(struct srv_store *st, int64_t device_id, const struct srv_report *rep,
                   struct m87_error **err);
int srv_report_max_seq(struct srv_store *st, int64_t device_id, int64_t *seq,
                       struct m87_error **err);
int srv_report_count(struct srv_store *st, int64_t *n, struct m87_error **err);

struct srv_report_filter {
    int64_t deployment_id; /* 0: any */
    const char *revision;
    const char *job;
    const char *step;
    const char *kind;
    int64_t after;
    int64_t limit;
};

struct srv_report_row {
    int64_t seq;
    int64_t received;
    char *deployment; /* public id or NULL */
    char *raw;
};
void srv_report_rows_free(struct srv_report_row *rows, size_t n);

/* Up to f->limit + 1 rows in seq order (the extra one tells that there are more). */
int srv_report_query(struct srv_store *st, int64_t device_id, const struct srv_report_filter *f,
                     struct srv_report_row **out, size_t *n, struct m87_error **err);
/* Any report of the device for that revision hash. */
int srv_report_any_for(struct srv_store *st, int64_t device_id, const char *revision, bool *yes,
                       struct m87_error **err);

/* The newest "job" report of job for revision (*raw NULL when none). */
int srv_report_latest_job(struct srv_store *st, int64_t device_id, const char *revision,
                          const char *job, char **raw, struct m87_error **err);
/* The newest report of kind (without a job) for revision (*raw NULL when none). */
int srv_report_latest_kind(struct srv_store *st, int64_t device_id, const char *revision,
                           const char *kind, char **raw, struct m87_error **err);
/* Every "step" report of job for revision, oldest first. */
int srv_report_steps(struct srv_store *st, int64_t device_id, const char *revision, const char *job,
                     struct m87_strv *raws, struct m87_error **err);

/* ---- revisions (revision.c) ------------------------------------------------------------------ */

/* The revision hash of docs/api.md over a parsed run spec. */
void srv_rev_hash(const struct spec_runspec *rs, char out[M87_SHA256_HEX_LEN + 1]);
/* Everything a revision stores, from rs. */
void srv_rev_content_from(const struct spec_runspec *rs, struct srv_rev_content *c);
/* A stored spec parsed back (M87_E_INTERNAL when it no longer parses). */
struct spec_runspec *srv_rev_parse_stored(const char *spec, struct m87_error **err);
/* base with add's jobs replacing those of the same id in place and the others appended;
 * add's jobs are moved out. */
void srv_rev_merge(struct spec_runspec *base, struct spec_runspec *add);
/* Remove the job id from rs; false when it has none. */
bool srv_rev_remove(struct spec_runspec *rs, const char *id);

struct srv_req;
/* A signature sent with a request that makes or activates a revision: the header
 * `M87-Signature: HASH KEYID SIG` (docs/security.md). */
struct srv_signature {
    bool present;
    char hash[M87_SHA256_HEX_LEN + 1];
    char key[32];
    char sig[96];
};
/* Read the header into *s (s->present false without one); M87_E_INVAL naming what is wrong. */
int srv_req_signature(struct srv_req *r, struct srv_signature *s, struct m87_error **err);
/* Give c the signature s when it was made for c's hash; M87_E_CONFLICT when it was made for
 * another revision (a concurrent change). Nothing when s is not present. */
int srv_signature_apply(const struct srv_signature *s, struct srv_rev_content *c,
                        struct m87_error **err);
/* Copy a stored signature (NULL key: none) into c. */
void srv_rev_content_sign(struct srv_rev_content *c, const char *sig_key, const char *sig);

/* ---- long-polls (longpoll.c) ----------------------------------------------------------------- */

struct srv_longpoll;
struct srv_waiter {
    struct srv_waiter *prev, *next;   /* every held sync */
    struct srv_waiter *sprev, *snext; /* those of one slot of the timer wheel */
    size_t slot;
    int64_t device_id;
    struct MHD_Connection *conn;
    struct timespec deadline; /* CLOCK_MONOTONIC */
    bool listed;
};

struct srv_longpoll *srv_longpoll_new(void);
/* Stops the timer thread; every held connection must have been released before. */
void srv_longpoll_free(struct srv_longpoll *lp);
/* A counter bumped by every notify: read it before computing an answer, hold with it. */
uint64_t srv_longpoll_gen(struct srv_longpoll *lp);
/* Suspend w->conn until notify or the deadline; false (nothing done) when a notify happened
 * since gen was read or the server is stopping: the caller answers at once. */
bool srv_longpoll_hold(struct srv_longpoll *lp, struct srv_waiter *w, uint64_t gen);
/* Resume every held sync of the device (device_id 0: of every device). */
void srv_longpoll_notify(struct srv_longpoll *lp, int64_t device_id);
/* Stop holding: resume everything held now and refuse new holds. */
void srv_longpoll_stop(struct srv_longpoll *lp);
size_t srv_longpoll_held(struct srv_longpoll *lp);
/* Whether a sync of the device is held now (sessions: the device is connected). */
bool srv_longpoll_device_held(struct srv_longpoll *lp, int64_t device_id);

/* ---- metrics (metrics.c) --------------------------------------------------------------------- */

struct srv_metrics {
    atomic_uint_fast64_t by_status[600];
    atomic_uint_fast64_t reports_stored;
    atomic_uint_fast64_t auth_failed;    /* requests with a missing or unknown token */
    atomic_uint_fast64_t auth_throttled; /* requests refused by the failed-auth limit */
};

/* ---- failed authentications per source (ratelimit.c) ----------------------------------------- */

#define SRV_AUTH_FAIL_LIMIT 30 /* failures a source may have in a row, and per minute after */

struct sockaddr;
struct srv_ratelimit;

/* A limit of per_minute failures per source (an IPv4 address, an IPv6 /64), with as many in a
 * row; NULL (no limit) for 0. Thread-safe; memory is fixed whatever the number of sources. */
struct srv_ratelimit *srv_ratelimit_new(unsigned per_minute);
void srv_ratelimit_free(struct srv_ratelimit *rl);
/* 0 when the source may go on, else the ms until it may fail once more. */
int64_t srv_ratelimit_wait(struct srv_ratelimit *rl, const struct sockaddr *sa, int64_t now_ms);
/* Count a failed authentication of the source. */
void srv_ratelimit_failed(struct srv_ratelimit *rl, const struct sockaddr *sa, int64_t now_ms);

/* ---- the server and its requests (http.c, serve.c) ------------------------------------------- */

struct srv {
    struct srv_store *store;
    struct srv_longpoll *lp;
    struct srv_metrics metrics;
    char *data_dir;
    char *bundle_dir;
    int longpoll_max;
    int64_t session_retention; /* seconds a session's output is kept */
    struct srv_ratelimit *auth_limit;
    struct MHD_Daemon *daemon;
    char *tls_cert_pem;
    char *tls_key_pem;
    atomic_bool stopping;
    atomic_int in_flight;
};

enum srv_auth_rule {
    SRV_AUTH_NONE,   /* anyone */
    SRV_AUTH_ADMIN,  /* the admin token */
    SRV_AUTH_DEVICE, /* a device token */
    SRV_AUTH_BUNDLE, /* the admin token or a device token (the handler checks the reference) */
};

enum srv_body_kind {
    SRV_BODY_NONE,   /* a body is read (up to max_body) and ignored */
    SRV_BODY_JSON,   /* collected up to max_body; application/json or no content type */
    SRV_BODY_STREAM, /* handed to the route's chunk function as it arrives */
};

struct srv_req;

struct srv_route {
    const char *method;
    const char *pattern;
    enum srv_auth_rule auth;
    enum srv_body_kind body;
    uint64_t max_body;
    void (*handle)(struct srv_req *r);
    /* SRV_BODY_STREAM: called per chunk; -1 with a reply queued stops the upload */
    int (*chunk)(struct srv_req *r, const char *data, size_t len);
};

extern const struct srv_route srv_routes[];
extern const size_t srv_n_routes;

struct srv_req {
    struct srv *srv;
    struct MHD_Connection *conn;
    const struct srv_route *route;
    struct srv_params params;
    char *method;
    char *path;
    struct timespec start;
    /* auth */
    enum srv_role role;
    int64_t device_id;
    char *device_name;
    /* body */
    struct m87_buf body;
    uint64_t body_len;
    bool body_over;
    bool failed; /* a reply was queued before the body ended */
    /* reply */
    unsigned status;
    bool queued;
    /* per-route state */
    void *state;
    void (*state_free)(void *state);
    /* long-poll */
    struct srv_waiter waiter;
    bool held;
    /* device whose held sync to wake after the transaction commits */
    int64_t notify_device;
};

/* Queue a reply. json: owned and freed (m87_jw_finish'ed here). */
void srv_reply_json(struct srv_req *r, unsigned status, struct m87_jw *w);
void srv_reply_error(struct srv_req *r, unsigned status, const char *code, const char *fmt, ...)
    M87_PRINTF(4, 5);
/* A JSON error response, for replies that need extra headers. */
struct MHD_Response *srv_error_response(const char *code, const char *msg);
/* The error's code decides the status: INVAL/PARSE 400, NOTFOUND 404, CONFLICT 409,
 * TOOBIG 413, anything else 500. */
void srv_reply_fail(struct srv_req *r, const struct m87_error *err);
void srv_reply_empty(struct srv_req *r, unsigned status);
/* Queue resp (destroyed here) with status. */
void srv_reply_response(struct srv_req *r, unsigned status, struct MHD_Response *resp);
/* A request header, or NULL. */
const char *srv_req_header(struct srv_req *r, const char *name);
/* A query argument, or NULL. */
const char *srv_req_query(struct srv_req *r, const char *name);
/* 400 naming the first query argument not in allowed (NULL-terminated); 0 when all known. */
int srv_req_check_query(struct srv_req *r, const char *const *allowed);

/* Run fn in a transaction and reply: on success the JSON written into w with status (204:
 * no body), on failure the error. After a commit the device in r->notify_device is woken. */
typedef int (*srv_tx_fn)(struct srv_req *r, struct m87_jw *w, struct m87_error **err);
void srv_run_tx(struct srv_req *r, unsigned status, srv_tx_fn fn);

/* The JSON body as an object (an empty body is {}); M87_E_INVAL or M87_E_PARSE naming what is
 * wrong. */
struct m87_json *srv_body_object(struct srv_req *r, struct m87_error **err);
/* True with *out when v is a number with an integral value in int64 range. */
bool srv_json_is_int(const struct m87_json *v, int64_t *out);
/* M87_E_INVAL "unknown field 'K'" (with "PREFIX: " when prefix is not NULL) for the first key
 * of obj not in allowed (NULL-terminated). */
int srv_json_only(const struct m87_json *obj, const char *prefix, const char *const *allowed,
                  struct m87_error **err);

/* 401/403 decided for r's route; -1 with a reply queued when the request may not go on. */
int srv_auth_check(struct srv_req *r);

/* The MHD daemon callbacks and life cycle. */
int srv_http_start(struct srv *s, const char *listen, const char *cert, const char *key,
                   struct m87_error **err);
void srv_http_stop(struct srv *s);

/* ---- objects in JSON (api-*.c) --------------------------------------------------------------- */

void srv_jw_time(struct m87_jw *w, const char *key, int64_t t);
void srv_jw_device(struct srv *s, struct m87_jw *w, const struct srv_device *d);
void srv_jw_deployment(struct m87_jw *w, const struct srv_deployment *d);
/* Write stored JSON text as a value (it was produced by us, so it parses). */
void srv_jw_raw(struct m87_jw *w, const char *json);
/* A stored report record with "received" and "deployment" added. */
void srv_jw_report(struct m87_jw *w, const char *raw, int64_t received, const char *deployment);
bool srv_device_online(struct srv *s, const struct srv_device *d);

/* ---- handlers -------------------------------------------------------------------------------- */

void srv_api_healthz(struct srv_req *r);
void srv_api_metrics(struct srv_req *r);
void srv_api_devices_create(struct srv_req *r);
void srv_api_devices_list(struct srv_req *r);
void srv_api_devices_get(struct srv_req *r);
void srv_api_devices_delete(struct srv_req *r);
void srv_api_deployments_create(struct srv_req *r);
void srv_api_deployments_list(struct srv_req *r);
void srv_api_deployments_get(struct srv_req *r);
void srv_api_deployments_delete(struct srv_req *r);
void srv_api_deployments_activate(struct srv_req *r);
void srv_api_deployments_revisions(struct srv_req *r);
void srv_api_jobs_put(struct srv_req *r);
void srv_api_jobs_delete(struct srv_req *r);
void srv_api_reports_query(struct srv_req *r);
void srv_api_status(struct srv_req *r);
void srv_api_bundles_put(struct srv_req *r);
int srv_api_bundles_chunk(struct srv_req *r, const char *data, size_t len);
void srv_api_bundles_get(struct srv_req *r);
void srv_api_sync(struct srv_req *r);
void srv_api_devices_patch(struct srv_req *r);
void srv_api_devices_token_rotate(struct srv_req *r);
void srv_api_devices_token_revoke(struct srv_req *r);
void srv_api_windows_list(struct srv_req *r);
void srv_api_windows_add(struct srv_req *r);
void srv_api_windows_delete(struct srv_req *r);
void srv_api_prefetch_add(struct srv_req *r);
void srv_api_prefetch_list(struct srv_req *r);
void srv_api_prefetch_clear(struct srv_req *r);

/* The answer of GET /v1/devices/NAME (the device in the first path parameter). */
int srv_write_device(struct srv_req *r, struct m87_jw *w, struct m87_error **err);

/* ---- windows and policy (api-windows.c) ------------------------------------------------------ */

/* "windows": the device's rules as strings, or (full) as {"id","rule","created"} objects. */
int srv_jw_windows(struct srv_store *st, struct m87_jw *w, const struct srv_device *d, bool full,
                   struct m87_error **err);
/* "windows", "prefetch", "now" (whether hash is the revision to apply at once) and "policy". */
int srv_jw_policy(struct srv_store *st, struct m87_jw *w, const struct srv_device *d,
                  const char *hash, struct m87_error **err);
/* The request's "now" query parameter: absent, 0 or false / 1 or true; M87_E_INVAL otherwise. */
int srv_req_now(struct srv_req *r, bool *now, struct m87_error **err);
/* The device's target became hash: remember whether it is to be applied at once, and wake the
 * device's held sync after the commit. */
int srv_target_changed(struct srv_req *r, const struct srv_device *dev, const char *hash, bool now,
                       struct m87_error **err);

/* The device and deployment named by the first two path parameters. */
int srv_find_deployment(struct srv_req *r, struct srv_device *dev, struct srv_deployment *dep,
                        struct m87_error **err);

/* The health of a device's active deployment for GET /v1/devices/NAME (api-status.c). */
int srv_jw_health(struct srv_store *st, struct m87_jw *w, const struct srv_device *d,
                  struct m87_error **err);

/* ---- sessions: sync execution (store-sessions.c, api-sessions.c) ---------------------------- */

#define SRV_MAX_SESSION_BODY SPEC_RUNSPEC_MAX_FILE /* the request: a compose job and arguments */
#define SRV_MAX_SESSION_POST (1024u * 1024)        /* one report of the agent on a session */
#define SRV_MAX_SESSION_OUTPUT (16u * 1024 * 1024) /* output kept per session */
#define SRV_SESSION_REDELIVER 10 /* seconds: a delivered session not started is sent again */
#define SRV_SESSION_LOST 15      /* seconds without a report: a running session is lost */
#define SRV_SESSION_CONNECTED 20 /* seconds since the last sync that count as connected */
#define SRV_SESSION_MAX_WAIT 60  /* wait of an output read */
#define SRV_SESSION_UNREAD 60    /* seconds: a running session nobody reads is cancelled */
#define SRV_SESSION_RETENTION (7 * 24 * 3600) /* default of serve --session-retention */

struct srv_session {
    int64_t id;
    char *public_id; /* "s-" + 8 hex */
    int64_t device_id;
    char *request; /* the request JSON as validated */
    char *bundle;
    char *state;       /* pending, running, exited, cancelled, lost */
    int64_t exit_code; /* -1: none */
    char *message;
    bool cancel;
    int64_t created, delivered, started, ended, seen; /* 0: not yet */
    int64_t read_at; /* the last read of its output (the CLI follows it), or its creation */
    int64_t next_seq;
    int64_t output_bytes;
};
void srv_session_release(struct srv_session *s);
void srv_sessions_free(struct srv_session *v, size_t n);
/* A new pending session of the device; s->public_id and s->id are filled in. */
int srv_session_create(struct srv_store *st, struct srv_session *s, struct m87_error **err);
/* M87_E_NOTFOUND "session 'ID' not found" (of any device: the caller checks the owner). */
int srv_session_find(struct srv_store *st, const char *public_id, struct srv_session *out,
                     struct m87_error **err);
/* The device's sessions, oldest first. */
int srv_session_list(struct srv_store *st, int64_t device_id, struct srv_session **out, size_t *n,
                     struct m87_error **err);
/* The sessions to hand to the device now (pending, not cancelled, not delivered lately); each
 * is marked delivered. */
int srv_session_deliver(struct srv_store *st, int64_t device_id, struct srv_session **out,
                        size_t *n, struct m87_error **err);
/* Write back state, exit_code, message, cancel, started, ended, seen, next_seq. */
int srv_session_update(struct srv_store *st, const struct srv_session *s, struct m87_error **err);
int srv_session_output_add(struct srv_store *st, struct srv_session *s, const char *stream,
                           const char *text, struct m87_error **err);
struct srv_session_chunk {
    int64_t seq;
    char *stream;
    char *text;
    int64_t time;
};
void srv_session_chunks_free(struct srv_session_chunk *v, size_t n);
/* Output after seq, at most limit chunks. */
int srv_session_output_read(struct srv_store *st, int64_t session_id, int64_t after, int64_t limit,
                            struct srv_session_chunk **out, size_t *n, struct m87_error **err);
/* Delete the sessions that ended (or were created, when never ended) before `before`. */
int srv_session_prune(struct srv_store *st, int64_t before, struct m87_error **err);
/* The containers (a JSON array) of an interactive project of the device as its agent saw them
 * after a session; an empty array forgets the project. */
int srv_interactive_set(struct srv_store *st, int64_t device_id, const char *project,
                        const char *containers, struct m87_error **err);
/* "interactive": [{"project","containers","updated"}] of the device, by project name. */
int srv_jw_interactive(struct srv_store *st, struct m87_jw *w, int64_t device_id,
                       struct m87_error **err);
/* 1 when a session of the device uses bundle digest. */
int srv_session_bundle_referenced(struct srv_store *st, int64_t device_id, const char *digest,
                                  struct m87_error **err);

void srv_api_sessions_create(struct srv_req *r);
void srv_api_sessions_list(struct srv_req *r);
void srv_api_sessions_get(struct srv_req *r);
void srv_api_sessions_output(struct srv_req *r);
void srv_api_sessions_cancel(struct srv_req *r);
void srv_api_agent_session(struct srv_req *r);
/* "sessions": the sessions to start, when the device has any (*n of them). */
int srv_jw_agent_sessions(struct srv_store *st, struct m87_jw *w, int64_t device_id, size_t *n,
                          struct m87_error **err);

/* ---- commands (init.c, serve.c) -------------------------------------------------------------- */

/* Create the data directory and database; the admin token into *token. */
int srv_init(const char *dir, char **token, struct m87_error **err);

struct srv_serve_opts {
    const char *data_dir;
    const char *listen;
    const char *tls_cert;
    const char *tls_key;
    int longpoll_max;
    int64_t session_retention; /* 0: SRV_SESSION_RETENTION */
    int auth_fail_limit;       /* failed authentications per source and minute; 0: none */
};

/* Serve until SIGTERM or SIGINT. */
int srv_serve(const struct srv_serve_opts *o, struct m87_error **err);

#endif
