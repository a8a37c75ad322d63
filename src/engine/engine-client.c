/* The client: socket choice, API version negotiation, and the call helpers. */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/engine-call.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"

#define ENGINE_DEFAULT_TIMEOUT_MS 60000L

struct engine_client *engine_client_new(const struct engine_client_options *opts,
                                        struct m87_error **err)
{
    const char *host = opts && opts->host ? opts->host : getenv("DOCKER_HOST");
    if (host == NULL || host[0] == '\0')
        host = ENGINE_DEFAULT_HOST;
    if (strncmp(host, "unix://", 7) != 0 || host[7] != '/') {
        m87_error_set(err, M87_E_INVAL, 0, "docker host '%s': only unix:///path is supported",
                      host);
        return NULL;
    }
    struct engine_client *c = engine_client_new_with_transport(
        &engine_curl_transport, engine_curl_transport_new(host + 7), opts ? opts->timeout_ms : 0);
    c->socket_path = m87_xstrdup(host + 7);
    return c;
}

struct engine_client *engine_client_new_with_transport(const struct engine_transport *ops,
                                                       void *tctx, long timeout_ms)
{
    struct engine_client *c = m87_xcalloc(1, sizeof(*c));
    c->ops = ops;
    c->tctx = tctx;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : ENGINE_DEFAULT_TIMEOUT_MS;
    return c;
}

void engine_client_free(struct engine_client *c)
{
    if (c == NULL)
        return;
    if (c->ops->free)
        c->ops->free(c->tctx);
    free(c->socket_path);
    free(c->api_version);
    free(c->libpod_version);
    free(c);
}

const char *engine_client_api_version(const struct engine_client *c)
{
    return c->api_version;
}

bool engine_client_is_podman(const struct engine_client *c)
{
    return c->libpod_version != NULL;
}

const char *engine_client_socket(const struct engine_client *c)
{
    return c->socket_path ? c->socket_path : "";
}

long engine_client_timeout_ms(const struct engine_client *c)
{
    return c->timeout_ms;
}

struct engine_client *engine_client_clone(const struct engine_client *c)
{
    if (!c->socket_path || !c->socket_path[0])
        return NULL;
    _cleanup_free_ char *host = m87_xasprintf("unix://%s", c->socket_path);
    struct engine_client_options opts = {.host = host, .timeout_ms = c->timeout_ms};
    struct engine_client *t = engine_client_new(&opts, NULL);
    if (t && c->api_version)
        t->api_version = m87_xstrdup(c->api_version);
    if (t && c->libpod_version)
        t->libpod_version = m87_xstrdup(c->libpod_version);
    return t;
}

int engine_version_cmp(const char *a, const char *b)
{
    while (*a != '\0' || *b != '\0') {
        char *ea, *eb;
        unsigned long na = strtoul(a, &ea, 10);
        unsigned long nb = strtoul(b, &eb, 10);
        if (na != nb)
            return na < nb ? -1 : 1;
        /* step over one '.'; anything else ends that side, which then reads as zeros */
        a = *ea == '.' ? ea + 1 : "";
        b = *eb == '.' ? eb + 1 : "";
    }
    return 0;
}

void engine_response_init(struct engine_response *r)
{
    r->status = 0;
    m87_buf_init(&r->body, ENGINE_MAX_RESPONSE);
    r->api_version = NULL;
    r->libpod_version = NULL;
}

void engine_response_release(struct engine_response *r)
{
    m87_buf_release(&r->body);
    free(r->api_version);
    r->api_version = NULL;
    free(r->libpod_version);
    r->libpod_version = NULL;
}

static enum m87_errcode status_code(long status)
{
    switch (status) {
    case 404:
        return M87_E_NOTFOUND;
    case 409:
        return M87_E_CONFLICT;
    default:
        return M87_E_HTTP;
    }
}

/* Whether the "cause" of a Podman error is one dockerd answers with 409 Conflict (Podman 4.3
 * answers 500 with a "cause" beside the message). */
static bool podman_conflict(const char *cause)
{
    static const char *const causes[] = {
        "that name is already in use", /* create with a name taken */
        "container state improper",    /* remove of a running one, kill of a stopped one */
        "network already exists",      /* create with CheckDuplicate */
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(causes); i++)
        if (strcmp(cause, causes[i]) == 0)
            return true;
    return false;
}

/* dockerd answers errors as {"message": "..."}; anything else is quoted as it came. */
static int status_error(long status, const struct m87_buf *body, struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    const char *msg = NULL;
    if (body->len > 0) {
        doc = m87_json_parse(body->data, body->len, NULL);
        msg = m87_json_str(m87_json_get(doc, "message"), NULL);
    }
    _cleanup_free_ char *raw = NULL;
    if (msg == NULL) {
        raw = m87_xstrndup(body->data ? body->data : "", body->len > 200 ? 200 : body->len);
        raw[strcspn(raw, "\r\n")] = '\0';
        msg = raw[0] ? raw : "no message";
    }
    enum m87_errcode code = status_code(status);
    /* Podman answers 500 where dockerd answers 409, and names the kind in "cause" */
    const char *cause = m87_json_str(m87_json_get(doc, "cause"), NULL);
    if (code == M87_E_HTTP && cause && podman_conflict(cause))
        code = M87_E_CONFLICT;
    m87_error_set(err, code, 0, "dockerd answered %ld: %s", status, msg);
    if (err && *err) /* a caller may not want the error */
        (*err)->http_status = status;
    return -1;
}

static int do_raw(struct engine_client *c, const struct engine_call *call, const char *full_path,
                  struct engine_response *resp, struct m87_error **err)
{
    struct engine_request req = {
        .method = call->method ? call->method : "GET",
        .path = full_path,
        .body = call->body,
        .body_len = call->body && call->body_len == 0 ? strlen(call->body) : call->body_len,
        .content_type = call->content_type,
        .headers = call->headers,
        .timeout_ms = call->timeout_ms == ENGINE_NO_TIMEOUT ? 0
                      : call->timeout_ms > 0                ? call->timeout_ms
                                                            : c->timeout_ms,
        .stall_ms = call->stall_ms,
        .on_data = call->on_data,
        .ctx = call->ctx,
    };
    if (c->ops->request(c->tctx, &req, resp, err) < 0)
        return -1;
    if (resp->status == 304)
        return 1;
    if (resp->status >= 200 && resp->status < 300)
        return 0;
    return status_error(resp->status, &resp->body, err);
}

static int ping(struct engine_client *c, char **api_version, char **libpod_version,
                struct m87_error **err)
{
    struct engine_response resp;
    engine_response_init(&resp);
    struct engine_call call = {.method = "GET"};
    int r = do_raw(c, &call, "/_ping", &resp, err);
    if (r == 0 && api_version)
        *api_version = resp.api_version ? M87_STEAL(resp.api_version) : NULL;
    if (r == 0 && libpod_version)
        *libpod_version = resp.libpod_version ? M87_STEAL(resp.libpod_version) : NULL;
    engine_response_release(&resp);
    return r < 0 ? m87_error_wrap(err, "ping dockerd") : 0;
}

int engine_system_ping(struct engine_client *c, char **api_version, struct m87_error **err)
{
    return ping(c, api_version, NULL, err);
}

int engine_client_connect(struct engine_client *c, struct m87_error **err)
{
    _cleanup_free_ char *theirs = NULL;
    _cleanup_free_ char *libpod = NULL;
    if (ping(c, &theirs, &libpod, err) < 0)
        return -1;
    if (theirs == NULL)
        /* daemons older than 1.25 send no header; they are below our minimum anyway */
        return m87_error_set(err, M87_E_VERSION, 0,
                             "dockerd sent no API-Version; m87 needs API %s or newer",
                             ENGINE_API_MIN);
    if (engine_version_cmp(theirs, ENGINE_API_MIN) < 0)
        return m87_error_set(err, M87_E_VERSION, 0, "dockerd speaks API %s; m87 needs %s or newer",
                             theirs, ENGINE_API_MIN);
    free(c->api_version);
    /* Podman 4 answers API-Version 1.41 (its own version is in Libpod-Api-Version) and serves
     * the compat paths under /v1.41/ as dockerd does: nothing else to negotiate */
    c->api_version =
        m87_xstrdup(engine_version_cmp(theirs, ENGINE_API_MAX) < 0 ? theirs : ENGINE_API_MAX);
    free(c->libpod_version);
    c->libpod_version = M87_STEAL(libpod);
    return 0;
}

int engine_do(struct engine_client *c, const struct engine_call *call, const char *path,
              struct engine_response *resp, struct m87_error **err)
{
    if (c->api_version == NULL && engine_client_connect(c, err) < 0)
        return -1;
    _cleanup_free_ char *full = m87_xasprintf("/v%s%s", c->api_version, path);
    struct engine_response local;
    engine_response_init(&local);
    int r = do_raw(c, call, full, resp ? resp : &local, err);
    engine_response_release(&local);
    return r;
}

int engine_do_unversioned(struct engine_client *c, const struct engine_call *call, const char *path,
                          struct engine_response *resp, struct m87_error **err)
{
    if (c->api_version == NULL && engine_client_connect(c, err) < 0)
        return -1;
    return do_raw(c, call, path, resp, err);
}

int engine_send_json(struct engine_client *c, const char *method, const char *path,
                     const char *body, struct m87_json **out, struct m87_error **err)
{
    struct engine_response resp;
    engine_response_init(&resp);
    struct engine_call call = {.method = method, .body = body};
    int r = engine_do(c, &call, path, &resp, err);
    if (r >= 0 && out != NULL) {
        *out = m87_json_parse(resp.body.data ? resp.body.data : "", resp.body.len, err);
        if (*out == NULL)
            r = m87_error_wrap(err, "answer to %s %s", method, path);
    }
    engine_response_release(&resp);
    return r;
}

int engine_get_json(struct engine_client *c, const char *path, struct m87_json **out,
                    struct m87_error **err)
{
    return engine_send_json(c, "GET", path, NULL, out, err);
}

int engine_get_list(struct engine_client *c, const char *base, const struct m87_kvlist *filters,
                    enum m87_json_type type, const char *what, struct m87_json **out,
                    struct m87_error **err)
{
    struct m87_buf path;
    m87_buf_init(&path, 0);
    m87_buf_appendf(&path, NULL, "%s", base);
    engine_qs_filters(&path, filters);
    int r = engine_get_json(c, path.data, out, err);
    m87_buf_release(&path);
    if (r < 0)
        return m87_error_wrap(err, "list %s", what);
    if (m87_json_type(*out) != type)
        return m87_error_set(err, M87_E_PARSE, 0, "list %s: answer is not an %s", what,
                             type == M87_JSON_ARRAY ? "array" : "object");
    return 0;
}

int engine_get_object(struct engine_client *c, const char *path, const char *kind, const char *name,
                      struct m87_json **out, struct m87_error **err)
{
    if (engine_get_json(c, path, out, err) < 0)
        return m87_error_wrap(err, "inspect %s '%s'", kind, name);
    if (m87_json_type(*out) != M87_JSON_OBJECT)
        return m87_error_set(err, M87_E_PARSE, 0, "inspect %s '%s': answer is not an object", kind,
                             name);
    return 0;
}

void engine_qs_add(struct m87_buf *path, const char *key, const char *value)
{
    char *esc = curl_easy_escape(NULL, value, 0);
    if (esc == NULL)
        m87_oom();
    m87_buf_appendf(path, NULL, "%c%s=%s", strchr(path->data ? path->data : "", '?') ? '&' : '?',
                    key, esc);
    curl_free(esc);
}

void engine_qs_filters(struct m87_buf *path, const struct m87_kvlist *filters)
{
    if (filters == NULL || filters->len == 0)
        return;
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    /* group repeated names into one list each, in first-seen order */
    for (size_t i = 0; i < filters->len; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(filters->items[j].key, filters->items[i].key) == 0;
        if (seen)
            continue;
        m87_jw_key(w, filters->items[i].key);
        m87_jw_arr_open(w);
        for (size_t j = i; j < filters->len; j++)
            if (strcmp(filters->items[j].key, filters->items[i].key) == 0)
                m87_jw_str(w, filters->items[j].value ? filters->items[j].value : "");
        m87_jw_arr_close(w);
    }
    m87_jw_obj_close(w);
    _cleanup_free_ char *json = m87_jw_finish(w);
    engine_qs_add(path, "filters", json);
}

char *engine_path_seg(const char *before, const char *seg, const char *after)
{
    char *esc = curl_easy_escape(NULL, seg, 0);
    if (esc == NULL)
        m87_oom();
    char *p = m87_xasprintf("%s%s%s", before, esc, after ? after : "");
    curl_free(esc);
    return p;
}

char *engine_strip_slash(const char *name)
{
    if (name == NULL)
        return NULL;
    return m87_xstrdup(name[0] == '/' ? name + 1 : name);
}

char *engine_json_strdup(const struct m87_json *n)
{
    const char *s = m87_json_str(n, NULL);
    return s ? m87_xstrdup(s) : NULL;
}
