/* Maintenance windows, as the daemon's loop and sync see them (agent-window*.c; what the
 * windows share with the prefetch is in agent-window.h). */
#ifndef M87_AGENT_WINDOWS_H
#define M87_AGENT_WINDOWS_H

#include <stdbool.h>
#include <time.h>

#include "m87/json-write.h"


struct agent_daemon;

#define AGENT_WINDOW_TEST_WAIT_S 2L /* long-poll wait while the test clock is in use */

/* Whether the apply of d->target may start now: always for the applied revision (a retry, the
 * check after a start) and for a target without windows or with "now"; a switch to another
 * revision only inside a window by the agent clock. */
bool agent_window_apply_allowed(const struct agent_daemon *d);
/* Once per loop turn, before the apply is considered: reap the prefetch child, report a wait for
 * a window (a "window" record when it changes), start the pulls of the waiting revision (and of
 * the images the server asks for) when the prefetch policy allows. */
void agent_window_tick(struct agent_daemon *d);
/* The apply of d->child_target starts: stop the prefetch child, report the window open, and
 * note a switch as begun (d->switching, kept in STATE/switching). */
void agent_window_apply_starts(struct agent_daemon *d);
/* A begun switch from STATE/switching, at start. */
void agent_window_load_switch(struct agent_daemon *d);
/* The begun switch is over (applied) or moot (another target): forget it. */
void agent_window_switch_over(struct agent_daemon *d);
/* The long-poll wait bounded by the next window start (wait seconds asked otherwise), and by
 * AGENT_WINDOW_TEST_WAIT_S while the test clock is in use. */
long agent_window_sync_wait(const struct agent_daemon *d, long wait);
/* Pure: wait bounded by the seconds from now to the next window start of a waiting target. */
long agent_window_wait_bound(const struct agent_daemon *d, time_t now, long wait);
/* Pure: whether the target is a switch to another revision that waits for a window at now. */
bool agent_window_waits(const struct agent_daemon *d, time_t now);
/* The hash of the stored target that waits (for a window, or for an apply retry), which the sync
 * tells the server so that it does not send it again; NULL when none. */
const char *agent_window_waiting_hash(const struct agent_daemon *d);
/* The sync request's fields of the windows: "policy" (of the stored target, null when none) and
 * "waiting" (agent_window_waiting_hash, else waiting_else: a revision rolled back from, which
 * also waits until the server sends another target; null when none). */
void agent_window_sync_fields(const struct agent_daemon *d, struct m87_jw *w,
                              const char *waiting_else);

/* Stop the prefetch child and free what the windows keep. */
void agent_window_release(struct agent_daemon *d);

/* Pure: "RFC 3339" UTC text of t, "2026-11-23T02:00:00Z". Caller frees. */
char *agent_window_time_text(time_t t);

#endif
