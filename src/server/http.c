/* libmicrohttpd glue: one srv_req per request, routing, auth before the body, bodies collected
 * under their route's cap, replies, the access log line. */
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/log.h"
#include "server/auth.h"
#include "server/http.h"
#include "server/limits.h"
#include "server/longpoll.h"
#include "server/remote.h"
#include "server/request.h"
#include "server/route.h"
#include "server/util.h"

/* Past the cap a chunked body is drained and answered 413 at its end; this far past it the
 * connection is closed instead, so that an endless body cannot keep a thread busy. */
#define SRV_DRAIN_SLACK ((uint64_t)1024 * 1024)

static struct srv_req *req_new(struct srv *s, struct MHD_Connection *conn, const char *url,
                               const char *method)
{
    struct srv_req *r = m87_xcalloc(1, sizeof(*r));
    r->srv = s;
    r->conn = conn;
    r->path = m87_xstrdup(url);
    r->method = m87_xstrdup(method);
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    atomic_fetch_add(&s->in_flight, 1);
    return r;
}

static void req_free(struct srv_req *r)
{
    if (r->state_free)
        r->state_free(r->state);
    srv_params_release(&r->params);
    m87_buf_release(&r->body);
    free(r->device_name);
    free(r->method);
    free(r->path);
    free(r);
}

/* ---- the first call: route, auth, what the body may be ---------------------------------- */

static void reply_no_route(struct srv_req *r)
{
    struct m87_buf allow;
    m87_buf_init(&allow, 0);
    for (size_t i = 0; i < srv_n_routes; i++) {
        struct srv_params p = {.n = 0};
        if (srv_route_match(srv_routes[i].pattern, r->path, &p)) {
            m87_buf_appendf(&allow, NULL, "%s%s", allow.len ? ", " : "", srv_routes[i].method);
            srv_params_release(&p);
        }
    }
    if (allow.len == 0) {
        srv_reply_error(r, 404, "not_found", "no such endpoint: %s", r->path);
    } else {
        _cleanup_free_ char *msg = m87_xasprintf("method %s not allowed on %s (allowed: %s)",
                                                 r->method, r->path, allow.data);
        struct MHD_Response *resp = srv_error_response("method_not_allowed", msg);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow.data);
        srv_reply_response(r, 405, resp);
    }
    m87_buf_release(&allow);
}

static bool media_type_is(const char *header, const char *type)
{
    size_t n = strlen(type);
    while (*header == ' ')
        header++;
    return strncasecmp(header, type, n) == 0 &&
           (header[n] == '\0' || header[n] == ';' || header[n] == ' ');
}

static bool content_type_ok(struct srv_req *r)
{
    const char *ct = srv_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (ct == NULL || r->route->body == SRV_BODY_NONE)
        return true;
    if (r->route->body == SRV_BODY_JSON)
        return media_type_is(ct, "application/json");
    return media_type_is(ct, "application/gzip") || media_type_is(ct, "application/x-gzip") ||
           media_type_is(ct, "application/octet-stream");
}

static void begin(struct srv_req *r)
{
    for (size_t i = 0; i < srv_n_routes && r->route == NULL; i++) {
        if (strcmp(srv_routes[i].method, r->method) == 0 &&
            srv_route_match(srv_routes[i].pattern, r->path, &r->params))
            r->route = &srv_routes[i];
    }
    if (r->route == NULL) {
        reply_no_route(r);
        return;
    }
    /* the headers are in: the request may take its time (a body, a slow reader); a remote
     * stream may be quiet for as long as its user is (TCP keepalive notices a vanished peer) */
    MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT,
                              r->route->body == SRV_BODY_PIPE ? 0u : (unsigned)SRV_REQUEST_TIMEOUT);
    if (srv_auth_check(r) < 0)
        return;
    if (atomic_load(&r->srv->stopping) && r->route->auth != SRV_AUTH_NONE) {
        srv_reply_error(r, 503, "unavailable", "the server is shutting down");
        return;
    }
    if (!content_type_ok(r)) {
        srv_reply_error(r, 415, "unsupported_media_type", "content type '%s' not accepted here",
                        srv_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE));
        return;
    }
    int64_t len = 0;
    const char *cl = srv_req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && srv_parse_int(cl, 0, INT64_MAX, &len) == 0 && (uint64_t)len > r->route->max_body) {
        srv_reply_error(r, 413, "too_large", "request body of %lld bytes exceeds the limit of %llu",
                        (long long)len, (unsigned long long)r->route->max_body);
        return;
    }
    m87_buf_init(&r->body, r->route->max_body);
}

/* ---- body chunks --------------------------------------------------------------------------- */

static enum MHD_Result body_chunk(struct srv_req *r, const char *data, size_t n)
{
    r->body_len += n;
    if (r->body_len > r->route->max_body) {
        r->body_over = true;
        return r->body_len > r->route->max_body + SRV_DRAIN_SLACK ? MHD_NO : MHD_YES;
    }
    if (r->failed)
        return MHD_YES;
    if (r->route->body == SRV_BODY_STREAM) {
        if (r->route->chunk(r, data, n) < 0)
            r->failed = true;
    } else if (r->route->body == SRV_BODY_JSON) {
        /* cannot fail: the cap was checked above */
        m87_buf_append(&r->body, data, n, NULL);
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct srv_req *r = *con_cls;
    (void)version;
    if (r == NULL) {
        r = req_new(cls, conn, url, method);
        *con_cls = r;
        begin(r);
        return MHD_YES;
    }
    if (*upload_data_size > 0 && r->route && r->route->body == SRV_BODY_PIPE && !r->queued) {
        *upload_data_size -= r->route->pipe(r, upload_data, *upload_data_size);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->queued)
            return MHD_YES;
        return body_chunk(r, upload_data, n);
    }
    if (r->queued)
        return MHD_YES;
    if (r->body_over) {
        srv_reply_error(r, 413, "too_large", "request body exceeds the limit of %llu bytes",
                        (unsigned long long)r->route->max_body);
        return MHD_YES;
    }
    if (r->route->tx == NULL)
        r->route->handle(r);
    else if (r->route->query == NULL || srv_req_check_query(r, r->route->query) == 0)
        srv_run_tx(r, r->route->status, r->route->tx);
    if (!r->queued && !r->held)
        srv_reply_error(r, 500, "internal", "no answer for %s %s", r->method, r->path);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct srv *s = cls;
    struct srv_req *r = *con_cls;
    (void)conn;
    if (r == NULL)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double ms = (double)(now.tv_sec - r->start.tv_sec) * 1e3 +
                (double)(now.tv_nsec - r->start.tv_nsec) / 1e6;
    /* the path is decoded: keep a "%0a" in it from forging a log line */
    for (char *p = r->path; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    fprintf(stderr, "%s %s %u %.1fms%s\n", r->method, r->path, r->queued ? r->status : 0, ms,
            toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed)");
    req_free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

/* MHD's own decoding, except that a text holding an encoded NUL is left as it is: decoded,
 * the NUL would cut "/v1/devices/gw%00/x" to another, valid, path. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *text)
{
    (void)cls;
    (void)conn;
    if (strstr(text, "%00") != NULL)
        return strlen(text);
    return MHD_http_unescape(text);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    _cleanup_free_ char *msg = m87_xvasprintf(fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    m87_log(M87_LOG_WARN, "http: %s", msg);
}

/* ---- the daemon ---------------------------------------------------------------------------- */

#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>

static int resolve(const char *listen, struct sockaddr_storage *out, struct m87_error **err)
{
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || colon == listen || colon[1] == '\0')
        return m87_error_set(err, M87_E_INVAL, 0, "listen address '%s': expected HOST:PORT",
                             listen);
    _cleanup_free_ char *host = m87_xstrndup(listen, (size_t)(colon - listen));
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    int64_t port = 0;
    if (srv_parse_int(colon + 1, 0, 65535, &port) < 0)
        return m87_error_set(err, M87_E_INVAL, 0, "listen address '%s': bad port", listen);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0 || res == NULL)
        return m87_error_set(err, M87_E_INVAL, 0, "listen address '%s': %s", listen,
                             gai_strerror(rc));
    memcpy(out, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

/* Connections past the descriptors the process may open are refused at once, not accepted to
 * leave the database and the bundles without a descriptor. */
static unsigned connection_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur >= SRV_MAX_CONNECTIONS + SRV_FD_RESERVE)
        return SRV_MAX_CONNECTIONS;
    return rl.rlim_cur > 2 * SRV_FD_RESERVE ? (unsigned)(rl.rlim_cur - SRV_FD_RESERVE)
                                            : (unsigned)(rl.rlim_cur / 2);
}

int srv_http_start(struct srv *s, const char *listen, const char *cert, const char *key,
                   struct m87_error **err)
{
    struct sockaddr_storage addr;
    if (resolve(listen, &addr, err) < 0)
        return -1;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (cert) {
        if ((s->tls_cert_pem = m87_read_file(cert, 1024 * 1024, NULL, err)) == NULL ||
            (s->tls_key_pem = m87_read_file(key, 1024 * 1024, NULL, err)) == NULL)
            return m87_error_wrap(err, "tls");
        flags |= MHD_USE_TLS;
    }
    /* one address may take at most half of the connections (unless 0 says no limit): else a low
     * descriptor limit would let one client take them all */
    unsigned total = connection_limit(), per_address = s->max_conn_per_address;
    if (per_address > total / 2) {
        per_address = total / 2;
        m87_log(M87_LOG_INFO, "connections per address: %u (half of the %u this process can take)",
                per_address, total);
    }
    /* a connection that has not sent its headers within SRV_HEADER_TIMEOUT is closed (begin()
     * allows a request more); held syncs are suspended and never time out. A connection's memory
     * is also the piece a remote stream moves at once, each way (docs/remote.md, "Measured"):
     * 16 KiB, not 8 (faster) nor 32 (as fast, twice the memory of a kept-alive connection) */
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)4,
        MHD_OPTION_CONNECTION_LIMIT, total, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_address,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SRV_HEADER_TIMEOUT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_UNESCAPE_CALLBACK, unescape,
        NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, s->tls_cert_pem,
        MHD_OPTION_HTTPS_MEM_KEY, s->tls_key_pem, MHD_OPTION_END);
    if (s->daemon == NULL)
        return m87_error_set(err, M87_E_IO, 0, "listen on '%s'%s failed", listen,
                             cert ? " with tls" : "");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    m87_log(M87_LOG_INFO, "listening on %s://%s (port %u)", cert ? "https" : "http", listen,
            info ? (unsigned)info->port : 0);
    return 0;
}

void srv_http_stop(struct srv *s)
{
    if (s->daemon == NULL)
        return;
    atomic_store(&s->stopping, true);
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    srv_longpoll_stop(s->lp);
    srv_remote_stop(s->remote);
    /* the held syncs were resumed: give them and the requests in flight time to finish */
    for (int i = 0; i < 500 && atomic_load(&s->in_flight) > 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
}
