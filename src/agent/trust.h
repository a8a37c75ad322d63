/* Signed targets and sessions (daemon-trust*.c, agent-session-trust.c, docs/security.md): with
 * trusted keys configured, a target is applied and a session run only when one of them signed
 * it, for this device, and it is neither older than what the device took nor seen before. */
#ifndef M87_AGENT_TRUST_H
#define M87_AGENT_TRUST_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/target.h"
#include "m87/json.h"

#define AGENT_DEVICE_NAME_FILE "device-name" /* in the state directory */
#define AGENT_TRUST_SEEN_FILE "trust-seen.json"
#define AGENT_SESSION_NONCES_FILE "session-nonces"
#define AGENT_SESSION_REFUSED_EXIT 126 /* the exit code of a refused session */

struct agent_daemon;

/* With trusted keys configured: 0 when t's signature (format v2) verifies with one of them for
 * this device, t's deployment and revision number, t's spec hashes to the signed hash, and t is
 * not older than what this device took (a lower number of the same deployment, or another
 * deployment signed before the last revision taken). t's policy is then what was signed: "now"
 * as the signature says, no maintenance windows, and the revision is remembered. -1 otherwise,
 * after logging and journaling a "target" report "refused" naming why (once per target: a repeat
 * is only paced). 0 without trusted keys. */
int agent_trust_check(struct agent_daemon *d, struct agent_target *t);
struct agent_config;
/* NULL when sig (base64) over payload verifies with the trusted key whose id is key; else why not,
 * in *buf (caller frees): "signed with unknown key KEY", or "bad signature (key KEY): BAD". */
const char *agent_trust_key_verdict(const struct agent_config *c, const char *key,
                                    const char *payload, const char *sig, const char *bad,
                                    char **buf);

/* The name the server gives the device in a sync answer (NULL: none). With trusted keys, the first
 * one is pinned in STATE/AGENT_DEVICE_NAME_FILE (which an installer may write beforehand) and
 * signatures are checked for the pinned name. */
void agent_trust_device(struct agent_daemon *d, const char *name);
/* The pinned name, NULL when none is known yet. */
const char *agent_trust_device_name(struct agent_daemon *d);

/* The memory of what was taken (STATE/AGENT_TRUST_SEEN_FILE): 0 when revision number of
 * deployment (hash), signed at time, may be taken, else -1 with *why (caller frees). */
int agent_trust_seen_check(struct agent_daemon *d, const char *deployment, int64_t number,
                           const char *hash, int64_t time, char **why);
/* STATE/AGENT_TRUST_SEEN_FILE as JSON, NULL when there is none (or it cannot be read: logged). */
struct m87_json *agent_trust_seen_load(const struct agent_daemon *d);
/* Remember the fleet releases of a target taken ("fleets" of the target: the highest release per
 * fleet, which later targets may not go below). */
void agent_trust_seen_add_fleets(struct agent_daemon *d, const struct m87_json *fleets);
/* Remember a revision taken. */
void agent_trust_seen_add(struct agent_daemon *d, const char *deployment, int64_t number,
                          const char *hash, int64_t time);

/* A session of a sync answer ({"id","request"}): 0 when it may run (always without trusted
 * keys), else -1 with *why (caller frees): unsigned, signed by an unknown key, a bad signature,
 * for another device, expired or not yet valid by the device's clock, or its nonce seen before.
 * A session that may run has its nonce remembered until it expires. */
int agent_trust_session(struct agent_daemon *d, const struct m87_json *node, char **why);
/* The same for a remote request of a sync answer ({"id","request"}): its grant (docs/remote.md). */
int agent_trust_remote(struct agent_daemon *d, const struct m87_json *node, char **why);

#endif
