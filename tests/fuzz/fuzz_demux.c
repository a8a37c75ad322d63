/* libFuzzer harness: the log-frame demultiplexer (engine_demux_*) without a socket. The first
 * byte picks the mode (raw TTY or 8-byte frames, chunks or whole lines), the size of the chunks
 * the rest is fed in, and whether the reader stops early; the rest is the stream. */
#include <stdint.h>

#include "fuzz-util.h"
#include "m87/engine-logs.h"
#include "m87/engine.h"
#include "m87/error.h"

struct seen {
    size_t calls;
    size_t stop_at; /* 0: never */
    bool lines;
};

static int on_output(void *ctx, enum engine_stream stream, const char *data, size_t len)
{
    struct seen *s = ctx;
    if ((unsigned)stream > ENGINE_STREAM_SYSTEM || (len && data == NULL))
        abort();
    if (s->lines && memchr(data, '\n', len) != NULL)
        abort();
    if (!s->lines && len == 0)
        abort();
    volatile char sink = 0;
    for (size_t i = 0; i < len; i++)
        sink ^= data[i];
    (void)sink;
    return s->stop_at && ++s->calls >= s->stop_at;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t mode = data[0];
    struct seen s = {.stop_at = mode & 0x80 ? 2 : 0, .lines = mode & 0x02};
    size_t chunk = 1 + ((mode >> 2) & 0x1f) * 7;
    struct engine_demux *d = engine_demux_new(mode & 0x01, s.lines, on_output, &s);
    struct m87_error *err = NULL;
    int r = 0;
    for (size_t off = 1; r == 0 && off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        r = engine_demux_feed(d, (const char *)data + off, n, &err);
    }
    if (r == 0)
        r = engine_demux_finish(d, &err);
    if ((r < 0) != (err != NULL))
        abort();
    m87_error_clear(&err);
    engine_demux_free(d);
    return 0;
}
