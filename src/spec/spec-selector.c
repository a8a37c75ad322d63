/* Label selectors: a lexer of tokens with their columns, a recursive-descent parser of the
 * Kubernetes grammar (the set-based and equality-based requirements, without gt and lt), the
 * matcher and the canonical text. */
#include <stdbool.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-label.h"
#include "m87/spec-selector.h"

/* How much of a token a message quotes. */
#define QUOTE_MAX 80

enum tok_kind {
    TOK_END,
    TOK_WORD, /* a key, a value, "in" or "notin" */
    TOK_EQ,   /* = or == */
    TOK_NE,   /* != */
    TOK_NOT,  /* ! */
    TOK_OPEN,
    TOK_CLOSE,
    TOK_COMMA,
    TOK_OTHER, /* < > and anything else that is not a word */
};

struct lexer {
    const char *text;
    size_t pos;
    /* the current token */
    enum tok_kind kind;
    size_t start, len;
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Bytes that end a word: blanks and the operator characters. */
static bool ends_word(char c)
{
    return c == '\0' || is_blank(c) || strchr("!=,()<>", c) != NULL;
}

static void next(struct lexer *lx)
{
    const char *t = lx->text;
    while (is_blank(t[lx->pos]))
        lx->pos++;
    lx->start = lx->pos;
    char c = t[lx->pos];
    size_t n = 1;
    switch (c) {
    case '\0':
        lx->kind = TOK_END;
        n = 0;
        break;
    case '=':
        lx->kind = TOK_EQ;
        n = t[lx->pos + 1] == '=' ? 2 : 1;
        break;
    case '!':
        lx->kind = t[lx->pos + 1] == '=' ? TOK_NE : TOK_NOT;
        n = lx->kind == TOK_NE ? 2 : 1;
        break;
    case '(':
        lx->kind = TOK_OPEN;
        break;
    case ')':
        lx->kind = TOK_CLOSE;
        break;
    case ',':
        lx->kind = TOK_COMMA;
        break;
    case '<':
    case '>':
        lx->kind = TOK_OTHER;
        break;
    default:
        lx->kind = TOK_WORD;
        while (!ends_word(t[lx->pos + n]))
            n++;
    }
    lx->len = n;
    lx->pos += n;
}

static bool word_is(const struct lexer *lx, const char *w)
{
    return lx->kind == TOK_WORD && lx->len == strlen(w) &&
           memcmp(lx->text + lx->start, w, lx->len) == 0;
}

static char *word(const struct lexer *lx)
{
    return m87_xstrndup(lx->text + lx->start, lx->len);
}

/* "column N: WHY" at the current token, with the token quoted unless it is the end. */
static int fail_at(const struct lexer *lx, const char *expected, struct m87_error **err)
{
    if (lx->kind == TOK_END)
        return m87_error_set(err, M87_E_INVAL, 0, "column %zu: expected %s", lx->start + 1,
                             expected);
    _cleanup_free_ char *tok = word(lx);
    _cleanup_free_ char *q = m87_quote_excerpt(tok, QUOTE_MAX);
    return m87_error_set(err, M87_E_INVAL, 0, "column %zu: expected %s, found %s", lx->start + 1,
                         expected, q);
}

/* A label check's error with the column of the token in front. */
static int wrap_at(size_t start, struct m87_error **err)
{
    return m87_error_wrap(err, "column %zu", start + 1);
}

static int parse_key(struct lexer *lx, struct spec_sel_term *t, struct m87_error **err)
{
    if (lx->kind != TOK_WORD)
        return fail_at(lx, "a label key", err);
    t->key = word(lx);
    if (spec_label_check_key(t->key, err) < 0)
        return wrap_at(lx->start, err);
    next(lx);
    return 0;
}

/* A value of key at the current token; empty (nothing taken) when the token is not a word. */
static int parse_value(struct lexer *lx, struct spec_sel_term *t, struct m87_error **err)
{
    if (lx->kind != TOK_WORD) {
        m87_strv_add(&t->values, "");
        return 0;
    }
    _cleanup_free_ char *v = word(lx);
    if (spec_label_check_value(t->key, v, err) < 0)
        return wrap_at(lx->start, err);
    m87_strv_add(&t->values, v);
    next(lx);
    return 0;
}

/* "(" value {"," value} ")" after in or notin. */
static int parse_set(struct lexer *lx, struct spec_sel_term *t, struct m87_error **err)
{
    if (lx->kind != TOK_OPEN)
        return fail_at(lx, "'('", err);
    next(lx);
    for (;;) {
        if (lx->kind != TOK_WORD)
            return fail_at(lx, "a value", err);
        if (t->values.len == SPEC_SELECTOR_MAX_VALUES)
            return m87_error_set(err, M87_E_TOOBIG, 0, "column %zu: more than %d values",
                                 lx->start + 1, SPEC_SELECTOR_MAX_VALUES);
        if (parse_value(lx, t, err) < 0)
            return -1;
        if (lx->kind == TOK_CLOSE)
            break;
        if (lx->kind != TOK_COMMA)
            return fail_at(lx, "')'", err);
        next(lx);
    }
    next(lx);
    return 0;
}

static int parse_term(struct lexer *lx, struct spec_sel_term *t, struct m87_error **err)
{
    if (lx->kind == TOK_NOT) {
        t->op = SPEC_SEL_ABSENT;
        next(lx);
        return parse_key(lx, t, err);
    }
    if (parse_key(lx, t, err) < 0)
        return -1;
    switch (lx->kind) {
    case TOK_END:
    case TOK_COMMA:
        t->op = SPEC_SEL_EXISTS;
        return 0;
    case TOK_EQ:
    case TOK_NE:
        t->op = lx->kind == TOK_EQ ? SPEC_SEL_EQ : SPEC_SEL_NE;
        next(lx);
        return parse_value(lx, t, err);
    default:
        break;
    }
    if (word_is(lx, "in") || word_is(lx, "notin")) {
        t->op = word_is(lx, "in") ? SPEC_SEL_IN : SPEC_SEL_NOTIN;
        next(lx);
        return parse_set(lx, t, err);
    }
    return fail_at(lx, "'=', '==', '!=', 'in', 'notin', ',' or the end", err);
}

void spec_selector_release(struct spec_selector *sel)
{
    for (size_t i = 0; i < sel->n; i++) {
        free(sel->terms[i].key);
        m87_strv_release(&sel->terms[i].values);
    }
    free(sel->terms);
    sel->terms = NULL;
    sel->n = 0;
}

static int parse_terms(struct lexer *lx, struct spec_selector *sel, struct m87_error **err)
{
    next(lx);
    if (lx->kind == TOK_END)
        return 0;
    for (;;) {
        if (sel->n == SPEC_SELECTOR_MAX_TERMS)
            return m87_error_set(err, M87_E_TOOBIG, 0, "column %zu: more than %d requirements",
                                 lx->start + 1, SPEC_SELECTOR_MAX_TERMS);
        sel->terms = m87_xrealloc(sel->terms, (sel->n + 1) * sizeof(*sel->terms));
        struct spec_sel_term *t = &sel->terms[sel->n++];
        memset(t, 0, sizeof(*t));
        m87_strv_init(&t->values);
        if (parse_term(lx, t, err) < 0)
            return -1;
        if (lx->kind == TOK_END)
            return 0;
        if (lx->kind != TOK_COMMA)
            return fail_at(lx, "',' or the end", err);
        next(lx);
    }
}

int spec_selector_parse(const char *text, struct spec_selector *out, struct m87_error **err)
{
    if (strlen(text) > SPEC_SELECTOR_MAX_TEXT)
        return m87_error_set(err, M87_E_TOOBIG, 0, "longer than %d bytes", SPEC_SELECTOR_MAX_TEXT);
    struct lexer lx = {.text = text};
    struct spec_selector sel = {0};
    if (parse_terms(&lx, &sel, err) < 0) {
        spec_selector_release(&sel);
        return -1;
    }
    *out = sel;
    return 0;
}

/* The value of key in labels, NULL when it is absent. */
static const char *label(const struct m87_kvlist *labels, const char *key)
{
    for (size_t i = 0; i < labels->len; i++)
        if (strcmp(labels->items[i].key, key) == 0)
            return labels->items[i].value ? labels->items[i].value : "";
    return NULL;
}

static bool in_values(const struct m87_strv *values, const char *v)
{
    for (size_t i = 0; i < values->len; i++)
        if (strcmp(values->items[i], v) == 0)
            return true;
    return false;
}

static bool term_match(const struct spec_sel_term *t, const struct m87_kvlist *labels)
{
    const char *v = label(labels, t->key);
    switch (t->op) {
    case SPEC_SEL_EQ:
    case SPEC_SEL_IN:
        return v != NULL && in_values(&t->values, v);
    case SPEC_SEL_NE:
    case SPEC_SEL_NOTIN:
        return v == NULL || !in_values(&t->values, v);
    case SPEC_SEL_EXISTS:
        return v != NULL;
    case SPEC_SEL_ABSENT:
        return v == NULL;
    }
    return false;
}

bool spec_selector_match(const struct spec_selector *sel, const struct m87_kvlist *labels)
{
    for (size_t i = 0; i < sel->n; i++)
        if (!term_match(&sel->terms[i], labels))
            return false;
    return true;
}

static void format_term(struct m87_buf *b, const struct spec_sel_term *t)
{
    static const char *const ops[] = {
        [SPEC_SEL_EQ] = "=",           [SPEC_SEL_NE] = "!=",   [SPEC_SEL_IN] = " in (",
        [SPEC_SEL_NOTIN] = " notin (", [SPEC_SEL_EXISTS] = "", [SPEC_SEL_ABSENT] = "",
    };
    m87_buf_appendf(b, NULL, "%s%s%s", t->op == SPEC_SEL_ABSENT ? "!" : "", t->key, ops[t->op]);
    for (size_t i = 0; i < t->values.len; i++)
        m87_buf_appendf(b, NULL, "%s%s", i ? "," : "", t->values.items[i]);
    if (t->op == SPEC_SEL_IN || t->op == SPEC_SEL_NOTIN)
        m87_buf_append(b, ")", 1, NULL);
}

char *spec_selector_format(const struct spec_selector *sel)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (size_t i = 0; i < sel->n; i++) {
        if (i)
            m87_buf_append(&b, ",", 1, NULL);
        format_term(&b, &sel->terms[i]);
    }
    return m87_buf_steal(&b);
}
