/* The .env and env_file format as Docker Compose reads it, with its values interpolated
 * (spec-interp.h). Errors read "FILE:LINE: message".
 */
#ifndef M87_SPEC_DOTENV_H
#define M87_SPEC_DOTENV_H

#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-interp.h"

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
