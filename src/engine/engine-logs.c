/* Logs and the stream demultiplexer shared by logs, exec and attach. */
#include <string.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/engine-call.h"
#include "m87/engine-containers.h"
#include "m87/engine-logs.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/lines.h"

/* One multiplexed frame is held whole before it is handed on; dockerd writes one frame per
 * write of the process (at most 32 KiB in practice), so anything near this is a bad stream. */
#define ENGINE_MAX_STREAM_FRAME (ENGINE_MAX_STREAM_LINE * 16)
#define DEMUX_HEADER_LEN 8
#define DEMUX_NSTREAMS 4

struct demux_line_ctx {
    struct engine_demux *d;
    enum engine_stream stream;
};

struct engine_demux {
    bool tty;
    bool lines;
    bool cancelled;
    engine_output_fn fn;
    void *ctx;
    unsigned char header[DEMUX_HEADER_LEN];
    size_t header_len;
    size_t frame_left; /* payload bytes of the current frame still to come */
    enum engine_stream stream;
    struct m87_buf frame;
    struct m87_lines splitters[DEMUX_NSTREAMS];
    struct demux_line_ctx line_ctx[DEMUX_NSTREAMS];
};

static int demux_on_line(void *ctx, const char *line, size_t len)
{
    struct demux_line_ctx *lc = ctx;
    return lc->d->fn(lc->d->ctx, lc->stream, line, len);
}

struct engine_demux *engine_demux_new(bool tty, bool lines, engine_output_fn fn, void *ctx)
{
    struct engine_demux *d = m87_xcalloc(1, sizeof(*d));
    d->tty = tty;
    d->lines = lines;
    d->fn = fn;
    d->ctx = ctx;
    m87_buf_init(&d->frame, ENGINE_MAX_STREAM_FRAME);
    for (int i = 0; i < DEMUX_NSTREAMS; i++) {
        d->line_ctx[i] = (struct demux_line_ctx){.d = d, .stream = (enum engine_stream)i};
        m87_lines_init(&d->splitters[i], ENGINE_MAX_STREAM_LINE, demux_on_line, &d->line_ctx[i]);
    }
    return d;
}

void engine_demux_free(struct engine_demux *d)
{
    if (d == NULL)
        return;
    m87_buf_release(&d->frame);
    for (int i = 0; i < DEMUX_NSTREAMS; i++)
        m87_lines_release(&d->splitters[i]);
    free(d);
}

static const char *stream_name(enum engine_stream stream)
{
    static const char *const names[DEMUX_NSTREAMS] = {"stdin", "stdout", "stderr", "daemon"};
    return names[stream];
}

static int demux_cancelled(struct engine_demux *d, struct m87_error **err)
{
    d->cancelled = true;
    return m87_error_set(err, M87_E_CANCELLED, 0, "output stream stopped by its reader");
}

/* Hand bytes of one stream to the reader, split into lines when asked. */
static int demux_emit(struct engine_demux *d, enum engine_stream stream, const char *data,
                      size_t len, struct m87_error **err)
{
    if (len == 0)
        return 0;
    if (!d->lines)
        return d->fn(d->ctx, stream, data, len) != 0 ? demux_cancelled(d, err) : 0;
    int r = m87_lines_feed(&d->splitters[stream], data, len, err);
    if (r < 0)
        return m87_error_wrap(err, "%s stream", stream_name(stream));
    return r != 0 ? demux_cancelled(d, err) : 0;
}

static int demux_header(struct engine_demux *d, struct m87_error **err)
{
    const unsigned char *h = d->header;
    if (h[0] >= DEMUX_NSTREAMS || h[1] != 0 || h[2] != 0 || h[3] != 0)
        return m87_error_set(err, M87_E_PARSE, 0, "bad stream frame header %02x %02x %02x %02x",
                             h[0], h[1], h[2], h[3]);
    size_t size = (size_t)h[4] << 24 | (size_t)h[5] << 16 | (size_t)h[6] << 8 | (size_t)h[7];
    if (size > ENGINE_MAX_STREAM_FRAME)
        return m87_error_set(err, M87_E_TOOBIG, 0,
                             "stream frame of %zu bytes is over the limit of %u bytes", size,
                             ENGINE_MAX_STREAM_FRAME);
    d->stream = (enum engine_stream)h[0];
    d->frame_left = size;
    d->header_len = 0;
    m87_buf_reset(&d->frame);
    return 0;
}

/* Consume what of data belongs to the current header or frame; returns bytes used or -1. */
static ssize_t demux_step(struct engine_demux *d, const char *data, size_t len,
                          struct m87_error **err)
{
    if (d->frame_left == 0) {
        size_t take = DEMUX_HEADER_LEN - d->header_len;
        take = take < len ? take : len;
        memcpy(d->header + d->header_len, data, take);
        d->header_len += take;
        if (d->header_len == DEMUX_HEADER_LEN && demux_header(d, err) < 0)
            return -1;
        return (ssize_t)take;
    }
    size_t take = d->frame_left < len ? d->frame_left : len;
    d->frame_left -= take;
    if (d->frame_left == 0 && d->frame.len == 0) {
        /* the whole frame is in this chunk: no copy */
        return demux_emit(d, d->stream, data, take, err) < 0 ? -1 : (ssize_t)take;
    }
    if (m87_buf_append(&d->frame, data, take, err) < 0)
        return -1;
    if (d->frame_left == 0) {
        int r = demux_emit(d, d->stream, d->frame.data, d->frame.len, err);
        m87_buf_reset(&d->frame);
        if (r < 0)
            return -1;
    }
    return (ssize_t)take;
}

int engine_demux_feed(struct engine_demux *d, const char *data, size_t len, struct m87_error **err)
{
    if (d->cancelled)
        return m87_error_set(err, M87_E_CANCELLED, 0, "output stream stopped by its reader");
    if (d->tty)
        return demux_emit(d, ENGINE_STREAM_STDOUT, data, len, err);
    while (len > 0) {
        ssize_t used = demux_step(d, data, len, err);
        if (used < 0)
            return -1;
        data += used;
        len -= (size_t)used;
    }
    return 0;
}

int engine_demux_finish(struct engine_demux *d, struct m87_error **err)
{
    if (d->cancelled)
        return m87_error_set(err, M87_E_CANCELLED, 0, "output stream stopped by its reader");
    for (int i = 0; d->lines && i < DEMUX_NSTREAMS; i++) {
        if (m87_lines_finish(&d->splitters[i], err) != 0)
            return demux_cancelled(d, err);
    }
    if (d->header_len > 0 || d->frame_left > 0)
        return m87_error_set(err, M87_E_PARSE, 0,
                             "stream ended inside a frame (%zu header bytes, %zu payload bytes "
                             "missing)",
                             d->header_len ? DEMUX_HEADER_LEN - d->header_len : 0, d->frame_left);
    return 0;
}

/* ---- logs ----------------------------------------------------------------------------------- */

/* The transport knows nothing of frames: failures of the demuxer are kept here so that the
 * caller sees them rather than the transport's generic "cancelled". */
/* Feeds a streamed body to a demultiplexer; the demultiplexer's own error (a bad frame, a
 * line past the cap) is kept so that it is reported instead of the transport's "cancelled". */
struct demux_sink {
    struct engine_demux *demux;
    struct m87_error *err;
};

static int demux_on_data(void *ctx, const char *data, size_t len)
{
    struct demux_sink *s = ctx;
    return engine_demux_feed(s->demux, data, len, &s->err) < 0 ? 1 : 0;
}

int engine_do_demuxed(struct engine_client *c, struct engine_call *call, const char *path,
                      bool tty, bool lines, engine_output_fn fn, void *ctx, struct m87_error **err)
{
    struct demux_sink sink = {.demux = engine_demux_new(tty, lines, fn, ctx)};
    call->on_data = demux_on_data;
    call->ctx = &sink;
    int r = engine_do(c, call, path, NULL, err);
    if (sink.err != NULL) {
        m87_error_clear(err);
        if (err)
            *err = M87_STEAL(sink.err);
        m87_error_free(sink.err);
        r = -1;
    }
    if (r >= 0)
        r = engine_demux_finish(sink.demux, err);
    engine_demux_free(sink.demux);
    return r;
}

static char *logs_path(const char *id, const struct engine_logs_options *o)
{
    struct m87_buf p;
    m87_buf_init(&p, 0);
    _cleanup_free_ char *base = engine_path_seg("/containers/", id, "/logs");
    m87_buf_append(&p, base, strlen(base), NULL);
    if (!o->no_stdout)
        engine_qs_add(&p, "stdout", "1");
    if (!o->no_stderr)
        engine_qs_add(&p, "stderr", "1");
    if (o->follow)
        engine_qs_add(&p, "follow", "1");
    if (o->timestamps)
        engine_qs_add(&p, "timestamps", "1");
    if (o->since)
        engine_qs_add(&p, "since", o->since);
    if (o->until)
        engine_qs_add(&p, "until", o->until);
    engine_qs_add(&p, "tail", o->tail ? o->tail : "all");
    return m87_buf_steal(&p);
}

int engine_container_logs(struct engine_client *c, const char *id,
                          const struct engine_logs_options *opts, engine_output_fn fn, void *ctx,
                          struct m87_error **err)
{
    static const struct engine_logs_options defaults = {0};
    const struct engine_logs_options *o = opts ? opts : &defaults;
    if (o->no_stdout && o->no_stderr)
        return m87_error_set(err, M87_E_INVAL, 0, "logs of '%s': no stream asked for", id);

    _cleanup_(engine_container_info_freep) struct engine_container_info *info = NULL;
    if (engine_container_inspect(c, id, &info, err) < 0)
        return m87_error_wrap(err, "logs of container '%s'", id);

    _cleanup_free_ char *path = logs_path(id, o);
    struct engine_call call = {
        .method = "GET",
        .timeout_ms = o->follow ? ENGINE_NO_TIMEOUT : 0,
    };
    int r = engine_do_demuxed(c, &call, path, info->tty, o->lines, fn, ctx, err);
    return r < 0 ? m87_error_wrap(err, "logs of container '%s'", id) : 0;
}
