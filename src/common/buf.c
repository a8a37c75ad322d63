/* A byte buffer that grows up to a named cap and refuses to cross it. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"

void m87_buf_init(struct m87_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : SIZE_MAX;
}

static int buf_reserve(struct m87_buf *b, size_t extra, struct m87_error **err)
{
    if (extra > b->max - b->len)
        return m87_error_set(err, M87_E_TOOBIG, 0, "data exceeds the limit of %zu bytes", b->max);
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    b->data = m87_xrealloc(b->data, cap);
    b->cap = cap;
    return 0;
}

int m87_buf_append(struct m87_buf *b, const void *data, size_t len, struct m87_error **err)
{
    if (buf_reserve(b, len, err) < 0)
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int m87_buf_appendf(struct m87_buf *b, struct m87_error **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *s = m87_xvasprintf(fmt, ap);
    va_end(ap);
    return m87_buf_append(b, s, strlen(s), err);
}

void m87_buf_consume(struct m87_buf *b, size_t n)
{
    if (n >= b->len) {
        m87_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

void m87_buf_reset(struct m87_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *m87_buf_steal(struct m87_buf *b)
{
    char *p = b->data ? b->data : m87_xstrdup("");
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

void m87_buf_release(struct m87_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
