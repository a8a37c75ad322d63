/* Remote access on the agent (docs/remote.md), as the daemon's loop sees it (agent-remote.c; the
 * rest is private to agent-remote*.c in agent-remote.h). */
#ifndef M87_AGENT_REMOTE_H
#define M87_AGENT_REMOTE_H

#include <stddef.h>

#include "m87/json.h"

struct agent_daemon;

/* The "remote" of a sync answer ([{"id","request"}]; NULL: none): each channel is joined by a
 * process of its own, detached from the daemon (a double fork: nothing to reap), which runs the
 * command or, when the device's `remote =` does not allow it or trusted keys are configured,
 * only tells the server why not. Nothing is loaded or started while no channel comes. The count
 * of channels taken: news, that the next sync is not paced. */
size_t agent_remote_take(struct agent_daemon *d, const struct m87_json *list);

#endif
