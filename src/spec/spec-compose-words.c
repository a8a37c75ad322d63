/* The string form of command and entrypoint split into words with POSIX shell quoting. No
 * expansion happens (interpolation is already done) and nothing runs through sh -c, so an
 * unquoted operator such as && is refused instead of being passed on as a word (docker compose
 * silently drops everything from it on). */
#include <string.h>

#include "m87/buf.h"
#include "m87/list.h"
#include "spec/spec-compose-internal.h"

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Inside double quotes a backslash only escapes these, as in sh. */
static bool dq_escapable(char c)
{
    return c == '"' || c == '\\' || c == '$' || c == '`' || c == '\n';
}

static void put(struct m87_buf *w, const char *s, size_t n)
{
    m87_buf_append(w, s, n, NULL);
}

/* One quoted section starting at *p (the opening quote); false when it is not closed. */
static bool quoted(const char **p, struct m87_buf *w)
{
    const char *s = *p;
    char q = *s++;
    for (; *s && *s != q; s++) {
        if (q == '"' && *s == '\\' && dq_escapable(s[1])) {
            s++;
            if (*s != '\n')
                put(w, s, 1);
            continue;
        }
        put(w, s, 1);
    }
    if (*s != q)
        return false;
    *p = s;
    return true;
}

int spec_compose_split_words(const char *text, struct m87_strv *out, const char **why)
{
    struct m87_buf w;
    m87_buf_init(&w, 0);
    bool in_word = false;
    for (const char *s = text; *s; s++) {
        if (is_space(*s)) {
            if (in_word)
                m87_strv_add(out, w.len ? w.data : "");
            m87_buf_reset(&w);
            in_word = false;
            continue;
        }
        if (*s == '\\') {
            if (s[1] == '\0') {
                *why = "trailing backslash";
                goto fail;
            }
            s++;
            if (*s == '\n')
                continue;
            put(&w, s, 1);
        } else if (*s == '\'' || *s == '"') {
            if (!quoted(&s, &w)) {
                *why = "unterminated quote";
                goto fail;
            }
        } else if (strchr(";&|<>", *s)) {
            *why = "shell operator (use the list form, or sh -c with the command as one word)";
            goto fail;
        } else {
            put(&w, s, 1);
        }
        in_word = true;
    }
    if (in_word)
        m87_strv_add(out, w.len ? w.data : "");
    m87_buf_release(&w);
    return 0;
fail:
    m87_buf_release(&w);
    return -1;
}
