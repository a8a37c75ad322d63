/* Private to the YAML reader of src/common (yaml.c builds the tree, yaml-merge.c resolves a
 * mapping's duplicate and merge keys, yaml-read.c reads the tree): the node and document types and
 * the builder they share. Nothing outside src/common includes this. */
#ifndef M87_COMMON_YAML_INTERNAL_H
#define M87_COMMON_YAML_INTERNAL_H

#include <yaml.h>

#include "m87/compiler.h"
#include "m87/error.h"
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

/* Set *err to "FILE:LINE:COLUMN: MESSAGE" with code; returns -1. */
int m87_yaml_error_at(struct m87_error **err, enum m87_errcode code, const char *file, size_t line,
                      size_t column, const char *fmt, va_list ap) M87_PRINTF(6, 0);

/* Add w to the nodes a full walk of n visits; -1 with M87_E_TOOBIG past M87_YAML_MAX_NODES. */
static inline int m87_yaml_add_weight(struct builder *b, struct m87_yaml_node *n, size_t w)
{
    n->weight += w;
    if (n->weight > M87_YAML_MAX_NODES)
        return m87_yaml_error(n, b->err, M87_E_TOOBIG,
                              "document expands to more than %u nodes (aliases and merge keys "
                              "included)",
                              M87_YAML_MAX_NODES);
    return 0;
}

/* Check raw's keys for repeats and apply a `<<` merge key, filling map's entries. 1: map took raw
 * itself, 0: map has its own copy (the caller frees raw), -1: an error in b->err. */
int m87_yaml_finish_mapping(struct builder *b, struct m87_yaml_node *map, struct yaml_entry *raw,
                            size_t n_raw);

#endif
