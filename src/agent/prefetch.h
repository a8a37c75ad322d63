
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

#endif
