/* Base64 in the URL-safe, padded form that dockerd's X-Registry-Auth header wants.
 *
 * Contract: encoding cannot fail (allocation failure aborts); the text is the caller's.
 */
#ifndef M87_BASE64_H
#define M87_BASE64_H

#include <stddef.h>

/* Encode with OpenSSL and map to the URL-safe alphabet. Caller frees. */
char *m87_base64url_encode(const void *data, size_t len);

#endif
