/* Ed25519 signatures over GnuTLS, part of the common module (src/common/sign.c): the keys
 * that sign revisions (the m87 CLI) and check them (the agent's --trust), and the bytes a
 * revision signature covers.
 *
 * Keys are PEM: the private key PKCS#8 ("-----BEGIN PRIVATE KEY-----"), the public key
 * SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----"), as `openssl genpkey -algorithm ed25519`
 * writes them. A key's id is the first M87_SIGN_KEY_ID_LEN hex digits of the SHA-256 of its raw
 * 32-byte public key. Signatures travel as standard padded base64 of the 64 signature bytes. */
#ifndef M87_SIGN_H
#define M87_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/hash.h"

#define M87_SIGN_KEY_ID_LEN 16
#define M87_SIGN_MAX_PEM (16u * 1024) /* bytes of a key file */
#define M87_SIGN_SIG_TEXT_LEN 88      /* base64 of 64 bytes */
#define M87_SIGN_REVISION_PREFIX "m87-revision-signature-v2\n"
#define M87_SIGN_RELEASE_PREFIX "m87-fleet-release-signature-v1\n"

/* A key pair (private: can sign) or a public key (can only verify). */
struct m87_sign_key;

void m87_sign_key_free(struct m87_sign_key *k);
static inline void m87_sign_key_freep(struct m87_sign_key **k)
{
    m87_sign_key_free(*k);
}

/* A new random key pair. Caller frees. NULL with M87_E_INTERNAL when GnuTLS fails. */
struct m87_sign_key *m87_sign_key_generate(struct m87_error **err);

/* A key from PEM text: a private key when private is true (the public half is derived), else a
 * public key. what names the input in messages. NULL with M87_E_PARSE ("WHAT: not an Ed25519
 * private key") for anything else. */
struct m87_sign_key *m87_sign_key_from_pem(const char *pem, size_t len, bool private,
                                           const char *what, struct m87_error **err);
/* The same from a file (M87_E_IO when it cannot be read, M87_E_TOOBIG past M87_SIGN_MAX_PEM). */
struct m87_sign_key *m87_sign_key_load(const char *path, bool private, struct m87_error **err);

/* The PEM of the private key (NULL for a public key) or of the public key. Caller frees. */
char *m87_sign_key_private_pem(const struct m87_sign_key *k);
char *m87_sign_key_public_pem(const struct m87_sign_key *k);

/* The key's id (lower-case hex). */
void m87_sign_key_id(const struct m87_sign_key *k, char out[M87_SIGN_KEY_ID_LEN + 1]);
bool m87_sign_key_is_private(const struct m87_sign_key *k);

/* Sign len bytes: the signature as base64 text. Caller frees. NULL with M87_E_INVAL for a public
 * key. */
char *m87_sign(const struct m87_sign_key *k, const void *msg, size_t len, struct m87_error **err);
/* True when sig (base64 text) is k's signature of msg. Any malformed sig is false. */
bool m87_sign_verify(const struct m87_sign_key *k, const void *msg, size_t len, const char *sig);

/* What a revision signature covers (format v2, docs/security.md): the device and deployment it
 * is for, its number in the deployment, its hash (which covers each job's canonical hash, which
 * covers its bundle digest), whether it is to be applied at once (outside maintenance windows),
 * and when it was signed (Unix seconds, the signer's clock). */
struct m87_sign_revision_fields {
    const char *device;
    const char *deployment;
    int64_t revision;
    const char *hash;
    bool now;
    int64_t time;
};

/* The signed bytes: M87_SIGN_REVISION_PREFIX then one "NAME VALUE\n" line per field, in the
 * order of the struct. Caller frees. */
char *m87_sign_revision_payload(const struct m87_sign_revision_fields *f);
char *m87_sign_revision(const struct m87_sign_key *k, const struct m87_sign_revision_fields *f,
                        struct m87_error **err);
bool m87_sign_revision_verify(const struct m87_sign_key *k,
                              const struct m87_sign_revision_fields *f, const char *sig);

/* What a fleet release signature covers (docs/security.md, Fleets): the fleet, the release's
 * number in it (an agent applies a fleet's releases only forward), the hash of the release's
 * jobs alone (spec_revision_hash of a run spec holding just them) and when it was signed. One
 * signature serves every member device: it names no device. */
struct m87_sign_release_fields {
    const char *fleet;
    int64_t release;
    const char *hash;
    int64_t time;
};

/* The signed bytes: M87_SIGN_RELEASE_PREFIX then "fleet NAME\nrelease N\nhash HASH\ntime T\n".
 * Caller frees. */
char *m87_sign_release_payload(const struct m87_sign_release_fields *f);
char *m87_sign_release(const struct m87_sign_key *k, const struct m87_sign_release_fields *f,
                       struct m87_error **err);
bool m87_sign_release_verify(const struct m87_sign_key *k, const struct m87_sign_release_fields *f,
                             const char *sig);

#endif
