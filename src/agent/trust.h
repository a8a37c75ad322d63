/* Signed targets (daemon-trust.c, docs/security.md): with trusted keys configured, a target is
 * applied only when one of them signed it. */
#ifndef M87_AGENT_TRUST_H
#define M87_AGENT_TRUST_H

#include "agent/target.h"

struct agent_daemon;

/* With trusted keys configured: 0 when t's signature verifies with one of them and t's spec
 * hashes to the signed hash; -1 otherwise, after logging and journaling a "target" report
 * "refused" naming why (once per target: a repeat is only paced). 0 without trusted keys. */
int agent_trust_check(struct agent_daemon *d, const struct agent_target *t);

#endif
