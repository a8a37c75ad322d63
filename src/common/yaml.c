/* YAML documents: libyaml's event stream built into an immutable tree with anchors, aliases and
 * merge keys resolved, and typed reads whose errors carry FILE:LINE:COLUMN. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/yaml.h"

struct yaml_entry {
    struct m87_yaml_node *key;
    struct m87_yaml_node *value;
};

struct m87_yaml_node {
    enum m87_yaml_kind kind;
    enum m87_yaml_type type; /* scalars only */
    bool plain;              /* plain style and no tag */
    bool building;           /* a collection whose end is still to come: an alias to it loops */
    const char *file;        /* the document's copy */
    size_t line;
    size_t column;
    size_t weight; /* nodes a full walk visits, aliases expanded */
    char *tag;
    char *text;
    size_t len;
    struct m87_yaml_node **items;
    struct yaml_entry *entries;
    size_t *sorted; /* mapping: entry indexes in key order, for lookups */
};

struct m87_yaml_doc {
    char *file;
    struct m87_yaml_node *root;
    struct m87_yaml_node **nodes; /* every node, so that shared (aliased) ones are freed once */
    size_t n_nodes;
    size_t cap_nodes;
};

struct yaml_anchor {
    char *name;
    struct m87_yaml_node *node;
};

struct builder {
    yaml_parser_t parser;
    struct m87_yaml_doc *doc;
    const char *text;
    size_t len;
    struct yaml_anchor *anchors; /* open addressing, cap a power of two */
    size_t n_anchors;
    size_t cap_anchors;
    struct m87_error **err;
};

/* ---- positions and errors -------------------------------------------------------------------- */

static int error_at(struct m87_error **err, enum m87_errcode code, const char *file, size_t line,
                    size_t column, const char *fmt, va_list ap) M87_PRINTF(6, 0);

static int error_at(struct m87_error **err, enum m87_errcode code, const char *file, size_t line,
                    size_t column, const char *fmt, va_list ap)
{
    _cleanup_free_ char *msg = m87_xvasprintf(fmt, ap);
    return m87_error_set(err, code, 0, "%s:%zu:%zu: %s", file, line, column, msg);
}

static int mark_error(struct builder *b, enum m87_errcode code, yaml_mark_t mark, const char *fmt,
                      ...) M87_PRINTF(4, 5);

static int mark_error(struct builder *b, enum m87_errcode code, yaml_mark_t mark, const char *fmt,
                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_at(b->err, code, b->doc->file, mark.line + 1, mark.column + 1, fmt, ap);
    va_end(ap);
    return -1;
}

int m87_yaml_error(const struct m87_yaml_node *n, struct m87_error **err, enum m87_errcode code,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_at(err, code, n->file, n->line, n->column, fmt, ap);
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

/* The byte where libyaml's 0-based line and character column point, or NULL past the end. */
static const char *locate(const struct builder *b, size_t line, size_t column)
{
    const char *p = b->text, *end = b->text + b->len;
    for (size_t l = 0; l < line && p < end; p++)
        if (*p == '\n')
            l++;
    for (size_t c = 0; p < end && *p != '\n'; p++) {
        if (((unsigned char)*p & 0xc0) == 0x80)
            continue;
        if (c++ == column)
            return p;
    }
    return NULL;
}

static int reader_error(struct builder *b)
{
    const yaml_parser_t *p = &b->parser;
    size_t line = 1, column = 1;
    for (size_t i = 0; i < p->problem_offset && i < b->len; i++) {
        if (b->text[i] == '\n') {
            line++;
            column = 1;
        } else if (((unsigned char)b->text[i] & 0xc0) != 0x80) {
            column++;
        }
    }
    if (p->problem_value >= 0)
        return m87_error_set(b->err, M87_E_PARSE, 0, "%s:%zu:%zu: %s (0x%02x)", b->doc->file, line,
                             column, p->problem, (unsigned)p->problem_value);
    return m87_error_set(b->err, M87_E_PARSE, 0, "%s:%zu:%zu: %s", b->doc->file, line, column,
                         p->problem);
}

static int parser_error(struct builder *b)
{
    const yaml_parser_t *p = &b->parser;
    if (p->error == YAML_MEMORY_ERROR)
        m87_oom();
    if (p->error == YAML_READER_ERROR)
        return reader_error(b);
    const char *problem = p->problem ? p->problem : "malformed YAML";
    const char *at = locate(b, p->problem_mark.line, p->problem_mark.column);
    if (at && *at == '\t')
        return mark_error(b, M87_E_PARSE, p->problem_mark, "%s (tabs cannot indent YAML)", problem);
    if (p->context == NULL)
        return mark_error(b, M87_E_PARSE, p->problem_mark, "%s", problem);
    if (p->context_mark.line == p->problem_mark.line &&
        p->context_mark.column == p->problem_mark.column)
        return mark_error(b, M87_E_PARSE, p->problem_mark, "%s (%s)", problem, p->context);
    return mark_error(b, M87_E_PARSE, p->problem_mark, "%s (%s at line %zu, column %zu)", problem,
                      p->context, p->context_mark.line + 1, p->context_mark.column + 1);
}

/* ---- anchors --------------------------------------------------------------------------------- */

static size_t anchor_hash(const char *s)
{
    size_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static struct yaml_anchor *anchor_slot(struct yaml_anchor *tab, size_t cap, const char *name)
{
    size_t i = anchor_hash(name) & (cap - 1);
    while (tab[i].name && strcmp(tab[i].name, name) != 0)
        i = (i + 1) & (cap - 1);
    return &tab[i];
}

static void anchor_grow(struct builder *b)
{
    size_t cap = b->cap_anchors ? b->cap_anchors * 2 : 16;
    struct yaml_anchor *tab = m87_xcalloc(cap, sizeof(*tab));
    for (size_t i = 0; i < b->cap_anchors; i++)
        if (b->anchors[i].name)
            *anchor_slot(tab, cap, b->anchors[i].name) = b->anchors[i];
    free(b->anchors);
    b->anchors = tab;
    b->cap_anchors = cap;
}

/* A later anchor of the same name replaces the earlier one for the aliases that follow. */
static void anchor_set(struct builder *b, const char *name, struct m87_yaml_node *node)
{
    if ((b->n_anchors + 1) * 2 > b->cap_anchors)
        anchor_grow(b);
    struct yaml_anchor *slot = anchor_slot(b->anchors, b->cap_anchors, name);
    if (slot->name == NULL) {
        slot->name = m87_xstrdup(name);
        b->n_anchors++;
    }
    slot->node = node;
}

static struct m87_yaml_node *anchor_get(const struct builder *b, const char *name)
{
    if (b->cap_anchors == 0)
        return NULL;
    return anchor_slot(b->anchors, b->cap_anchors, name)->node;
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

static enum m87_yaml_type resolve_scalar(const yaml_event_t *ev)
{
    const char *tag = (const char *)ev->data.scalar.tag;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return M87_YAML_STR;
    if (tag && (strcmp(tag, "!") == 0 || strcmp(tag, YAML_STR_TAG) == 0))
        return M87_YAML_STR;
    return m87_yaml_plain_type((const char *)ev->data.scalar.value);
}

/* ---- building the tree ----------------------------------------------------------------------- */

static struct m87_yaml_node *node_new(struct builder *b, enum m87_yaml_kind kind, yaml_mark_t mark)
{
    struct m87_yaml_doc *doc = b->doc;
    if (doc->n_nodes == doc->cap_nodes) {
        doc->cap_nodes = doc->cap_nodes ? doc->cap_nodes * 2 : 64;
        doc->nodes = m87_xrealloc(doc->nodes, doc->cap_nodes * sizeof(*doc->nodes));
    }
    struct m87_yaml_node *n = m87_xcalloc(1, sizeof(*n));
    n->kind = kind;
    n->file = doc->file;
    n->line = mark.line + 1;
    n->column = mark.column + 1;
    n->weight = 1;
    doc->nodes[doc->n_nodes++] = n;
    return n;
}

static int add_weight(struct builder *b, struct m87_yaml_node *n, size_t w)
{
    n->weight += w;
    if (n->weight > M87_YAML_MAX_NODES)
        return m87_yaml_error(n, b->err, M87_E_TOOBIG,
                              "document expands to more than %u nodes (aliases and merge keys "
                              "included)",
                              M87_YAML_MAX_NODES);
    return 0;
}

static void event_freep(yaml_event_t *ev)
{
    yaml_event_delete(ev);
}

static int next_event(struct builder *b, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&b->parser, ev))
        return parser_error(b);
    return 0;
}

static int build_node(struct builder *b, const yaml_event_t *ev, size_t depth,
                      struct m87_yaml_node **out);

static int build_alias(struct builder *b, const yaml_event_t *ev, struct m87_yaml_node **out)
{
    const char *name = (const char *)ev->data.alias.anchor;
    struct m87_yaml_node *target = anchor_get(b, name);
    if (target == NULL)
        return mark_error(b, M87_E_PARSE, ev->start_mark, "undefined alias '%s'", name);
    if (target->building)
        return mark_error(b, M87_E_PARSE, ev->start_mark,
                          "alias '%s' refers to a node that contains it", name);
    *out = target;
    return 0;
}

static int build_scalar(struct builder *b, const yaml_event_t *ev, struct m87_yaml_node **out)
{
    const char *value = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (memchr(value, '\0', len))
        return mark_error(b, M87_E_PARSE, ev->start_mark, "scalar contains a NUL character");
    struct m87_yaml_node *n = node_new(b, M87_YAML_SCALAR, ev->start_mark);
    n->text = m87_xstrndup(value, len);
    if (ev->data.scalar.tag)
        n->tag = m87_xstrdup((const char *)ev->data.scalar.tag);
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && n->tag == NULL;
    n->type = resolve_scalar(ev);
    if (ev->data.scalar.anchor)
        anchor_set(b, (const char *)ev->data.scalar.anchor, n);
    *out = n;
    return 0;
}

static struct m87_yaml_node *collection_new(struct builder *b, const yaml_event_t *ev,
                                            enum m87_yaml_kind kind)
{
    struct m87_yaml_node *n = node_new(b, kind, ev->start_mark);
    const yaml_char_t *anchor, *tag;
    if (kind == M87_YAML_SEQUENCE) {
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
    } else {
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
    }
    if (tag)
        n->tag = m87_xstrdup((const char *)tag);
    n->type = M87_YAML_STR;
    n->building = true;
    if (anchor)
        anchor_set(b, (const char *)anchor, n);
    return n;
}

static int build_sequence(struct builder *b, const yaml_event_t *start, size_t depth,
                          struct m87_yaml_node **out)
{
    struct m87_yaml_node *n = collection_new(b, start, M87_YAML_SEQUENCE);
    size_t cap = 0;
    for (;;) {
        _cleanup_(event_freep) yaml_event_t ev = {0};
        if (next_event(b, &ev) < 0)
            return -1;
        if (ev.type == YAML_SEQUENCE_END_EVENT)
            break;
        struct m87_yaml_node *child;
        if (build_node(b, &ev, depth + 1, &child) < 0 || add_weight(b, n, child->weight) < 0)
            return -1;
        if (n->len == cap) {
            cap = cap ? cap * 2 : 8;
            n->items = m87_xrealloc(n->items, cap * sizeof(*n->items));
        }
        n->items[n->len++] = child;
    }
    n->building = false;
    *out = n;
    return 0;
}

/* ---- mappings: duplicate keys and merge keys ------------------------------------------------- */

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
        if (add_weight(b, map, src[i]->weight) < 0)
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

static int finish_mapping(struct builder *b, struct m87_yaml_node *map, struct yaml_entry *raw,
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

static int build_key(struct builder *b, const yaml_event_t *ev, size_t depth,
                     struct m87_yaml_node **out)
{
    if (build_node(b, ev, depth, out) < 0)
        return -1;
    if ((*out)->kind != M87_YAML_SCALAR)
        return m87_yaml_error(*out, b->err, M87_E_PARSE, "mapping keys must be scalars, got a %s",
                              (*out)->kind == M87_YAML_MAPPING ? "mapping" : "sequence");
    return 0;
}

static int build_mapping(struct builder *b, const yaml_event_t *start, size_t depth,
                         struct m87_yaml_node **out)
{
    struct m87_yaml_node *n = collection_new(b, start, M87_YAML_MAPPING);
    _cleanup_free_ struct yaml_entry *raw = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        _cleanup_(event_freep) yaml_event_t kev = {0};
        _cleanup_(event_freep) yaml_event_t vev = {0};
        if (next_event(b, &kev) < 0)
            return -1;
        if (kev.type == YAML_MAPPING_END_EVENT)
            break;
        struct yaml_entry e;
        if (build_key(b, &kev, depth + 1, &e.key) < 0 || next_event(b, &vev) < 0 ||
            build_node(b, &vev, depth + 1, &e.value) < 0 ||
            add_weight(b, n, e.key->weight + e.value->weight) < 0)
            return -1;
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            raw = m87_xrealloc(raw, cap * sizeof(*raw));
        }
        raw[len++] = e;
    }
    int r = finish_mapping(b, n, raw, len);
    if (r < 0)
        return -1;
    if (r > 0)
        raw = NULL; /* the mapping kept the array itself */
    n->building = false;
    *out = n;
    return 0;
}

static int build_node(struct builder *b, const yaml_event_t *ev, size_t depth,
                      struct m87_yaml_node **out)
{
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return build_alias(b, ev, out);
    case YAML_SCALAR_EVENT:
        return build_scalar(b, ev, out);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (depth >= M87_YAML_MAX_DEPTH)
            return mark_error(b, M87_E_TOOBIG, ev->start_mark, "nesting deeper than %u levels",
                              M87_YAML_MAX_DEPTH);
        if (ev->type == YAML_SEQUENCE_START_EVENT)
            return build_sequence(b, ev, depth, out);
        return build_mapping(b, ev, depth, out);
    default:
        return mark_error(b, M87_E_INTERNAL, ev->start_mark, "unexpected YAML event %d",
                          (int)ev->type);
    }
}

/* Stream start, at most one document, stream end. */
static int build_stream(struct builder *b)
{
    _cleanup_(event_freep) yaml_event_t start = {0};
    _cleanup_(event_freep) yaml_event_t ev = {0};
    if (next_event(b, &start) < 0 || next_event(b, &ev) < 0)
        return -1;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_mark_t origin = {0, 0, 0};
        b->doc->root = node_new(b, M87_YAML_SCALAR, origin);
        b->doc->root->text = m87_xstrdup("");
        b->doc->root->type = M87_YAML_NULL;
        b->doc->root->plain = true;
        return 0;
    }
    _cleanup_(event_freep) yaml_event_t content = {0};
    _cleanup_(event_freep) yaml_event_t doc_end = {0};
    _cleanup_(event_freep) yaml_event_t after = {0};
    if (next_event(b, &content) < 0 || build_node(b, &content, 0, &b->doc->root) < 0 ||
        next_event(b, &doc_end) < 0 || next_event(b, &after) < 0)
        return -1;
    if (after.type == YAML_DOCUMENT_START_EVENT)
        return mark_error(b, M87_E_PARSE, after.start_mark,
                          "a second YAML document in one file is not supported");
    return 0;
}

static void builder_release(struct builder *b)
{
    yaml_parser_delete(&b->parser);
    for (size_t i = 0; i < b->cap_anchors; i++)
        free(b->anchors[i].name);
    free(b->anchors);
}

struct m87_yaml_doc *m87_yaml_parse(const char *text, size_t len, const char *file,
                                    struct m87_error **err)
{
    if (len > M87_YAML_MAX_FILE) {
        m87_error_set(err, M87_E_TOOBIG, 0, "%s: file exceeds the limit of %u bytes", file,
                      M87_YAML_MAX_FILE);
        return NULL;
    }
    struct m87_yaml_doc *doc = m87_xcalloc(1, sizeof(*doc));
    doc->file = m87_xstrdup(file);
    struct builder b = {.doc = doc, .text = text, .len = len, .err = err};
    if (!yaml_parser_initialize(&b.parser))
        m87_oom();
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)text, len);
    int r = build_stream(&b);
    builder_release(&b);
    if (r < 0) {
        m87_yaml_free(doc);
        return NULL;
    }
    return doc;
}

char *m87_read_file(const char *path, size_t max, size_t *len, struct m87_error **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        m87_error_set(err, M87_E_IO, errno, "open '%s'", path);
        return NULL;
    }
    struct m87_buf buf;
    m87_buf_init(&buf, max);
    char chunk[16384];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            m87_error_set(err, M87_E_IO, errno, "read '%s'", path);
            m87_buf_release(&buf);
            return NULL;
        }
        if (n == 0)
            break;
        if (m87_buf_append(&buf, chunk, (size_t)n, NULL) < 0) {
            m87_error_set(err, M87_E_TOOBIG, 0, "read '%s': file exceeds the limit of %zu bytes",
                          path, max);
            m87_buf_release(&buf);
            return NULL;
        }
    }
    if (len)
        *len = buf.len;
    return m87_buf_steal(&buf);
}

struct m87_yaml_doc *m87_yaml_load(const char *path, struct m87_error **err)
{
    size_t len = 0;
    _cleanup_free_ char *text = m87_read_file(path, M87_YAML_MAX_FILE, &len, err);
    if (text == NULL)
        return NULL;
    return m87_yaml_parse(text, len, path, err);
}

void m87_yaml_free(struct m87_yaml_doc *doc)
{
    if (doc == NULL)
        return;
    for (size_t i = 0; i < doc->n_nodes; i++) {
        struct m87_yaml_node *n = doc->nodes[i];
        free(n->tag);
        free(n->text);
        free(n->items);
        free(n->entries);
        free(n->sorted);
        free(n);
    }
    free(doc->nodes);
    free(doc->file);
    free(doc);
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

int m87_yaml_read_bool(const struct m87_yaml_node *n, const char *what, bool *out,
                       struct m87_error **err)
{
    static const char *const yes[] = {"true", "yes", "on", "y", NULL};
    static const char *const no[] = {"false", "no", "off", "n", NULL};
    if (n->kind == M87_YAML_SCALAR && !m87_yaml_is_null(n)) {
        for (size_t i = 0; yes[i]; i++) {
            if (strcasecmp(n->text, yes[i]) == 0)
                return *out = true, 0;
            if (strcasecmp(n->text, no[i]) == 0)
                return *out = false, 0;
        }
    }
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
