/* STATE/daemon.json: what the daemon is doing, for `m87-agent status`. Written atomically, and
 * only when its content changed. */
#include <string.h>
#include <unistd.h>

#include "agent/clock.h"
#include "agent/daemon.h"
#include "agent/sync-http.h"
#include "agent/target.h"
#include "agent/windows.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/log.h"
#include "m87/spec-window.h"

static void revision(struct m87_jw *w, const char *key, bool has, const struct agent_target *t)
{
    m87_jw_key(w, key);
    if (!has || !t->text) {
        m87_jw_null(w);
        return;
    }
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "hash", t->stop ? NULL : t->hash);
    m87_jw_kstr(w, "deployment", t->stop ? NULL : t->deployment);
    m87_jw_kint(w, "revision", t->revision);
    m87_jw_obj_close(w);
}

/* The stored target when it waits for a maintenance window, with the next window start. */
static void waiting(struct m87_jw *w, const struct agent_daemon *d)
{
    time_t now = agent_clock_now();

    m87_jw_key(w, "waiting");
    if (!d->has_target || d->target.stop || !agent_window_waits(d, now)) {
        m87_jw_null(w);
        return;
    }
    time_t next = spec_windows_next_start(d->target.windows, d->target.n_windows, now);
    _cleanup_free_ char *text = agent_window_time_text(next);
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "hash", d->target.hash);
    m87_jw_kstr(w, "next_window", text);
    m87_jw_obj_close(w);
}

void agent_daemon_save_state(struct agent_daemon *d)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct m87_jw *w = m87_jw_new();

    m87_jw_obj_open(w);
    m87_jw_kint(w, "pid", (int64_t)getpid());
    m87_jw_kstr(w, "server", agent_http_server(d->cfg));
    m87_jw_kbool(w, "connected", d->connected);
    m87_jw_kstr(w, "last_sync", d->last_sync);
    m87_jw_kstr(w, "last_error", d->last_error);
    revision(w, "applied", d->has_applied, &d->applied);
    revision(w, "target", d->has_target, &d->target);
    revision(w, "applying", d->child != 0, &d->child_target);
    waiting(w, d);
    m87_jw_kint(w, "queue", d->queue);
    m87_jw_obj_close(w);
    char *text = m87_jw_finish(w);
    if (d->state_text && strcmp(d->state_text, text) == 0) {
        free(text);
        return;
    }
    if (m87_write_file_atomic(d->state_path, text, strlen(text), 0644, &err) < 0)
        m87_log(M87_LOG_ERR, "%s", err->msg);
    free(d->state_text);
    d->state_text = text;
}
