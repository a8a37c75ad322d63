/* Writing YAML: block-style YAML over libyaml's emitter, for `compose config`.
 *
 * Contract: strings are written so that they read back as the same strings: plain when that is
 * unambiguous, quoted when the text would resolve to null, a bool (YAML 1.1's yes/no/on/off
 * included), a number, or a merge key, or cannot be plain; text with a newline as a literal block
 * where libyaml allows one. Empty mappings and sequences come out as {} and []. Misuse (a value
 * where a key is due, unbalanced open/close, finishing an incomplete document) is a bug and
 * aborts, as does allocation failure, so no call here fails.
 */
#ifndef M87_YAML_WRITE_H
#define M87_YAML_WRITE_H

#include <stdbool.h>
#include <stdint.h>

struct m87_yw;

struct m87_yw *m87_yw_new(void);
void m87_yw_free(struct m87_yw *w);
static inline void m87_yw_freep(struct m87_yw **w)
{
    m87_yw_free(*w);
}
void m87_yw_map_open(struct m87_yw *w);
void m87_yw_map_close(struct m87_yw *w);
void m87_yw_seq_open(struct m87_yw *w);
void m87_yw_seq_close(struct m87_yw *w);
void m87_yw_key(struct m87_yw *w, const char *key);
void m87_yw_str(struct m87_yw *w, const char *s); /* NULL writes null */
void m87_yw_int(struct m87_yw *w, int64_t v);
void m87_yw_bool(struct m87_yw *w, bool v);
void m87_yw_null(struct m87_yw *w);
/* Shorthand for a key followed by a string. */
void m87_yw_kstr(struct m87_yw *w, const char *key, const char *s);
/* The document text (ending in a newline), owned by the caller; the writer is freed. Exactly one
 * root value must have been written. */
char *m87_yw_finish(struct m87_yw *w);

#endif
