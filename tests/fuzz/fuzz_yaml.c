/* libFuzzer harness: the YAML layer. m87_yaml_parse, every accessor and typed read over the tree,
 * then the tree written with the YAML writer (m87_yw_*) as strings, which must read back as the
 * same strings, nulls and shape (the writer's contract). */
#include <stdint.h>

#include "fuzz-util.h"
#include "m87/error.h"
#include "m87/yaml-write.h"
#include "m87/yaml.h"

/* Aliases are expanded by the walk: a small billion-laughs can still visit a million nodes. The
 * checks stop after WALK_MAX_NODES visits (the parser's own cap is tested by its unit tests), and
 * the round trip, which writes every visit, is kept to documents of a readable size. */
#define WALK_MAX_NODES 5000u
#define ROUNDTRIP_MAX_NODES 5000u

static void reads(const struct m87_yaml_node *n)
{
    struct m87_error *err = NULL;
    bool b;
    int64_t i;
    const char *s;
    if (m87_yaml_read_bool(n, "b", &b, &err) < 0)
        m87_error_clear(&err);
    if (m87_yaml_read_int(n, NULL, &i, &err) < 0)
        m87_error_clear(&err);
    if (m87_yaml_read_str(n, "s", &s, &err) < 0)
        m87_error_clear(&err);
    else if (s == NULL)
        abort();
    (void)m87_yaml_type(n);
    (void)m87_yaml_is_null(n);
    (void)m87_yaml_is_plain(n);
    (void)m87_yaml_tag(n);
    if (m87_yaml_line(n) == 0 || m87_yaml_column(n) == 0 || m87_yaml_file(n) == NULL)
        abort();
}

static size_t walk(const struct m87_yaml_node *n, struct m87_yw *w, size_t *visited)
{
    if (++*visited > WALK_MAX_NODES)
        return *visited;
    reads(n);
    size_t len = m87_yaml_len(n);
    switch (m87_yaml_kind(n)) {
    case M87_YAML_SCALAR:
        if (m87_yaml_text(n) == NULL || len != 0)
            abort();
        if (w && m87_yaml_is_null(n))
            m87_yw_null(w);
        else if (w)
            m87_yw_str(w, m87_yaml_text(n));
        break;
    case M87_YAML_SEQUENCE:
        if (w)
            m87_yw_seq_open(w);
        for (size_t i = 0; i < len; i++)
            walk(m87_yaml_at(n, i), w, visited);
        if (m87_yaml_at(n, len) != NULL)
            abort();
        if (w)
            m87_yw_seq_close(w);
        break;
    case M87_YAML_MAPPING:
        if (w)
            m87_yw_map_open(w);
        for (size_t i = 0; i < len; i++) {
            const struct m87_yaml_node *key = NULL;
            const struct m87_yaml_node *v = m87_yaml_entry(n, i, &key);
            if (v == NULL || key == NULL || m87_yaml_kind(key) != M87_YAML_SCALAR)
                abort();
            if (m87_yaml_get(n, m87_yaml_text(key)) != v)
                abort();
            reads(key);
            if (w)
                m87_yw_key(w, m87_yaml_text(key));
            walk(v, w, visited);
        }
        if (w)
            m87_yw_map_close(w);
        break;
    }
    if (m87_yaml_get(n, "\x01no such key") != NULL)
        abort();
    return *visited;
}

static void same(const struct m87_yaml_node *a, const struct m87_yaml_node *b)
{
    if (m87_yaml_kind(a) != m87_yaml_kind(b) || m87_yaml_len(a) != m87_yaml_len(b))
        abort();
    if (m87_yaml_kind(a) == M87_YAML_SCALAR) {
        if (m87_yaml_is_null(a) != m87_yaml_is_null(b))
            abort();
        if (!m87_yaml_is_null(a) && strcmp(m87_yaml_text(a), m87_yaml_text(b)) != 0)
            abort();
        if (!m87_yaml_is_null(a) && m87_yaml_type(b) != M87_YAML_STR)
            abort();
        return;
    }
    for (size_t i = 0; i < m87_yaml_len(a); i++) {
        const struct m87_yaml_node *ka = NULL, *kb = NULL;
        const struct m87_yaml_node *va =
            m87_yaml_kind(a) == M87_YAML_MAPPING ? m87_yaml_entry(a, i, &ka) : m87_yaml_at(a, i);
        const struct m87_yaml_node *vb =
            m87_yaml_kind(b) == M87_YAML_MAPPING ? m87_yaml_entry(b, i, &kb) : m87_yaml_at(b, i);
        if (ka && strcmp(m87_yaml_text(ka), m87_yaml_text(kb)) != 0)
            abort();
        same(va, vb);
    }
}

static void roundtrip(const struct m87_yaml_node *root)
{
    struct m87_yw *w = m87_yw_new();
    size_t visited = 0;
    walk(root, w, &visited);
    char *text = m87_yw_finish(w);
    struct m87_error *err = NULL;
    struct m87_yaml_doc *back = m87_yaml_parse(text, strlen(text), "written", &err);
    if (back == NULL) {
        fprintf(stderr, "written YAML does not parse: %s\n%s\n", err->msg, text);
        abort();
    }
    same(root, m87_yaml_root(back));
    m87_yaml_free(back);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct m87_error *err = NULL;
    struct m87_yaml_doc *doc = m87_yaml_parse((const char *)data, size, "fuzz.yml", &err);
    if (doc == NULL) {
        if (err == NULL || strncmp(err->msg, "fuzz.yml:", 9) != 0)
            abort();
        m87_error_clear(&err);
        return 0;
    }
    if (err != NULL) /* an error left behind by a load that claims success */
        abort();
    const struct m87_yaml_node *root = m87_yaml_root(doc);
    size_t visited = 0;
    if (walk(root, NULL, &visited) <= ROUNDTRIP_MAX_NODES)
        roundtrip(root);
    m87_yaml_free(doc);
    return 0;
}
