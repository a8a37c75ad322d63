/* Lists of owned strings: key/value lists (labels, env, filters) and plain string lists.
 *
 * Contract: a list owns copies of everything added to it; _init allocates nothing, _release
 * frees the items and leaves an empty list. Items keep the order they were added in. Allocation
 * failure aborts.
 */
#ifndef M87_LIST_H
#define M87_LIST_H

#include <stdbool.h>
#include <stddef.h>

/* ---- key/value lists ------------------------------------------------------------------------- */

struct m87_kv {
    char *key;
    char *value;
};

struct m87_kvlist {
    struct m87_kv *items;
    size_t len;
    size_t cap;
};

void m87_kvlist_init(struct m87_kvlist *l);
/* Append a copy of key and value (value may be NULL). */
void m87_kvlist_add(struct m87_kvlist *l, const char *key, const char *value);
/* Replace the value of an existing key, or append. */
void m87_kvlist_set(struct m87_kvlist *l, const char *key, const char *value);
/* The value of the first item named key; NULL when absent or valueless. */
const char *m87_kvlist_get(const struct m87_kvlist *l, const char *key);
bool m87_kvlist_has(const struct m87_kvlist *l, const char *key);
void m87_kvlist_release(struct m87_kvlist *l);

/* ---- string lists ---------------------------------------------------------------------------- */

struct m87_strv {
    char **items;
    size_t len;
    size_t cap;
};

void m87_strv_init(struct m87_strv *v);
void m87_strv_add(struct m87_strv *v, const char *s);
void m87_strv_release(struct m87_strv *v);

#endif
