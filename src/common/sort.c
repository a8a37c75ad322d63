/* Sorting lists of strings. */
#include <stdlib.h>
#include <string.h>

#include "m87/list.h"
#include "m87/sort.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void m87_strv_sort_unique(struct m87_strv *v)
{
    if (v->len < 2)
        return; /* items is NULL when empty, which qsort must not get */
    qsort(v->items, v->len, sizeof(*v->items), cmp_str);
    size_t out = 0;
    for (size_t i = 0; i < v->len; i++) {
        if (out > 0 && strcmp(v->items[out - 1], v->items[i]) == 0) {
            free(v->items[i]);
            continue;
        }
        v->items[out++] = v->items[i];
    }
    v->len = out;
}
