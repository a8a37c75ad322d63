/* The runner itself: the state dir and its lock, the journal, and one reconciliation pass that
 * compares the run spec with what the state dir says was applied. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>

#include "m87/alloc.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/list.h"
#include "m87/runner-journal.h"
#include "m87/runner-state.h"
#include "m87/runner.h"
#include "m87/spec-runspec.h"

struct runner *runner_new(const struct runner_options *opts, struct m87_error **err)
{
    struct runner *r = m87_xcalloc(1, sizeof(*r));
    const char *dir = opts->state_dir ? opts->state_dir : RUNNER_DEFAULT_STATE_DIR;

    r->lock_fd = -1;
    r->state_dir = m87_xstrdup(dir);
    r->bundles_dir = opts->bundles_dir ? m87_xstrdup(opts->bundles_dir) : NULL;
    r->docker_host = opts->docker_host ? m87_xstrdup(opts->docker_host) : NULL;
    r->revision = opts->revision ? m87_xstrdup(opts->revision) : NULL;
    r->log = opts->log ? opts->log : stderr;
    r->kill_grace_ms = RUNNER_KILL_GRACE_MS;
    r->recheck_services = opts->recheck_services;
    r->native = opts->native;
    /* an inherited SIG_IGN would reap the steps before we read their status; a closed log must
     * not kill the runner in the middle of a step */
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    _cleanup_free_ char *lock = m87_xasprintf("%s/lock", dir);
    _cleanup_free_ char *reports = m87_xasprintf("%s/reports", dir);
    if (m87_mkdir_p(dir, 0700, err) < 0)
        goto fail;
    r->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (r->lock_fd < 0) {
        m87_error_set(err, M87_E_IO, errno, "open '%s'", lock);
        goto fail;
    }
    if (flock(r->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            m87_error_set(err, M87_E_CONFLICT, 0, "another runner holds '%s'", lock);
        else
            m87_error_set(err, M87_E_IO, errno, "lock '%s'", lock);
        goto fail;
    }
    r->journal = runner_journal_open(reports, err);
    if (!r->journal)
        goto fail;
    return r;
fail:
    runner_free(r);
    return NULL;
}

void runner_free(struct runner *r)
{
    if (!r)
        return;
    if (r->lock_fd >= 0)
        close(r->lock_fd);
    runner_journal_free(r->journal);
    engine_client_free(r->engine);
    free(r->state_dir);
    free(r->bundles_dir);
    free(r->docker_host);
    free(r->revision);
    free(r);
}

/* ---- reconciliation ---------------------------------------------------------------------------
 */

/* Jobs in the state dir that the spec no longer has, or disables: stopped (and forgotten). */
static int stop_gone(struct runner *r, const struct spec_runspec *rs, struct m87_error **err)
{
    struct m87_strv ids;
    int rc = 0;

    m87_strv_init(&ids);
    if (runner_state_list(r->state_dir, &ids, err) < 0)
        return -1;
    for (size_t i = 0; i < ids.len && rc >= 0; i++) {
        const struct spec_job *job = spec_runspec_job(rs, ids.items[i]);
        struct runner_record rec = {0};
        if (job && job->enabled)
            continue;
        rc = runner_record_load(r->state_dir, ids.items[i], &rec, err);
        if (rc <= 0)
            continue;
        if (strcmp(rec.state, RUNNER_STOPPED) == 0 && job) {
            rc = 0;
        } else if (strcmp(rec.state, RUNNER_STOPPED) == 0) {
            _cleanup_free_ char *dir = runner_job_dir(r->state_dir, rec.id);
            fprintf(r->log, "m87-agent: job '%s': removed\n", rec.id);
            rc = m87_remove_tree(dir, err);
        } else {
            bool resume = strcmp(rec.state, RUNNER_STOPPING) == 0;
            rc = runner_job_stop(r, &rec, job == NULL, resume, err);
            r->failures += rc > 0;
        }
        runner_record_release(&rec);
    }
    m87_strv_release(&ids);
    return rc < 0 ? -1 : 0;
}

/* An unchanged service job whose containers stopped (killed, or dockerd came back without
 * them), or are gone while it had some when it succeeded (removed by hand, a dockerd with a new
 * data root): run its steps again to bring them back. */
static bool needs_revival(struct runner *r, const struct spec_job *job,
                          const struct runner_record *old)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *message = NULL;
    struct m87_strv envp;

    if (!r->recheck_services || job->type != SPEC_JOB_SERVICE)
        return false;
    m87_strv_init(&envp);
    runner_job_env(r, job, &envp);
    int count = 0;
    int rc = runner_check_service(r, job, old->workdir, envp.items, &count, &message, &err);
    m87_strv_release(&envp);
    if (rc == 0 && count == 0 && old->containers > 0) {
        message =
            m87_xasprintf("its containers are gone (it had %lld)", (long long)old->containers);
        rc = 1;
    }
    if (rc < 0)
        fprintf(r->log, "m87-agent: job '%s': cannot check its containers: %s\n", job->id,
                err->msg);
    else if (rc > 0)
        fprintf(r->log, "m87-agent: job '%s': %s; running its steps again\n", job->id, message);
    return rc > 0;
}

static int run_job(struct runner *r, const struct spec_job *job, struct m87_error **err)
{
    struct runner_record old = {0};
    int rc = runner_record_load(r->state_dir, job->id, &old, err);

    if (rc < 0)
        return -1;
    bool same = rc > 0 && strcmp(old.hash, job->hash) == 0;
    if (same && strcmp(old.state, RUNNER_SUCCEEDED) == 0 && !needs_revival(r, job, &old)) {
        fprintf(r->log, "m87-agent: job '%s': unchanged\n", job->id);
        runner_record_release(&old);
        return 0;
    }
    bool resume = same && strcmp(old.state, RUNNER_RUNNING) == 0;
    rc = runner_job_run(r, job, rc > 0 ? &old : NULL, resume, err);
    r->failures += rc > 0;
    runner_record_release(&old);
    return rc < 0 ? -1 : 0;
}

int runner_apply(struct runner *r, const struct spec_runspec *rs, struct m87_error **err)
{
    r->failures = 0;
    if (stop_gone(r, rs, err) < 0)
        return -1;
    for (size_t i = 0; i < rs->n_jobs; i++)
        if (rs->jobs[i].enabled && run_job(r, &rs->jobs[i], err) < 0)
            return -1;
    return r->failures ? 1 : 0;
}
