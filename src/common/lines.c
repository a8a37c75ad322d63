/* Split a byte stream into lines whatever its chunking. */
#include <string.h>

#include "m87/buf.h"
#include "m87/error.h"
#include "m87/lines.h"

void m87_lines_init(struct m87_lines *l, size_t max_line, m87_line_fn fn, void *ctx)
{
    m87_buf_init(&l->pending, max_line);
    l->fn = fn;
    l->ctx = ctx;
}

static int lines_emit(struct m87_lines *l, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    return l->fn(l->ctx, line, len);
}

int m87_lines_feed(struct m87_lines *l, const char *data, size_t len, struct m87_error **err)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        if (nl == NULL)
            return m87_buf_append(&l->pending, data, len, err) < 0
                       ? m87_error_wrap(err, "line too long")
                       : 0;
        size_t part = (size_t)(nl - data);
        int r;
        if (l->pending.len > 0) {
            if (m87_buf_append(&l->pending, data, part, err) < 0)
                return m87_error_wrap(err, "line too long");
            r = lines_emit(l, l->pending.data, l->pending.len);
            m87_buf_reset(&l->pending);
        } else {
            if (part > l->pending.max)
                return m87_error_set(err, M87_E_TOOBIG, 0, "line too long: more than %zu bytes",
                                     l->pending.max);
            r = lines_emit(l, data, part);
        }
        if (r != 0)
            return r;
        data += part + 1;
        len -= part + 1;
    }
    return 0;
}

int m87_lines_finish(struct m87_lines *l, struct m87_error **err)
{
    (void)err;
    if (l->pending.len == 0)
        return 0;
    int r = lines_emit(l, l->pending.data, l->pending.len);
    m87_buf_reset(&l->pending);
    return r;
}

void m87_lines_release(struct m87_lines *l)
{
    m87_buf_release(&l->pending);
}
