/* .env and env_file reading, statement by statement, in the dialect of compose-go's dotenv. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/list.h"
#include "m87/spec-dotenv.h"
#include "m87/spec-interp.h"

struct dotenv {
    const char *file;
    size_t line; /* of the character at p */
    const char *p;
    spec_lookup_fn lookup;
    void *ctx;
    struct m87_kvlist *out;
    size_t total;
    struct m87_error **err;
};

static int dotenv_error(const struct dotenv *d, size_t line, enum m87_errcode code, const char *fmt,
                        ...) M87_PRINTF(4, 5);

static int dotenv_error(const struct dotenv *d, size_t line, enum m87_errcode code, const char *fmt,
                        ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = m87_xvasprintf(fmt, ap);
    va_end(ap);
    return m87_error_set(d->err, code, 0, "%s:%zu: %s", d->file, line, msg);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_key_char(char c)
{
    /* not strchr alone: it finds the terminating NUL, and the key would run off the end */
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("_.-[]", c) != NULL);
}

/* Skip blank lines and comment lines; false at the end of the input. */
static bool next_statement(struct dotenv *d)
{
    for (;;) {
        while (is_blank(*d->p) || *d->p == '\n')
            d->line += *d->p++ == '\n';
        if (*d->p != '#')
            return *d->p != '\0';
        d->p += strcspn(d->p, "\n");
    }
}

/* The interpolation lookup: the caller's first, then what is already set. */
static const char *dotenv_lookup(void *ctx, const char *name)
{
    const struct dotenv *d = ctx;
    const char *v = d->lookup ? d->lookup(d->ctx, name) : NULL;
    if (v)
        return v;
    return m87_kvlist_get(d->out, name);
}

static int set_value(struct dotenv *d, size_t line, const char *key, const char *value)
{
    size_t add = strlen(key) + strlen(value);
    if (add > SPEC_DOTENV_MAX_TOTAL - d->total)
        return dotenv_error(d, line, M87_E_TOOBIG, "variables exceed the limit of %u bytes",
                            SPEC_DOTENV_MAX_TOTAL);
    d->total += add;
    m87_kvlist_set(d->out, key, value);
    return 0;
}

static int interpolate_value(struct dotenv *d, size_t line, const char *key, const char *raw)
{
    struct spec_interp ip = {dotenv_lookup, d, NULL};
    _cleanup_free_ char *value = spec_interpolate(&ip, raw, d->file, line, 0, d->err);
    if (value == NULL)
        return -1;
    return set_value(d, line, key, value);
}

/* Double-quoted text between start and end: escapes resolved, \$ kept as $$ for the
 * interpolation that follows to turn into a literal $. */
static char *unescape(const char *start, const char *end)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (const char *p = start; p < end; p++) {
        if (*p != '\\' || p + 1 == end) {
            m87_buf_append(&b, p, 1, NULL);
            continue;
        }
        char c = *++p;
        const char *rep = c == 'n'   ? "\n"
                          : c == 'r' ? "\r"
                          : c == 't' ? "\t"
                          : c == '$' ? "$$"
                                     : NULL;
        if (rep)
            m87_buf_append(&b, rep, strlen(rep), NULL);
        else
            m87_buf_append(&b, &c, 1, NULL);
    }
    return m87_buf_steal(&b);
}

/* After a closing quote: blanks, then the end of the line or a comment. */
static int after_quote(struct dotenv *d, size_t line)
{
    while (is_blank(*d->p))
        d->p++;
    if (*d->p != '\0' && *d->p != '\n' && *d->p != '#')
        return dotenv_error(d, line, M87_E_PARSE,
                            "unexpected character '%c' after the closing quote", *d->p);
    d->p += strcspn(d->p, "\n");
    return 0;
}

static int quoted_value(struct dotenv *d, size_t line, const char *key)
{
    char quote = *d->p;
    const char *start = d->p + 1, *q = start;
    for (; *q && *q != quote; q++) {
        if (quote == '"' && *q == '\\' && q[1])
            q++;
    }
    if (*q == '\0')
        return dotenv_error(d, line, M87_E_PARSE, "unterminated quoted value");
    for (const char *c = d->p; c < q; c++)
        d->line += *c == '\n';
    d->p = q + 1;
    if (quote == '\'') {
        _cleanup_free_ char *raw = m87_xstrndup(start, (size_t)(q - start));
        if (set_value(d, line, key, raw) < 0)
            return -1;
    } else {
        _cleanup_free_ char *raw = unescape(start, q);
        if (interpolate_value(d, line, key, raw) < 0)
            return -1;
    }
    return after_quote(d, line);
}

/* Up to the end of the line or a comment (a # after a blank), trailing blanks dropped. */
static int plain_value(struct dotenv *d, size_t line, const char *key)
{
    const char *start = d->p, *end = start;
    while (*end && *end != '\n' && !(*end == '#' && end > start && is_blank(end[-1])))
        end++;
    d->p = end + strcspn(end, "\n");
    while (end > start && is_blank(end[-1]))
        end--;
    _cleanup_free_ char *raw = m87_xstrndup(start, (size_t)(end - start));
    return interpolate_value(d, line, key, raw);
}

static int bad_key_char(const struct dotenv *d, size_t line, char c)
{
    if (c > ' ' && c < 0x7f)
        return dotenv_error(d, line, M87_E_PARSE, "unexpected character '%c' in variable name", c);
    return dotenv_error(d, line, M87_E_PARSE, "unexpected character 0x%02x in variable name",
                        (unsigned char)c);
}

static int statement(struct dotenv *d)
{
    size_t line = d->line;
    if (strncmp(d->p, "export", 6) == 0 && (d->p[6] == ' ' || d->p[6] == '\t')) {
        d->p += 6;
        while (is_blank(*d->p))
            d->p++;
    }
    size_t n = 0;
    while (is_key_char(d->p[n]))
        n++;
    _cleanup_free_ char *key = m87_xstrndup(d->p, n);
    d->p += n;
    while (is_blank(*d->p))
        d->p++;
    char sep = *d->p;
    if (n == 0 && (sep == '=' || sep == ':'))
        return dotenv_error(d, line, M87_E_PARSE, "missing variable name before '%c'", sep);
    if (n > 0 && is_key_char(sep))
        return dotenv_error(d, line, M87_E_PARSE, "variable name must not contain a space");
    if (n == 0 || (sep != '=' && sep != ':' && sep != '\n' && sep != '\0'))
        return bad_key_char(d, line, sep);
    if (key[0] >= '0' && key[0] <= '9')
        return dotenv_error(d, line, M87_E_PARSE, "variable name '%s' must not start with a digit",
                            key);
    if (sep == '\n' || sep == '\0') {
        const char *v = d->lookup ? d->lookup(d->ctx, key) : NULL;
        return v ? set_value(d, line, key, v) : 0;
    }
    d->p++;
    while (is_blank(*d->p))
        d->p++;
    if (*d->p == '\'' || *d->p == '"')
        return quoted_value(d, line, key);
    return plain_value(d, line, key);
}

int spec_dotenv_parse(const char *text, size_t len, const char *file, spec_lookup_fn lookup,
                      void *ctx, struct m87_kvlist *out, struct m87_error **err)
{
    if (len > SPEC_DOTENV_MAX_FILE)
        return m87_error_set(err, M87_E_TOOBIG, 0, "%s: file exceeds the limit of %u bytes", file,
                             SPEC_DOTENV_MAX_FILE);
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        size_t line = 1;
        for (const char *c = text; c < nul; c++)
            line += *c == '\n';
        return m87_error_set(err, M87_E_PARSE, 0, "%s:%zu: NUL character", file, line);
    }
    _cleanup_free_ char *copy = m87_xstrndup(text, len);
    struct dotenv d = {file, 1, copy, lookup, ctx, out, 0, err};
    if (strncmp(d.p, "\xef\xbb\xbf", 3) == 0)
        d.p += 3;
    while (next_statement(&d))
        if (statement(&d) < 0)
            return -1;
    return 0;
}

int spec_dotenv_load(const char *path, spec_lookup_fn lookup, void *ctx, struct m87_kvlist *out,
                     struct m87_error **err)
{
    size_t len = 0;
    _cleanup_free_ char *text = m87_read_file(path, SPEC_DOTENV_MAX_FILE, &len, err);
    if (text == NULL)
        return -1;
    return spec_dotenv_parse(text, len, path, lookup, ctx, out, err);
}
