/* Tokens read from files and pipes: one line, checked before it reaches a header. */
#include <errno.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/io.h"
#include "m87/token.h"

int m87_token_check(const char *token, const char *what, struct m87_error **err)
{
    if (!*token)
        return m87_error_set(err, M87_E_INVAL, 0, "%s is empty", what);
    for (const unsigned char *p = (const unsigned char *)token; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return m87_error_set(err, M87_E_INVAL, 0, "%s holds a space or a control character",
                                 what);
    return 0;
}

char *m87_token_read(int fd, const char *what, struct m87_error **err)
{
    _cleanup_free_ char *buf = m87_xmalloc(M87_TOKEN_MAX + 2);
    size_t len = 0;

    for (;;) {
        ssize_t n = m87_read_some(fd, buf + len, M87_TOKEN_MAX + 1 - len);
        if (n < 0) {
            m87_error_set(err, M87_E_IO, errno, "read %s", what);
            return NULL;
        }
        len += (size_t)n;
        if (n == 0 || len > M87_TOKEN_MAX)
            break;
    }
    if (len > M87_TOKEN_MAX) {
        m87_error_set(err, M87_E_TOOBIG, 0, "%s exceeds the limit of %u bytes", what,
                      M87_TOKEN_MAX);
        return NULL;
    }
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    buf[len] = '\0';
    if (len > 0 && memchr(buf, '\n', len)) {
        m87_error_set(err, M87_E_INVAL, 0, "%s holds more than one line", what);
        return NULL;
    }
    if (memchr(buf, '\0', len)) { /* a NUL would cut the token short unseen */
        m87_error_set(err, M87_E_INVAL, 0, "%s holds a space or a control character", what);
        return NULL;
    }
    if (m87_token_check(buf, what, err) < 0)
        return NULL;
    return M87_STEAL(buf);
}
