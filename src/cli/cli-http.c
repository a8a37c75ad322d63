/* Requests to m87-server over libcurl: bearer token, JSON in and out, the server's error JSON
 * turned into an error for people. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/version.h"

struct exchange {
    CURL *h;
    struct curl_slist *headers;
    struct m87_buf body;
    char errbuf[CURL_ERROR_SIZE];
};

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    struct exchange *x = ctx;

    if (m87_buf_append(&x->body, data, size * n, NULL) < 0)
        return 0; /* over CLI_MAX_RESPONSE: curl stops with a write error */
    return size * n;
}

static void exchange_release(struct exchange *x)
{
    if (x->h)
        curl_easy_cleanup(x->h);
    curl_slist_free_all(x->headers);
    m87_buf_release(&x->body);
}

static void exchange_init(struct exchange *x, const struct cli_ctx *ctx, const char *method,
                          const char *path)
{
    _cleanup_free_ char *url = m87_xasprintf("%s%s", ctx->server, path);
    _cleanup_free_ char *auth = m87_xasprintf("Authorization: Bearer %s", ctx->token);

    *x = (struct exchange){0};
    m87_buf_init(&x->body, CLI_MAX_RESPONSE);
    x->h = curl_easy_init();
    if (!x->h)
        m87_oom();
    x->headers = curl_slist_append(x->headers, auth);
    x->headers = curl_slist_append(x->headers, "Accept: application/json");
    x->headers = curl_slist_append(x->headers, "Expect:");
    curl_easy_setopt(x->h, CURLOPT_URL, url);
    curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT_MS, CLI_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(x->h, CURLOPT_USERAGENT, "m87/" M87_VERSION);
    if (ctx->ca_file)
        curl_easy_setopt(x->h, CURLOPT_CAINFO, ctx->ca_file);
}

static const char *server_message(const struct m87_json *doc)
{
    return m87_json_str(m87_json_path(doc, "error", "message", NULL), NULL);
}

static int http_error(const struct cli_ctx *ctx, struct exchange *x, long status,
                      struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    const char *msg = NULL;
    enum m87_errcode code = status == 404   ? M87_E_NOTFOUND
                            : status == 409 ? M87_E_CONFLICT
                                            : M87_E_HTTP;

    if (x->body.len)
        doc = m87_json_parse(x->body.data, x->body.len, NULL);
    msg = server_message(doc);
    if (msg)
        m87_error_set(err, code, 0, "%s", msg);
    else
        m87_error_set(err, code, 0, "the server at %s answered HTTP %ld", ctx->server, status);
    (*err)->http_status = status;
    return -1;
}

static int perform(const struct cli_ctx *ctx, struct exchange *x, struct m87_json **out,
                   struct m87_error **err)
{
    long status = 0;
    CURLcode rc = curl_easy_perform(x->h);

    if (rc != CURLE_OK) {
        const char *why = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
        enum m87_errcode code = rc == CURLE_OPERATION_TIMEDOUT ? M87_E_TIMEOUT : M87_E_CONNECT;
        if (rc == CURLE_WRITE_ERROR)
            return m87_error_set(err, M87_E_TOOBIG, 0, "the answer of the server exceeds %u bytes",
                                 CLI_MAX_RESPONSE);
        bool tls = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE;
        return m87_error_set(
            err, code, 0, "cannot reach the server at %s: %s; check `m87 login`%s", ctx->server,
            why, tls ? " (a server with a private CA needs --ca-file or M87_CA_FILE)" : "");
    }
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299)
        return http_error(ctx, x, status, err);
    if (!out)
        return 0;
    *out = NULL;
    if (x->body.len == 0)
        return 0;
    *out = m87_json_parse(x->body.data, x->body.len, err);
    if (!*out)
        return m87_error_wrap(err, "answer of the server");
    return 0;
}

int cli_http_json(const struct cli_ctx *ctx, const char *method, const char *path, const char *body,
                  struct m87_json **out, struct m87_error **err)
{
    return cli_http_json_header(ctx, method, path, body, NULL, out, err);
}

int cli_http_json_header(const struct cli_ctx *ctx, const char *method, const char *path,
                         const char *body, const char *header, struct m87_json **out,
                         struct m87_error **err)
{
    struct exchange x;

    exchange_init(&x, ctx, method, path);
    if (header)
        x.headers = curl_slist_append(x.headers, header);
    curl_easy_setopt(x.h, CURLOPT_TIMEOUT_MS, CLI_REQUEST_TIMEOUT_MS);
    if (body) {
        x.headers = curl_slist_append(x.headers, "Content-Type: application/json");
        curl_easy_setopt(x.h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(x.h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    curl_easy_setopt(x.h, CURLOPT_HTTPHEADER, x.headers);
    int rc = perform(ctx, &x, out, err);
    exchange_release(&x);
    return rc;
}

int cli_http_put_file(const struct cli_ctx *ctx, const char *path, const char *file_path,
                      struct m87_json **out, struct m87_error **err)
{
    struct exchange x;
    struct stat st;
    FILE *f = fopen(file_path, "rb");

    if (!f)
        return m87_error_set(err, M87_E_IO, errno, "open '%s'", file_path);
    if (fstat(fileno(f), &st) < 0) {
        fclose(f);
        return m87_error_set(err, M87_E_IO, errno, "stat '%s'", file_path);
    }
    exchange_init(&x, ctx, "PUT", path);
    x.headers = curl_slist_append(x.headers, "Content-Type: application/gzip");
    curl_easy_setopt(x.h, CURLOPT_HTTPHEADER, x.headers);
    curl_easy_setopt(x.h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(x.h, CURLOPT_READDATA, f);
    curl_easy_setopt(x.h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
    /* a large bundle over a slow link may take long; a stalled one must not hang forever */
    curl_easy_setopt(x.h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(x.h, CURLOPT_LOW_SPEED_TIME, 60L);
    int rc = perform(ctx, &x, out, err);
    exchange_release(&x);
    fclose(f);
    return rc;
}

char *cli_escape(const char *segment)
{
    char *e = curl_easy_escape(NULL, segment, 0);

    if (!e)
        m87_oom();
    char *copy = m87_xstrdup(e);
    curl_free(e);
    return copy;
}

int cli_report(const struct m87_error *err)
{
    long status = err ? err->http_status : 0;

    fprintf(stderr, "m87: %s\n", err && err->msg ? err->msg : "unknown error");
    if (status == 401)
        fprintf(stderr, "The server refused the token; log in again: m87 login --server URL "
                        "--token - (or check M87_TOKEN)\n");
    else if (status == 403)
        fprintf(stderr, "This token may not do that: use the admin token of `m87-server init`\n");
    switch (m87_error_code(err)) {
    case M87_E_CONNECT:
    case M87_E_TIMEOUT:
        return CLI_EXIT_USAGE;
    default:
        break;
    }
    if (status >= 400 && status < 500)
        return CLI_EXIT_USAGE;
    return CLI_EXIT_FAILED;
}
