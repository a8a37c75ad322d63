/* Registry credentials from the server (agent-registries.c, docs/agent.md "Registry
 * credentials"): the entries of a sync answer's "registries", kept in STATE/registries.json
 * ({"digest","registries":[{"host","username","password"}]}, mode 0600, replaced atomically) and
 * used, ahead of the docker config, by every pull: the daemon puts the file's path in
 * M87_AGENT_REGISTRIES, which its children inherit (the runner's native compose steps, prefetch,
 * sessions) and which `m87-agent compose` reads. No key signs them, and none needs to: they
 * cannot change which images a revision runs, only whether a pull is allowed. */
#ifndef M87_AGENT_REGISTRIES_H
#define M87_AGENT_REGISTRIES_H

#include "m87/engine-creds.h"
#include "m87/error.h"
#include "m87/json.h"

#define AGENT_REGISTRIES_FILE "registries.json"
#define AGENT_REGISTRIES_ENV "M87_AGENT_REGISTRIES"
/* entries of one answer: the server keeps at most 256 */
#define AGENT_MAX_REGISTRIES 256u

struct agent_daemon;

/* At the daemon's start: the path of the file, exported in M87_AGENT_REGISTRIES, and the digest
 * of what it holds (sent in each sync). */
void agent_registries_init(struct agent_daemon *d);
/* Take the "registries" member of a sync answer (NULL: none, nothing changes): replace the file.
 * A malformed member or a file that cannot be written is logged and the old file kept. */
void agent_registries_take(struct agent_daemon *d, const struct m87_json *node);

/* The credentials of a pull: the docker config (engine_creds_load), with the server's entries of
 * the file M87_AGENT_REGISTRIES names (when set) ahead of it. Never NULL: a part that cannot be
 * read is left out, and *config_err ("docker config: ...") or *server_err ("registry credentials
 * of the m87 server: ...") says why. */
struct engine_creds *agent_creds_load(struct m87_error **config_err, struct m87_error **server_err);

#endif
