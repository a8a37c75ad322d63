/* The daemon's loop: apply what is due, sync when due, and sleep until the next of: a sync
 * timer, an apply retry, the apply child's end, a signal. Signals come in through a self-pipe. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>

#include "agent/backoff.h"
#include "agent/config.h"
#include "agent/daemon.h"
#include "agent/registries.h"
#include "agent/rollout.h"
#include "agent/sessions.h"
#include "agent/sync-http.h"
#include "agent/target.h"
#include "agent/windows.h"
#include "m87/alloc.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/log.h"
#include "m87/runner-journal.h"
#include "m87/runner-text.h"
#include "m87/time.h"
#include "m87/version.h"

static volatile sig_atomic_t stop_requested;
static int signal_fd = -1;

static void on_signal(int sig)
{
    int saved = errno;
    stop_requested = sig;
    if (signal_fd >= 0 && write(signal_fd, "x", 1) < 0) {
        /* the pipe is full: a wake-up is pending anyway */
    }
    errno = saved;
}

static int setup_signals(struct agent_daemon *d, struct m87_error **err)
{
    struct sigaction sa = {.sa_handler = on_signal};

    if (pipe2(d->sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return m87_error_set(err, M87_E_IO, errno, "create a pipe");
    signal_fd = d->sig_pipe[1];
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    d->stop = &stop_requested;
    return 0;
}

static int take_lock(struct agent_daemon *d, struct m87_error **err)
{
    _cleanup_free_ char *path = m87_xasprintf("%s/daemon.lock", d->cfg->state_dir);

    if (m87_mkdir_p(d->cfg->state_dir, 0700, err) < 0)
        return -1;
    d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (d->lock_fd < 0)
        return m87_error_set(err, M87_E_IO, errno, "open '%s'", path);
    if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0)
        return m87_error_set(err, errno == EWOULDBLOCK ? M87_E_CONFLICT : M87_E_IO,
                             errno == EWOULDBLOCK ? 0 : errno, "another daemon holds '%s'", path);
    return 0;
}

/* The stored target and what was applied: a device that starts offline applies the former. */
static void load_targets(struct agent_daemon *d)
{
    _cleanup_error_ struct m87_error *err = NULL;

    int rc = agent_target_load(d->applied_path, &d->applied, &err);
    if (rc < 0)
        m87_log(M87_LOG_WARN, "%s: the server will send the target again", err->msg);
    d->has_applied = rc > 0;
    m87_error_clear(&err);
    rc = agent_target_load(d->target_path, &d->target, &err);
    if (rc < 0)
        m87_log(M87_LOG_WARN, "%s: the server will send the target again", err->msg);
    d->has_target = rc > 0;
    d->startup = d->has_target;
    agent_window_load_switch(d);
    if (d->has_target) {
        _cleanup_free_ char *what = agent_target_describe(&d->target);
        m87_log(M87_LOG_INFO, "stored target revision %s: applying it before reaching the server",
                what);
    }
}

/* While the server holds the long-poll: the periodic work goes on, and a record it appended
 * (a health change, the first log lines after a quiet spell) ends the wait so that it goes up
 * now instead of at the end of the wait. */
static bool hooks_during_poll(void *ctx)
{
    struct agent_daemon *d = ctx;
    int64_t before = runner_journal_next_seq(d->journal);

    agent_daemon_hooks_tick(d);
    return runner_journal_next_seq(d->journal) != before;
}

static int daemon_init(struct agent_daemon *d, struct agent_config *cfg, struct m87_error **err)
{
    *d = (struct agent_daemon){.cfg = cfg, .lock_fd = -1, .child_fd = -1, .sig_pipe = {-1, -1}};
    const char *dir = cfg->state_dir;
    d->target_path = m87_xasprintf("%s/target.json", dir);
    d->applied_path = m87_xasprintf("%s/applied.json", dir);
    d->state_path = m87_xasprintf("%s/daemon.json", dir);
    d->bundles_dir = m87_xasprintf("%s/bundles", dir);
    agent_registries_init(d);
    _cleanup_free_ char *reports = m87_xasprintf("%s/reports", dir);
    if (take_lock(d, err) < 0 || setup_signals(d, err) < 0)
        return -1;
    d->journal = runner_journal_open(reports, err);
    if (!d->journal)
        return -1;
    d->http = agent_http_new(cfg, d->stop);
    agent_http_set_tick(d->http, hooks_during_poll, d);
    runner_journal_set_segment_size(d->journal, (size_t)(cfg->journal_max_bytes / 8));
    d->logs_active_ms = agent_env_ms("M87_AGENT_LOGS_ACTIVE_MS", AGENT_LOGS_ACTIVE_MS);
    d->logs_active_until = m87_mono_ms() + d->logs_active_ms;
    load_targets(d);
    agent_rollout_load(d);
    if (runner_journal_pending(d->journal, &d->queue, err) < 0)
        return -1;
    return 0;
}

static void daemon_release(struct agent_daemon *d)
{
    agent_daemon_apply_kill(d);
    agent_window_release(d);
    agent_rollout_free(d);
    agent_http_free(d->http);
    engine_client_free(d->engine);
    runner_journal_free(d->journal);
    agent_target_release(&d->target);
    agent_target_release(&d->applied);
    agent_target_release(&d->child_target);
    signal_fd = -1;
    for (int i = 0; i < 2; i++)
        if (d->sig_pipe[i] >= 0)
            close(d->sig_pipe[i]);
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    free(d->target_path);
    free(d->registries_path);
    free(d->applied_path);
    free(d->state_path);
    free(d->bundles_dir);
    free(d->rejected);
    free(d->device_name);
    free(d->last_sync);
    free(d->last_error);
    free(d->state_text);
}

/* Sleep until the next timer, the child's end or a signal. */
static void wait_events(struct agent_daemon *d)
{
    int64_t now = m87_mono_ms();
    int64_t until = d->next_sync_at;

    /* a retry due while the window is closed waits for the window (the sync's wait ends then) */
    if (!d->child && d->apply_retry_at && d->apply_retry_at < until &&
        agent_window_apply_allowed(d))
        until = d->apply_retry_at;
    if (d->hooks_at < until)
        until = d->hooks_at;
    int timeout = until <= now ? 0 : until - now > 60000 ? 60000 : (int)(until - now);
    if (d->child && d->child_fd < 0 && timeout > 1000)
        timeout = 1000; /* no pidfd (kernels before 5.3): look for the apply's end each second */
    struct pollfd fds[2] = {{.fd = d->sig_pipe[0], .events = POLLIN},
                            {.fd = d->child ? d->child_fd : -1, .events = POLLIN}};
    if (poll(fds, 2, timeout) > 0 && fds[0].revents) {
        char buf[64];
        while (read(d->sig_pipe[0], buf, sizeof(buf)) > 0) {
        }
    }
}

int agent_daemon_run(struct agent_config *cfg, struct m87_error **err)
{
    struct agent_daemon d;

    stop_requested = 0;
    if (daemon_init(&d, cfg, err) < 0) {
        daemon_release(&d);
        return -1;
    }
    m87_log(M87_LOG_INFO, "m87-agent %s: server %s, state directory %s", M87_VERSION, cfg->server,
            cfg->state_dir);
    agent_daemon_save_state(&d);
    while (!stop_requested) {
        agent_daemon_apply_reap(&d);
        agent_sessions_reap(&d);
        agent_daemon_apply_tick(&d);
        agent_daemon_hooks_tick(&d);
        if (!stop_requested && m87_mono_ms() >= d.next_sync_at)
            agent_daemon_sync(&d);
        if (!stop_requested)
            wait_events(&d);
    }
    m87_log(M87_LOG_INFO, "stopping (signal %d)", (int)stop_requested);
    agent_daemon_apply_kill(&d);
    agent_sessions_stop(&d);
    agent_daemon_goodbye(&d);
    d.connected = false;
    agent_daemon_save_state(&d);
    daemon_release(&d);
    return 0;
}
