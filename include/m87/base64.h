/* Base64: the URL-safe, padded form that dockerd's X-Registry-Auth header wants, and the
 * standard padded form of the "auth" entries of a docker config.json.
 *
 * Contract: encoding cannot fail (allocation failure aborts); the text is the caller's.
 */
#ifndef M87_BASE64_H
#define M87_BASE64_H

#include <stddef.h>

#include "m87/error.h"

/* Standard, padded base64 (RFC 4648 section 4). Caller frees. */
char *m87_base64_encode(const void *data, size_t len);

/* Encode with OpenSSL and map to the URL-safe alphabet. Caller frees. */
char *m87_base64url_encode(const void *data, size_t len);

/* Decode standard, padded base64 (RFC 4648 section 4, Go's base64.StdEncoding): the bytes,
 * NUL-terminated for convenience, their count in *out_len (may be NULL). NULL with M87_E_PARSE
 * "bad base64: ..." on a length that is not a multiple of 4, a character outside the alphabet or
 * misplaced padding; the message never quotes the input, which is often a secret. Caller frees. */
char *m87_base64_decode(const char *text, size_t len, size_t *out_len, struct m87_error **err);

#endif
