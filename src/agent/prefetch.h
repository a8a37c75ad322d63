
#include "m87/engine-creds.h"
#include "m87/engine-images.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/spec-runspec.h"
/* Prefetch (agent-prefetch*.c): the images of a revision that waits, and those the server asks
 * for, pulled ahead of the switch. */
#ifndef M87_AGENT_PREFETCH_H
#define M87_AGENT_PREFETCH_H


struct agent_daemon;

/* Take the "prefetch_images" member of a sync answer (NULL: none): the images the server asks
 * the device to pull ahead of any deployment, with the windows and policy that apply to them. */
void agent_prefetch_take(struct agent_daemon *d, const struct m87_json *node);

/* The images the enabled jobs of rs use: for each job with native compose steps, its compose
 * project loaded from the job's files and bundle written into work_dir/ID (removed again), with
 * the -f, --env-file and --profile options of its first native pull or up step and the job's
 * env. Images in service order, each once; services with pull_policy never have none. */
int agent_revision_images(const struct spec_runspec *rs, const char *state_dir,
                          const char *bundles_dir, const char *work_dir, struct m87_strv *images,
                          struct m87_error **err);

/* The registry credentials of the prefetch pulls (engine-creds.h), those m87-agent compose
 * finds (agent_creds_load): never NULL; a file that cannot be read is left out after a warning
 * in the log. */
struct engine_creds *agent_prefetch_creds(void);

/* Pull image with the credentials creds (may be NULL) has for its registry, filling auth (the
 * caller releases it); a failure names the registry and where its credentials came from. */
int agent_prefetch_pull(struct engine_client *ec, const struct engine_creds *creds,
                        const char *image, struct engine_pull_options *po,
                        struct engine_registry_auth *auth, engine_pull_fn fn, void *ctx,
                        struct m87_error **err);

#endif
