/* m87-server private: revisions made from run specs (revision.c): hashes, merging jobs, stored
 * specs parsed back, and the signatures sent with a request. */
#ifndef M87_SERVER_REVISION_H
#define M87_SERVER_REVISION_H

#include <stdbool.h>

#include "m87/error.h"
#include "m87/hash.h"
#include "m87/spec-runspec.h"
#include "server/store-deployments.h"

void srv_rev_content_release(struct srv_rev_content *c);
/* The revision hash of docs/api.md over a parsed run spec. */
void srv_rev_hash(const struct spec_runspec *rs, char out[M87_SHA256_HEX_LEN + 1]);
/* Everything a revision stores, from rs. */
void srv_rev_content_from(const struct spec_runspec *rs, struct srv_rev_content *c);
/* A stored spec parsed back (M87_E_INTERNAL when it no longer parses). */
struct spec_runspec *srv_rev_parse_stored(const char *spec, struct m87_error **err);
/* base with add's jobs replacing those of the same id in place and the others appended;
 * add's jobs are moved out. */
void srv_rev_merge(struct spec_runspec *base, struct spec_runspec *add);
/* Remove the job id from rs; false when it has none. */
bool srv_rev_remove(struct spec_runspec *rs, const char *id);

struct srv_req;
/* A signature sent with a request that makes or activates a revision: the header
 * `M87-Signature: HASH KEYID SIG` (docs/security.md). */
struct srv_signature {
    bool present;
    char hash[M87_SHA256_HEX_LEN + 1];
    char key[32];
    char sig[96];
};
/* Read the header into *s (s->present false without one); M87_E_INVAL naming what is wrong. */
int srv_req_signature(struct srv_req *r, struct srv_signature *s, struct m87_error **err);
/* Give c the signature s when it was made for c's hash; M87_E_CONFLICT when it was made for
 * another revision (a concurrent change). Nothing when s is not present. */
int srv_signature_apply(const struct srv_signature *s, struct srv_rev_content *c,
                        struct m87_error **err);
/* Copy a stored signature (NULL key: none) into c. */
void srv_rev_content_sign(struct srv_rev_content *c, const char *sig_key, const char *sig);

#endif
