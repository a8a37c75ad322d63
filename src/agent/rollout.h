/* The agent's own guard of a revision a rollout placed on it (agent-rollout.c, docs/agent.md,
 * "Rollouts"): the target before it is kept (STATE/rollout.json) until the revision has passed
 * its health window; when it fails the window, the agent applies the kept target again by itself,
 * the server reachable or not, and does not apply the failed revision again until the server
 * sends another target. */
#ifndef M87_AGENT_ROLLOUT_H
#define M87_AGENT_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/containers.h"
#include "agent/target.h"

#define AGENT_ROLLOUT_FILE "rollout.json" /* in the state directory */

struct agent_daemon;

/* Read STATE/rollout.json at the start (a watch goes on across restarts); free it at the end. */
void agent_rollout_load(struct agent_daemon *d);
void agent_rollout_free(struct agent_daemon *d);

/* A sync answer named a target (hash NULL: the stop target): one other than the revision
 * rolled back from ends its refusal (whether or not it is taken). */
void agent_rollout_answer(struct agent_daemon *d, const char *hash);
/* A new target t was taken (stored as the target): a target with a rollout starts a watch of
 * its revision and keeps the applied target as the one to go back to; another target ends the
 * watch (and the refusal of a revision rolled back from). */
void agent_rollout_target(struct agent_daemon *d, const struct agent_target *t);
/* After an apply ended (status as waitpid gives it): the watch of the applied revision starts
 * when every job succeeded, fails when a job failed; the apply of a rollback is reported. */
void agent_rollout_applied(struct agent_daemon *d, int status);
/* Each hooks turn while no apply runs, with the jobs' containers: a container of the watched
 * revision that stopped, turned unhealthy, restarted or went fails it; the window's end makes it
 * healthy. */
void agent_rollout_tick(struct agent_daemon *d, const struct agent_container *v, size_t n);

/* The revision rolled back from, which is not applied again until the server sends another
 * target (the sync names it as "waiting" so that the server long-polls); NULL when none. */
const char *agent_rollout_bad(const struct agent_daemon *d);
/* The kept target the device would go back to, NULL when none. */
const struct agent_target *agent_rollout_previous(const struct agent_daemon *d);

#endif
