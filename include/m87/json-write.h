/* Writing JSON: a generator that builds compact JSON text value by value.
 *
 * Contract: the writer owns its text until m87_jw_finish hands it to the caller. Misuse
 * (unbalanced open/close, a value where a key is due) is a bug and aborts; allocation failure
 * aborts too, so no call here fails.
 */
#ifndef M87_JSON_WRITE_H
#define M87_JSON_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/json.h"
#include "m87/list.h"

struct m87_jw;

struct m87_jw *m87_jw_new(void);
void m87_jw_free(struct m87_jw *w);
static inline void m87_jw_freep(struct m87_jw **w)
{
    m87_jw_free(*w);
}
void m87_jw_obj_open(struct m87_jw *w);
void m87_jw_obj_close(struct m87_jw *w);
void m87_jw_arr_open(struct m87_jw *w);
void m87_jw_arr_close(struct m87_jw *w);
void m87_jw_key(struct m87_jw *w, const char *key);
void m87_jw_str(struct m87_jw *w, const char *s); /* NULL writes null */
void m87_jw_int(struct m87_jw *w, int64_t v);
void m87_jw_bool(struct m87_jw *w, bool v);
void m87_jw_null(struct m87_jw *w);
/* Shorthands for a key followed by a value. */
void m87_jw_kstr(struct m87_jw *w, const char *key, const char *s);
void m87_jw_kint(struct m87_jw *w, const char *key, int64_t v);
void m87_jw_kbool(struct m87_jw *w, const char *key, bool v);
/* The key and s, or nothing at all when s is NULL (a member that is left out when unset). */
void m87_jw_kstr_opt(struct m87_jw *w, const char *key, const char *s);
/* {"k":"v",...} from a kvlist; valueless items are written as "". */
void m87_jw_kvlist(struct m87_jw *w, const struct m87_kvlist *l);
/* ["a","b"] from a strv. */
void m87_jw_strv(struct m87_jw *w, const struct m87_strv *v);
/* Copy a parsed node (any type) into the output. */
void m87_jw_node(struct m87_jw *w, const struct m87_json *n);
/* The text so far, borrowed until the next call on w. Aborts on a generator misuse, which is a
 * bug (unbalanced open/close, a value where a key is due). */
const char *m87_jw_text(struct m87_jw *w, size_t *len);
/* The text, owned by the caller; the writer is freed. */
char *m87_jw_finish(struct m87_jw *w);

#endif
