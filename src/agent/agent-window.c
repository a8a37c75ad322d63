/* Maintenance windows on the device: a target revision with windows is stored at once, but the
 * switch to it waits until the agent clock is inside a window (unless the target says "now").
 * Meanwhile a prefetch child (agent-prefetch.c) pulls its images with the prefetch policy
 * "always"; with "window" the switch itself pulls, inside the window. The wait is reported as
 * "window" records (docs/api.md, "Report record"), once per revision and next window start. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent-window.h"
#include "agent/clock.h"
#include "agent/daemon.h"
#include "agent/target.h"
#include "agent/windows.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "m87/list.h"
#include "m87/log.h"
#include "m87/runner-text.h"
#include "m87/spec-window.h"
#include "m87/time.h"

bool agent_window_apply_allowed(const struct agent_daemon *d)
{
    return !agent_window_waits(d, agent_clock_now());
}

const char *agent_window_waiting_hash(const struct agent_daemon *d)
{
    return agent_window_is_switch(d) ? d->target.hash : NULL;
}

void agent_window_sync_fields(const struct agent_daemon *d, struct m87_jw *w,
                              const char *waiting_else)
{
    bool policy = d->has_target && !d->target.stop && d->target.has_policy;

    m87_jw_key(w, "policy");
    if (policy)
        m87_jw_int(w, d->target.policy);
    else
        m87_jw_null(w);
    const char *waiting = agent_window_waiting_hash(d);
    m87_jw_kstr(w, "waiting", waiting ? waiting : waiting_else);
}

long agent_window_sync_wait(const struct agent_daemon *d, long wait)
{
    /* a test moves the clock at any time: look at it again within seconds */
    if (agent_clock_is_moved() && wait > AGENT_WINDOW_TEST_WAIT_S)
        wait = AGENT_WINDOW_TEST_WAIT_S;
    return agent_window_wait_bound(d, agent_clock_now(), wait);
}

static long bound(const struct agent_target *t, time_t now, long wait)
{
    time_t next = spec_windows_next_start(t->windows, t->n_windows, now);
    long left = next > now ? (long)(next - now) : 0;
    return left < wait ? left : wait;
}

long agent_window_wait_bound(const struct agent_daemon *d, time_t now, long wait)
{
    if (agent_window_waits(d, now))
        wait = bound(&d->target, now, wait);
    if (d->win && agent_prefetch_images_wait(d, now))
        wait = bound(&d->win->policy, now, wait);
    return wait;
}

/* A "waiting" record when the revision or its next window start is new. */
static void report_wait(struct agent_daemon *d, time_t now)
{
    struct agent_window_state *ws = agent_window_get(d);
    time_t next = spec_windows_next_start(d->target.windows, d->target.n_windows, now);
    _cleanup_free_ char *next_text = agent_window_time_text(next);
    _cleanup_free_ char *key = m87_xasprintf("%s %s", d->target.hash, next_text);

    if (ws->reported && strcmp(ws->reported, key) == 0)
        return;
    _cleanup_free_ char *what = agent_target_describe(&d->target);
    m87_log(M87_LOG_INFO, "revision %s waits for a maintenance window (next: %s)", what, next_text);
    struct agent_window_report r = {.hash = d->target.hash,
                                    .state = "waiting",
                                    .next = next_text,
                                    .total = -1,
                                    .message = "waiting for a maintenance window"};
    agent_window_report(d->journal, &r);
    free(ws->reported);
    ws->reported = M87_STEAL(key);
    /* a prefetch still running reports the old next window start: it starts over with this one */
    if (ws->child && !ws->child_images)
        agent_prefetch_kill(d);
    free(ws->prefetched); /* pulled again (a quick check when present) to report the counts */
    ws->prefetched = NULL;
    ws->next = next;
    d->next_sync_at = m87_mono_ms();
}

void agent_window_tick(struct agent_daemon *d)
{
    time_t now = agent_clock_now();

    agent_prefetch_reap(d);
    if (agent_window_waits(d, now))
        report_wait(d, now);
    agent_prefetch_tick(d, now);
}

static char *switch_path(const struct agent_daemon *d)
{
    return m87_xasprintf("%s/switching", d->cfg->state_dir);
}

void agent_window_load_switch(struct agent_daemon *d)
{
    _cleanup_free_ char *path = switch_path(d);
    size_t len = 0;
    _cleanup_free_ char *text = m87_read_file(path, 2 * M87_SHA256_HEX_LEN, &len, NULL);

    d->switching[0] = '\0';
    if (text && len >= M87_SHA256_HEX_LEN)
        snprintf(d->switching, sizeof(d->switching), "%.*s", M87_SHA256_HEX_LEN, text);
}

void agent_window_switch_over(struct agent_daemon *d)
{
    _cleanup_free_ char *path = switch_path(d);

    if (!d->switching[0])
        return;
    d->switching[0] = '\0';
    if (unlink(path) < 0 && errno != ENOENT)
        m87_log(M87_LOG_WARN, "remove '%s': %s", path, strerror(errno));
}

/* A switch begins: noted on disk first, so that a restart outside the window goes on with it
 * instead of going back to the applied revision. */
static void switch_begins(struct agent_daemon *d, const struct agent_target *t)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *path = switch_path(d);

    if (!agent_window_is_switch(d) || strcmp(t->hash, d->target.hash) != 0 ||
        strcmp(d->switching, t->hash) == 0)
        return;
    if (m87_write_file_atomic(path, t->hash, strlen(t->hash), 0600, &err) < 0)
        m87_log(M87_LOG_WARN, "%s", err->msg);
    snprintf(d->switching, sizeof(d->switching), "%s", t->hash);
}

void agent_window_apply_starts(struct agent_daemon *d)
{
    const struct agent_target *t = &d->child_target;
    struct agent_window_state *ws = d->win;

    agent_prefetch_kill(d);
    if (!t->stop)
        switch_begins(d, t);
    if (!ws || !ws->reported || t->stop || strncmp(ws->reported, t->hash, strlen(t->hash)) != 0)
        return;
    m87_log(M87_LOG_INFO, "%s: switching to revision %.12s",
            t->now ? "applying now" : "a maintenance window is open", t->hash);
    struct agent_window_report r = {.hash = t->hash,
                                    .state = "open",
                                    .total = -1,
                                    .message = t->now ? "applied now, without waiting for a window"
                                                      : "a maintenance window is open"};
    agent_window_report(d->journal, &r);
    free(ws->reported);
    ws->reported = NULL;
}

void agent_window_release(struct agent_daemon *d)
{
    if (!d->win)
        return;
    agent_prefetch_kill(d);
    free(d->win->reported);
    free(d->win->prefetched);
    free(d->win->child_for);
    m87_strv_release(&d->win->requested);
    m87_strv_release(&d->win->present);
    free(d->win);
    d->win = NULL;
}
