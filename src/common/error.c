/* Errors that carry a code for deciding and a message for people. */
#include <stdio.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"

int m87_error_set(struct m87_error **err, enum m87_errcode code, int sys_errno, const char *fmt,
                  ...)
{
    if (err == NULL || *err != NULL)
        return -1;

    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = m87_xvasprintf(fmt, ap);
    va_end(ap);

    struct m87_error *e = m87_xcalloc(1, sizeof(*e));
    e->code = code;
    e->sys_errno = sys_errno;
    if (sys_errno != 0)
        e->msg = m87_xasprintf("%s: %s", msg, strerror(sys_errno));
    else
        e->msg = M87_STEAL(msg);
    *err = e;
    return -1;
}

int m87_error_wrap(struct m87_error **err, const char *fmt, ...)
{
    if (err == NULL || *err == NULL)
        return -1;

    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *ctx = m87_xvasprintf(fmt, ap);
    va_end(ap);

    char *msg = m87_xasprintf("%s: %s", ctx, (*err)->msg);
    free((*err)->msg);
    (*err)->msg = msg;
    return -1;
}

enum m87_errcode m87_error_code(const struct m87_error *err)
{
    return err ? err->code : M87_E_OK;
}

void m87_error_free(struct m87_error *err)
{
    if (err == NULL)
        return;
    free(err->msg);
    free(err);
}

void m87_error_clear(struct m87_error **err)
{
    if (err == NULL)
        return;
    m87_error_free(*err);
    *err = NULL;
}

const char *m87_strerror(enum m87_errcode code)
{
    static const char *const names[] = {
        [M87_E_OK] = "no error",
        [M87_E_INTERNAL] = "internal error",
        [M87_E_IO] = "input/output error",
        [M87_E_INVAL] = "invalid argument",
        [M87_E_PARSE] = "parse error",
        [M87_E_CONNECT] = "cannot connect",
        [M87_E_TIMEOUT] = "timed out",
        [M87_E_STALLED] = "stream stalled",
        [M87_E_HTTP] = "http error",
        [M87_E_NOTFOUND] = "not found",
        [M87_E_CONFLICT] = "conflict",
        [M87_E_TOOBIG] = "too big",
        [M87_E_VERSION] = "unsupported api version",
        [M87_E_CANCELLED] = "cancelled",
        [M87_E_PULL] = "pull failed",
        [M87_E_NOTMODIFIED] = "not modified",
    };
    if ((size_t)code >= M87_ARRAY_LEN(names) || names[code] == NULL)
        return "unknown error";
    return names[code];
}
