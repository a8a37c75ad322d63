/* YAML documents: libyaml's event stream built into an immutable tree with anchors, aliases and
 * merge keys resolved (yaml-merge.c); reading the tree is yaml-read.c. */
#include <string.h>

#include "common/yaml-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/yaml.h"

/* ---- positions and errors -------------------------------------------------------------------- */

static int mark_error(struct builder *b, enum m87_errcode code, yaml_mark_t mark, const char *fmt,
                      ...) M87_PRINTF(4, 5);

static int mark_error(struct builder *b, enum m87_errcode code, yaml_mark_t mark, const char *fmt,
                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    m87_yaml_error_at(b->err, code, b->doc->file, mark.line + 1, mark.column + 1, fmt, ap);
    va_end(ap);
    return -1;
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

/* Quoted and "!"-tagged scalars are strings; plain ones take the core schema's type. */
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
        if (build_node(b, &ev, depth + 1, &child) < 0 ||
            m87_yaml_add_weight(b, n, child->weight) < 0)
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
            m87_yaml_add_weight(b, n, e.key->weight + e.value->weight) < 0)
            return -1;
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            raw = m87_xrealloc(raw, cap * sizeof(*raw));
        }
        raw[len++] = e;
    }
    int r = m87_yaml_finish_mapping(b, n, raw, len);
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
