/* libFuzzer harness: the pull progress stream (newline-delimited JSON read by engine_image_pull),
 * without a socket: a transport answers the ping and hands the input to the client as the body of
 * POST /images/create, in chunks whose size the first byte picks, so that lines are split
 * across chunk boundaries as curl would split them. Every other byte is the stream. */
#include <stdint.h>

#include "fuzz-util.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/engine-images.h"
#include "m87/engine.h"
#include "m87/error.h"

struct feed {
    const char *data;
    size_t len;
    size_t chunk;
};

static int fake_request(void *tctx, const struct engine_request *req, struct engine_response *resp,
                        struct m87_error **err)
{
    struct feed *f = tctx;
    resp->status = 200;
    if (strcmp(req->path, "/_ping") == 0) {
        resp->api_version = m87_xstrdup("1.41");
        return m87_buf_append(&resp->body, "OK", 2, err);
    }
    if (req->on_data == NULL || strncmp(req->path, "/v1.41/images/create?", 21) != 0)
        abort();
    for (size_t off = 0; off < f->len; off += f->chunk) {
        size_t n = f->len - off < f->chunk ? f->len - off : f->chunk;
        if (req->on_data(req->ctx, f->data + off, n) != 0)
            return m87_error_set(err, M87_E_CANCELLED, 0, "transfer stopped by the reader");
    }
    return 0;
}

static void fake_free(void *tctx)
{
    (void)tctx;
}

static const struct engine_transport fake = {.request = fake_request, .free = fake_free};

struct seen {
    size_t msgs;
    size_t stop_at; /* 0: never */
};

static int on_msg(void *ctx, const struct engine_pull_msg *m)
{
    struct seen *s = ctx;
    if (m->status == NULL)
        abort();
    (void)strlen(m->status);
    if (m->id)
        (void)strlen(m->id);
    return s->stop_at && ++s->msgs >= s->stop_at;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    struct feed f = {.data = (const char *)data + 1, .len = size - 1, .chunk = 1 + data[0] % 64};
    if (data[0] >= 192)
        f.chunk = f.len ? f.len : 1; /* one piece, as a short answer arrives */
    struct seen s = {.stop_at = (data[0] >> 6) == 1 ? 3 : 0};
    struct engine_client *c = engine_client_new_with_transport(&fake, &f, 0);
    struct m87_error *err = NULL;
    int r = engine_image_pull(c, "registry.local:5000/fuzz/img:1", NULL,
                              (data[0] >> 6) == 2 ? NULL : on_msg, &s, &err);
    if (r < 0) {
        if (err == NULL || strncmp(err->msg, "pull image 'registry.local:5000/fuzz/img:1': ", 45))
            abort();
        m87_error_clear(&err);
    } else if (err != NULL) {
        abort();
    }
    engine_client_free(c);
    return 0;
}
