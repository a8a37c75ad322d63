/* The libcurl transport: HTTP/1.1 to dockerd over its Unix socket. */
#include <curl/curl.h>
#include <string.h>
#include <time.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/engine.h"
#include "m87/error.h"

struct curl_transport {
    char *socket_path;
    CURL *idle; /* one handle kept for connection reuse; nested calls get their own */
};

struct curl_xfer {
    const struct engine_request *req;
    struct engine_response *resp;
    CURL *h;
    struct m87_error *err; /* a failure inside a callback */
    bool cancelled;
    bool stalled;
    struct timespec last_byte;
};

static void now(struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
}

static long elapsed_ms(const struct timespec *since)
{
    struct timespec t;
    now(&t);
    return (long)((t.tv_sec - since->tv_sec) * 1000 + (t.tv_nsec - since->tv_nsec) / 1000000);
}

/* The value of header name (lower case, with its ':') in the line data, or NULL. */
static char *header_value(const char *data, size_t len, const char *name)
{
    size_t nlen = strlen(name);
    if (len <= nlen || strncasecmp(data, name, nlen) != 0)
        return NULL;
    const char *v = data + nlen;
    size_t vlen = len - nlen;
    while (vlen > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    return m87_xstrndup(v, vlen);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct curl_xfer *x = userdata;
    size_t len = size * nmemb;
    char *v = header_value(data, len, "api-version:");
    if (v != NULL) {
        free(x->resp->api_version);
        x->resp->api_version = v;
    } else if ((v = header_value(data, len, "libpod-api-version:")) != NULL) {
        free(x->resp->libpod_version);
        x->resp->libpod_version = v;
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct curl_xfer *x = userdata;
    size_t len = size * nmemb;
    long status = 0;
    now(&x->last_byte);
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    if (x->req->on_data && status >= 200 && status < 300) {
        if (x->req->on_data(x->req->ctx, data, len) != 0) {
            x->cancelled = true;
            return 0;
        }
        return len;
    }
    if (m87_buf_append(&x->resp->body, data, len, &x->err) < 0)
        return 0;
    return len;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    struct curl_xfer *x = userdata;
    if (x->req->stall_ms > 0 && elapsed_ms(&x->last_byte) > x->req->stall_ms) {
        x->stalled = true;
        return 1;
    }
    return 0;
}

static CURL *handle_take(struct curl_transport *t)
{
    CURL *h = t->idle;
    t->idle = NULL;
    if (h == NULL) {
        h = curl_easy_init();
        if (h == NULL)
            m87_oom();
    } else {
        curl_easy_reset(h);
    }
    return h;
}

static void handle_give_back(struct curl_transport *t, CURL *h)
{
    if (t->idle == NULL)
        t->idle = h;
    else
        curl_easy_cleanup(h);
}

static struct curl_slist *build_headers(const struct engine_request *req)
{
    struct curl_slist *hs = NULL;
    /* dockerd does not answer 100-continue; never wait for it */
    hs = curl_slist_append(hs, "Expect:");
    if (req->body != NULL) {
        _cleanup_free_ char *ct = m87_xasprintf(
            "Content-Type: %s", req->content_type ? req->content_type : "application/json");
        hs = curl_slist_append(hs, ct);
    }
    for (size_t i = 0; req->headers && i < req->headers->len; i++) {
        _cleanup_free_ char *h =
            m87_xasprintf("%s: %s", req->headers->items[i].key,
                          req->headers->items[i].value ? req->headers->items[i].value : "");
        hs = curl_slist_append(hs, h);
    }
    return hs;
}

static void setup_handle(CURL *h, struct curl_transport *t, const struct engine_request *req,
                         struct curl_xfer *x, struct curl_slist *hs, const char *url)
{
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, t->socket_path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    if (strcmp(req->method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (req->body != NULL || strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    if (req->stall_ms > 0) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    }
}

static int map_curl_error(struct curl_xfer *x, CURLcode rc, const char *sock,
                          struct m87_error **err)
{
    if (x->err != NULL) {
        *err = x->err;
        x->err = NULL;
        return -1;
    }
    if (x->cancelled)
        return m87_error_set(err, M87_E_CANCELLED, 0, "cancelled");
    if (x->stalled)
        return m87_error_set(err, M87_E_STALLED, 0, "no data from dockerd for %ld ms, giving up",
                             x->req->stall_ms);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        return m87_error_set(err, M87_E_CONNECT, 0, "connect '%s': %s", sock,
                             curl_easy_strerror(rc));
    case CURLE_OPERATION_TIMEDOUT:
        return m87_error_set(err, M87_E_TIMEOUT, 0, "no answer from dockerd within %ld ms",
                             x->req->timeout_ms);
    default:
        return m87_error_set(err, M87_E_IO, 0, "talk to dockerd on '%s': %s", sock,
                             curl_easy_strerror(rc));
    }
}

static int curl_request(void *tctx, const struct engine_request *req, struct engine_response *resp,
                        struct m87_error **err)
{
    struct curl_transport *t = tctx;
    struct curl_xfer x = {.req = req, .resp = resp};
    resp->body.max = req->max_body ? req->max_body : ENGINE_MAX_RESPONSE;
    now(&x.last_byte);

    _cleanup_free_ char *url = m87_xasprintf("http://localhost%s", req->path);
    struct curl_slist *hs = build_headers(req);
    x.h = handle_take(t);
    setup_handle(x.h, t, req, &x, hs, url);

    CURLcode rc = curl_easy_perform(x.h);
    curl_easy_getinfo(x.h, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_slist_free_all(hs);
    handle_give_back(t, x.h);
    if (rc != CURLE_OK) {
        int r = map_curl_error(&x, rc, t->socket_path, err);
        return r;
    }
    m87_error_free(x.err);
    return 0;
}

static void curl_transport_free(void *tctx)
{
    struct curl_transport *t = tctx;
    if (t == NULL)
        return;
    if (t->idle)
        curl_easy_cleanup(t->idle);
    free(t->socket_path);
    free(t);
}

void *engine_curl_transport_new(const char *socket_path)
{
    struct curl_transport *t = m87_xcalloc(1, sizeof(*t));
    t->socket_path = m87_xstrdup(socket_path);
    return t;
}

const struct engine_transport engine_curl_transport = {
    .request = curl_request,
    .free = curl_transport_free,
};
