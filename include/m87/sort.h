
#include "m87/list.h"
/* Sorting lists of strings (src/common/sort.c). */
#ifndef M87_SORT_H
#define M87_SORT_H

struct m87_strv;

/* Sort v bytewise (strcmp) and drop repeats in place, freeing them: v becomes a sorted set.
 * A prefix sorts before the strings it begins ("a" before "a/x"). */
void m87_strv_sort_unique(struct m87_strv *v);

#endif
