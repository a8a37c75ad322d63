/* m87 common layer: errors, allocation, buffers, JSON, line splitting, logging.
 *
 * Every other module builds on this header. Nothing here talks to dockerd, the server or the
 * file system beyond what a helper's name says.
 */
#ifndef M87_COMMON_H
#define M87_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define M87_VERSION "0.1.0"

#if defined(__GNUC__)
#define M87_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define M87_NORETURN __attribute__((noreturn))
#else
#define M87_PRINTF(a, b)
#define M87_NORETURN
#endif

/* ---- errors ---------------------------------------------------------------------------- */

/* Append-only: the numbers are stable and may be stored or reported. */
enum m87_errcode {
    M87_E_OK = 0,
    M87_E_INTERNAL = 1,  /* a bug or an impossible state */
    M87_E_IO = 2,        /* a system call failed; errno is set in the error */
    M87_E_INVAL = 3,     /* bad argument or bad input */
    M87_E_PARSE = 4,     /* malformed JSON, YAML or protocol data */
    M87_E_CONNECT = 5,   /* could not reach a peer (dockerd, server, registry) */
    M87_E_TIMEOUT = 6,   /* a call took longer than its bound */
    M87_E_STALLED = 7,   /* a stream delivered no bytes for longer than its watchdog */
    M87_E_HTTP = 8,      /* a peer answered with an HTTP error status */
    M87_E_NOTFOUND = 9,  /* HTTP 404 or a missing object */
    M87_E_CONFLICT = 10, /* HTTP 409 or an object in the way */
    M87_E_TOOBIG = 11,   /* input crossed a named size cap */
    M87_E_VERSION = 12,  /* the peer speaks an API version we cannot use */
    M87_E_CANCELLED = 13, /* a callback asked to stop */
    M87_E_PULL = 14,     /* an image pull failed inside its progress stream */
    M87_E_NOTMODIFIED = 15, /* HTTP 304: start of a started container, stop of a stopped one */
};

struct m87_error {
    enum m87_errcode code;
    int sys_errno;   /* errno at the failure, 0 when none */
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

/* A static description of a code, for people. */
const char *m87_strerror(enum m87_errcode code);

/* ---- allocation -------------------------------------------------------------------------- */

/* Allocation failure aborts: the daemon is restarted by systemd. */
void *m87_xmalloc(size_t size);
void *m87_xcalloc(size_t nmemb, size_t size);
void *m87_xrealloc(void *ptr, size_t size);
char *m87_xstrdup(const char *s);
char *m87_xstrndup(const char *s, size_t n);
char *m87_xasprintf(const char *fmt, ...) M87_PRINTF(1, 2);
char *m87_xvasprintf(const char *fmt, va_list ap) M87_PRINTF(1, 0);
M87_NORETURN void m87_oom(void);

static inline void m87_freep(void *p)
{
    free(*(void **)p);
}

static inline void m87_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(m87_freep)
#define _cleanup_close_ _cleanup_(m87_closep)
#define _cleanup_error_ _cleanup_(m87_error_clear)

/* Hand ownership out of a cleanup-attributed local: `*out = M87_STEAL(p);`. */
#define M87_STEAL(p)                                                                           \
    ({                                                                                         \
        __typeof__(p) m87_steal_tmp_ = (p);                                                    \
        (p) = NULL;                                                                            \
        m87_steal_tmp_;                                                                        \
    })

#define M87_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- growable byte buffer with a cap ---------------------------------------------------------- */

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

/* ---- key/value lists (labels, env, filters) -------------------------------------------------- */

struct m87_kv {
    char *key;
    char *value;
};

struct m87_kvlist {
    struct m87_kv *items;
    size_t len;
    size_t cap;
};

void m87_kvlist_init(struct m87_kvlist *l);
/* Append a copy of key and value (value may be NULL). */
void m87_kvlist_add(struct m87_kvlist *l, const char *key, const char *value);
/* Replace the value of an existing key, or append. */
void m87_kvlist_set(struct m87_kvlist *l, const char *key, const char *value);
/* The value of the first item named key; NULL when absent or valueless. */
const char *m87_kvlist_get(const struct m87_kvlist *l, const char *key);
bool m87_kvlist_has(const struct m87_kvlist *l, const char *key);
void m87_kvlist_release(struct m87_kvlist *l);

/* ---- string lists ---------------------------------------------------------------------------- */

struct m87_strv {
    char **items;
    size_t len;
    size_t cap;
};

void m87_strv_init(struct m87_strv *v);
void m87_strv_add(struct m87_strv *v, const char *s);
void m87_strv_release(struct m87_strv *v);

/* ---- JSON (reading) ---------------------------------------------------------------------------- */

/* A parsed JSON document or a node inside it. Nodes are borrowed from their document; only the
 * root returned by m87_json_parse is freed, with m87_json_free. The library behind it is an
 * implementation detail of src/common/json.c. */
struct m87_json;

enum m87_json_type {
    M87_JSON_NULL,
    M87_JSON_BOOL,
    M87_JSON_NUMBER,
    M87_JSON_STRING,
    M87_JSON_ARRAY,
    M87_JSON_OBJECT,
};

/* Parse len bytes of text. NULL with M87_E_PARSE and the parser's message on bad input. */
struct m87_json *m87_json_parse(const char *text, size_t len, struct m87_error **err);
void m87_json_free(struct m87_json *doc);
static inline void m87_json_freep(struct m87_json **doc)
{
    m87_json_free(*doc);
}

enum m87_json_type m87_json_type(const struct m87_json *n);
/* Member of an object by key; NULL when n is NULL, not an object, or the key is absent. */
const struct m87_json *m87_json_get(const struct m87_json *n, const char *key);
/* Follow a path of keys: m87_json_path(n, "State", "Health", "Status", NULL). */
const struct m87_json *m87_json_path(const struct m87_json *n, ...);
/* Typed reads return the fallback when n is NULL or of another type. */
const char *m87_json_str(const struct m87_json *n, const char *fallback);
int64_t m87_json_int(const struct m87_json *n, int64_t fallback);
double m87_json_double(const struct m87_json *n, double fallback);
bool m87_json_bool(const struct m87_json *n, bool fallback);
/* Arrays and objects: length, and the i-th element (objects: value, with its key in *key). */
size_t m87_json_len(const struct m87_json *n);
const struct m87_json *m87_json_at(const struct m87_json *n, size_t i);
const struct m87_json *m87_json_member(const struct m87_json *n, size_t i, const char **key);
/* Copy an object of string values into a kvlist (non-strings are skipped). */
void m87_json_to_kvlist(const struct m87_json *n, struct m87_kvlist *out);
/* Copy an array of strings into a strv (non-strings are skipped). */
void m87_json_to_strv(const struct m87_json *n, struct m87_strv *out);

/* ---- JSON (writing) ---------------------------------------------------------------------------- */

struct m87_jw;

struct m87_jw *m87_jw_new(void);
void m87_jw_free(struct m87_jw *w);
static inline void m87_jw_freep(struct m87_jw **w)
{
    m87_jw_free(*w);
}
void m87_jw_obj_open(struct m87_jw *w);
void m87_jw_obj_close(struct m87_jw *w);
void m87_jw_arr_open(struct m87_jw *w);
void m87_jw_arr_close(struct m87_jw *w);
void m87_jw_key(struct m87_jw *w, const char *key);
void m87_jw_str(struct m87_jw *w, const char *s); /* NULL writes null */
void m87_jw_int(struct m87_jw *w, int64_t v);
void m87_jw_bool(struct m87_jw *w, bool v);
void m87_jw_null(struct m87_jw *w);
/* Shorthands for a key followed by a value. */
void m87_jw_kstr(struct m87_jw *w, const char *key, const char *s);
void m87_jw_kint(struct m87_jw *w, const char *key, int64_t v);
void m87_jw_kbool(struct m87_jw *w, const char *key, bool v);
/* {"k":"v",...} from a kvlist; valueless items are written as "". */
void m87_jw_kvlist(struct m87_jw *w, const struct m87_kvlist *l);
/* ["a","b"] from a strv. */
void m87_jw_strv(struct m87_jw *w, const struct m87_strv *v);
/* Copy a parsed node (any type) into the output. */
void m87_jw_node(struct m87_jw *w, const struct m87_json *n);
/* The text so far, borrowed until the next call on w. Aborts on a generator misuse, which is a
 * bug (unbalanced open/close, a value where a key is due). */
const char *m87_jw_text(struct m87_jw *w, size_t *len);
/* The text, owned by the caller; the writer is freed. */
char *m87_jw_finish(struct m87_jw *w);

/* ---- line splitter for newline-delimited streams ------------------------------------------- */

/* Called once per complete line, without the newline (and without a trailing '\r').
 * Return 0 to go on, non-zero to stop; a non-zero return is handed back by m87_lines_feed. */
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

/* ---- base64 (URL-safe, padded, as dockerd's X-Registry-Auth wants) ---------------------------- */

/* Encode with OpenSSL and map to the URL-safe alphabet. Caller frees. */
char *m87_base64url_encode(const void *data, size_t len);

/* ---- logging --------------------------------------------------------------------------------- */

enum m87_log_level {
    M87_LOG_ERR = 3,
    M87_LOG_WARN = 4,
    M87_LOG_INFO = 6,
    M87_LOG_DEBUG = 7,
};

/* Set the highest level written (default INFO) and whether lines carry a "<N>" syslog priority
 * prefix, which journald reads from a service's stderr. */
void m87_log_setup(enum m87_log_level max, bool syslog_prefix);
void m87_log(enum m87_log_level level, const char *fmt, ...) M87_PRINTF(2, 3);

#endif
