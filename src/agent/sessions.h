/* Sync execution, as the daemon's loop sees it (agent-session.c; the rest is private to
 * agent-session*.c in agent-session.h). */
#ifndef M87_AGENT_SESSIONS_H
#define M87_AGENT_SESSIONS_H

#include <stdbool.h>

#include "m87/json.h"


struct agent_daemon;

struct agent_sessions;
/* The "sessions" of a sync answer: each one not seen before runs in a child of its own, which
 * reports to the server itself (docs/agent.md, "Sessions"). */
void agent_sessions_take(struct agent_daemon *d, const struct m87_json *list);
/* Reap the session children that ended. */
void agent_sessions_reap(struct agent_daemon *d);
/* Whether a session child runs. */
bool agent_sessions_running(const struct agent_daemon *d);
/* At exit: stop the session children (their commands get SIGTERM) and free the set. */
void agent_sessions_stop(struct agent_daemon *d);

#endif
