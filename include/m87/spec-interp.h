/* Compose's variable interpolation ($VAR, ${VAR:-word}, ...), shared by the compose loader and
 * the dotenv reader. Pure logic over common.h; errors are placed "FILE:LINE:COLUMN: message".
 */
#ifndef M87_SPEC_INTERP_H
#define M87_SPEC_INTERP_H

#include "m87/error.h"
#include "m87/list.h"

/* Compose's variable syntax, as compose-go's template package reads it:
 *
 *   $VAR  ${VAR}            the value, "" when unset
 *   ${VAR:-word} ${VAR-word} word when VAR is unset or empty / unset
 *   ${VAR:+word} ${VAR+word} word when VAR is set and not empty / set, else ""
 *   ${VAR:?word} ${VAR?word} an error when VAR is unset or empty / unset
 *   $$                       a literal $
 *
 * Names are [A-Za-z_][A-Za-z0-9_]*. The word is itself interpolated, so defaults nest
 * (${A:-${B:-x}}); it extends to the matching '}', counting only "${" as an opening. Unlike
 * compose-go, a word is only evaluated when it is used (${A:-${B:?x}} with A set is no error), but
 * its syntax is always checked. A '$' followed by anything else ("$5", "$ ", a final "$",
 * "${A B}", "${}", an unclosed "${A") is a syntax error, as in compose.
 *
 * Errors are placed by the caller's position: FILE:LINE:COLUMN (":COLUMN" left out when column
 * is 0), then
 *   M87_E_PARSE  "invalid interpolation format in 'TEXT': you may need to escape any $ with
 *                another $"
 *   M87_E_INVAL  the word of ${VAR:?word} / ${VAR?word}, or "required variable VAR is missing a
 *                value" when the word is empty
 *   M87_E_TOOBIG "interpolation nested deeper than SPEC_INTERP_MAX_DEPTH levels", or
 *                "interpolated value exceeds the limit of SPEC_INTERP_MAX bytes" */
#define SPEC_INTERP_MAX (1024u * 1024)
#define SPEC_INTERP_MAX_DEPTH 32u

/* The value of name (borrowed; it must stay valid until the interpolation returns), or NULL when
 * it is unset. "" is a set, empty value. Called only for names the text references. */
typedef const char *(*spec_lookup_fn)(void *ctx, const char *name);

struct spec_interp {
    spec_lookup_fn lookup; /* may be NULL: every variable is unset */
    void *ctx;
    /* When not NULL, the names referenced as $VAR or ${VAR} (no operator) while unset are
     * appended, each once, so that the caller can warn as compose does. */
    struct m87_strv *unset;
};

/* Interpolate text. Returns a new string the caller frees, or NULL with *err as above. */
char *spec_interpolate(const struct spec_interp *ip, const char *text, const char *file,
                       size_t line, size_t column, struct m87_error **err);

#endif
