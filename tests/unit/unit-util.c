/* The replay transport and fixture helpers for unit tests. */
#include <stdio.h>
#include <string.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "unit-util.h"

struct exchange {
    char *method;
    char *path;
    long status;
    char *api_version;
    char *libpod_version;
    char *body;
    size_t body_len;
};

struct replay {
    struct exchange *ex;
    size_t n;
    size_t next;
    size_t chunk;
};

char *unit_fixture_path(const char *rel)
{
    const char *root = getenv("M87_FIXTURES");
    return m87_xasprintf("%s/%s", root ? root : "fixtures", rel);
}

char *unit_read_fixture(const char *rel, size_t *len)
{
    _cleanup_free_ char *path = unit_fixture_path(rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open fixture %s", path);
    struct m87_buf b;
    m87_buf_init(&b, 0);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        m87_buf_append(&b, chunk, n, NULL);
    fclose(f);
    if (len)
        *len = b.len;
    return m87_buf_steal(&b);
}

static void parse_exchanges(struct replay *r, char *text)
{
    char *save = NULL;
    struct exchange *cur = NULL;
    struct m87_buf body;
    m87_buf_init(&body, 0);
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, ">>> ", 4) == 0) {
            r->ex = m87_xrealloc(r->ex, (r->n + 1) * sizeof(*r->ex));
            cur = &r->ex[r->n++];
            memset(cur, 0, sizeof(*cur));
            char *sp = strchr(line + 4, ' ');
            assert_non_null(sp);
            cur->method = m87_xstrndup(line + 4, (size_t)(sp - line - 4));
            cur->path = m87_xstrdup(sp + 1);
            m87_buf_reset(&body);
        } else if (strncmp(line, "<<< ", 4) == 0 && cur) {
            char ver[32] = "", libpod[32] = "";
            if (sscanf(line + 4, "%ld %31s %31s", &cur->status, ver, libpod) < 1)
                fail_msg("bad status line '%s'", line);
            cur->api_version = ver[0] ? m87_xstrdup(ver) : NULL;
            cur->libpod_version = libpod[0] ? m87_xstrdup(libpod) : NULL;
        } else if (strcmp(line, "===") == 0 && cur) {
            cur->body_len = body.len;
            cur->body = m87_buf_steal(&body);
            cur = NULL;
        } else if (cur) {
            m87_buf_append(&body, line, strlen(line), NULL);
            m87_buf_append(&body, "\n", 1, NULL);
        }
    }
    m87_buf_release(&body);
}

static int replay_request(void *tctx, const struct engine_request *req,
                          struct engine_response *resp, struct m87_error **err)
{
    struct replay *r = tctx;
    if (r->next >= r->n)
        fail_msg("unexpected request %s %s", req->method, req->path);
    struct exchange *ex = &r->ex[r->next++];
    if (strcmp(ex->method, req->method) != 0 || strcmp(ex->path, req->path) != 0)
        fail_msg("expected %s %s, got %s %s", ex->method, ex->path, req->method, req->path);
    resp->status = ex->status;
    resp->api_version = ex->api_version ? m87_xstrdup(ex->api_version) : NULL;
    resp->libpod_version = ex->libpod_version ? m87_xstrdup(ex->libpod_version) : NULL;
    bool stream = req->on_data && ex->status >= 200 && ex->status < 300;
    size_t step = r->chunk ? r->chunk : ex->body_len;
    for (size_t off = 0; off < ex->body_len; off += step) {
        size_t n = ex->body_len - off < step ? ex->body_len - off : step;
        if (stream) {
            if (req->on_data(req->ctx, ex->body + off, n) != 0)
                return m87_error_set(err, M87_E_CANCELLED, 0, "cancelled");
        } else if (m87_buf_append(&resp->body, ex->body + off, n, err) < 0) {
            return -1;
        }
    }
    return 0;
}

static void replay_free(void *tctx)
{
    struct replay *r = tctx;
    for (size_t i = 0; i < r->n; i++) {
        free(r->ex[i].method);
        free(r->ex[i].path);
        free(r->ex[i].api_version);
        free(r->ex[i].libpod_version);
        free(r->ex[i].body);
    }
    free(r->ex);
    free(r);
}

static const struct engine_transport replay_transport = {
    .request = replay_request,
    .free = replay_free,
};

struct engine_client *unit_replay_client(const char *name, size_t chunk)
{
    _cleanup_free_ char *rel = m87_xasprintf("engine/%s", name);
    _cleanup_free_ char *text = unit_read_fixture(rel, NULL);
    struct replay *r = m87_xcalloc(1, sizeof(*r));
    r->chunk = chunk;
    parse_exchanges(r, text);
    struct engine_client *c = engine_client_new_with_transport(&replay_transport, r, 0);
    c->api_version = m87_xstrdup("1.41");
    return c;
}

size_t unit_replay_left(const struct engine_client *c)
{
    const struct replay *r = c->tctx;
    return r->n - r->next;
}
