/* What handlers read a request and answer it with: headers, query arguments, the JSON body,
 * replies (each counted in the metrics when queued), and the transaction a handler runs in. */
#include <microhttpd.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/log.h"
#include "server/http.h"
#include "server/json.h"
#include "server/limits.h"
#include "server/longpoll.h"
#include "server/request.h"
#include "server/store-devices.h"
#include "server/store-notify.h"
#include "server/store.h"

/* What the dashboard's page may load and call: its own files and API, nothing inline, in no
 * frame. */
#define SRV_CSP                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "                    \
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "                 \
    "frame-ancestors 'none'"

const char *srv_req_header(struct srv_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *srv_req_query(struct srv_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_check {
    const char *const *allowed;
    char *unknown;
};

static enum MHD_Result query_key(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    struct query_check *q = cls;
    (void)kind;
    (void)value;
    for (size_t i = 0; q->allowed[i]; i++)
        if (strcmp(q->allowed[i], key) == 0)
            return MHD_YES;
    q->unknown = m87_xstrdup(key);
    return MHD_NO;
}

int srv_req_check_query(struct srv_req *r, const char *const *allowed)
{
    struct query_check q = {allowed, NULL};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_key, &q);
    if (q.unknown == NULL)
        return 0;
    srv_reply_error(r, 400, "bad_request", "unknown query parameter '%s'", q.unknown);
    free(q.unknown);
    return -1;
}

void srv_reply_response(struct srv_req *r, unsigned status, struct MHD_Response *resp)
{
    if (r->queued) {
        MHD_destroy_response(resp);
        return;
    }
    /* every answer, the dashboard's and the API's (docs/dashboard.md) */
    MHD_add_response_header(resp, "Content-Security-Policy", SRV_CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    r->queued = MHD_queue_response(r->conn, status, resp) == MHD_YES;
    r->status = status;
    /* counted when queued, so that a client that reads /metrics next sees its request */
    if (r->queued && status < M87_ARRAY_LEN(r->srv->metrics.by_status))
        atomic_fetch_add(&r->srv->metrics.by_status[status], 1);
    MHD_destroy_response(resp);
}

static void reply_text(struct srv_req *r, unsigned status, char *text, const char *type)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    srv_reply_response(r, status, resp);
}

void srv_reply_json(struct srv_req *r, unsigned status, struct m87_jw *w)
{
    reply_text(r, status, m87_jw_finish(w), "application/json");
}

struct MHD_Response *srv_error_response(const char *code, const char *msg)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_key(w, "error");
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "code", code);
    m87_jw_kstr(w, "message", msg);
    m87_jw_obj_close(w);
    m87_jw_obj_close(w);
    char *text = m87_jw_finish(w);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return resp;
}

void srv_reply_error(struct srv_req *r, unsigned status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = m87_xvasprintf(fmt, ap);
    va_end(ap);
    srv_reply_response(r, status, srv_error_response(code, msg));
}

/* The errors that are the client's, by their code; any other is a 500. */
static const struct {
    enum m87_errcode code;
    unsigned status;
    const char *name;
} client_errors[] = {
    {M87_E_INVAL, 400, "bad_request"},  {M87_E_PARSE, 400, "bad_request"},
    {M87_E_NOTFOUND, 404, "not_found"}, {M87_E_CONFLICT, 409, "conflict"},
    {M87_E_TOOBIG, 413, "too_large"},
};

void srv_reply_fail(struct srv_req *r, const struct m87_error *err)
{
    const char *msg = err && err->msg ? err->msg : "unknown error";
    enum m87_errcode code = m87_error_code(err);
    if (code == M87_E_CONNECT) { /* the server's only peer is its database (PostgreSQL) */
        m87_log(M87_LOG_WARN, "%s %s: %s", r->method, r->path, msg);
        struct MHD_Response *resp =
            srv_error_response("unavailable", "the database is unavailable: try again later");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, SRV_DB_RETRY_AFTER);
        srv_reply_response(r, 503, resp);
        return;
    }
    if (code == M87_E_TIMEOUT) { /* PostgreSQL ended the transaction (a deadlock): once more */
        m87_log(M87_LOG_WARN, "%s %s: %s", r->method, r->path, msg);
        _cleanup_free_ char *text = m87_xasprintf("the database asked to try again: %s", msg);
        struct MHD_Response *resp = srv_error_response("unavailable", text);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
        srv_reply_response(r, 503, resp);
        return;
    }
    for (size_t i = 0; i < M87_ARRAY_LEN(client_errors); i++) {
        if (client_errors[i].code == code) {
            srv_reply_error(r, client_errors[i].status, client_errors[i].name, "%s", msg);
            return;
        }
    }
    m87_log(M87_LOG_ERR, "%s %s: %s", r->method, r->path, msg);
    srv_reply_error(r, 500, "internal", "%s", msg);
}

void srv_reply_empty(struct srv_req *r, unsigned status)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    srv_reply_response(r, status, resp);
}

/* On PostgreSQL a replica's transactions run side by side on its connections, and beside those
 * of the other replicas (docs/design.md, PostgreSQL backend, Connections). What one reads and
 * then writes must not change in between: a device's transactions lock its row first, and an
 * admin's other changes (fleets, releases and their numbers, rollouts, registries, labels and
 * windows that move rollout members, the limits counted across devices) take the rollout rounds'
 * transaction lock, so that they run one at a time and never within a round. The order is always
 * that lock first, then devices' rows, as in a round. */
static int serialise(struct srv_req *r, struct m87_error **err)
{
    static const char *const device_only[] = {"deployments", "sessions", "prefetch", "token",
                                              "remote"};
    struct srv_store *st = r->srv->store;
    if (r->role == SRV_ROLE_DEVICE)
        return srv_device_lock(st, r->device_id, err);
    if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0)
        return 0;
    /* what changes one device's own records only: its row, which srv_device_find locks, is
     * enough, and activations on many devices run side by side */
    const char *rest = strncmp(r->path, "/v1/devices/", 12) == 0 ? strchr(r->path + 12, '/') : NULL;
    for (size_t i = 0; rest && i < M87_ARRAY_LEN(device_only); i++) {
        size_t n = strlen(device_only[i]);
        if (strncmp(rest + 1, device_only[i], n) == 0 && (rest[n + 1] == '/' || !rest[n + 1]))
            return 0;
    }
    return srv_store_lock_round(st, SRV_LOCK_ROLLOUT_ROUND, err);
}

void srv_run_tx(struct srv_req *r, unsigned status, srv_tx_fn fn)
{
    struct srv_store *st = r->srv->store;
    _cleanup_error_ struct m87_error *err = NULL;
    struct m87_jw *w = m87_jw_new();
    if (srv_store_begin(st, &err) < 0)
        goto fail;
    /* the other replicas wake the same at the commit */
    if (serialise(r, &err) < 0 || fn(r, w, &err) < 0 ||
        ((r->notify_all || r->notify_device) &&
         srv_store_notify(st, SRV_WAKE_SYNCS, r->notify_all ? 0 : r->notify_device, &err) < 0)) {
        srv_store_rollback(st);
        goto fail;
    }
    if (srv_store_commit(st, &err) < 0)
        goto fail;
    if (r->notify_all)
        srv_longpoll_notify(r->srv->lp, 0);
    else if (r->notify_device)
        srv_longpoll_notify(r->srv->lp, r->notify_device);
    if (status == 204) {
        m87_jw_free(w);
        srv_reply_empty(r, 204);
    } else {
        srv_reply_json(r, status, w);
    }
    return;
fail:
    m87_jw_free(w);
    srv_reply_fail(r, err);
}

struct m87_json *srv_body_object(struct srv_req *r, const char *const *allowed,
                                 struct m87_error **err)
{
    const char *text = r->body.data ? r->body.data : "";
    size_t len = r->body.len;
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t'))
        i++;
    if (i == len) {
        text = "{}";
        len = 2;
    }
    struct m87_json *doc = m87_json_parse_max(text, len, SRV_JSON_MAX_DEPTH, err);
    if (doc == NULL)
        return NULL;
    if (m87_json_type(doc) != M87_JSON_OBJECT) {
        m87_json_free(doc);
        m87_error_set(err, M87_E_INVAL, 0, "body: expected a json object");
        return NULL;
    }
    if (allowed && srv_json_only(doc, NULL, allowed, err) < 0) {
        m87_json_free(doc);
        return NULL;
    }
    return doc;
}
