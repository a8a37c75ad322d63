/* Pruning after a successful apply (agent-prune.c, agent-prune-bundles.c): the images and the
 * bundles no kept revision needs. */
#ifndef M87_AGENT_PRUNE_H
#define M87_AGENT_PRUNE_H

struct agent_daemon;

/* After an apply that succeeded: remember the images of the applied jobs' containers for the
 * revision (STATE/images.json), and remove the images of older revisions than the applied one
 * and keep-previous before it, unless a kept revision or any container uses them. Images the
 * agent did not see its jobs use are never touched. */
void agent_prune_images(struct agent_daemon *d);
/* After a successful apply, unless a session runs: remove the bundles (and partial downloads)
 * in STATE/bundles that neither the applied revision, the stored target nor a job record names
 * (agent-prune-bundles.c). */
void agent_prune_bundles(struct agent_daemon *d);

#endif
