/* Remote access (docs/remote.md, docs/api.md "Remote access"): the admin opens a channel, the
 * device's held sync is woken and tells its agent, both sides join the channel's streams. */
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "server/api.h"
#include "server/audit.h"
#include "server/http.h"
#include "server/json.h"
#include "server/longpoll.h"
#include "server/remote-relay.h"
#include "server/remote.h"
#include "server/request.h"
#include "server/store-audit.h"
#include "server/store-devices.h"
#include "server/store-remote.h"
#include "server/store-sessions.h"
#include "server/util.h"

#define REMOTE_MAX_ARGS 256
#define REMOTE_MAX_ARG 4096
#define REMOTE_READ_BLOCK (32u * 1024)

static int check_strings(const struct m87_json *body, const char *key, bool required,
                         struct m87_error **err)
{
    const struct m87_json *v = m87_json_get(body, key);
    if (!v)
        return required ? m87_error_set(err, M87_E_INVAL, 0, "%s: required", key) : 0;
    if (m87_json_type(v) != M87_JSON_ARRAY || m87_json_len(v) > REMOTE_MAX_ARGS ||
        (required && m87_json_len(v) == 0))
        return m87_error_set(err, M87_E_INVAL, 0, "%s: expected an array of 1 to %d strings", key,
                             REMOTE_MAX_ARGS);
    for (size_t i = 0; i < m87_json_len(v); i++) {
        const char *s = m87_json_str(m87_json_at(v, i), NULL);
        if (!s || strlen(s) > REMOTE_MAX_ARG)
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "%s[%zu]: expected a string of at most %d bytes", key, i,
                                 REMOTE_MAX_ARG);
        if (strcmp(key, "env") == 0 && (strchr(s, '=') == NULL || s[0] == '='))
            return m87_error_set(err, M87_E_INVAL, 0, "env[%zu]: expected KEY=VALUE", i);
    }
    return 0;
}

/* A forwarded TCP connection or UDP peer: {"what": "forward", "host", "port", "protocol"} (and a
 * signature); "protocol" is "tcp" (the default) or "udp". */
static int check_forward(const struct m87_json *body, struct m87_error **err)
{
    static const char *const allowed[] = {"what", "host", "port", "protocol", "signature", NULL};
    static const char host_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789.-:_";
    const char *host = m87_json_str(m87_json_get(body, "host"), NULL);
    int64_t port = 0;
    if (srv_json_only(body, NULL, allowed, err) < 0)
        return -1;
    if (!host || !host[0] || strlen(host) > 253 || strspn(host, host_chars) != strlen(host))
        return m87_error_set(err, M87_E_INVAL, 0, "host: expected a host name or an address");
    if (!srv_json_is_int(m87_json_get(body, "port"), &port) || port < 1 || port > 65535)
        return m87_error_set(err, M87_E_INVAL, 0, "port: expected a number from 1 to 65535");
    const struct m87_json *proto = m87_json_get(body, "protocol");
    const char *ps = m87_json_str(proto, "");
    if (proto && strcmp(ps, "tcp") != 0 && strcmp(ps, "udp") != 0)
        return m87_error_set(err, M87_E_INVAL, 0, "protocol: expected tcp or udp");
    const struct m87_json *sig = m87_json_get(body, "signature");
    return sig ? srv_signature_check(sig, err) : 0;
}

/* A copy: {"what": "cp", "command": ["upload"|"download", ["-r",] PATH], "stdin"} (and a
 * signature); the tar goes up as stdin, or down as stdout. */
static int check_cp(const struct m87_json *body, struct m87_error **err)
{
    static const char *const allowed[] = {"what", "command", "stdin", "signature", NULL};
    const struct m87_json *cmd = m87_json_get(body, "command");
    size_t n = m87_json_len(cmd);
    if (srv_json_only(body, NULL, allowed, err) < 0 ||
        check_strings(body, "command", true, err) < 0)
        return -1;
    const char *dir = m87_json_str(m87_json_at(cmd, 0), "");
    bool upload = strcmp(dir, "upload") == 0;
    if ((!upload && strcmp(dir, "download") != 0) || n < 2 || n > 3 ||
        (n == 3 && (upload || strcmp(m87_json_str(m87_json_at(cmd, 1), ""), "-r") != 0)))
        return m87_error_set(
            err, M87_E_INVAL, 0,
            "command: expected [\"upload\", PATH] or [\"download\", [\"-r\",] PATH]");
    const struct m87_json *in = m87_json_get(body, "stdin");
    if (in && (m87_json_type(in) != M87_JSON_BOOL || m87_json_bool(in, false) != upload))
        return m87_error_set(err, M87_E_INVAL, 0, "stdin: expected true for an upload only");
    const struct m87_json *sig = m87_json_get(body, "signature");
    return sig ? srv_signature_check(sig, err) : 0;
}

static int check_request(const struct m87_json *body, struct m87_error **err)
{
    static const char *const allowed[] = {"what", "command", "env",  "workdir",   "stdin",
                                          "tty",  "rows",    "cols", "signature", NULL};
    const char *what = m87_json_str(m87_json_get(body, "what"), "");
    if (strcmp(what, "forward") == 0)
        return check_forward(body, err);
    if (strcmp(what, "cp") == 0)
        return check_cp(body, err);
    if (strcmp(what, "metrics") == 0) {
        static const char *const only[] = {"what", "signature", NULL};
        const struct m87_json *sig = m87_json_get(body, "signature");
        if (srv_json_only(body, NULL, only, err) < 0)
            return -1;
        return sig ? srv_signature_check(sig, err) : 0;
    }
    if (srv_json_only(body, NULL, allowed, err) < 0)
        return -1;
    if (strcmp(what, "exec") != 0 && strcmp(what, "shell") != 0)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "what: expected exec, shell, forward, cp or metrics");
    if (check_strings(body, "command", strcmp(what, "exec") == 0, err) < 0 ||
        check_strings(body, "env", false, err) < 0)
        return -1;
    const struct m87_json *wd = m87_json_get(body, "workdir");
    const char *dir = m87_json_str(wd, NULL);
    if (wd && (!dir || dir[0] != '/' || strlen(dir) > REMOTE_MAX_ARG))
        return m87_error_set(err, M87_E_INVAL, 0, "workdir: expected an absolute path");
    static const char *const flags[] = {"stdin", "tty"};
    for (size_t i = 0; i < M87_ARRAY_LEN(flags); i++) {
        const struct m87_json *v = m87_json_get(body, flags[i]);
        if (v && m87_json_type(v) != M87_JSON_BOOL)
            return m87_error_set(err, M87_E_INVAL, 0, "%s: expected true or false", flags[i]);
    }
    const struct m87_json *sig = m87_json_get(body, "signature");
    if (sig && srv_signature_check(sig, err) < 0)
        return -1;
    static const char *const sizes[] = {"rows", "cols"};
    for (size_t i = 0; i < M87_ARRAY_LEN(sizes); i++) {
        const struct m87_json *v = m87_json_get(body, sizes[i]);
        int64_t n = 0;
        if (v && (!srv_json_is_int(v, &n) || n < 1 || n > 65535))
            return m87_error_set(err, M87_E_INVAL, 0, "%s: expected a number from 1 to 65535",
                                 sizes[i]);
    }
    return 0;
}

/* The audit row's command: the request's, or where a forward goes ([HOST, PORT, PROTOCOL]). */
static char *audit_command(const struct m87_json *body)
{
    const struct m87_json *cmd = m87_json_get(body, "command");
    struct m87_jw *cw = m87_jw_new();
    if (m87_json_get(body, "host")) {
        m87_jw_arr_open(cw);
        m87_jw_str(cw, m87_json_str(m87_json_get(body, "host"), ""));
        _cleanup_free_ char *port =
            m87_xasprintf("%lld", (long long)m87_json_int(m87_json_get(body, "port"), 0));
        m87_jw_str(cw, port);
        m87_jw_str(cw, m87_json_str(m87_json_get(body, "protocol"), "tcp"));
        m87_jw_arr_close(cw);
    } else if (cmd) {
        m87_jw_node(cw, cmd);
    } else {
        m87_jw_free(cw);
        return NULL;
    }
    return m87_jw_finish(cw);
}

int srv_api_remote_open(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *body = srv_body_object(r, NULL, err);
    _cleanup_(srv_device_release) struct srv_device dev = {0};
    char id[SRV_REMOTE_ID_LEN + 1];

    if (body == NULL || check_request(body, err) < 0 ||
        srv_device_find(r->srv->store, r->params.v[0], &dev, err) < 0)
        return -1;
    /* with replicas, the device's held sync may be on another one: it began at most as long ago
     * as a hold may last */
    int64_t recent = SRV_SESSION_CONNECTED;
    if (srv_store_remote_shared(r->srv->store))
        recent += r->srv->longpoll_max;
    bool connected = !dev.offline && (srv_longpoll_device_held(r->srv->lp, dev.id) ||
                                      (dev.last_seen && dev.last_seen >= srv_now() - recent));
    if (!connected)
        return m87_error_set(err, M87_E_CONFLICT, 0, "device '%s' is offline", dev.name);
    struct m87_jw *req = m87_jw_new();
    m87_jw_node(req, body);
    _cleanup_free_ char *text = m87_jw_finish(req);
    if (srv_remote_open(r->srv->remote, dev.id, dev.name, text, id, err) < 0 ||
        srv_remote_channel_add(r->srv->store, id, dev.id, dev.name, text, r->srv->advertise, err) <
            0)
        return -1;
    char who[SRV_AUDIT_TOKEN_ID_LEN + 1];
    srv_audit_who(r, who);
    _cleanup_free_ char *cmd_text = audit_command(body);
    /* the request's other members (a forward's protocol, a copy's paths), without its
     * environment (it may hold secrets) */
    static const char *const skip[] = {"what", "command", "env", "signature", NULL};
    _cleanup_free_ char *detail = srv_audit_json_without(body, skip);
    struct srv_audit_new row = {.kind = SRV_AUDIT_REMOTE,
                                .ref = id,
                                .token = who,
                                .what = m87_json_str(m87_json_get(body, "what"), ""),
                                .command = cmd_text,
                                .detail = detail};
    if (srv_audit_record(r->srv->store, dev.id, &row, err) < 0)
        return -1;
    r->notify_device = dev.id;
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "id", id);
    m87_jw_obj_close(w);
    return 0;
}

void srv_api_remote_state(struct srv_req *r)
{
    struct m87_error *err = NULL;
    struct m87_jw *w = m87_jw_new();
    bool ended = false;
    if (srv_remote_jw_state(r->srv->remote, r->params.v[0], r->params.v[1], w, &ended, &err) < 0) {
        m87_jw_free(w);
        if (m87_error_code(err) == M87_E_NOTFOUND &&
            srv_remote_relay_json(r, r->params.v[1], false)) {
            m87_error_free(err);
            return;
        }
        srv_reply_fail(r, err);
        m87_error_free(err);
        return;
    }
    srv_reply_json(r, 200, w);
}

/* A peer that vanished without a word (a device that lost its network) is noticed by TCP
 * within about 11 seconds (5 idle, 3 probes 2 apart): the connection fails, the channel breaks. */
static void keepalive(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int on = 1, idle = 5, intvl = 2, cnt = 3;
    if (!ci)
        return;
    setsockopt(ci->connect_fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

static void detach(void *port)
{
    srv_remote_detach(port);
}

/* Join the stream named by the last path segment; NULL after a reply when it cannot. */
static struct srv_remote_port *join(struct srv_req *r)
{
    bool agent = r->role == SRV_ROLE_DEVICE;
    const char *id = r->params.v[agent ? 0 : 1], *name = r->params.v[agent ? 1 : 2];
    struct m87_error *err = NULL;
    int stream = srv_remote_stream_of(name);
    if (stream < 0) {
        srv_reply_error(r, 404, "not_found", "no stream '%s' (stdin, stdout, stderr or resize)",
                        name);
        return NULL;
    }
    struct srv_remote_port *p =
        srv_remote_attach(r->srv->remote, agent ? r->device_id : 0, agent ? NULL : r->params.v[0],
                          id, (enum srv_remote_stream)stream, agent, r->conn, &err);
    if (!p && m87_error_code(err) == M87_E_NOTFOUND) { /* another replica may hold it */
        struct m87_error *e = NULL;
        p = srv_remote_relay_join(r, id, (enum srv_remote_stream)stream, agent, &e);
        if (!p && m87_error_code(e) == M87_E_NOTFOUND) {
            m87_error_free(e);
        } else {
            m87_error_free(err);
            err = e;
        }
    }
    if (!p) {
        srv_reply_fail(r, err);
        m87_error_free(err);
        return NULL;
    }
    r->state = p;
    r->state_free = detach;
    keepalive(r->conn);
    return p;
}

void srv_api_remote_read(struct srv_req *r)
{
    struct srv_remote_port *p = join(r);
    if (!p)
        return;
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, REMOTE_READ_BLOCK, srv_remote_read, p, NULL);
    if (!resp)
        m87_oom();
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
    srv_reply_response(r, 200, resp);
}

void srv_api_remote_end(struct srv_req *r)
{
    int64_t duration = 0, bytes[3];
    struct m87_error *err = NULL;
    /* held here, or by no replica (forgotten at a restart): the end is recorded here */
    if (srv_remote_stats(r->srv->remote, r->device_id, r->params.v[0], &duration, bytes, &err) ==
            0 ||
        !srv_remote_relay_json(r, r->params.v[0], true))
        srv_run_tx(r, 200, srv_api_remote_finish);
    m87_error_free(err);
}

size_t srv_api_remote_pipe(struct srv_req *r, const char *data, size_t len)
{
    struct srv_remote_port *p = r->state ? r->state : join(r);
    if (!p)
        return len; /* answered: the rest is drained */
    size_t took = srv_remote_write(p, data, len);
    if (took == (size_t)-1) {
        srv_reply_error(r, 409, "conflict", "the remote channel has ended");
        return len;
    }
    return took;
}

void srv_api_remote_write_end(struct srv_req *r)
{
    struct srv_remote_port *p = r->state ? r->state : join(r);
    if (!p)
        return;
    _cleanup_free_ char *why = NULL;
    int rc = srv_remote_write_done(p, &why);
    r->held = rc == 0; /* relayed: answered once the owner has the bytes */
    if (rc < 0)
        srv_reply_error(r, 502, "bad_gateway", "%s", why);
    else if (rc > 0)
        srv_reply_empty(r, 204);
}

int srv_api_remote_finish(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    static const char *const allowed[] = {"exit_code", "refused", "error", NULL};
    _cleanup_(m87_json_freep) struct m87_json *body = srv_body_object(r, allowed, err);
    if (!body)
        return -1;
    const struct m87_json *code = m87_json_get(body, "exit_code");
    int64_t exit_code = -1;
    if (code && (!srv_json_is_int(code, &exit_code) || exit_code < 0 || exit_code > 255))
        return m87_error_set(err, M87_E_INVAL, 0, "exit_code: expected a number from 0 to 255");
    const char *refused = m87_json_str(m87_json_get(body, "refused"), NULL);
    const char *error = m87_json_str(m87_json_get(body, "error"), NULL);
    if ((code != NULL) + (refused != NULL) + (error != NULL) != 1)
        return m87_error_set(err, M87_E_INVAL, 0, "expected one of exit_code, refused, error");
    _cleanup_free_ char *msg = refused ? m87_xasprintf("refused by the device: %s", refused)
                               : error ? m87_xstrdup(error)
                                       : NULL;
    int64_t duration = -1, bytes[3] = {0, 0, 0};
    struct m87_error *e = NULL;
    int rc =
        srv_remote_finish(r->srv->remote, r->device_id, r->params.v[0], (int)exit_code, msg, &e);
    if (rc == 0)
        rc = srv_remote_stats(r->srv->remote, r->device_id, r->params.v[0], &duration, bytes, &e);
    /* a channel the server forgot (it restarted) still gets its end in the audit trail */
    if (rc < 0 && m87_error_code(e) != M87_E_NOTFOUND) {
        *err = e;
        return -1;
    }
    m87_error_free(e);
    struct srv_audit_end end = {
        .exit_code = (int)exit_code, .message = msg, .duration_ms = duration};
    memcpy(end.bytes, bytes, sizeof(end.bytes));
    /* what the end says beyond its result (a copy's paths and bytes) */
    static const char *const result[] = {"exit_code", "refused", "error", NULL};
    _cleanup_free_ char *extra = srv_audit_json_without(body, result);
    end.detail = extra;
    if (srv_audit_finish(r->srv->store, r->device_id, SRV_AUDIT_REMOTE, r->params.v[0], &end, err) <
        0)
        return -1;
    m87_jw_obj_open(w);
    m87_jw_obj_close(w);
    return 0;
}

int srv_jw_remote_sync(struct srv *s, struct m87_jw *w, int64_t device_id, size_t *n,
                       struct m87_error **err)
{
    if (srv_store_remote_shared(s->store))
        return srv_remote_channels_deliver(s->store, device_id, SRV_REMOTE_PICKUP_S, w, n, err);
    *n = srv_remote_jw_pending(s->remote, w, device_id);
    return 0;
}

int srv_api_remote_audit(struct srv_req *r, struct m87_jw *w, struct m87_error **err)
{
    _cleanup_(srv_device_release) struct srv_device dev = {0};
    const char *since_text = srv_req_query(r, "since");
    int64_t since = 0;
    struct srv_audit *v = NULL;
    size_t n = 0;

    static const char *const kinds[] = {SRV_AUDIT_REMOTE, SRV_AUDIT_SESSION, SRV_AUDIT_DEPLOY,
                                        SRV_AUDIT_ACTIVATE, NULL};
    const char *kind = srv_req_query(r, "kind");
    bool known = kind == NULL;
    for (size_t i = 0; !known && kinds[i]; i++)
        known = strcmp(kind, kinds[i]) == 0;

    if (since_text && srv_parse_int(since_text, 0, INT64_MAX, &since) < 0)
        return m87_error_set(err, M87_E_INVAL, 0, "since: expected unix seconds, not '%s'",
                             since_text);
    if (!known)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "kind: expected remote, session, deploy or activate, not '%s'", kind);
    if (srv_device_find(r->srv->store, r->params.v[0], &dev, err) < 0 ||
        srv_audit_list(r->srv->store, dev.id, since, kind, &v, &n, err) < 0)
        return -1;
    m87_jw_obj_open(w);
    m87_jw_key(w, "audit");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < n; i++)
        srv_jw_audit(w, &v[i]);
    m87_jw_arr_close(w);
    m87_jw_obj_close(w);
    srv_audits_free(v, n);
    return 0;
}
