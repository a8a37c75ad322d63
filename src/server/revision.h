/* m87-server private: revisions made from run specs (revision.c): hashes, merging jobs, stored
 * specs parsed back, and the signatures sent with a request. */
#ifndef M87_SERVER_REVISION_H
#define M87_SERVER_REVISION_H

#include <stdbool.h>
#include <stdint.h>

#include "m87/error.h"
#include "m87/hash.h"
#include "m87/json-write.h"
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
 * `M87-Signature: v2 HASH REVISION TIME NOW KEYID SIG` (docs/security.md): the revision hash and
 * number it was made for, when (Unix seconds) and whether to apply at once (0 or 1). */
struct srv_signature {
    bool present;
    char hash[M87_SHA256_HEX_LEN + 1];
    int64_t revision;
    int64_t time;
    bool now;
    char key[32];
    char sig[96];
};
/* Read the header into *s (s->present false without one); M87_E_INVAL naming what is wrong. */
int srv_req_signature(struct srv_req *r, struct srv_signature *s, struct m87_error **err);
/* Give c, which is to be revision number, the signature s when it was made for c's hash and that
 * number; M87_E_CONFLICT when it was made for another revision (a concurrent change). Nothing when
 * s is not present. */
int srv_signature_apply(const struct srv_signature *s, int64_t number, struct srv_rev_content *c,
                        struct m87_error **err);
/* "signature": {"v": 2, "key", "sig", "time", "now"} of rev (format v1: only "key" and "sig"),
 * null when it is unsigned. */
void srv_jw_signature(struct m87_jw *w, const struct srv_revision *rev);

#endif
