/* A growable byte buffer with a cap, for text built piece by piece and for data read from
 * outside (curl's dynbuf, git's strbuf).
 *
 * Contract: the buffer owns its data, which is NUL-terminated whenever it is not NULL; crossing
 * the cap is an error (M87_E_TOOBIG), never a reallocation forever. Allocation failure aborts.
 */
#ifndef M87_BUF_H
#define M87_BUF_H

#include <stddef.h>

#include "m87/compiler.h"
#include "m87/error.h"

struct m87_buf {
    char *data; /* always NUL-terminated when not NULL */
    size_t len;
    size_t cap;
    size_t max; /* appending past max fails with M87_E_TOOBIG; 0 means SIZE_MAX */
};

/* No allocation. */
void m87_buf_init(struct m87_buf *b, size_t max);
/* Append bytes; -1 with M87_E_TOOBIG in *err when the cap would be crossed (nothing appended). */
int m87_buf_append(struct m87_buf *b, const void *data, size_t len, struct m87_error **err);
int m87_buf_appendf(struct m87_buf *b, struct m87_error **err, const char *fmt, ...)
    M87_PRINTF(3, 4);
/* Drop the first n bytes (n <= len). */
void m87_buf_consume(struct m87_buf *b, size_t n);
void m87_buf_reset(struct m87_buf *b);
/* Return the contents (never NULL, "" when empty) to the caller and reset the buffer. */
char *m87_buf_steal(struct m87_buf *b);
void m87_buf_release(struct m87_buf *b);

#endif
