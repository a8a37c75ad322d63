/* Small owned lists: key/value pairs and strings. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/list.h"

static void *grow(void *items, size_t *cap, size_t len, size_t elem)
{
    if (len < *cap)
        return items;
    *cap = *cap ? *cap * 2 : 8;
    return m87_xrealloc(items, *cap * elem);
}

void m87_kvlist_init(struct m87_kvlist *l)
{
    l->items = NULL;
    l->len = 0;
    l->cap = 0;
}

void m87_kvlist_add(struct m87_kvlist *l, const char *key, const char *value)
{
    l->items = grow(l->items, &l->cap, l->len, sizeof(*l->items));
    l->items[l->len].key = m87_xstrdup(key);
    l->items[l->len].value = value ? m87_xstrdup(value) : NULL;
    l->len++;
}

void m87_kvlist_set(struct m87_kvlist *l, const char *key, const char *value)
{
    for (size_t i = 0; i < l->len; i++) {
        if (strcmp(l->items[i].key, key) == 0) {
            free(l->items[i].value);
            l->items[i].value = value ? m87_xstrdup(value) : NULL;
            return;
        }
    }
    m87_kvlist_add(l, key, value);
}

static const struct m87_kv *kvlist_find(const struct m87_kvlist *l, const char *key)
{
    for (size_t i = 0; i < l->len; i++)
        if (strcmp(l->items[i].key, key) == 0)
            return &l->items[i];
    return NULL;
}

const char *m87_kvlist_get(const struct m87_kvlist *l, const char *key)
{
    const struct m87_kv *kv = kvlist_find(l, key);
    return kv ? kv->value : NULL;
}

bool m87_kvlist_has(const struct m87_kvlist *l, const char *key)
{
    return kvlist_find(l, key) != NULL;
}

void m87_kvlist_release(struct m87_kvlist *l)
{
    for (size_t i = 0; i < l->len; i++) {
        free(l->items[i].key);
        free(l->items[i].value);
    }
    free(l->items);
    m87_kvlist_init(l);
}

void m87_strv_init(struct m87_strv *v)
{
    v->items = NULL;
    v->len = 0;
    v->cap = 0;
}

void m87_strv_add(struct m87_strv *v, const char *s)
{
    /* keep one spare slot so items is always NULL-terminated, as execv wants */
    if (v->len + 1 >= v->cap) {
        v->cap = v->cap ? v->cap * 2 : 8;
        v->items = m87_xrealloc(v->items, v->cap * sizeof(*v->items));
    }
    v->items[v->len++] = m87_xstrdup(s);
    v->items[v->len] = NULL;
}

void m87_strv_release(struct m87_strv *v)
{
    for (size_t i = 0; i < v->len; i++)
        free(v->items[i]);
    free(v->items);
    m87_strv_init(v);
}
