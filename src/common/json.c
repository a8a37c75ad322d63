/* JSON reading over yajl's tree API. The rest of m87 sees only struct m87_json. */
#include <string.h>
#include <yajl/yajl_tree.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"

#define NODE(n) ((yajl_val)(n))

int m87_json_depth(const char *text, size_t len, int max)
{
    int depth = 0, deepest = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest)
                deepest = depth;
            if (deepest > max)
                return deepest;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return deepest;
}

struct m87_json *m87_json_parse(const char *text, size_t len, struct m87_error **err)
{
    return m87_json_parse_max(text, len, M87_JSON_MAX_DEPTH, err);
}

struct m87_json *m87_json_parse_max(const char *text, size_t len, int max_depth,
                                    struct m87_error **err)
{
    /* yajl_tree_parse wants a NUL-terminated string, and its input may hold a NUL */
    if (memchr(text, '\0', len) != NULL) {
        m87_error_set(err, M87_E_PARSE, 0, "invalid json: NUL byte in input");
        return NULL;
    }
    /* before yajl: its tree would be built, then freed by recursion as deep as the input */
    if (m87_json_depth(text, len, max_depth) > max_depth) {
        m87_error_set(err, M87_E_PARSE, 0, "invalid json: nested deeper than %d levels", max_depth);
        return NULL;
    }
    _cleanup_free_ char *copy = m87_xstrndup(text, len);
    char errbuf[256] = "";
    yajl_val v = yajl_tree_parse(copy, errbuf, sizeof(errbuf));
    if (v == NULL) {
        /* yajl's message spans lines and points at the input with arrows: keep its first line */
        errbuf[strcspn(errbuf, "\n")] = '\0';
        m87_error_set(err, M87_E_PARSE, 0, "invalid json: %s", errbuf[0] ? errbuf : "parse error");
        return NULL;
    }
    return (struct m87_json *)v;
}

void m87_json_free(struct m87_json *doc)
{
    if (doc)
        yajl_tree_free(NODE(doc));
}

enum m87_json_type m87_json_type(const struct m87_json *n)
{
    if (n == NULL)
        return M87_JSON_NULL;
    switch (NODE(n)->type) {
    case yajl_t_string:
        return M87_JSON_STRING;
    case yajl_t_number:
        return M87_JSON_NUMBER;
    case yajl_t_object:
        return M87_JSON_OBJECT;
    case yajl_t_array:
        return M87_JSON_ARRAY;
    case yajl_t_true:
    case yajl_t_false:
        return M87_JSON_BOOL;
    default:
        return M87_JSON_NULL;
    }
}

const struct m87_json *m87_json_get(const struct m87_json *n, const char *key)
{
    if (n == NULL || !YAJL_IS_OBJECT(NODE(n)))
        return NULL;
    const yajl_val v = NODE(n);
    for (size_t i = 0; i < v->u.object.len; i++)
        if (strcmp(v->u.object.keys[i], key) == 0)
            return (const struct m87_json *)v->u.object.values[i];
    return NULL;
}

const struct m87_json *m87_json_path(const struct m87_json *n, ...)
{
    va_list ap;
    va_start(ap, n);
    const char *key;
    while (n != NULL && (key = va_arg(ap, const char *)) != NULL)
        n = m87_json_get(n, key);
    va_end(ap);
    return n;
}

const char *m87_json_str(const struct m87_json *n, const char *fallback)
{
    if (n == NULL || !YAJL_IS_STRING(NODE(n)))
        return fallback;
    return NODE(n)->u.string;
}

int64_t m87_json_int(const struct m87_json *n, int64_t fallback)
{
    if (n == NULL || !YAJL_IS_NUMBER(NODE(n)))
        return fallback;
    if (YAJL_IS_INTEGER(NODE(n)))
        return NODE(n)->u.number.i;
    /* converting a double outside int64's range is undefined behaviour, not a saturation */
    if (YAJL_IS_DOUBLE(NODE(n)) && NODE(n)->u.number.d >= -9223372036854775808.0 &&
        NODE(n)->u.number.d < 9223372036854775808.0)
        return (int64_t)NODE(n)->u.number.d;
    return fallback;
}

double m87_json_double(const struct m87_json *n, double fallback)
{
    if (n == NULL || !YAJL_IS_NUMBER(NODE(n)))
        return fallback;
    if (YAJL_IS_DOUBLE(NODE(n)))
        return NODE(n)->u.number.d;
    if (YAJL_IS_INTEGER(NODE(n)))
        return (double)NODE(n)->u.number.i;
    return fallback;
}

bool m87_json_bool(const struct m87_json *n, bool fallback)
{
    if (n == NULL)
        return fallback;
    if (YAJL_IS_TRUE(NODE(n)))
        return true;
    if (YAJL_IS_FALSE(NODE(n)))
        return false;
    return fallback;
}

size_t m87_json_len(const struct m87_json *n)
{
    if (n == NULL)
        return 0;
    if (YAJL_IS_ARRAY(NODE(n)))
        return NODE(n)->u.array.len;
    if (YAJL_IS_OBJECT(NODE(n)))
        return NODE(n)->u.object.len;
    return 0;
}

const struct m87_json *m87_json_at(const struct m87_json *n, size_t i)
{
    if (n == NULL)
        return NULL;
    if (YAJL_IS_ARRAY(NODE(n)) && i < NODE(n)->u.array.len)
        return (const struct m87_json *)NODE(n)->u.array.values[i];
    if (YAJL_IS_OBJECT(NODE(n)) && i < NODE(n)->u.object.len)
        return (const struct m87_json *)NODE(n)->u.object.values[i];
    return NULL;
}

const struct m87_json *m87_json_member(const struct m87_json *n, size_t i, const char **key)
{
    if (n == NULL || !YAJL_IS_OBJECT(NODE(n)) || i >= NODE(n)->u.object.len)
        return NULL;
    if (key)
        *key = NODE(n)->u.object.keys[i];
    return (const struct m87_json *)NODE(n)->u.object.values[i];
}

void m87_json_to_kvlist(const struct m87_json *n, struct m87_kvlist *out)
{
    size_t len = m87_json_len(n);
    for (size_t i = 0; i < len; i++) {
        const char *key = NULL;
        const struct m87_json *v = m87_json_member(n, i, &key);
        if (v && m87_json_type(v) == M87_JSON_STRING)
            m87_kvlist_add(out, key, m87_json_str(v, ""));
    }
}

void m87_json_to_strv(const struct m87_json *n, struct m87_strv *out)
{
    if (n == NULL || !YAJL_IS_ARRAY(NODE(n)))
        return;
    for (size_t i = 0; i < m87_json_len(n); i++) {
        const char *s = m87_json_str(m87_json_at(n, i), NULL);
        if (s)
            m87_strv_add(out, s);
    }
}
