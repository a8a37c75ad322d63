/* m87 spec module: the run spec and the Compose subset (parse, validate, interpolate, convert).
 *
 * Pure logic over common.h: nothing here talks to dockerd or the server. Errors about input files
 * read "FILE:LINE:COLUMN: message" (or "FILE:LINE: message" where there is no column).
 */
#ifndef M87_SPEC_H
#define M87_SPEC_H

#include "m87/common.h"

/* ---- interpolation --------------------------------------------------------------------------- */

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

/* ---- dotenv ---------------------------------------------------------------------------------- */

/* The .env and env_file format, as compose-go's dotenv package reads it, one statement at a time:
 *
 *   # comment                 blank lines and lines starting with # are skipped
 *   KEY=value                 unquoted: up to the end of the line, trailing blanks dropped; a #
 *                             preceded by a blank starts a comment (a#b stays a#b)
 *   export KEY=value          the "export " prefix is ignored
 *   KEY: value                the YAML-like separator works too; blanks around it are ignored
 *   KEY='literal $X'          single quotes: taken as is, no interpolation, may span lines
 *   KEY="a\nb ${X}"           double quotes: \n \r \t \\ \" are escapes, \$ is a literal $,
 *                             any other \c is c; then interpolated; may span lines
 *   KEY                       alone: the value of KEY from lookup, left out when it is unset
 *
 * After a closing quote only blanks and a # comment may follow. Keys are made of
 * [A-Za-z0-9_.[]-] and do not start with a digit. Unquoted and double-quoted values are
 * interpolated with the syntax of spec_interpolate; a name is looked up through lookup first
 * (the process environment overrides the file, as compose does), then in *out (keys set by
 * earlier lines, or by the caller before the call). A UTF-8 byte order mark is skipped.
 *
 * Keys and values are set into *out in file order (a repeated key keeps its last value, at its
 * first place). Errors are "FILE:LINE: message" with LINE where the statement starts: M87_E_PARSE
 * for a bad line ("unexpected character '%' in variable name", "unterminated quoted value",
 * "unexpected character 'x' after the closing quote", "variable name '1A' must not start with a
 * digit"), interpolation errors as above, M87_E_TOOBIG past SPEC_DOTENV_MAX_FILE bytes of input or
 * SPEC_DOTENV_MAX_TOTAL bytes of keys and values. *out keeps what was set before an error. */
#define SPEC_DOTENV_MAX_FILE (1024u * 1024)
#define SPEC_DOTENV_MAX_TOTAL (4u * 1024 * 1024)

int spec_dotenv_parse(const char *text, size_t len, const char *file, spec_lookup_fn lookup,
                      void *ctx, struct m87_kvlist *out, struct m87_error **err);

/* Read path (M87_E_IO "open 'PATH': ..." when it cannot) and parse it as above, with path as the
 * FILE of messages. */
int spec_dotenv_load(const char *path, spec_lookup_fn lookup, void *ctx, struct m87_kvlist *out,
                     struct m87_error **err);

#endif
