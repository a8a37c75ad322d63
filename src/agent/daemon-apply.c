/* The apply of a target, in a forked child: it fetches the target's bundles and runs the job
 * runner, appending its reports to the shared journal while the daemon keeps syncing. The
 * daemon is single-threaded, so the fork copies a consistent process; the child dies with it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>

#include "agent/agent-internal.h"
#include "agent/backoff.h"
#include "agent/daemon.h"
#include "agent/disk.h"
#include "agent/rollout.h"
#include "agent/sync-http.h"
#include "agent/target.h"
#include "agent/windows.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/log.h"
#include "m87/runner-state.h"
#include "m87/runner-text.h"
#include "m87/runner.h"
#include "m87/spec-bundle.h"
#include "m87/spec-runspec.h"
#include "m87/time.h"

/* A job this apply did not run, failed with msg (no step ran: no exit code, no duration). */
static void report_job_not_run(struct runner *r, const struct spec_job *job, const char *msg)
{
    struct runner_report rep = {.kind = "job",
                                .job = job->id,
                                .job_hash = job->hash,
                                .state = RUNNER_FAILED,
                                .exit_code = -1,
                                .duration_ms = -1,
                                .message = msg};
    runner_report(r, &rep);
}

static void report_fetch_failure(struct runner *r, const struct spec_runspec *rs,
                                 const char *digest, const char *why)
{
    _cleanup_free_ char *msg = m87_xasprintf("bundle %s not available: %s", digest, why);

    for (size_t i = 0; i < rs->n_jobs; i++) {
        const struct spec_job *job = &rs->jobs[i];
        if (!job->enabled || !job->bundle || strcmp(job->bundle, digest) != 0)
            continue;
        report_job_not_run(r, job, msg);
    }
}

/* Refuse an apply whose pulls would fill the disk: a failed job report for each job that would
 * run, nothing pulled or stopped. A check that cannot be made does not stop the apply. */
static int check_disk(struct agent_daemon *d, struct runner *r, const struct spec_runspec *rs)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *msg = NULL;
    int rc = agent_disk_check(d, rs, &msg, &err);

    if (rc < 0)
        m87_log(M87_LOG_WARN, "free disk space not checked: %s", err->msg);
    if (rc <= 0)
        return 0;
    m87_log(M87_LOG_ERR, "apply refused: %s", msg);
    for (size_t i = 0; i < rs->n_jobs; i++) {
        const struct spec_job *job = &rs->jobs[i];
        if (!job->enabled || !agent_disk_job_pending(d->cfg->state_dir, job))
            continue;
        report_job_not_run(r, job, msg);
    }
    return -1;
}

static int apply_run(struct agent_daemon *d)
{
    const struct agent_target *t = &d->child_target;
    _cleanup_error_ struct m87_error *err = NULL;
    struct runner_options ro = {.state_dir = d->cfg->state_dir,
                                .bundles_dir = d->bundles_dir,
                                .docker_host = d->cfg->docker_host,
                                .revision = t->hash,
                                .recheck_services = d->startup,
                                .native = agent_cmd_compose};
    _cleanup_(runner_freep) struct runner *r = runner_new(&ro, &err);

    if (!r) {
        m87_log(M87_LOG_ERR, "apply: %s", err->msg);
        return AGENT_APPLY_NOT;
    }
    /* a job whose images are all on the device (revived after a reboot, rolled back to a
     * revision whose images pruning kept) must not fail at its `compose pull` while the
     * registry is out of reach; a missing image still fails it */
    setenv("M87_COMPOSE_IGNORE_PULL_FAILURES", "1", 1);
    _cleanup_(agent_http_freep) struct agent_http *h = agent_http_new(d->cfg, NULL);
    for (size_t i = 0; i < t->rs->n_jobs; i++) {
        const struct spec_job *job = &t->rs->jobs[i];
        if (!job->enabled || !job->bundle || agent_apply_fetch_bundle(d, h, job->bundle, &err) == 0)
            continue;
        m87_log(M87_LOG_ERR, "apply: %s", err->msg);
        report_fetch_failure(r, t->rs, job->bundle, err->msg);
        return AGENT_APPLY_NOT;
    }
    if (check_disk(d, r, t->rs) < 0)
        return AGENT_APPLY_NOT;
    int rc = runner_apply(r, t->rs, &err);
    if (rc < 0) {
        m87_log(M87_LOG_ERR, "apply: %s", err->msg);
        return AGENT_APPLY_NOT;
    }
    return rc == 0 ? AGENT_APPLY_OK : AGENT_APPLY_FAILED;
}

M87_NORETURN static void apply_child(struct agent_daemon *d, pid_t parent)
{
    agent_child_detach(d, parent);
    int rc = apply_run(d);
    fflush(NULL);
    _exit(rc);
}

/* The revision to apply now, NULL when none is due. While the target waits for a maintenance
 * window, the first apply after a start is that of the applied revision: its services are
 * checked (a rebooted device runs its workloads) without switching. */
static const struct agent_target *apply_due(const struct agent_daemon *d, int64_t now)
{
    if (!d->has_target)
        return NULL;
    if (!agent_window_apply_allowed(d))
        return d->startup && d->has_applied && !d->applied.stop ? &d->applied : NULL;
    if (d->apply_retry_at)
        return now >= d->apply_retry_at ? &d->target : NULL;
    bool due =
        d->startup || !d->has_applied || !agent_target_same_revision(&d->target, &d->applied);
    return due ? &d->target : NULL;
}

/* d->child_target becomes a copy of due. Apart from the fork, so that the child, which never
 * returns, holds nothing of this frame (valgrind counts what it held as lost). */
static int take_child_target(struct agent_daemon *d, const struct agent_target *due)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc =
        m87_json_parse(due->text, strlen(due->text), &err);

    agent_target_release(&d->child_target);
    if (!doc || agent_target_from_json(doc, &d->child_target, &err) < 0) {
        m87_log(M87_LOG_ERR, "apply: %s", err->msg);
        return -1;
    }
    _cleanup_free_ char *what = agent_target_describe(&d->child_target);
    m87_log(M87_LOG_INFO, "applying revision %s", what);
    return 0;
}

void agent_daemon_apply_tick(struct agent_daemon *d)
{
    agent_window_tick(d);
    const struct agent_target *due = d->child ? NULL : apply_due(d, m87_mono_ms());
    if (!due || take_child_target(d, due) < 0)
        return;
    agent_window_apply_starts(d);
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        apply_child(d, parent);
    if (pid < 0) {
        m87_log(M87_LOG_ERR, "apply: fork: %s", strerror(errno));
        d->apply_retry_at = m87_mono_ms() + agent_backoff_cap_ms();
        return;
    }
    d->child = pid;
    d->child_fd = pidfd_open(pid, 0);
    d->next_sync_at = m87_mono_ms();
    agent_daemon_save_state(d);
}

static int64_t retry_cap_ms(void)
{
    int64_t cap = agent_backoff_cap_ms();
    return cap < AGENT_BACKOFF_CAP_MS ? cap : AGENT_APPLY_RETRY_CAP_MS;
}

static void finished(struct agent_daemon *d, int status)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *what = agent_target_describe(&d->child_target);
    bool applied = WIFEXITED(status) && WEXITSTATUS(status) != AGENT_APPLY_NOT;
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == AGENT_APPLY_OK;

    d->startup = false;
    if (applied) {
        if (agent_target_save(d->applied_path, &d->child_target, &err) < 0)
            m87_log(M87_LOG_ERR, "%s", err->msg);
        agent_target_release(&d->applied);
        d->applied = d->child_target;
        d->child_target = (struct agent_target){0};
        d->has_applied = true;
        agent_window_switch_over(d);
    }
    if (ok) {
        d->apply_failures = 0;
        d->apply_retry_at = 0;
        m87_log(M87_LOG_INFO, "applied revision %s", what);
        return;
    }
    d->apply_failures++;
    int64_t wait = agent_backoff_ms(d->apply_failures, AGENT_APPLY_RETRY_BASE_MS, retry_cap_ms());
    d->apply_retry_at = m87_mono_ms() + wait;
    if (applied)
        m87_log(M87_LOG_WARN, "applied revision %s with failed jobs; trying them again in %lld s",
                what, (long long)(wait / 1000));
    else if (WIFEXITED(status))
        m87_log(M87_LOG_ERR, "revision %s not applied; trying again in %lld s", what,
                (long long)(wait / 1000));
    else
        m87_log(M87_LOG_ERR, "the apply of revision %s was killed by signal %d; again in %lld s",
                what, WIFSIGNALED(status) ? WTERMSIG(status) : 0, (long long)(wait / 1000));
}

void agent_daemon_apply_reap(struct agent_daemon *d)
{
    int status = 0;

    if (!d->child || waitpid(d->child, &status, WNOHANG) != d->child)
        return;
    if (d->child_fd >= 0)
        close(d->child_fd);
    d->child = 0;
    d->child_fd = -1;
    finished(d, status);
    agent_rollout_applied(d, status);
    d->next_sync_at = m87_mono_ms();
    agent_daemon_hooks_after_apply(d, status);
    agent_daemon_save_state(d);
}

void agent_daemon_apply_kill(struct agent_daemon *d)
{
    int status = 0;

    if (!d->child)
        return;
    m87_log(M87_LOG_INFO, "stopping the apply in progress (it resumes at the next start)");
    kill(d->child, SIGTERM);
    waitpid(d->child, &status, 0);
    if (d->child_fd >= 0)
        close(d->child_fd);
    d->child = 0;
    d->child_fd = -1;
}
