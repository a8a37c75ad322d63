/* Container logs and the demultiplexer of dockerd's framed streams (include/m87/engine.h has the
 * contract of every call). */
#ifndef M87_ENGINE_LOGS_H
#define M87_ENGINE_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include "m87/engine.h"
#include "m87/error.h"

enum engine_stream {
    ENGINE_STREAM_STDIN = 0,
    ENGINE_STREAM_STDOUT = 1,
    ENGINE_STREAM_STDERR = 2,
    ENGINE_STREAM_SYSTEM = 3, /* dockerd's own error message inside the stream */
};

/* Output of logs, exec and attach: bytes of one stream. In line mode, one call per complete
 * line without its newline (a last line without one is delivered at the end). Return
 * non-zero to stop the stream (the call then fails with M87_E_CANCELLED). */
typedef int (*engine_output_fn)(void *ctx, enum engine_stream stream, const char *data,
                                size_t len);

struct engine_logs_options {
    bool follow;
    bool no_stdout;        /* both streams are read unless turned off */
    bool no_stderr;
    bool timestamps;       /* each line starts with an RFC 3339 timestamp and a space */
    const char *since;     /* unix seconds with optional fraction, or NULL */
    const char *until;
    const char *tail;      /* "all" or a number; NULL: all */
    bool lines;            /* deliver whole lines instead of chunks */
};

/* GET /containers/{id}/logs. The container's Config.Tty (read with an inspect) decides the
 * framing: raw bytes (all reported as stdout) for a TTY, the 8-byte multiplexed frames
 * otherwise, reassembled across chunk boundaries. No time bound when following. */
int engine_container_logs(struct engine_client *c, const char *id,
                          const struct engine_logs_options *opts, engine_output_fn fn, void *ctx,
                          struct m87_error **err);

/* The demultiplexer on its own, for any stream framed like logs (exec, attach). */
struct engine_demux;
struct engine_demux *engine_demux_new(bool tty, bool lines, engine_output_fn fn, void *ctx);
/* Feed bytes in any chunking. 0, -1 with *err (a bad header, a line past the cap), or
 * M87_E_CANCELLED when the callback asked to stop. */
int engine_demux_feed(struct engine_demux *d, const char *data, size_t len,
                      struct m87_error **err);
/* End of stream: deliver pending partial lines; an incomplete frame is an error. */
int engine_demux_finish(struct engine_demux *d, struct m87_error **err);
void engine_demux_free(struct engine_demux *d);

#endif
