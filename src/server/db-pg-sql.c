/* The ?N to $N rewrite of db-pg.c (db-pg.h), apart from libpq: pure, unit-tested, and built
 * into every server archive. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "server/db-pg.h"

static bool word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           (unsigned char)c >= 0x80;
}

/* The end of the literal or identifier opened by the quote at s[i]: the index after it. */
static size_t skip_quoted(const char *s, size_t i, bool backslash)
{
    char q = s[i++];
    while (s[i]) {
        if (backslash && s[i] == '\\' && s[i + 1]) {
            i += 2;
        } else if (s[i] == q) {
            if (s[i + 1] != q)
                return i + 1;
            i += 2; /* '' or "" inside */
        } else {
            i++;
        }
    }
    return i;
}

static size_t skip_block_comment(const char *s, size_t i)
{
    int depth = 0;
    while (s[i]) {
        if (s[i] == '/' && s[i + 1] == '*') {
            depth++;
            i += 2;
        } else if (s[i] == '*' && s[i + 1] == '/') {
            i += 2;
            if (--depth == 0)
                return i;
        } else {
            i++;
        }
    }
    return i;
}

char *srv_pg_rewrite(const char *sql, int *nparams, struct m87_error **err)
{
    size_t n = strlen(sql);
    char *out = m87_xmalloc(n + 1); /* ?N and $N have the same length */
    size_t i = 0, o = 0;
    int max = 0;
    while (i < n) {
        char c = sql[i];
        size_t end = i + 1;
        if (c == '\'') {
            bool e = i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') &&
                     (i == 1 || !word_char(sql[i - 2]));
            end = skip_quoted(sql, i, e);
        } else if (c == '"') {
            end = skip_quoted(sql, i, false);
        } else if (c == '-' && sql[i + 1] == '-') {
            end = i + strcspn(sql + i, "\n");
        } else if (c == '/' && sql[i + 1] == '*') {
            end = skip_block_comment(sql, i);
        } else if (c == '?') {
            long v = 0;
            end = i + 1;
            while (sql[end] >= '0' && sql[end] <= '9' && v <= SRV_PG_MAX_PARAMS)
                v = v * 10 + (sql[end++] - '0');
            if (end == i + 1 || v < 1 || v > SRV_PG_MAX_PARAMS) {
                free(out);
                return m87_error_set(err, M87_E_INVAL, 0,
                                     "parameter at offset %zu: write ?1 to ?%d, not '%.*s'", i,
                                     SRV_PG_MAX_PARAMS, (int)(end - i), sql + i),
                       NULL;
            }
            if (v > max)
                max = (int)v;
            out[o++] = '$';
            i++;
            continue;
        }
        memcpy(out + o, sql + i, end - i);
        o += end - i;
        i = end;
    }
    out[o] = '\0';
    *nparams = max;
    return out;
}
