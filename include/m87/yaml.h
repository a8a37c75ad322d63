/* YAML documents: a YAML file parsed with libyaml into an immutable tree, for the compose and
 * run-spec parsers.
 *
 * Decisions, so that callers need not guess:
 * - One document per stream. An empty stream (or only comments) gives a null scalar root at 1:1;
 *   a second document ("---" after the first) is an error at its start, never silently dropped.
 * - Anchors and aliases are resolved: an alias yields the anchored node itself (shared, so its
 *   line and column are those of the anchor's node). An undefined alias, and an alias to a node
 *   that contains it, are errors.
 * - Merge keys: a plain `<<` key whose value is a mapping or a sequence of mappings (inline or
 *   aliased) is replaced, at its position, by the entries of those mappings that the mapping does
 *   not define itself; earlier sources win over later ones. A quoted "<<" is an ordinary key.
 * - Mapping keys must be scalars and unique (compared as text, so `1` and "1" clash); a duplicate
 *   is an error at the second occurrence.
 * - Plain scalars resolve as in the YAML 1.2 core schema (what compose-go's yaml.v3 does): null is
 *   `~`, `null`, `Null`, `NULL` or empty; `yes`/`on` are strings. The typed bool read then accepts
 *   true/false/yes/no/on/off/y/n in any case, plain or quoted, as compose-go's type casts do.
 * - Limits: M87_YAML_MAX_FILE bytes of input; M87_YAML_MAX_NODES nodes counted after alias and
 *   merge expansion (what a full walk of the tree would visit: the billion-laughs guard);
 *   M87_YAML_MAX_DEPTH levels of nesting. Crossing one is M87_E_TOOBIG.
 *
 * Every error message starts with "FILE:LINE:COLUMN: " (1-based, LINE and COLUMN of the node's
 * start, or of libyaml's problem mark for syntax errors). Syntax errors are M87_E_PARSE. */
#ifndef M87_YAML_H
#define M87_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/units.h"

#define M87_YAML_MAX_FILE (4u * 1024 * 1024)
#define M87_YAML_MAX_NODES 1000000u
#define M87_YAML_MAX_DEPTH 128u

struct m87_yaml_doc;
struct m87_yaml_node;

enum m87_yaml_kind {
    M87_YAML_SCALAR,
    M87_YAML_SEQUENCE,
    M87_YAML_MAPPING,
};

/* What a scalar is under the YAML 1.2 core schema. Quoted, block (| >) and explicitly tagged
 * `!!str` or `!` scalars are strings; other explicit tags resolve as if the scalar were plain. */
enum m87_yaml_type {
    M87_YAML_NULL,
    M87_YAML_BOOL,  /* true, True, TRUE, false, False, FALSE */
    M87_YAML_INT,   /* as yaml.v3: [-+]?[0-9]+, 0x, 0o, 0b, leading-0 octal; '_' ignored */
    M87_YAML_FLOAT, /* 1.5, .5, 1e3, .inf, .nan and their variants */
    M87_YAML_STR,
};

/* Parse len bytes of YAML. file names the input in messages (borrowed only during the call;
 * the document keeps a copy). NULL with *err on failure: M87_E_PARSE for syntax, aliases, merge
 * keys, duplicate keys and non-scalar keys; M87_E_TOOBIG for a cap. */
struct m87_yaml_doc *m87_yaml_parse(const char *text, size_t len, const char *file,
                                    struct m87_error **err);

/* Read path (at most M87_YAML_MAX_FILE bytes) and parse it, with path as the name in messages.
 * M87_E_IO when it cannot be read ("open 'PATH': ..."), else as m87_yaml_parse. */
struct m87_yaml_doc *m87_yaml_load(const char *path, struct m87_error **err);

/* Free the document and every node in it. NULL is a no-op. */
void m87_yaml_free(struct m87_yaml_doc *doc);
static inline void m87_yaml_freep(struct m87_yaml_doc **doc)
{
    m87_yaml_free(*doc);
}

/* The root node; never NULL for a parsed document. Nodes are borrowed from their document. */
const struct m87_yaml_node *m87_yaml_root(const struct m87_yaml_doc *doc);

/* Accessors. They accept NULL where noted and never fail. */
enum m87_yaml_kind m87_yaml_kind(const struct m87_yaml_node *n);
const char *m87_yaml_file(const struct m87_yaml_node *n); /* the document's file name */
size_t m87_yaml_line(const struct m87_yaml_node *n);      /* 1-based */
size_t m87_yaml_column(const struct m87_yaml_node *n);    /* 1-based, in characters */
/* True for a scalar that resolves to null (see enum m87_yaml_type). NULL n is not null. */
bool m87_yaml_is_null(const struct m87_yaml_node *n);
/* True for a plain (unquoted, untagged) scalar: the one kind whose text YAML types resolve. */
bool m87_yaml_is_plain(const struct m87_yaml_node *n);
/* The resolved type of a scalar; M87_YAML_STR for anything else. */
enum m87_yaml_type m87_yaml_type(const struct m87_yaml_node *n);
/* The type text would resolve to as a plain scalar: what the parser decides, for a writer that
 * must quote whatever would not read back as a string. */
enum m87_yaml_type m87_yaml_plain_type(const char *text);
/* The explicit tag as libyaml resolved it ("tag:yaml.org,2002:str" for !!str, "!reset" for a
 * local tag), or NULL when the node has none. Compose's !reset and !override are seen here. */
const char *m87_yaml_tag(const struct m87_yaml_node *n);
/* The text of a scalar (never NULL for one: a null scalar has its text, e.g. "" or "~"); NULL for
 * NULL n or a collection. Scalars never contain a NUL byte (that is a parse error). */
const char *m87_yaml_text(const struct m87_yaml_node *n);
/* Number of items of a sequence or entries of a mapping (merged entries included); 0 else. */
size_t m87_yaml_len(const struct m87_yaml_node *n);
/* The i-th item of a sequence; NULL when n is not a sequence or i is out of range. */
const struct m87_yaml_node *m87_yaml_at(const struct m87_yaml_node *n, size_t i);
/* The i-th entry of a mapping in document order (merged entries at the `<<` key's place): the
 * value, with the key node in *key when key is not NULL. NULL when out of range or no mapping. */
const struct m87_yaml_node *m87_yaml_entry(const struct m87_yaml_node *n, size_t i,
                                           const struct m87_yaml_node **key);
/* The value for key in a mapping (O(log n)); NULL when n is NULL, not a mapping, or lacks it. */
const struct m87_yaml_node *m87_yaml_get(const struct m87_yaml_node *n, const char *key);

/* Fill *err with code and "FILE:LINE:COLUMN: " followed by the formatted message, at node n.
 * Returns -1. The compose layer reports its own findings (unknown field, bad port) this way. */
int m87_yaml_error(const struct m87_yaml_node *n, struct m87_error **err, enum m87_errcode code,
                   const char *fmt, ...) M87_PRINTF(4, 5);
/* Prefix an existing error with "FILE:LINE:COLUMN: " and, when what is not NULL, "WHAT: ", at
 * node n (for errors from m87_parse_bytes and friends). Returns -1; a no-op on a NULL *err. */
int m87_yaml_wrap(const struct m87_yaml_node *n, const char *what, struct m87_error **err);

/* Typed reads of a scalar. On success 0 and *out set; on failure -1, *out untouched and
 * M87_E_INVAL with "FILE:LINE:COLUMN: [WHAT: ]expected a boolean, got 'maybe'" (or "got a
 * mapping", "got a sequence", "got null"). what may be NULL. n must not be NULL.
 * - bool: true/false/yes/no/on/off/y/n in any letter case, plain or quoted.
 * - int64: a plain scalar that resolves to M87_YAML_INT (so `mode: 0440` is 288); a quoted one
 *   as decimal only, "[-+]?[0-9]+" (compose casts strings with Atoi). Out of range is an error.
 * - str: the text of any scalar but null; *out is borrowed from the document. */
int m87_yaml_read_bool(const struct m87_yaml_node *n, const char *what, bool *out,
                       struct m87_error **err);
int m87_yaml_read_int(const struct m87_yaml_node *n, const char *what, int64_t *out,
                      struct m87_error **err);
int m87_yaml_read_str(const struct m87_yaml_node *n, const char *what, const char **out,
                      struct m87_error **err);
/* The words m87_yaml_read_bool takes (true/false/yes/no/on/off/y/n in any letter case): true
 * with *out set when text is one of them, false and *out untouched otherwise. */
bool m87_yaml_bool_word(const char *text, bool *out);

#endif
