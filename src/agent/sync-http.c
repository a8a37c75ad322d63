/* The daemon's requests to m87-server over libcurl: the sync long-poll and bundle downloads that
 * resume with Range after a cut. One easy handle, so that the connection is reused. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/config.h"
#include "agent/daemon.h"
#include "agent/sync-http.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json.h"
#include "m87/runner-text.h"
#include "m87/spec-bundle.h"
#include "m87/state-file.h"
#include "m87/time.h"
#include "m87/version.h"

#define MAX_ERROR_BODY (64u * 1024)

/* The index in the config's servers that this process and its children use: the daemon moves it
 * on when one cannot be reached, and every client made afterwards (a fork's too) starts there. */
static _Atomic size_t preferred_server;

struct agent_http {
    CURL *h;
    const struct agent_config *cfg;
    size_t cur;         /* index in cfg->servers */
    const char *server; /* cfg->servers.items[cur] */
    char *auth;
    char *ca_file;
    volatile sig_atomic_t *stop;
    agent_http_tick_fn tick; /* called about once a second while a long-poll is held */
    void *tick_ctx;
    bool ticking;     /* the transfer in progress is a long-poll */
    int64_t tick_at;  /* monotonic ms: the next call of tick */
    bool interrupted; /* tick asked to end the long-poll */
    int64_t retry_after; /* seconds the last error answer's Retry-After asked for, 0: none */
    char errbuf[CURL_ERROR_SIZE];
};

struct agent_http *agent_http_new(const struct agent_config *c, volatile sig_atomic_t *stop)
{
    struct agent_http *h = m87_xcalloc(1, sizeof(*h));

    h->h = curl_easy_init();
    if (!h->h)
        m87_oom();
    h->cfg = c;
    h->cur = c->servers.len ? preferred_server % c->servers.len : 0;
    h->server = c->servers.len ? c->servers.items[h->cur] : c->server;
    h->auth = m87_xasprintf("Authorization: Bearer %s", c->token);
    h->ca_file = c->ca_file ? m87_xstrdup(c->ca_file) : NULL;
    h->stop = stop;
    return h;
}

void agent_http_free(struct agent_http *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->h);
    free(h->auth);
    free(h->ca_file);
    free(h);
}

void agent_http_set_tick(struct agent_http *h, agent_http_tick_fn fn, void *ctx)
{
    h->tick = fn;
    h->tick_ctx = ctx;
}

void agent_http_set_stop(struct agent_http *h, volatile sig_atomic_t *stop)
{
    h->stop = stop;
}

const char *agent_http_server(const struct agent_config *c)
{
    return c->servers.len ? c->servers.items[preferred_server % c->servers.len] : c->server;
}

/* Move to the next URL of `server =` (none with one). True when there is another to try. */
static bool next_server(struct agent_http *h)
{
    size_t n = h->cfg->servers.len;
    if (n < 2)
        return false;
    const char *was = h->server;
    h->cur = (h->cur + 1) % n;
    h->server = h->cfg->servers.items[h->cur];
    preferred_server = h->cur;
    m87_log(M87_LOG_WARN, "server %s cannot be reached: trying %s", was, h->server);
    return true;
}

/* A transport failure that says the server (not the request) is the problem: it cannot be
 * reached, or it went quiet. */
static bool server_unreachable(CURLcode rc)
{
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
           rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_SSL_CONNECT_ERROR ||
           rc == CURLE_GOT_NOTHING || rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR;
}

void agent_http_abandon(struct agent_http *h)
{
    curl_socket_t s = CURL_SOCKET_BAD;

    if (h && curl_easy_getinfo(h->h, CURLINFO_ACTIVESOCKET, &s) == CURLE_OK && s != CURL_SOCKET_BAD)
        close(s);
}

/* libcurl calls this about once a second while the server holds the request, which is when the
 * daemon's periodic work runs: a record it appends ends the wait so that it goes up at once. */
static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct agent_http *h = ctx;
    (void)dt, (void)ut, (void)un;

    if (h->stop && *h->stop)
        return 1;
    if (!h->ticking || !h->tick || dn > 0 || m87_mono_ms() < h->tick_at)
        return 0;
    h->tick_at = m87_mono_ms() + AGENT_HOOKS_PERIOD_MS;
    if (!h->tick(h->tick_ctx))
        return 0;
    h->interrupted = true;
    return 1;
}

/* A fresh set of options on the reused handle. */
static void prepare(struct agent_http *h, const char *path, struct curl_slist *headers)
{
    _cleanup_free_ char *url = m87_xasprintf("%s%s", h->server, path);

    curl_easy_reset(h->h);
    h->errbuf[0] = '\0';
    curl_easy_setopt(h->h, CURLOPT_URL, url);
    curl_easy_setopt(h->h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->h, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(h->h, CURLOPT_CONNECTTIMEOUT, AGENT_CONNECT_TIMEOUT_S);
    curl_easy_setopt(h->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h->h, CURLOPT_USERAGENT, "m87-agent/" M87_VERSION);
    curl_easy_setopt(h->h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h->h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h->h, CURLOPT_XFERINFODATA, h);
    curl_easy_setopt(h->h, CURLOPT_TCP_KEEPALIVE, 1L);
    if (h->ca_file)
        curl_easy_setopt(h->h, CURLOPT_CAINFO, h->ca_file);
}

static struct curl_slist *base_headers(const struct agent_http *h)
{
    struct curl_slist *l = curl_slist_append(NULL, h->auth);
    l = curl_slist_append(l, "Expect:");
    return l;
}

static int transfer_error(struct agent_http *h, CURLcode rc, struct m87_error **err)
{
    if (rc == CURLE_ABORTED_BY_CALLBACK && h->interrupted)
        return m87_error_set(err, M87_E_CANCELLED, 0, "long-poll ended: records to send");
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        return m87_error_set(err, M87_E_CANCELLED, 0, "stopped");
    const char *why = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
    enum m87_errcode code = rc == CURLE_OPERATION_TIMEDOUT ? M87_E_TIMEOUT : M87_E_CONNECT;
    return m87_error_set(err, code, 0, "server %s: %s", h->server, why);
}

/* An error answer: the server's {"error":{"message"}} when there is one. */
static int status_error(struct agent_http *h, long status, const struct m87_buf *body,
                        struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *doc =
        body->len ? m87_json_parse(body->data, body->len, NULL) : NULL;
    const char *msg = m87_json_str(m87_json_path(doc, "error", "message", NULL), NULL);
    curl_off_t retry = 0;

    if (curl_easy_getinfo(h->h, CURLINFO_RETRY_AFTER, &retry) == CURLE_OK && retry > 0)
        h->retry_after = (int64_t)retry;
    if (msg)
        m87_error_set(err, M87_E_HTTP, 0, "server %s: HTTP %ld: %s", h->server, status, msg);
    else
        m87_error_set(err, M87_E_HTTP, 0, "server %s: HTTP %ld", h->server, status);
    (*err)->http_status = status;
    return -1;
}

static size_t to_buf(char *data, size_t size, size_t n, void *ctx)
{
    return m87_buf_append(ctx, data, size * n, NULL) < 0 ? 0 : size * n;
}

/* POST body (JSON) to path, bounded by timeout_s; a 200 answer's text into *answer. */
static int post_json(struct agent_http *h, const char *path, const char *body, long timeout_s,
                     char **answer, struct m87_error **err)
{
    struct curl_slist *headers = base_headers(h);
    struct m87_buf out;
    long status = 0;

    headers = curl_slist_append(headers, "Content-Type: application/json");
    h->retry_after = 0;
    m87_buf_init(&out, AGENT_MAX_ANSWER);
    CURLcode rc;
    /* each URL of `server =` once at most: the next one at once when one cannot be reached */
    for (size_t tries = 0;; tries++) {
        prepare(h, path, headers);
        curl_easy_setopt(h->h, CURLOPT_POST, 1L);
        curl_easy_setopt(h->h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
        curl_easy_setopt(h->h, CURLOPT_TIMEOUT, timeout_s);
        curl_easy_setopt(h->h, CURLOPT_WRITEFUNCTION, to_buf);
        curl_easy_setopt(h->h, CURLOPT_WRITEDATA, &out);
        rc = curl_easy_perform(h->h);
        if (!server_unreachable(rc) || tries + 1 >= h->cfg->servers.len || !next_server(h))
            break;
        m87_buf_reset(&out);
    }
    int ret = 0;
    if (rc == CURLE_WRITE_ERROR)
        ret = m87_error_set(err, M87_E_TOOBIG, 0, "server %s: the answer exceeds %u bytes",
                            h->server, AGENT_MAX_ANSWER);
    else if (rc != CURLE_OK)
        ret = transfer_error(h, rc, err);
    else if (curl_easy_getinfo(h->h, CURLINFO_RESPONSE_CODE, &status), status != 200) {
        ret = status_error(h, status, &out, err);
        if (status == 502 || status == 503 || status == 504)
            next_server(h); /* the next request goes to another one, after the back-off */
    } else
        *answer = m87_buf_steal(&out);
    m87_buf_release(&out);
    curl_slist_free_all(headers);
    return ret;
}

int agent_http_sync(struct agent_http *h, const char *body, long wait_s, char **answer,
                    struct m87_error **err)
{
    /* not the short waits while logs flow: ending those would cost a connection per line */
    h->ticking = wait_s > AGENT_LOGS_SYNC_WAIT_S;
    h->interrupted = false;
    h->tick_at = m87_mono_ms() + AGENT_HOOKS_PERIOD_MS;
    int ret = post_json(h, "/v1/agent/sync", body, wait_s + AGENT_SYNC_SLACK_S, answer, err);
    h->ticking = false;
    return ret;
}

/* Sessions (agent-session-run.c): a short JSON request on its own. */
int agent_http_post(struct agent_http *h, const char *path, const char *body, long timeout_s,
                    char **answer, struct m87_error **err)
{
    return post_json(h, path, body, timeout_s, answer, err);
}

/* ---- bundles ---------------------------------------------------------------------------------
 */

struct download {
    CURL *h;
    int fd;
    off_t offset;   /* of the part file when the request started */
    long status;    /* learned at the first body byte */
    int64_t gained; /* bytes written */
    int write_errno;
    struct m87_buf error_body;
};

static size_t on_bundle(char *data, size_t size, size_t n, void *ctx)
{
    struct download *dl = ctx;
    size_t len = size * n;

    if (dl->status == 0) {
        curl_easy_getinfo(dl->h, CURLINFO_RESPONSE_CODE, &dl->status);
        /* the server ignored the range: start over */
        if (dl->status == 200 && (ftruncate(dl->fd, 0) < 0 || lseek(dl->fd, 0, SEEK_SET) < 0)) {
            dl->write_errno = errno;
            return 0;
        }
    }
    if (dl->status != 200 && dl->status != 206)
        return m87_buf_append(&dl->error_body, data, len, NULL) < 0 ? 0 : len;
    if (dl->offset + dl->gained + (off_t)len > (off_t)SPEC_BUNDLE_MAX_ARCHIVE) {
        dl->write_errno = EFBIG;
        return 0;
    }
    for (size_t done = 0; done < len;) {
        ssize_t w = write(dl->fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            dl->write_errno = errno;
            return 0;
        }
        done += (size_t)w;
    }
    dl->gained += (int64_t)len;
    return len;
}

static int get_range(struct agent_http *h, const char *digest, struct download *dl,
                     struct m87_error **err)
{
    struct curl_slist *headers = base_headers(h);
    _cleanup_free_ char *path = m87_xasprintf("/v1/bundles/%s", digest);

    prepare(h, path, headers);
    curl_easy_setopt(h->h, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)dl->offset);
    curl_easy_setopt(h->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h->h, CURLOPT_LOW_SPEED_TIME, AGENT_LOW_SPEED_TIME_S);
    curl_easy_setopt(h->h, CURLOPT_WRITEFUNCTION, on_bundle);
    curl_easy_setopt(h->h, CURLOPT_WRITEDATA, dl);
    CURLcode rc = curl_easy_perform(h->h);
    curl_slist_free_all(headers);
    if (dl->status == 0)
        curl_easy_getinfo(h->h, CURLINFO_RESPONSE_CODE, &dl->status);
    if (dl->write_errno)
        return m87_error_set(err, M87_E_IO, dl->write_errno, "write bundle '%s'", digest);
    if (dl->status == 416)
        return 0; /* the part is whole already: the digest decides */
    if (dl->status >= 300)
        return status_error(h, dl->status, &dl->error_body, err);
    if (rc == CURLE_RANGE_ERROR)
        return 0; /* a whole body to a range: the digest decides, the next try starts over */
    if (rc != CURLE_OK) {
        transfer_error(h, rc, err);
        if (server_unreachable(rc))
            next_server(h); /* the next attempt resumes from another one */
        return -1;
    }
    return 0;
}

static int finish_part(const char *part, const char *final, const char *digest,
                       struct m87_error **err)
{
    if (spec_bundle_verify(part, digest, err) < 0) {
        unlink(part);
        return -1;
    }
    if (rename(part, final) < 0)
        return m87_error_set(err, M87_E_IO, errno, "rename '%s'", part);
    return m87_state_sync_dir(final, err);
}

int agent_http_bundle(struct agent_http *h, const char *digest, const char *dir, int64_t *gained,
                      struct m87_error **err)
{
    char name[SPEC_BUNDLE_FILE_LEN + 1];

    *gained = 0;
    spec_bundle_file_name(digest, name);
    _cleanup_free_ char *final = m87_xasprintf("%s/%s", dir, name);
    _cleanup_free_ char *part = m87_xasprintf("%s.part", final);
    if (m87_mkdir_p(dir, 0700, err) < 0)
        return -1;
    struct download dl = {.h = h->h};
    dl.fd = open(part, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (dl.fd < 0)
        return m87_error_set(err, M87_E_IO, errno, "open '%s'", part);
    struct stat st;
    if (fstat(dl.fd, &st) < 0) {
        close(dl.fd);
        return m87_error_set(err, M87_E_IO, errno, "stat '%s'", part);
    }
    dl.offset = st.st_size;
    m87_buf_init(&dl.error_body, MAX_ERROR_BODY);
    int rc = get_range(h, digest, &dl, err);
    *gained = dl.gained;
    if (fsync(dl.fd) < 0 && rc == 0)
        rc = m87_error_set(err, M87_E_IO, errno, "sync '%s'", part);
    close(dl.fd);
    m87_buf_release(&dl.error_body);
    if (rc < 0)
        return m87_error_wrap(err, "download bundle '%s'", digest);
    if (finish_part(part, final, digest, err) < 0)
        return m87_error_wrap(err, "download bundle '%s'", digest);
    return 0;
}

int64_t agent_http_retry_after(const struct agent_http *h)
{
    return h->retry_after;
}
