/* What the window tick (agent-window.c) and the prefetch (agent-prefetch*.c) share: whether the
 * stored target is a switch that waits for a window at a time, the windows' state kept in the
 * daemon, and the "window" record (docs/api.md, "Report record"). */
#include <string.h>
#include <time.h>

#include "agent/agent-window.h"
#include "agent/daemon.h"
#include "agent/target.h"
#include "agent/windows.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/log.h"
#include "m87/runner-journal.h"
#include "m87/spec-window.h"

bool agent_window_is_switch(const struct agent_daemon *d)
{
    const struct agent_target *t = &d->target;

    if (!d->has_target || t->stop)
        return false;
    return !d->has_applied || d->applied.stop || strcmp(t->hash, d->applied.hash) != 0;
}

bool agent_window_inside(const struct agent_target *t, time_t now)
{
    return t->n_windows == 0 || spec_windows_contain(t->windows, t->n_windows, now);
}

bool agent_window_waits(const struct agent_daemon *d, time_t now)
{
    const struct agent_target *t = &d->target;

    return agent_window_is_switch(d) && t->n_windows > 0 && !t->now &&
           strcmp(d->switching, t->hash) != 0 && !agent_window_inside(t, now);
}

char *agent_window_time_text(time_t t)
{
    struct tm tm;
    char buf[32];

    /* a time from a signature is the server's to choose: one gmtime cannot take is a number */
    if (gmtime_r(&t, &tm) == NULL || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return m87_xasprintf("%lld", (long long)t);
    return m87_xstrdup(buf);
}

struct agent_window_state *agent_window_get(struct agent_daemon *d)
{
    if (!d->win)
        d->win = m87_xcalloc(1, sizeof(*d->win));
    return d->win;
}

static void window_fill(struct m87_jw *w, const void *ctx)
{
    const struct agent_window_report *r = ctx;

    m87_jw_kstr(w, "kind", "window");
    m87_jw_kstr(w, "revision", r->hash);
    m87_jw_kstr(w, "state", r->state);
    m87_jw_kstr(w, "next", r->next);
    if (r->total >= 0) {
        m87_jw_key(w, "prefetch");
        m87_jw_obj_open(w);
        m87_jw_kint(w, "done", r->done);
        m87_jw_kint(w, "total", r->total);
        m87_jw_obj_close(w);
    }
    m87_jw_kstr(w, "message", r->message);
}

void agent_window_report(struct runner_journal *j, const struct agent_window_report *r)
{
    _cleanup_error_ struct m87_error *err = NULL;

    if (runner_journal_append(j, window_fill, r, NULL, &err) < 0)
        m87_log(M87_LOG_ERR, "%s", err->msg);
}
