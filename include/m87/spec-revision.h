/* The revision of a run spec (docs/api.md): the hash the server makes, the CLI signs and the
 * agent checks, and the edits of a deployed run spec (merge jobs in, remove one).
 */
#ifndef M87_SPEC_REVISION_H
#define M87_SPEC_REVISION_H

#include "m87/hash.h"
#include "m87/spec-runspec.h"

#define SPEC_REVISION_HASH_PREFIX "m87-rev-v1\n"

/* The revision hash of docs/api.md: hex(SHA-256(SPEC_REVISION_HASH_PREFIX + for each job sorted
 * by id: "ID JOB_HASH ENABLED(1|0)\n")). The server makes it, the CLI signs it, the agent checks
 * it against the spec it received. */
void spec_revision_hash(const struct spec_runspec *rs, char out[M87_SHA256_HEX_LEN + 1]);
/* base with add's jobs replacing those of the same id in place and the others appended; add's
 * jobs are moved out (add is left with none). */
void spec_runspec_merge(struct spec_runspec *base, struct spec_runspec *add);
/* Remove job id from rs; false when it has none. */
bool spec_runspec_remove(struct spec_runspec *rs, const char *id);

#endif
