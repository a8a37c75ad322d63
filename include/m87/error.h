/* Errors: one append-only enum of codes and an error value that carries the code, errno, an
 * HTTP status and a message, with context added on the way up.
 *
 * Contract: a function that can fail returns -1 (or NULL) and fills its `struct m87_error **err`
 * argument only on failure, with m87_error_set; callers add context with m87_error_wrap; only the
 * top of a program prints the message. The error is the caller's: m87_error_clear frees it.
 */
#ifndef M87_ERROR_H
#define M87_ERROR_H

#include <stddef.h>

#include "m87/compiler.h"

/* Append-only: the numbers are stable and may be stored or reported. */
enum m87_errcode {
    M87_E_OK = 0,
    M87_E_INTERNAL = 1,     /* a bug or an impossible state */
    M87_E_IO = 2,           /* a system call failed; errno is set in the error */
    M87_E_INVAL = 3,        /* bad argument or bad input */
    M87_E_PARSE = 4,        /* malformed JSON, YAML or protocol data */
    M87_E_CONNECT = 5,      /* could not reach a peer (dockerd, server, registry) */
    M87_E_TIMEOUT = 6,      /* a call took longer than its bound */
    M87_E_STALLED = 7,      /* a stream delivered no bytes for longer than its watchdog */
    M87_E_HTTP = 8,         /* a peer answered with an HTTP error status */
    M87_E_NOTFOUND = 9,     /* HTTP 404 or a missing object */
    M87_E_CONFLICT = 10,    /* HTTP 409 or an object in the way */
    M87_E_TOOBIG = 11,      /* input crossed a named size cap */
    M87_E_VERSION = 12,     /* the peer speaks an API version we cannot use */
    M87_E_CANCELLED = 13,   /* a callback asked to stop */
    M87_E_PULL = 14,        /* an image pull failed inside its progress stream */
    M87_E_NOTMODIFIED = 15, /* HTTP 304: start of a started container, stop of a stopped one */
};

struct m87_error {
    enum m87_errcode code;
    int sys_errno;    /* errno at the failure, 0 when none */
    long http_status; /* HTTP status when the failure came from a peer's answer, else 0 */
    char *msg;
};

/* Fill *err (when err is not NULL and *err is NULL) with a new error and return -1. A second
 * error on an already filled *err is dropped: the first failure is the one to report.
 * When sys_errno is not 0, ": strerror(sys_errno)" is appended to the message. */
int m87_error_set(struct m87_error **err, enum m87_errcode code, int sys_errno, const char *fmt,
                  ...) M87_PRINTF(4, 5);

/* Prefix the message of an existing error with "CONTEXT: ". Returns -1, a no-op on NULL. */
int m87_error_wrap(struct m87_error **err, const char *fmt, ...) M87_PRINTF(2, 3);

/* The code of *err, or M87_E_OK when err or *err is NULL. */
enum m87_errcode m87_error_code(const struct m87_error *err);

/* Free the error and set *err to NULL. NULL and *NULL are no-ops. */
void m87_error_clear(struct m87_error **err);
void m87_error_free(struct m87_error *err);

/* Frees an error local (initialised to NULL) when it goes out of scope. */
#define _cleanup_error_ __attribute__((cleanup(m87_error_clear)))

/* A static description of a code, for people. */
const char *m87_strerror(enum m87_errcode code);

/* text in single quotes for a message, cut to at most max bytes on a UTF-8 boundary with "..."
 * after it when longer. Caller frees. */
char *m87_quote_excerpt(const char *text, size_t max);

#endif
