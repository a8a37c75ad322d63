/* Remote channels across replicas (remote-relay.h, docs/remote.md "Channels across replicas"):
 * a request for a channel another replica holds is relayed to it with libcurl, with the
 * client's own Authorization, so that the owner checks it as its own client's. */
#include <curl/curl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json.h"
#include "server/http.h"
#include "server/remote-relay.h"
#include "server/remote.h"
#include "server/request.h"
#include "server/store-remote.h"

/* set on every relayed request: a replica relays it no further */
#define RELAY_HEADER "M87-Relay"
#define RELAY_MAX_ANSWER (64u * 1024) /* a JSON answer or an error's body */
#define RELAY_CONNECT_TIMEOUT_S 5L
#define RELAY_JSON_TIMEOUT_S 15L
#define RELAY_BUFFER (256L * 1024) /* libcurl's buffers each way, as the CLI's and the agent's */

static int not_here(const char *id, struct m87_error **err)
{
    return m87_error_set(err, M87_E_NOTFOUND, 0, "no remote channel '%s' on this device", id);
}

/* The owner's URL of channel id when another replica holds it, and the device's id and name;
 * NULL with M87_E_NOTFOUND when no relay applies. */
static char *owner_of(struct srv_req *r, const char *id, bool agent, int64_t *device_id,
                      char **device_name, struct m87_error **err)
{
    struct srv *s = r->srv;
    _cleanup_free_ char *name = NULL;
    char *owner = NULL;
    int64_t dev = 0;
    if (srv_req_header(r, RELAY_HEADER) || !srv_store_remote_shared(s->store)) {
        not_here(id, err);
        return NULL;
    }
    if (srv_remote_channel_find(s->store, id, &dev, &name, &owner, err) < 0)
        return NULL;
    bool other = agent ? dev != r->device_id : strcmp(name, r->params.v[0]) != 0;
    bool mine = s->advertise && owner && strcmp(owner, s->advertise) == 0;
    if (other || mine) {
        not_here(id, err); /* another device's, or this replica's and forgotten (a restart) */
        free(owner);
        return NULL;
    }
    if (!owner) {
        m87_error_set(err, M87_E_CONFLICT, 0,
                      "the replica that holds remote channel '%s' has no --advertise address", id);
        return NULL;
    }
    *device_id = dev;
    if (device_name)
        *device_name = m87_xstrdup(name);
    return owner;
}

/* The headers of a relayed request: the client's Authorization and our mark. */
static struct curl_slist *relay_headers(struct srv_req *r, const char *type)
{
    const char *auth = srv_req_header(r, "Authorization");
    _cleanup_free_ char *line = m87_xasprintf("Authorization: %s", auth ? auth : "");
    struct curl_slist *h = curl_slist_append(NULL, line);
    h = curl_slist_append(h, RELAY_HEADER ": 1");
    h = curl_slist_append(h, "Expect:");
    if (type) {
        _cleanup_free_ char *ct = m87_xasprintf("Content-Type: %s", type);
        h = curl_slist_append(h, ct);
    }
    return h;
}

static CURL *relay_easy(const char *url, struct curl_slist *headers)
{
    CURL *c = curl_easy_init();
    if (!c)
        m87_oom();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, RELAY_CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L); /* a vanished owner: as remote.md says */
    curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 5L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 2L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    return c;
}

/* The message of an error answer ({"error": {"message"}}), or its text. */
static char *answer_message(const struct m87_buf *b)
{
    _cleanup_(m87_json_freep) struct m87_json *doc =
        b->data ? m87_json_parse(b->data, b->len, NULL) : NULL;
    const char *msg = m87_json_str(m87_json_get(m87_json_get(doc, "error"), "message"), NULL);
    return m87_xstrdup(msg ? msg : b->data ? b->data : "no answer");
}

static size_t keep_answer(char *data, size_t size, size_t n, void *cls)
{
    struct m87_buf *b = cls;
    size_t len = size * n;
    if (b->len + len <= RELAY_MAX_ANSWER)
        m87_buf_append(b, data, len, NULL);
    return len;
}

/* ---- streams ---- */

struct relay {
    struct srv_remote_port *port; /* the relay's side of the shadow */
    bool upload;                  /* the local client writes: the relay reads the shadow */
    char *url;
    struct curl_slist *headers;
    CURL *curl;
    struct m87_buf answer;
};

static size_t on_download(char *data, size_t size, size_t n, void *cls)
{
    struct relay *rl = cls;
    long status = 0;
    curl_easy_getinfo(rl->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        return keep_answer(data, size, n, &rl->answer);
    /* waits while the shadow's buffer is full: the owner's connection is held back by TCP */
    return srv_remote_push(rl->port, data, size * n) < 0 ? 0 : size * n;
}

static size_t on_upload(char *buf, size_t size, size_t n, void *cls)
{
    struct relay *rl = cls;
    ssize_t k = srv_remote_pull(rl->port, buf, size * n);
    return k < 0 ? CURL_READFUNC_ABORT : (size_t)k;
}

static int on_progress(void *cls, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    struct relay *rl = cls;
    (void)a, (void)b, (void)c, (void)d;
    return srv_remote_ended(rl->port) ? 1 : 0;
}

static void *relay_main(void *arg)
{
    struct relay *rl = arg;
    CURL *c = rl->curl;
    if (rl->upload) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L); /* a PUT, chunked: its size is not known */
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_upload);
        curl_easy_setopt(c, CURLOPT_READDATA, rl);
        curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, RELAY_BUFFER);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_answer);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &rl->answer);
    } else {
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_download);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, rl);
        curl_easy_setopt(c, CURLOPT_BUFFERSIZE, RELAY_BUFFER);
    }
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, rl);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    bool ok = rc == CURLE_OK && (rl->upload ? status / 100 == 2 : status == 200);
    if (ok && !rl->upload) {
        srv_remote_write_end(rl->port);
    } else if (ok) {
        srv_remote_delivered(rl->port);
    } else {
        _cleanup_free_ char *msg = status >= 300 ? answer_message(&rl->answer) : NULL;
        _cleanup_free_ char *why =
            msg ? m87_xasprintf("the replica holding the channel answered %ld: %s", status, msg)
                : m87_xasprintf("relay to the replica holding the channel failed: %s",
                                curl_easy_strerror(rc));
        srv_remote_break(rl->port, why);
    }
    srv_remote_detach(rl->port); /* the last use of the registry */
    curl_easy_cleanup(c);
    curl_slist_free_all(rl->headers);
    m87_buf_release(&rl->answer);
    free(rl->url);
    free(rl);
    return NULL;
}

static int start_relay(struct srv_req *r, struct srv_remote_port *port, bool upload,
                       const char *owner, struct m87_error **err)
{
    struct relay *rl = m87_xcalloc(1, sizeof(*rl));
    rl->port = port;
    rl->upload = upload;
    rl->url = m87_xasprintf("%s%s", owner, r->path);
    rl->headers = relay_headers(r, upload ? "application/octet-stream" : NULL);
    rl->curl = relay_easy(rl->url, rl->headers);
    m87_buf_init(&rl->answer, RELAY_MAX_ANSWER);
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, relay_main, rl);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        curl_easy_cleanup(rl->curl);
        curl_slist_free_all(rl->headers);
        free(rl->url);
        free(rl);
        return m87_error_set(err, M87_E_IO, rc, "start a relay thread");
    }
    return 0;
}

struct srv_remote_port *srv_remote_relay_join(struct srv_req *r, const char *id,
                                              enum srv_remote_stream stream, bool agent,
                                              struct m87_error **err)
{
    struct srv_remote *rm = r->srv->remote;
    int64_t dev = 0;
    _cleanup_free_ char *name = NULL;
    _cleanup_free_ char *owner = owner_of(r, id, agent, &dev, &name, err);
    if (!owner)
        return NULL;
    struct srv_remote_port *local = NULL, *far = NULL;
    if (srv_remote_shadow(rm, dev, name, id, stream, agent, r->conn, &local, &far, err) < 0)
        return NULL;
    bool admin_writes = stream == SRV_REMOTE_STDIN || stream == SRV_REMOTE_RESIZE;
    bool upload = agent ? !admin_writes : admin_writes;
    if (start_relay(r, far, upload, owner, err) < 0) {
        srv_remote_detach(far);
        srv_remote_detach(local);
        return NULL;
    }
    return local;
}

bool srv_remote_relay_json(struct srv_req *r, const char *id, bool agent)
{
    _cleanup_error_ struct m87_error *err = NULL;
    int64_t dev = 0;
    _cleanup_free_ char *owner = owner_of(r, id, agent, &dev, NULL, &err);
    if (!owner) {
        if (m87_error_code(err) == M87_E_NOTFOUND)
            return false;
        srv_reply_fail(r, err);
        return true;
    }
    _cleanup_free_ char *url = m87_xasprintf("%s%s", owner, r->path);
    bool post = strcmp(r->method, "POST") == 0;
    struct curl_slist *h = relay_headers(r, post ? "application/json" : NULL);
    CURL *c = relay_easy(url, h);
    struct m87_buf answer;
    m87_buf_init(&answer, RELAY_MAX_ANSWER);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, RELAY_JSON_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_answer);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
    if (post) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body.data ? r->body.data : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)r->body.len);
    }
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) {
        srv_reply_error(r, 502, "bad_gateway",
                        "the replica holding remote channel '%s' does not answer: %s", id,
                        curl_easy_strerror(rc));
    } else {
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            answer.len, answer.data ? answer.data : (char *)"", MHD_RESPMEM_MUST_COPY);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        srv_reply_response(r, (unsigned)status, resp);
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    m87_buf_release(&answer);
    return true;
}
