/* A line splitter for newline-delimited streams (Docker's progress and event streams, logs),
 * fed bytes in any chunking.
 *
 * Contract: the callback sees each complete line once, without its newline (and without a
 * trailing '\r'); the line is borrowed for the call only. One line is capped: a longer one is
 * M87_E_TOOBIG. The splitter owns its pending bytes until m87_lines_release.
 */
#ifndef M87_LINES_H
#define M87_LINES_H

#include <stddef.h>

#include "m87/buf.h"
#include "m87/error.h"

/* Called once per complete line. Return 0 to go on, non-zero to stop; a non-zero return is
 * handed back by m87_lines_feed. */
typedef int (*m87_line_fn)(void *ctx, const char *line, size_t len);

struct m87_lines {
    struct m87_buf pending;
    m87_line_fn fn;
    void *ctx;
};

/* max_line caps one line: a longer line fails with M87_E_TOOBIG. */
void m87_lines_init(struct m87_lines *l, size_t max_line, m87_line_fn fn, void *ctx);
/* Feed bytes in any chunking. Returns 0, the callback's non-zero value, or -1 with *err. */
int m87_lines_feed(struct m87_lines *l, const char *data, size_t len, struct m87_error **err);
/* Deliver a last line that had no newline. Same returns as feed. */
int m87_lines_finish(struct m87_lines *l, struct m87_error **err);
void m87_lines_release(struct m87_lines *l);

#endif
