/* m87-server private: the server and its requests. struct srv is the context every handler
 * gets; http.c is the libmicrohttpd glue that routes a request through the table (routes.c),
 * checks its token (auth.c) and collects its body before its handler runs; the helpers that
 * handlers read requests and reply with are in server/request.h.
 *
 * The files of src/server call down these layers, never up (make checkarch fails on a circle):
 *   main.c > serve.c init.c > http.c > routes.c > api-*.c metrics.c auth.c
 *   > request.c revision.c retention.c rollout.c > rollout-gate.c > rollout-place.c
 *   > store*.c > json.c util.c route.c longpoll.c ratelimit.c
 *   remote.c */
#ifndef M87_SERVER_HTTP_H
#define M87_SERVER_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "m87/buf.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "server/auth.h"
#include "server/longpoll.h"
#include "server/metrics.h"
#include "server/secret.h"
#include "server/route.h"

struct MHD_Connection;
struct MHD_Daemon;
struct srv_ingest;
struct srv_pruner;
struct srv_rollouts;
struct srv_ratelimit;
struct srv_remote;
struct srv_store;

struct srv {
    struct srv_store *store;
    struct srv_longpoll *lp;
    struct srv_metrics metrics;
    char *data_dir;
    char *bundle_dir;
    int data_lock; /* the lock of data_dir (srv_data_lock) when it holds the database; 0: none */
    int longpoll_max;
    int64_t session_retention; /* seconds a session's output is kept */
    unsigned max_conn_per_address; /* 0: no limit */
    struct srv_ingest *ingest;     /* report bytes per device and minute; NULL: no limit */
    struct srv_pruner *pruner;
    struct srv_rollouts *rollouts; /* the rollout driver (rollout.h) */
    int64_t disk_reserve; /* free bytes below which reports are refused; 0: none */
    struct srv_ratelimit *auth_limit;
    struct srv_remote *remote; /* remote access channels (remote.h) */
    char *advertise;           /* where the other replicas reach this one (a URL); NULL: nowhere */
    struct MHD_Daemon *daemon;
    char *tls_cert_pem;
    char *tls_key_pem;
    struct srv_secret_key registry_key; /* seals registry passwords (secret.h) */
    bool ui;                            /* serve the dashboard (api-ui.c) */
    atomic_bool stopping;
    atomic_int in_flight;
    struct srv_listener *listener; /* the other replicas' wakes (store-notify.h); NULL: SQLite */
    struct srv_leader *leader;     /* holds the rollouts' lock for this replica; NULL: SQLite */
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
    SRV_BODY_PIPE,   /* handed to the route's pipe function, which takes what it can (remote.h) */
};

struct srv_req;

/* The work of a request, run in a transaction by srv_run_tx (server/request.h): the answer is
 * written into w; -1 with *err rolls back and answers the error. */
typedef int (*srv_tx_fn)(struct srv_req *r, struct m87_jw *w, struct m87_error **err);

struct srv_route {
    const char *method;
    const char *pattern;
    enum srv_auth_rule auth;
    enum srv_body_kind body;
    uint64_t max_body;
    /* called once the body is in: it queues the reply (or holds the request); NULL for tx */
    void (*handle)(struct srv_req *r);
    /* SRV_BODY_STREAM: called per chunk; -1 with a reply queued stops the upload */
    int (*chunk)(struct srv_req *r, const char *data, size_t len);
    /* instead of handle: run by srv_run_tx and answered with status, after the query arguments
     * are checked against query (NULL-terminated; query NULL: they are not checked) */
    srv_tx_fn tx;
    unsigned status;
    const char *const *query;
    /* SRV_BODY_PIPE: called with the body's bytes as they come, returns how many it took; the
     * rest is offered again once it resumed the connection it suspended. No cap, no timeout. */
    size_t (*pipe)(struct srv_req *r, const char *data, size_t len);
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
    bool notify_all; /* wake the held syncs of every device after the commit */
};

/* The MHD daemon callbacks and life cycle. */
int srv_http_start(struct srv *s, const char *listen, const char *cert, const char *key,
                   struct m87_error **err);
void srv_http_stop(struct srv *s);

#endif
