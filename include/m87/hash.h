/* Hashing and secrets over nettle and the kernel: streaming and one-shot SHA-256 as lower-case
 * hex, bytes from the CSPRNG, and a constant-time comparison.
 *
 * Contract: only memory can make hashing fail here, and that aborts (m87_oom()); the functions
 * that reach outside the process (a file, getrandom) return -1 with M87_E_IO.
 */
#ifndef M87_HASH_H
#define M87_HASH_H

#include <stddef.h>

#include "m87/alloc.h"
#include "m87/error.h"

#define M87_SHA256_HEX_LEN 64

/* Streaming SHA-256 over nettle. Only memory can make it fail here: m87_oom(). */
struct m87_sha256;
struct m87_sha256 *m87_sha256_new(void);
void m87_sha256_update(struct m87_sha256 *h, const void *data, size_t len);
/* Lower-case hex of the digest into out; h is freed. */
void m87_sha256_final(struct m87_sha256 *h, char out[M87_SHA256_HEX_LEN + 1]);
/* Free without a digest (an error path). NULL is fine. */
void m87_sha256_abort(struct m87_sha256 *h);
/* One-shot: hex(SHA-256(data)). */
void m87_sha256_hex(const void *data, size_t len, char out[M87_SHA256_HEX_LEN + 1]);
/* hex(SHA-256) of a whole file, in chunks; M87_E_IO when it cannot be read. */
int m87_sha256_file(const char *path, char out[M87_SHA256_HEX_LEN + 1], struct m87_error **err);

/* len bytes from the kernel's CSPRNG (getrandom); M87_E_IO on failure. */
int m87_random_bytes(void *buf, size_t len, struct m87_error **err);

/* Constant-time comparison of two equally long buffers: 0 when equal. */
int m87_memeq_ct(const void *a, const void *b, size_t len);

#endif
