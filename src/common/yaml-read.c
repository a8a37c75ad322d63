/* Reading a YAML tree: accessors and typed reads with FILE:LINE:COLUMN errors, and the YAML 1.2
 * core schema's scalar syntax (as yaml.v3) that both the reads and the tree's building use. */
#include <string.h>
#include <strings.h>

#include "common/yaml-internal.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/yaml.h"

/* ---- positions and errors -------------------------------------------------------------------- */

int m87_yaml_error_at(struct m87_error **err, enum m87_errcode code, const char *file, size_t line,
                      size_t column, const char *fmt, va_list ap)
{
    _cleanup_free_ char *msg = m87_xvasprintf(fmt, ap);
    return m87_error_set(err, code, 0, "%s:%zu:%zu: %s", file, line, column, msg);
}

int m87_yaml_error(const struct m87_yaml_node *n, struct m87_error **err, enum m87_errcode code,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    m87_yaml_error_at(err, code, n->file, n->line, n->column, fmt, ap);
    va_end(ap);
    return -1;
}

int m87_yaml_wrap(const struct m87_yaml_node *n, const char *what, struct m87_error **err)
{
    if (err == NULL || *err == NULL)
        return -1;
    if (what)
        return m87_error_wrap(err, "%s:%zu:%zu: %s", n->file, n->line, n->column, what);
    return m87_error_wrap(err, "%s:%zu:%zu", n->file, n->line, n->column);
}

/* ---- scalar resolution (YAML 1.2 core schema, as yaml.v3) ------------------------------------ */

static bool is_one_of(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(s, *words) == 0)
            return true;
    return false;
}

/* The value of a hex digit (any case), or 99 for any other character. */
static int digit_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : 99;
}

static bool all_digits(const char *s, int base)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (digit_value((unsigned char)*s) >= base)
            return false;
    return true;
}

/* The digits and base of a yaml.v3 int (underscores already removed), or 0 when not one. */
static int int_syntax(const char *s, const char **digits)
{
    if (*s == '+' || *s == '-')
        s++;
    if (s[0] == '0' && (s[1] | 0x20) == 'x' && all_digits(s + 2, 16))
        return *digits = s + 2, 16;
    if (s[0] == '0' && (s[1] | 0x20) == 'o' && all_digits(s + 2, 8))
        return *digits = s + 2, 8;
    if (s[0] == '0' && (s[1] | 0x20) == 'b' && all_digits(s + 2, 2))
        return *digits = s + 2, 2;
    if (s[0] == '0' && s[1] != '\0' && all_digits(s + 1, 8))
        return *digits = s + 1, 8;
    if (all_digits(s, 10) && (s[0] != '0' || s[1] == '\0'))
        return *digits = s, 10;
    return 0;
}

static bool float_syntax(const char *s)
{
    static const char *const special[] = {
        ".inf",  ".Inf",  ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", ".nan", ".NaN",  ".NAN",  NULL,
    };
    if (is_one_of(s, special))
        return true;
    if (*s == '+' || *s == '-')
        s++;
    size_t whole = strspn(s, "0123456789");
    s += whole;
    size_t frac = 0;
    if (*s == '.') {
        frac = strspn(s + 1, "0123456789");
        s += 1 + frac;
        if (whole == 0 && frac == 0)
            return false;
    } else if (whole == 0) {
        return false;
    }
    if ((*s | 0x20) == 'e') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        size_t exp = strspn(s, "0123456789");
        if (exp == 0)
            return false;
        s += exp;
    }
    return *s == '\0';
}

static char *strip_underscores(const char *s)
{
    char *out = m87_xstrdup(s), *w = out;
    for (; *s; s++)
        if (*s != '_')
            *w++ = *s;
    *w = '\0';
    return out;
}

enum m87_yaml_type m87_yaml_plain_type(const char *s)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE", NULL};
    if (is_one_of(s, nulls))
        return M87_YAML_NULL;
    if (is_one_of(s, bools))
        return M87_YAML_BOOL;
    if (strchr("0123456789+-.", *s) == NULL)
        return M87_YAML_STR;
    _cleanup_free_ char *bare = strip_underscores(s);
    const char *digits;
    if (int_syntax(bare, &digits))
        return M87_YAML_INT;
    if (float_syntax(bare))
        return M87_YAML_FLOAT;
    return M87_YAML_STR;
}

/* ---- reading the tree ------------------------------------------------------------------------ */

const struct m87_yaml_node *m87_yaml_root(const struct m87_yaml_doc *doc)
{
    return doc->root;
}

enum m87_yaml_kind m87_yaml_kind(const struct m87_yaml_node *n)
{
    return n->kind;
}

const char *m87_yaml_file(const struct m87_yaml_node *n)
{
    return n->file;
}

size_t m87_yaml_line(const struct m87_yaml_node *n)
{
    return n->line;
}

size_t m87_yaml_column(const struct m87_yaml_node *n)
{
    return n->column;
}

bool m87_yaml_is_null(const struct m87_yaml_node *n)
{
    return n && n->kind == M87_YAML_SCALAR && n->type == M87_YAML_NULL;
}

bool m87_yaml_is_plain(const struct m87_yaml_node *n)
{
    return n && n->kind == M87_YAML_SCALAR && n->plain;
}

enum m87_yaml_type m87_yaml_type(const struct m87_yaml_node *n)
{
    return n && n->kind == M87_YAML_SCALAR ? n->type : M87_YAML_STR;
}

const char *m87_yaml_tag(const struct m87_yaml_node *n)
{
    return n ? n->tag : NULL;
}

const char *m87_yaml_text(const struct m87_yaml_node *n)
{
    return n && n->kind == M87_YAML_SCALAR ? n->text : NULL;
}

size_t m87_yaml_len(const struct m87_yaml_node *n)
{
    return n && n->kind != M87_YAML_SCALAR ? n->len : 0;
}

const struct m87_yaml_node *m87_yaml_at(const struct m87_yaml_node *n, size_t i)
{
    if (n == NULL || n->kind != M87_YAML_SEQUENCE || i >= n->len)
        return NULL;
    return n->items[i];
}

const struct m87_yaml_node *m87_yaml_entry(const struct m87_yaml_node *n, size_t i,
                                           const struct m87_yaml_node **key)
{
    if (n == NULL || n->kind != M87_YAML_MAPPING || i >= n->len)
        return NULL;
    if (key)
        *key = n->entries[i].key;
    return n->entries[i].value;
}

const struct m87_yaml_node *m87_yaml_get(const struct m87_yaml_node *n, const char *key)
{
    if (n == NULL || n->kind != M87_YAML_MAPPING)
        return NULL;
    size_t lo = 0, hi = n->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct yaml_entry *e = &n->entries[n->sorted[mid]];
        int c = strcmp(e->key->text, key);
        if (c == 0)
            return e->value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ---- typed reads ----------------------------------------------------------------------------- */

/* The text for a "got ..." message: the scalar quoted and cut at 60 bytes on a character start. */
static char *got(const struct m87_yaml_node *n)
{
    if (n->kind == M87_YAML_MAPPING)
        return m87_xstrdup("a mapping");
    if (n->kind == M87_YAML_SEQUENCE)
        return m87_xstrdup("a sequence");
    if (n->type == M87_YAML_NULL && n->plain)
        return m87_xstrdup("null");
    return m87_quote_excerpt(n->text, 60);
}

static int type_error(const struct m87_yaml_node *n, const char *what, const char *expected,
                      struct m87_error **err)
{
    _cleanup_free_ char *g = got(n);
    if (what)
        return m87_yaml_error(n, err, M87_E_INVAL, "%s: expected %s, got %s", what, expected, g);
    return m87_yaml_error(n, err, M87_E_INVAL, "expected %s, got %s", expected, g);
}

bool m87_yaml_bool_word(const char *text, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "y", NULL};
    static const char *const no[] = {"false", "no", "off", "n", NULL};
    for (size_t i = 0; yes[i]; i++) {
        if (strcasecmp(text, yes[i]) == 0)
            return *out = true, true;
        if (strcasecmp(text, no[i]) == 0)
            return *out = false, true;
    }
    return false;
}

int m87_yaml_read_bool(const struct m87_yaml_node *n, const char *what, bool *out,
                       struct m87_error **err)
{
    if (n->kind == M87_YAML_SCALAR && !m87_yaml_is_null(n) && m87_yaml_bool_word(n->text, out))
        return 0;
    return type_error(n, what, "a boolean", err);
}

/* digits in base into an int64 with the sign applied; false on overflow. */
static bool digits_to_int(const char *digits, int base, bool negative, int64_t *out)
{
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    for (const char *p = digits; *p; p++) {
        unsigned d = (unsigned)digit_value((unsigned char)*p);
        if (v > (limit - d) / (uint64_t)base)
            return false;
        v = v * (uint64_t)base + d;
    }
    *out = negative ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

int m87_yaml_read_int(const struct m87_yaml_node *n, const char *what, int64_t *out,
                      struct m87_error **err)
{
    if (n->kind != M87_YAML_SCALAR || m87_yaml_is_null(n))
        return type_error(n, what, "an integer", err);
    _cleanup_free_ char *bare = n->plain ? strip_underscores(n->text) : m87_xstrdup(n->text);
    const char *digits = NULL;
    int base = 0;
    if (n->plain && n->type == M87_YAML_INT)
        base = int_syntax(bare, &digits);
    else if (!n->plain && all_digits(bare + (*bare == '+' || *bare == '-'), 10))
        base = 10, digits = bare + (*bare == '+' || *bare == '-');
    if (base == 0)
        return type_error(n, what, "an integer", err);
    if (!digits_to_int(digits, base, *bare == '-', out)) {
        if (what)
            return m87_yaml_error(n, err, M87_E_INVAL, "%s: integer '%s' is out of range", what,
                                  n->text);
        return m87_yaml_error(n, err, M87_E_INVAL, "integer '%s' is out of range", n->text);
    }
    return 0;
}

int m87_yaml_read_str(const struct m87_yaml_node *n, const char *what, const char **out,
                      struct m87_error **err)
{
    if (n->kind != M87_YAML_SCALAR || m87_yaml_is_null(n))
        return type_error(n, what, "a string", err);
    *out = n->text;
    return 0;
}

char *m87_quote_excerpt(const char *text, size_t max)
{
    if (strlen(text) <= max)
        return m87_xasprintf("'%s'", text);
    size_t cut = max;
    while (cut > 0 && ((unsigned char)text[cut] & 0xc0) == 0x80)
        cut--;
    return m87_xasprintf("'%.*s...'", (int)cut, text);
}
