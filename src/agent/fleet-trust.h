/* Fleet release signatures as an agent with trusted keys checks them (agent-fleet-trust.c,
 * docs/security.md, "Fleet releases"): one signature per fleet release covers the release's jobs
 * for every member device, so a target carrying fleet releases is taken without a signature of
 * its own when each release verifies and moves forward, and every other job is one the device
 * already runs under a signature. Pure: no file, no clock, no network. */
#ifndef M87_AGENT_FLEET_TRUST_H
#define M87_AGENT_FLEET_TRUST_H

#include <stddef.h>
#include <stdint.h>

#include "m87/json.h"
#include "m87/sign.h"
#include "m87/spec-runspec.h"

#define AGENT_FLEET_MAX_ENTRIES 64 /* fleet releases in one target */

struct agent_fleet_check {
    struct m87_sign_key *const *keys; /* the trusted keys */
    size_t n_keys;
    const struct spec_runspec *rs;     /* the target's revision */
    const struct m87_json *fleets;     /* the target's "fleets" array (docs/api.md) */
    const struct m87_json *seen;       /* {"FLEET": N}: the highest release taken per fleet */
    const struct spec_runspec *stored; /* the stored verified target's, NULL when none */
};

/* NULL when the fleet entries cover rs: every entry is well formed and signed (format v1) by a
 * trusted key over its fleet, release number, time and the hash of its jobs, which is
 * spec_revision_hash of a run spec holding just the jobs it names as rs has them; no job is named
 * twice; each release is not below the one seen for its fleet; and each job of rs that no entry
 * names equals (id, job hash, enabled) a job of stored. Else why not (caller frees). */
char *agent_fleet_verdict(const struct agent_fleet_check *c);

#endif
