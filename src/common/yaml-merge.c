/* YAML mappings: the earliest repeated key is an error, and `<<` merge keys bring in the entries
 * of the mappings they name, the mapping's own keys first. */
#include <string.h>

#include "common/yaml-internal.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/yaml.h"

struct keyref {
    const char *key;
    size_t ordinal; /* position among the candidate entries */
    size_t rank;    /* 0 for the mapping's own keys, 1 + source index for merged ones */
};

static int keyref_cmp(const void *a, const void *b)
{
    const struct keyref *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->ordinal < y->ordinal ? -1 : x->ordinal > y->ordinal;
}

static bool is_merge_key(const struct m87_yaml_node *key)
{
    return key->plain && strcmp(key->text, "<<") == 0;
}

/* Sorted references to the entries' keys; the mapping's own keys only (rank 0). */
static struct keyref *sort_keys(const struct yaml_entry *entries, size_t n)
{
    struct keyref *refs = m87_xcalloc(n, sizeof(*refs));
    for (size_t i = 0; i < n; i++)
        refs[i] = (struct keyref){entries[i].key->text, i, 0};
    qsort(refs, n, sizeof(*refs), keyref_cmp);
    return refs;
}

/* The earliest key in document order that repeats an earlier one. */
static int check_duplicates(struct builder *b, const struct yaml_entry *entries,
                            const struct keyref *refs, size_t n)
{
    size_t dup = SIZE_MAX, first = 0;
    for (size_t i = 1; i < n; i++) {
        bool second = strcmp(refs[i - 1].key, refs[i].key) == 0 &&
                      (i < 2 || strcmp(refs[i - 2].key, refs[i].key) != 0);
        if (second && refs[i].ordinal < dup) {
            dup = refs[i].ordinal;
            first = refs[i - 1].ordinal;
        }
    }
    if (dup == SIZE_MAX)
        return 0;
    const struct m87_yaml_node *k = entries[dup].key, *f = entries[first].key;
    return m87_yaml_error(k, b->err, M87_E_PARSE,
                          "duplicate key '%s' (first defined at line %zu, column %zu)", k->text,
                          f->line, f->column);
}

/* The mappings a `<<` value names, validated, with their summed weight checked against the cap
 * before anything is copied. Errors point at the `<<` key: the value may be an alias, whose
 * position is the anchor's. */
static int merge_sources(struct builder *b, struct m87_yaml_node *map,
                         const struct yaml_entry *merge, struct m87_yaml_node ***out, size_t *n_out)
{
    struct m87_yaml_node *value = merge->value, **src;
    size_t n;
    if (value->kind == M87_YAML_MAPPING) {
        src = &value;
        n = 1;
    } else if (value->kind == M87_YAML_SEQUENCE) {
        src = value->items;
        n = value->len;
    } else {
        return m87_yaml_error(merge->key, b->err, M87_E_PARSE,
                              "merge key '<<' needs a mapping or a sequence of mappings");
    }
    for (size_t i = 0; i < n; i++) {
        if (src[i]->kind != M87_YAML_MAPPING)
            return m87_yaml_error(merge->key, b->err, M87_E_PARSE,
                                  "merge key '<<': item %zu of the sequence is not a mapping",
                                  i + 1);
        if (m87_yaml_add_weight(b, map, src[i]->weight) < 0)
            return -1;
    }
    *out = m87_xmalloc((n ? n : 1) * sizeof(**out));
    memcpy(*out, src, n * sizeof(**out));
    *n_out = n;
    return 0;
}

struct candidates {
    struct yaml_entry *entries;
    struct keyref *refs;
    size_t len;
    size_t cap;
};

static void candidate_add(struct candidates *c, struct yaml_entry e, size_t rank)
{
    if (c->len == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->entries = m87_xrealloc(c->entries, c->cap * sizeof(*c->entries));
        c->refs = m87_xrealloc(c->refs, c->cap * sizeof(*c->refs));
    }
    c->entries[c->len] = e;
    c->refs[c->len] = (struct keyref){e.key->text, c->len, rank};
    c->len++;
}

/* Keep the first candidate of each key in (rank, position) order, in document order, with the
 * lookup index built on the way. */
static void keep_winners(struct m87_yaml_node *map, struct candidates *c)
{
    _cleanup_free_ size_t *pos = m87_xcalloc(c->len ? c->len : 1, sizeof(*pos));
    /* a merge of empty mappings leaves no candidate, and qsort's base must not be NULL */
    if (c->len > 1)
        qsort(c->refs, c->len, sizeof(*c->refs), keyref_cmp);
    for (size_t i = 0; i < c->len; i++)
        if (i == 0 || strcmp(c->refs[i - 1].key, c->refs[i].key) != 0)
            pos[c->refs[i].ordinal] = 1;
    map->entries = m87_xmalloc(c->len * sizeof(*map->entries));
    map->len = 0;
    map->weight = 1;
    for (size_t i = 0; i < c->len; i++) {
        if (!pos[i])
            continue;
        map->entries[map->len] = c->entries[i];
        map->weight += c->entries[i].key->weight + c->entries[i].value->weight;
        pos[i] = ++map->len;
    }
    map->sorted = m87_xmalloc((map->len ? map->len : 1) * sizeof(*map->sorted));
    size_t k = 0;
    for (size_t i = 0; i < c->len; i++)
        if (pos[c->refs[i].ordinal] && (i == 0 || strcmp(c->refs[i - 1].key, c->refs[i].key)))
            map->sorted[k++] = pos[c->refs[i].ordinal] - 1;
}

/* Replace the `<<` entry by the sources' entries: the mapping's own keys beat merged ones and
 * earlier sources beat later ones; the merged entries take the `<<` key's place. */
static int apply_merge(struct builder *b, struct m87_yaml_node *map, const struct yaml_entry *raw,
                       size_t n_raw, size_t merge_at)
{
    _cleanup_free_ struct m87_yaml_node **src = NULL;
    size_t n_src = 0;
    if (merge_sources(b, map, &raw[merge_at], &src, &n_src) < 0)
        return -1;
    struct candidates c = {0};
    for (size_t i = 0; i < n_raw; i++) {
        if (i != merge_at) {
            candidate_add(&c, raw[i], 0);
            continue;
        }
        for (size_t s = 0; s < n_src; s++)
            for (size_t j = 0; j < src[s]->len; j++)
                candidate_add(&c, src[s]->entries[j], s + 1);
    }
    keep_winners(map, &c);
    free(c.entries);
    free(c.refs);
    return 0;
}

int m87_yaml_finish_mapping(struct builder *b, struct m87_yaml_node *map, struct yaml_entry *raw,
                            size_t n_raw)
{
    _cleanup_free_ struct keyref *refs = sort_keys(raw, n_raw);
    if (check_duplicates(b, raw, refs, n_raw) < 0)
        return -1;
    for (size_t i = 0; i < n_raw; i++)
        if (is_merge_key(raw[i].key))
            return apply_merge(b, map, raw, n_raw, i);
    map->entries = raw;
    map->len = n_raw;
    map->sorted = m87_xmalloc((n_raw ? n_raw : 1) * sizeof(*map->sorted));
    for (size_t i = 0; i < n_raw; i++)
        map->sorted[i] = refs[i].ordinal;
    return 1;
}
