/* libFuzzer harness: the JSON reader (m87_json_parse) and every accessor over what it built, then
 * a copy through the writer (m87_jw_node) that must parse back to the same shape. */
#include <stdint.h>

#include "fuzz-util.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"

static void visit(const struct m87_json *n, size_t depth)
{
    (void)m87_json_str(n, NULL);
    (void)m87_json_int(n, 0);
    (void)m87_json_double(n, 0);
    (void)m87_json_bool(n, false);
    size_t len = m87_json_len(n);
    for (size_t i = 0; i < len; i++) {
        const char *key = NULL;
        const struct m87_json *v =
            m87_json_type(n) == M87_JSON_OBJECT ? m87_json_member(n, i, &key) : m87_json_at(n, i);
        if (v == NULL || (m87_json_type(n) == M87_JSON_OBJECT && key == NULL))
            abort();
        if (key && m87_json_get(n, key) == NULL)
            abort();
        visit(v, depth + 1);
    }
    if (m87_json_at(n, len) != NULL)
        abort();
}

/* The writer's copy must read back with the same types, lengths, keys and strings. */
static void same(const struct m87_json *a, const struct m87_json *b)
{
    if (m87_json_type(a) != m87_json_type(b) || m87_json_len(a) != m87_json_len(b))
        abort();
    switch (m87_json_type(a)) {
    case M87_JSON_STRING:
        if (strcmp(m87_json_str(a, ""), m87_json_str(b, "")) != 0)
            abort();
        break;
    case M87_JSON_BOOL:
        if (m87_json_bool(a, false) != m87_json_bool(b, false))
            abort();
        break;
    case M87_JSON_ARRAY:
        for (size_t i = 0; i < m87_json_len(a); i++)
            same(m87_json_at(a, i), m87_json_at(b, i));
        break;
    case M87_JSON_OBJECT:
        for (size_t i = 0; i < m87_json_len(a); i++) {
            const char *ka = NULL, *kb = NULL;
            const struct m87_json *va = m87_json_member(a, i, &ka);
            const struct m87_json *vb = m87_json_member(b, i, &kb);
            if (strcmp(ka, kb) != 0)
                abort();
            same(va, vb);
        }
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct m87_error *err = NULL;
    struct m87_json *doc = m87_json_parse((const char *)data, size, &err);
    if (doc == NULL) {
        if (err == NULL || err->msg == NULL)
            abort();
        m87_error_clear(&err);
        return 0;
    }
    if (err != NULL) /* an error left behind by a load that claims success */
        abort();
    visit(doc, 0);
    struct m87_jw *w = m87_jw_new();
    m87_jw_node(w, doc);
    char *text = m87_jw_finish(w);
    struct m87_json *back = m87_json_parse(text, strlen(text), &err);
    if (back == NULL) {
        fprintf(stderr, "written JSON does not parse: %s\n%s\n", err->msg, text);
        abort();
    }
    same(doc, back);
    m87_json_free(back);
    free(text);
    m87_json_free(doc);
    return 0;
}
