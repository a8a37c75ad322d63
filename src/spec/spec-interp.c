/* Compose variable interpolation: ${VAR}, $VAR, defaults, alternatives, required values, $$. A
 * recursive-descent reader that always checks the syntax and evaluates only the branches used. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-interp.h"

struct interp {
    const struct spec_interp *ip;
    const char *text; /* the whole input, for messages */
    const char *file;
    size_t line;
    size_t column;
    struct m87_error **err;
};

static int interp_error(const struct interp *x, enum m87_errcode code, const char *fmt, ...)
    M87_PRINTF(3, 4);

static int interp_error(const struct interp *x, enum m87_errcode code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = m87_xvasprintf(fmt, ap);
    va_end(ap);
    if (x->column)
        return m87_error_set(x->err, code, 0, "%s:%zu:%zu: %s", x->file, x->line, x->column, msg);
    return m87_error_set(x->err, code, 0, "%s:%zu: %s", x->file, x->line, msg);
}

static int syntax_error(const struct interp *x)
{
    size_t len = strlen(x->text);
    if (len > 80) {
        size_t cut = 80;
        while (cut > 0 && ((unsigned char)x->text[cut] & 0xc0) == 0x80)
            cut--;
        return interp_error(x, M87_E_PARSE,
                            "invalid interpolation format in '%.*s...': you may need to escape "
                            "any $ with another $",
                            (int)cut, x->text);
    }
    return interp_error(x, M87_E_PARSE,
                        "invalid interpolation format in '%s': you may need to escape any $ "
                        "with another $",
                        x->text);
}

static int emit(const struct interp *x, struct m87_buf *out, const char *s, size_t len)
{
    if (out == NULL)
        return 0;
    if (m87_buf_append(out, s, len, NULL) < 0)
        return interp_error(x, M87_E_TOOBIG, "interpolated value exceeds the limit of %u bytes",
                            SPEC_INTERP_MAX);
    return 0;
}

static bool name_start(char c)
{
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static size_t name_len(const char *s)
{
    if (!name_start(*s))
        return 0;
    size_t n = 1;
    while (name_start(s[n]) || (s[n] >= '0' && s[n] <= '9'))
        n++;
    return n;
}

static const char *lookup(const struct interp *x, const char *name)
{
    return x->ip->lookup ? x->ip->lookup(x->ip->ctx, name) : NULL;
}

static void note_unset(const struct interp *x, const char *name)
{
    struct m87_strv *v = x->ip->unset;
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->len; i++)
        if (strcmp(v->items[i], name) == 0)
            return;
    m87_strv_add(v, name);
}

/* A bare reference ($VAR, ${VAR}): its value, or "" and a note when unset. */
static int reference(const struct interp *x, const char *name, struct m87_buf *out)
{
    if (out == NULL)
        return 0;
    const char *value = lookup(x, name);
    if (value == NULL) {
        note_unset(x, name);
        return 0;
    }
    return emit(x, out, value, strlen(value));
}

static int expand(const struct interp *x, const char **pp, bool nested, size_t depth,
                  struct m87_buf *out);

/* Does the operator (':' for the colon forms, then '-', '+' or '?') take the word? */
static bool word_used(char op, bool colon, const char *value)
{
    bool present = value != NULL && (!colon || *value != '\0');
    return op == '+' ? present : !present;
}

/* ${NAME<op>word}: *pp is at the operator; on return it is past the closing brace. */
static int apply_operator(const struct interp *x, const char **pp, const char *name, size_t depth,
                          struct m87_buf *out)
{
    const char *p = *pp;
    bool colon = *p == ':';
    p += colon;
    char op = *p++;
    const char *value = out ? lookup(x, name) : NULL;
    bool use_word = out != NULL && word_used(op, colon, value);
    struct m87_buf word;
    m87_buf_init(&word, SPEC_INTERP_MAX);
    int r = expand(x, &p, true, depth + 1, use_word ? &word : NULL);
    *pp = p + 1;
    if (r == 0 && use_word && op == '?') {
        if (word.len)
            r = interp_error(x, M87_E_INVAL, "%s", word.data);
        else
            r = interp_error(x, M87_E_INVAL, "required variable %s is missing a value", name);
    } else if (r == 0 && use_word) {
        r = emit(x, out, word.data ? word.data : "", word.len);
    } else if (r == 0 && out && op != '+') {
        r = emit(x, out, value, strlen(value)); /* ${V-w}, ${V?w}: V is set */
    }
    m87_buf_release(&word);
    return r;
}

/* ${...}: *pp is at the '$'; on return it is past the closing brace. */
static int braced(const struct interp *x, const char **pp, size_t depth, struct m87_buf *out)
{
    if (depth >= SPEC_INTERP_MAX_DEPTH)
        return interp_error(x, M87_E_TOOBIG, "interpolation nested deeper than %u levels",
                            SPEC_INTERP_MAX_DEPTH);
    const char *p = *pp + 2;
    size_t n = name_len(p);
    if (n == 0)
        return syntax_error(x);
    _cleanup_free_ char *name = m87_xstrndup(p, n);
    p += n;
    if (*p == '}') {
        *pp = p + 1;
        return reference(x, name, out);
    }
    bool colon = *p == ':';
    if (strchr("-+?", p[colon]) == NULL || p[colon] == '\0')
        return syntax_error(x);
    *pp = p;
    return apply_operator(x, pp, name, depth, out);
}

/* Copy text to out (NULL: check only) up to the end, or, when nested, up to the '}' that closes
 * the enclosing ${, where *pp is left. */
static int expand(const struct interp *x, const char **pp, bool nested, size_t depth,
                  struct m87_buf *out)
{
    const char *p = *pp;
    for (;;) {
        size_t run = strcspn(p, nested ? "$}" : "$");
        if (emit(x, out, p, run) < 0)
            return -1;
        p += run;
        if (*p == '\0' && nested)
            return syntax_error(x);
        if (*p == '\0' || *p == '}')
            break;
        if (p[1] == '$') {
            if (emit(x, out, "$", 1) < 0)
                return -1;
            p += 2;
        } else if (p[1] == '{') {
            if (braced(x, &p, depth, out) < 0)
                return -1;
        } else {
            size_t n = name_len(p + 1);
            if (n == 0)
                return syntax_error(x);
            _cleanup_free_ char *name = m87_xstrndup(p + 1, n);
            if (reference(x, name, out) < 0)
                return -1;
            p += 1 + n;
        }
    }
    *pp = p;
    return 0;
}

char *spec_interpolate(const struct spec_interp *ip, const char *text, const char *file,
                       size_t line, size_t column, struct m87_error **err)
{
    static const struct spec_interp none = {0};
    struct interp x = {ip ? ip : &none, text, file, line, column, err};
    struct m87_buf out;
    m87_buf_init(&out, SPEC_INTERP_MAX);
    const char *p = text;
    if (expand(&x, &p, false, 0, &out) < 0) {
        m87_buf_release(&out);
        return NULL;
    }
    return m87_buf_steal(&out);
}
