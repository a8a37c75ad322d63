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
#include <sys/types.h>
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
#define M87_STEAL(p)                                                                               \
    ({                                                                                             \
        __typeof__(p) m87_steal_tmp_ = (p);                                                        \
        (p) = NULL;                                                                                \
        m87_steal_tmp_;                                                                            \
    })

#define M87_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- growable byte buffer with a cap ----------------------------------------------------------
 */

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

/* ---- JSON (reading) ----------------------------------------------------------------------------
 */

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

/* Containers nested deeper than this are refused: yajl frees its trees recursively, and a
 * hostile peer could send a megabyte of '['. Docker's answers and run specs stay under 16. */
#define M87_JSON_MAX_DEPTH 64

/* Parse len bytes of text. NULL with M87_E_PARSE and the parser's message on bad input,
 * or when arrays and objects nest deeper than M87_JSON_MAX_DEPTH. */
struct m87_json *m87_json_parse(const char *text, size_t len, struct m87_error **err);
/* The same with another nesting limit (at most M87_JSON_MAX_DEPTH makes sense). */
struct m87_json *m87_json_parse_max(const char *text, size_t len, int max_depth,
                                    struct m87_error **err);
/* The deepest nesting of arrays and objects in text, counting stops once past max. */
int m87_json_depth(const char *text, size_t len, int max);
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
/* Typed reads return the fallback when n is NULL or of another type; m87_json_int also for a
 * number outside int64's range (a fraction is truncated). */
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

/* ---- JSON (writing) ----------------------------------------------------------------------------
 */

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

/* ---- base64 (URL-safe, padded, as dockerd's X-Registry-Auth wants) ----------------------------
 */

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

/* ---- YAML documents -------------------------------------------------------------------------- */

/* A YAML file parsed with libyaml into an immutable tree, for the compose and run-spec parsers.
 *
 * Decisions, so that callers need not guess:
 * - One document per stream. An empty stream (or only comments) gives a null scalar root at 1:1;
 *   a second document ("---" after the first) is an error at its start, never silently dropped.
 * - Anchors and aliases are resolved: an alias yields the anchored node itself (shared, so its
 *   line and column are those of the anchor's node). An undefined alias, and an alias to a node
 *   that contains it, are errors.
 * - Merge keys: a plain `<<` key whose value is a mapping or a sequence of mappings (inline or
 *   aliased) is replaced, at its position, by the entries of those mappings that the mapping does
 *   not define itself; earlier sources win over later ones. A quoted "<<" is an ordinary key.
 * - Mapping keys must be scalars and unique (compared as text, so `1` and "1" clash); a duplicate
 *   is an error at the second occurrence.
 * - Plain scalars resolve as in the YAML 1.2 core schema (what compose-go's yaml.v3 does): null is
 *   `~`, `null`, `Null`, `NULL` or empty; `yes`/`on` are strings. The typed bool read then accepts
 *   true/false/yes/no/on/off/y/n in any case, plain or quoted, as compose-go's type casts do.
 * - Limits: M87_YAML_MAX_FILE bytes of input; M87_YAML_MAX_NODES nodes counted after alias and
 *   merge expansion (what a full walk of the tree would visit: the billion-laughs guard);
 *   M87_YAML_MAX_DEPTH levels of nesting. Crossing one is M87_E_TOOBIG.
 *
 * Every error message starts with "FILE:LINE:COLUMN: " (1-based, LINE and COLUMN of the node's
 * start, or of libyaml's problem mark for syntax errors). Syntax errors are M87_E_PARSE. */
#define M87_YAML_MAX_FILE (4u * 1024 * 1024)
#define M87_YAML_MAX_NODES 1000000u
#define M87_YAML_MAX_DEPTH 128u

struct m87_yaml_doc;
struct m87_yaml_node;

enum m87_yaml_kind {
    M87_YAML_SCALAR,
    M87_YAML_SEQUENCE,
    M87_YAML_MAPPING,
};

/* What a scalar is under the YAML 1.2 core schema. Quoted, block (| >) and explicitly tagged
 * `!!str` or `!` scalars are strings; other explicit tags resolve as if the scalar were plain. */
enum m87_yaml_type {
    M87_YAML_NULL,
    M87_YAML_BOOL,  /* true, True, TRUE, false, False, FALSE */
    M87_YAML_INT,   /* as yaml.v3: [-+]?[0-9]+, 0x, 0o, 0b, leading-0 octal; '_' ignored */
    M87_YAML_FLOAT, /* 1.5, .5, 1e3, .inf, .nan and their variants */
    M87_YAML_STR,
};

/* Parse len bytes of YAML. file names the input in messages (borrowed only during the call;
 * the document keeps a copy). NULL with *err on failure: M87_E_PARSE for syntax, aliases, merge
 * keys, duplicate keys and non-scalar keys; M87_E_TOOBIG for a cap. */
struct m87_yaml_doc *m87_yaml_parse(const char *text, size_t len, const char *file,
                                    struct m87_error **err);

/* Read path (at most M87_YAML_MAX_FILE bytes) and parse it, with path as the name in messages.
 * M87_E_IO when it cannot be read ("open 'PATH': ..."), else as m87_yaml_parse. */
struct m87_yaml_doc *m87_yaml_load(const char *path, struct m87_error **err);

/* Free the document and every node in it. NULL is a no-op. */
void m87_yaml_free(struct m87_yaml_doc *doc);
static inline void m87_yaml_freep(struct m87_yaml_doc **doc)
{
    m87_yaml_free(*doc);
}

/* The root node; never NULL for a parsed document. Nodes are borrowed from their document. */
const struct m87_yaml_node *m87_yaml_root(const struct m87_yaml_doc *doc);

/* Accessors. They accept NULL where noted and never fail. */
enum m87_yaml_kind m87_yaml_kind(const struct m87_yaml_node *n);
const char *m87_yaml_file(const struct m87_yaml_node *n); /* the document's file name */
size_t m87_yaml_line(const struct m87_yaml_node *n);      /* 1-based */
size_t m87_yaml_column(const struct m87_yaml_node *n);    /* 1-based, in characters */
/* True for a scalar that resolves to null (see enum m87_yaml_type). NULL n is not null. */
bool m87_yaml_is_null(const struct m87_yaml_node *n);
/* True for a plain (unquoted, untagged) scalar: the one kind whose text YAML types resolve. */
bool m87_yaml_is_plain(const struct m87_yaml_node *n);
/* The resolved type of a scalar; M87_YAML_STR for anything else. */
enum m87_yaml_type m87_yaml_type(const struct m87_yaml_node *n);
/* The type text would resolve to as a plain scalar: what the parser decides, for a writer that
 * must quote whatever would not read back as a string. */
enum m87_yaml_type m87_yaml_plain_type(const char *text);
/* The explicit tag as libyaml resolved it ("tag:yaml.org,2002:str" for !!str, "!reset" for a
 * local tag), or NULL when the node has none. Compose's !reset and !override are seen here. */
const char *m87_yaml_tag(const struct m87_yaml_node *n);
/* The text of a scalar (never NULL for one: a null scalar has its text, e.g. "" or "~"); NULL for
 * NULL n or a collection. Scalars never contain a NUL byte (that is a parse error). */
const char *m87_yaml_text(const struct m87_yaml_node *n);
/* Number of items of a sequence or entries of a mapping (merged entries included); 0 else. */
size_t m87_yaml_len(const struct m87_yaml_node *n);
/* The i-th item of a sequence; NULL when n is not a sequence or i is out of range. */
const struct m87_yaml_node *m87_yaml_at(const struct m87_yaml_node *n, size_t i);
/* The i-th entry of a mapping in document order (merged entries at the `<<` key's place): the
 * value, with the key node in *key when key is not NULL. NULL when out of range or no mapping. */
const struct m87_yaml_node *m87_yaml_entry(const struct m87_yaml_node *n, size_t i,
                                           const struct m87_yaml_node **key);
/* The value for key in a mapping (O(log n)); NULL when n is NULL, not a mapping, or lacks it. */
const struct m87_yaml_node *m87_yaml_get(const struct m87_yaml_node *n, const char *key);

/* Fill *err with code and "FILE:LINE:COLUMN: " followed by the formatted message, at node n.
 * Returns -1. The compose layer reports its own findings (unknown field, bad port) this way. */
int m87_yaml_error(const struct m87_yaml_node *n, struct m87_error **err, enum m87_errcode code,
                   const char *fmt, ...) M87_PRINTF(4, 5);
/* Prefix an existing error with "FILE:LINE:COLUMN: " and, when what is not NULL, "WHAT: ", at
 * node n (for errors from m87_parse_bytes and friends). Returns -1; a no-op on a NULL *err. */
int m87_yaml_wrap(const struct m87_yaml_node *n, const char *what, struct m87_error **err);

/* Typed reads of a scalar. On success 0 and *out set; on failure -1, *out untouched and
 * M87_E_INVAL with "FILE:LINE:COLUMN: [WHAT: ]expected a boolean, got 'maybe'" (or "got a
 * mapping", "got a sequence", "got null"). what may be NULL. n must not be NULL.
 * - bool: true/false/yes/no/on/off/y/n in any letter case, plain or quoted.
 * - int64: a plain scalar that resolves to M87_YAML_INT (so `mode: 0440` is 288); a quoted one
 *   as decimal only, "[-+]?[0-9]+" (compose casts strings with Atoi). Out of range is an error.
 * - str: the text of any scalar but null; *out is borrowed from the document. */
int m87_yaml_read_bool(const struct m87_yaml_node *n, const char *what, bool *out,
                       struct m87_error **err);
int m87_yaml_read_int(const struct m87_yaml_node *n, const char *what, int64_t *out,
                      struct m87_error **err);
int m87_yaml_read_str(const struct m87_yaml_node *n, const char *what, const char **out,
                      struct m87_error **err);

/* Read a whole file of at most max bytes into a NUL-terminated buffer the caller frees, length
 * in *len (may be NULL). M87_E_IO ("open 'PATH': ...", "read 'PATH': ..."), M87_E_TOOBIG
 * ("read 'PATH': file exceeds the limit of N bytes"). */
char *m87_read_file(const char *path, size_t max, size_t *len, struct m87_error **err);

/* text in single quotes for a message, cut to at most max bytes on a UTF-8 boundary with "..."
 * after it when longer. Caller frees. */
char *m87_quote_excerpt(const char *text, size_t max);

/* ---- YAML writing ---------------------------------------------------------------------------- */

/* Block-style YAML over libyaml's emitter, for `compose config`. Strings are written so that they
 * read back as the same strings: plain when that is unambiguous, quoted when the text would
 * resolve to null, a bool (YAML 1.1's yes/no/on/off included), a number, or a merge key, or
 * cannot be plain; text with a newline as a literal block where libyaml allows one. Empty
 * mappings and sequences come out as {} and []. Misuse (a value where a key is due, unbalanced
 * open/close, finishing an incomplete document) is a bug and aborts. */
struct m87_yw;

struct m87_yw *m87_yw_new(void);
void m87_yw_free(struct m87_yw *w);
static inline void m87_yw_freep(struct m87_yw **w)
{
    m87_yw_free(*w);
}
void m87_yw_map_open(struct m87_yw *w);
void m87_yw_map_close(struct m87_yw *w);
void m87_yw_seq_open(struct m87_yw *w);
void m87_yw_seq_close(struct m87_yw *w);
void m87_yw_key(struct m87_yw *w, const char *key);
void m87_yw_str(struct m87_yw *w, const char *s); /* NULL writes null */
void m87_yw_int(struct m87_yw *w, int64_t v);
void m87_yw_bool(struct m87_yw *w, bool v);
void m87_yw_null(struct m87_yw *w);
/* Shorthands for a key followed by a value. */
void m87_yw_kstr(struct m87_yw *w, const char *key, const char *s);
void m87_yw_kint(struct m87_yw *w, const char *key, int64_t v);
void m87_yw_kbool(struct m87_yw *w, const char *key, bool v);
/* The document text (ending in a newline), owned by the caller; the writer is freed. Exactly one
 * root value must have been written. */
char *m87_yw_finish(struct m87_yw *w);

/* ---- units ----------------------------------------------------------------------------------- */

/* Exact conversions of compose's size, duration and cpus notations. No floating point: decimals
 * are carried as digits and truncated towards zero at the last step. Errors are M87_E_INVAL with
 * the text quoted ("invalid size '12x'"), to be placed with m87_yaml_wrap. */

/* Bytes as docker/go-units RAMInBytes: digits with an optional ".digits", an optional single
 * space, an optional unit b k m g t p (any case) and an optional "i" and/or "b"; multipliers are
 * binary even for "MB" (512m = 536870912, 1.5g = 1610612736, a bare 1024 = 1024 bytes). Fractions
 * of a byte are truncated. Negative, out of int64 range, or anything else is an error. */
int m87_parse_bytes(const char *text, int64_t *out, struct m87_error **err);

/* A Go duration (time.ParseDuration) into nanoseconds: an optional sign, then one or more
 * number+unit pairs ("1h2m3s", "1.5h", "500ms", "1m30s"); units ns, us, µs, μs, ms, s, m, h, and,
 * as compose-go's str2duration, d (24h) and w (7d). "0" alone is 0. Fractions are exact to the
 * nanosecond (truncated). Out of int64 range, a missing unit, or garbage is an error. Negative
 * values are allowed, as in Go; the caller refuses them where they make no sense. */
int m87_parse_duration(const char *text, int64_t *ns, struct m87_error **err);

/* CPUs as decimal text (a YAML number's text too: "2", "0.5", ".5", "1.5e0", "+1") into NanoCpus:
 * "0.1" = 100000000, "1.5" = 1500000000. At most 9 significant decimals (more, unless zeros, is
 * an error, never rounded). Negative, out of range, or anything else is an error. */
int m87_parse_cpus(const char *text, int64_t *nano, struct m87_error **err);

/* Go's time.Duration.String(): "1h2m3s", "1.5s", "500ms", "1µs", "0s", "-2m0s". Caller frees. */
char *m87_format_duration(int64_t ns);

/* ---- hashing, randomness and files ------------------------------------------------------------
 */

#define M87_SHA256_HEX_LEN 64

/* Streaming SHA-256 over libcrypto. Only memory can make libcrypto fail here: m87_oom(). */
struct m87_sha256;
struct m87_sha256 *m87_sha256_new(void);
void m87_sha256_update(struct m87_sha256 *h, const void *data, size_t len);
/* Lower-case hex of the digest into out; h is freed. */
void m87_sha256_final(struct m87_sha256 *h, char out[M87_SHA256_HEX_LEN + 1]);
/* Free without a digest (an error path). NULL is fine. */
void m87_sha256_abort(struct m87_sha256 *h);
/* One-shot: hex(SHA-256(data)). */
void m87_sha256_hex(const void *data, size_t len, char out[M87_SHA256_HEX_LEN + 1]);
/* hex(SHA-256) of a whole file, in chunks; M87_E_IO when it cannot be read. */
int m87_sha256_file(const char *path, char out[M87_SHA256_HEX_LEN + 1], struct m87_error **err);

/* len bytes from the kernel's CSPRNG (getrandom); M87_E_IO on failure. */
int m87_random_bytes(void *buf, size_t len, struct m87_error **err);

/* Constant-time comparison of two equally long buffers: 0 when equal. */
int m87_memeq_ct(const void *a, const void *b, size_t len);

/* Replace path with len bytes atomically: write PATH.tmp.PID next to it with mode, fsync it,
 * rename over path, fsync the directory. A reader sees the old or the new file, never a torn one,
 * also across a power cut. M87_E_IO naming the step and path. */
int m87_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                          struct m87_error **err);

/* mkdir -p with mode for the directories it creates; M87_E_IO naming the directory. */
int m87_mkdir_p(const char *path, mode_t mode, struct m87_error **err);

/* rm -rf that never follows symlinks and stays on path's file system; missing path is 0. */
int m87_remove_tree(const char *path, struct m87_error **err);

#endif
