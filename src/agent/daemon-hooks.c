/* The daemon's periodic work besides syncing and applying: log shipping and health-change
 * reports on a timer, and after an apply the cleanup of log cursors, images and bundles. */
#include <sys/wait.h>

#include "agent/containers.h"
#include "agent/daemon.h"
#include "agent/health.h"
#include "agent/logs.h"
#include "agent/prune.h"
#include "agent/rollout.h"
#include "agent/sync-http.h"
#include "m87/error.h"
#include "m87/log.h"
#include "m87/runner-text.h"
#include "m87/time.h"

/* Log shipping and health-change reports, at most once per AGENT_HOOKS_PERIOD_MS: a few calls
 * to dockerd, and journal appends only when something is new. Health is judged when no apply
 * runs: containers an apply recreates pass through states that are no news. */
void agent_daemon_hooks_tick(struct agent_daemon *d)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct agent_container *v = NULL;
    size_t n = 0;
    int64_t now = m87_mono_ms();

    if (now < d->hooks_at)
        return;
    d->hooks_at = now + AGENT_HOOKS_PERIOD_MS;
    if (agent_containers_list(d, &v, &n, &err) < 0) {
        m87_log(M87_LOG_DEBUG, "list the jobs' containers: %s", err->msg);
        return;
    }
    agent_logs_tick(d, v, n);
    if (!d->child) {
        agent_health_tick(d, v, n);
        agent_rollout_tick(d, v, n);
    }
    agent_containers_free(v, n);
}

/* After an apply ended (status as waitpid gives it): forget the log cursors of containers that
 * are gone, prune the images no job needs any more once an apply succeeded, and look at the
 * containers at once (new ones start writing). */
void agent_daemon_hooks_after_apply(struct agent_daemon *d, int status)
{
    d->hooks_at = 0;
    d->logs_active_until = m87_mono_ms() + d->logs_active_ms;
    agent_logs_forget_gone(d);
    if (WIFEXITED(status) && WEXITSTATUS(status) == AGENT_APPLY_OK) {
        agent_prune_images(d);
        agent_prune_bundles(d);
    }
}
