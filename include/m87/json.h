/* Reading JSON: a parsed document as a read-only tree of nodes, with typed reads that fall back
 * instead of failing.
 *
 * Contract: nodes are borrowed from their document; only the root returned by m87_json_parse is
 * freed, with m87_json_free. Nesting is capped (M87_JSON_MAX_DEPTH). The library behind it (yajl)
 * is an implementation detail of src/common/json.c.
 */
#ifndef M87_JSON_H
#define M87_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "m87/list.h"

/* A parsed JSON document or a node inside it. */
struct m87_json;

enum m87_json_type {
    M87_JSON_NULL,
    M87_JSON_BOOL,
    M87_JSON_NUMBER,
    M87_JSON_STRING,
    M87_JSON_ARRAY,
    M87_JSON_OBJECT,
};

/* Containers nested deeper than this are refused: yajl frees its trees recursively, and a
 * hostile peer could send a megabyte of '['. Docker's answers and run specs stay under 16. */
#define M87_JSON_MAX_DEPTH 64

/* Parse len bytes of text. NULL with M87_E_PARSE and the parser's message on bad input,
 * or when arrays and objects nest deeper than M87_JSON_MAX_DEPTH. */
struct m87_json *m87_json_parse(const char *text, size_t len, struct m87_error **err);
/* The same with another nesting limit (at most M87_JSON_MAX_DEPTH makes sense). */
struct m87_json *m87_json_parse_max(const char *text, size_t len, int max_depth,
                                    struct m87_error **err);
/* The deepest nesting of arrays and objects in text, counting stops once past max. */
int m87_json_depth(const char *text, size_t len, int max);
void m87_json_free(struct m87_json *doc);
static inline void m87_json_freep(struct m87_json **doc)
{
    m87_json_free(*doc);
}

enum m87_json_type m87_json_type(const struct m87_json *n);
/* Member of an object by key; NULL when n is NULL, not an object, or the key is absent. */
const struct m87_json *m87_json_get(const struct m87_json *n, const char *key);
/* Follow a path of keys: m87_json_path(n, "State", "Health", "Status", NULL). */
const struct m87_json *m87_json_path(const struct m87_json *n, ...);
/* Typed reads return the fallback when n is NULL or of another type; m87_json_int also for a
 * number outside int64's range (a fraction is truncated). */
const char *m87_json_str(const struct m87_json *n, const char *fallback);
int64_t m87_json_int(const struct m87_json *n, int64_t fallback);
double m87_json_double(const struct m87_json *n, double fallback);
bool m87_json_bool(const struct m87_json *n, bool fallback);
/* Arrays and objects: length, and the i-th element (objects: value, with its key in *key). */
size_t m87_json_len(const struct m87_json *n);
const struct m87_json *m87_json_at(const struct m87_json *n, size_t i);
const struct m87_json *m87_json_member(const struct m87_json *n, size_t i, const char **key);
/* Copy an object of string values into a kvlist (non-strings are skipped). */
void m87_json_to_kvlist(const struct m87_json *n, struct m87_kvlist *out);
/* Copy an array of strings into a strv (non-strings are skipped). */
void m87_json_to_strv(const struct m87_json *n, struct m87_strv *out);

#endif
