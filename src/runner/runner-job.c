/* One job: its steps in order with retries, the undo of what ran when one fails for good, the
 * service check, and its stop steps. Progress is saved before and after every attempt. */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/list.h"
#include "m87/runner-state.h"
#include "m87/runner-text.h"
#include "m87/runner.h"
#include "m87/spec-runspec.h"
#include "m87/time.h"

struct job_ctx {
    struct runner *r;
    const struct spec_job *job;
    const char *hash;
    const char *workdir;
    struct m87_strv env;
    struct runner_progress prog;
};

/* How a step ended for good. */
struct step_end {
    int exit_code;
    int64_t attempts;
    const char *output; /* borrowed from the progress */
};

static void job_ctx_release(struct job_ctx *c)
{
    m87_strv_release(&c->env);
    runner_progress_release(&c->prog);
}

void runner_job_env(const struct runner *r, const struct spec_job *job, struct m87_strv *envp)
{
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        _cleanup_free_ char *key = m87_xstrndup(*e, (size_t)(eq - *e));
        if (m87_kvlist_has(&job->env, key) || (r->docker_host && strcmp(key, "DOCKER_HOST") == 0))
            continue;
        m87_strv_add(envp, *e);
    }
    for (size_t i = 0; i < job->env.len; i++) {
        _cleanup_free_ char *kv =
            m87_xasprintf("%s=%s", job->env.items[i].key, job->env.items[i].value);
        m87_strv_add(envp, kv);
    }
    if (r->docker_host) {
        _cleanup_free_ char *kv = m87_xasprintf("DOCKER_HOST=%s", r->docker_host);
        m87_strv_add(envp, kv);
    }
}

static void report_step(struct job_ctx *c, const char *phase, const struct runner_step_result *s,
                        int64_t attempt, bool done)
{
    struct runner_report rep = {
        .kind = "step",
        .job = c->job->id,
        .job_hash = c->hash,
        .phase = phase,
        .step = s->name,
        .attempt = attempt,
        .state = s->state,
        .exit_code = done ? s->exit_code : -1,
        .has_exit = done,
        .duration_ms = done ? s->duration_ms : -1,
        .output = done ? s->output : NULL,
    };
    runner_report(c->r, &rep);
}

static void set_str(char **field, const char *value)
{
    free(*field);
    *field = value ? m87_xstrdup(value) : NULL;
}

static int save_progress(struct job_ctx *c, const char *phase, int64_t index, int64_t attempt,
                         const char *state, struct m87_error **err)
{
    set_str(&c->prog.phase, phase);
    set_str(&c->prog.state, state);
    c->prog.index = index;
    c->prog.attempt = attempt;
    return runner_progress_save(c->r->state_dir, c->job->id, &c->prog, err);
}

/* One attempt of a command, its result recorded before and after. */
static int attempt_once(struct job_ctx *c, const char *phase, int64_t index, const char *name,
                        const struct spec_run *run, int64_t timeout_ns, int64_t attempt,
                        struct m87_error **err)
{
    struct runner_step_result *res = runner_progress_result(&c->prog, phase, name);
    _cleanup_free_ char *now = runner_now_rfc3339();

    set_str(&res->state, RUNNER_RUNNING);
    set_str(&res->started, now);
    set_str(&res->output, "");
    res->attempts = attempt;
    res->exit_code = -1;
    res->duration_ms = 0;
    if (save_progress(c, phase, index, attempt, RUNNER_RUNNING, err) < 0)
        return -1;
    report_step(c, phase, res, attempt, false);
    struct runner_exec x = {
        .job = c->job->id,
        .step = name,
        .workdir = c->workdir,
        .envp = c->env.items,
        .timeout_ns = timeout_ns,
    };
    struct runner_outcome o = {0};
    if (runner_exec(c->r, &x, run, &o, err) < 0)
        return m87_error_wrap(err, "run step '%s' of job '%s'", name, c->job->id);
    res = runner_progress_result(&c->prog, phase, name);
    set_str(&res->state, o.timed_out        ? "timeout"
                         : o.exit_code == 0 ? RUNNER_SUCCEEDED
                                            : RUNNER_FAILED);
    res->exit_code = o.exit_code;
    res->duration_ms = o.duration_ms;
    free(res->output);
    res->output = M87_STEAL(o.output);
    if (save_progress(c, phase, index, attempt, res->state, err) < 0)
        return -1;
    report_step(c, phase, res, attempt, true);
    return o.exit_code;
}

/* A step with its retries: 0 succeeded, 1 failed for good, -1 with *err. */
static int run_step(struct job_ctx *c, const char *phase, int64_t index, const char *name,
                    const struct spec_run *run, int64_t timeout_ns, const struct spec_retry *retry,
                    struct step_end *end, struct m87_error **err)
{
    for (int64_t attempt = 1;; attempt++) {
        int code = attempt_once(c, phase, index, name, run, timeout_ns, attempt, err);
        if (code < 0)
            return -1;
        const struct runner_step_result *res = runner_progress_result(&c->prog, phase, name);
        *end = (struct step_end){.exit_code = code, .attempts = attempt, .output = res->output};
        if (code == 0)
            return 0;
        if (!runner_should_retry(retry, attempt, code))
            return 1;
        int64_t wait_ms = runner_backoff_ns(retry, attempt + 1) / 1000000;
        fprintf(c->r->log,
                "m87-agent: job '%s': step '%s' exited with %d, retry %lld of %lld in %lld ms\n",
                c->job->id, name, code, (long long)attempt + 1, (long long)retry->attempts,
                (long long)wait_ms);
        m87_sleep_ms(wait_ms);
    }
}

/* Undo steps from..0 that have an undo, in reverse order; a failing undo does not stop the
 * others. */
static int run_undo(struct job_ctx *c, int64_t from, struct m87_error **err)
{
    static const struct spec_retry once = {.attempts = 1};
    struct step_end end;

    for (int64_t i = from; i >= 0; i--) {
        const struct spec_step *s = &c->job->steps[i];
        if (!s->has_undo)
            continue;
        if (run_step(c, "undo", i, s->name, &s->undo, s->undo_timeout_ns, &once, &end, err) < 0)
            return -1;
    }
    return 0;
}

static void report_job(struct job_ctx *c, const struct runner_record *rec, const char *state)
{
    bool failed = strcmp(state, RUNNER_FAILED) == 0;
    struct runner_report rep = {
        .kind = "job",
        .job = c->job->id,
        .job_hash = c->hash,
        .state = state,
        .step = failed ? rec->failed_step : NULL,
        .exit_code = failed ? rec->exit_code : -1,
        .has_exit = failed && rec->failed_step,
        .attempt = failed ? rec->attempts : 0,
        .duration_ms = -1,
        .message = rec->message,
        .output = failed ? rec->output : NULL,
    };
    runner_report(c->r, &rep);
}

static int finish(struct job_ctx *c, struct runner_record *rec, const char *state,
                  struct m87_error **err)
{
    _cleanup_free_ char *now = runner_now_rfc3339();

    set_str(&rec->state, state);
    set_str(&rec->finished, now);
    if (runner_record_save(c->r->state_dir, rec, err) < 0)
        return -1;
    /* a stop that failed stays "stopping" here (tried again next time): a failure to report */
    report_job(c, rec, strcmp(state, RUNNER_STOPPING) == 0 ? RUNNER_FAILED : state);
    fprintf(c->r->log, "m87-agent: job '%s': %s%s%s\n", c->job->id, state, rec->message ? ": " : "",
            rec->message ? rec->message : "");
    return strcmp(state, RUNNER_FAILED) == 0 || strcmp(state, RUNNER_STOPPING) == 0;
}

static int fail_step(struct job_ctx *c, struct runner_record *rec, const char *step,
                     const struct step_end *end, struct m87_error **err)
{
    set_str(&rec->failed_step, step);
    rec->exit_code = end->exit_code;
    rec->attempts = end->attempts;
    free(rec->message);
    rec->message =
        m87_xasprintf("step '%s' failed with exit code %d after %lld attempt%s", step,
                      end->exit_code, (long long)end->attempts, end->attempts == 1 ? "" : "s");
    set_str(&rec->output, end->output);
    return finish(c, rec, RUNNER_FAILED, err);
}

/* Where a resumed phase picks up: the step that was running, or the one after a finished
 * one. */
static int64_t resume_index(const struct runner_progress *p, const char *phase)
{
    if (!p->phase || strcmp(p->phase, phase) != 0)
        return 0;
    bool running = p->state && strcmp(p->state, RUNNER_RUNNING) == 0;
    if (strcmp(phase, "undo") == 0) /* a failed undo does not stop the others */
        return running ? p->index : p->index - 1;
    bool done = p->state && strcmp(p->state, RUNNER_SUCCEEDED) == 0;
    return done ? p->index + 1 : p->index;
}

static char *job_spec_json(const struct spec_job *job)
{
    struct spec_runspec one = {.jobs = (struct spec_job *)job, .n_jobs = 1};
    return spec_runspec_dump(&one, true);
}

/* The record of a job about to run; files are carried over until the workdir is rewritten. */
static void new_record(struct job_ctx *c, const struct runner_record *old,
                       struct runner_record *rec)
{
    *rec = (struct runner_record){
        .id = m87_xstrdup(c->job->id),
        .hash = m87_xstrdup(c->job->hash),
        .state = m87_xstrdup(RUNNER_RUNNING),
        .enabled = true,
        .workdir = m87_xstrdup(c->workdir),
        .ephemeral = c->job->workdir_mode == SPEC_WORKDIR_EPHEMERAL,
        .spec = job_spec_json(c->job),
        .started = runner_now_rfc3339(),
        .exit_code = -1,
        .containers = -1,
    };
    m87_strv_init(&rec->files);
    for (size_t i = 0; old && i < old->files.len; i++)
        m87_strv_add(&rec->files, old->files.items[i]);
}

/* A job that moved to another workdir leaves the old one as if it were stopped: 0 done, 1 when
 * a stop step failed (the old record stays "stopping", so the next apply tries again; running
 * the job now would lose the only trace of the old stack), -1 on a state failure. */
static int leave_old_workdir(struct runner *r, const struct runner_record *old, const char *workdir,
                             struct m87_error **err)
{
    if (!old || strcmp(old->workdir, workdir) == 0 || strcmp(old->state, RUNNER_STOPPED) == 0)
        return 0;
    struct runner_record copy = {0};
    int rc = runner_record_load(r->state_dir, old->id, &copy, err);
    if (rc <= 0)
        return rc;
    rc = runner_job_stop(r, &copy, false, false, err);
    runner_record_release(&copy);
    return rc;
}

/* The step whose failure started the undo: the one whose result is not a success. */
static const struct spec_step *failed_step(struct job_ctx *c)
{
    for (size_t i = 0; i < c->job->n_steps; i++) {
        const char *name = c->job->steps[i].name;
        const struct runner_step_result *res = runner_progress_result(&c->prog, "steps", name);
        if (strcmp(res->state, RUNNER_SUCCEEDED) != 0)
            return &c->job->steps[i];
    }
    return &c->job->steps[c->job->n_steps - 1];
}

static int run_steps(struct job_ctx *c, struct runner_record *rec, bool resume,
                     struct m87_error **err)
{
    int64_t start = resume ? resume_index(&c->prog, "steps") : 0;
    struct step_end end = {0};

    if (resume && c->prog.phase && strcmp(c->prog.phase, "undo") == 0) {
        /* killed while undoing: finish the undo, the job failed already */
        const struct spec_step *s = failed_step(c);
        const struct runner_step_result *res = runner_progress_result(&c->prog, "steps", s->name);
        end = (struct step_end){
            .exit_code = res->exit_code, .attempts = res->attempts, .output = res->output};
        if (run_undo(c, resume_index(&c->prog, "undo"), err) < 0)
            return -1;
        return fail_step(c, rec, s->name, &end, err);
    }
    for (int64_t i = start; i < (int64_t)c->job->n_steps; i++) {
        const struct spec_step *s = &c->job->steps[i];
        int rc = run_step(c, "steps", i, s->name, &s->run, s->timeout_ns, &s->retry, &end, err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            continue;
        if (c->job->on_failure_undo == SPEC_UNDO_EXECUTED_STEPS && run_undo(c, i, err) < 0)
            return -1;
        end.output = runner_progress_result(&c->prog, "steps", s->name)->output;
        return fail_step(c, rec, s->name, &end, err);
    }
    return 0;
}

/* Refuse to run over an interactive stack of the same project: 0 when there is none, or when
 * dockerd cannot be asked (the steps meet that with their own retries). */
static int check_interactive(struct job_ctx *c, struct runner_record *rec, struct m87_error **err)
{
    _cleanup_error_ struct m87_error *e = NULL;
    _cleanup_free_ char *message = NULL;

    int rc = runner_check_interactive(c->r, c->job, c->workdir, c->env.items, &message, &e);
    if (rc < 0)
        fprintf(c->r->log, "m87-agent: job '%s': look for interactive stacks: %s\n", c->job->id,
                e->msg);
    if (rc <= 0)
        return 0;
    free(rec->message);
    rec->message = M87_STEAL(message);
    return finish(c, rec, RUNNER_FAILED, err);
}

static int check_service(struct job_ctx *c, struct runner_record *rec, struct m87_error **err)
{
    _cleanup_error_ struct m87_error *e = NULL;
    _cleanup_free_ char *message = NULL;

    if (c->job->type != SPEC_JOB_SERVICE)
        return 0;
    int count = 0;
    int rc = runner_check_service(c->r, c->job, c->workdir, c->env.items, &count, &message, &e);
    rec->containers = rc == 0 ? count : -1;
    if (rc == 0)
        return 0;
    free(rec->message);
    rec->message = rc < 0 ? m87_xasprintf("check the containers: %s", e->msg) : M87_STEAL(message);
    return finish(c, rec, RUNNER_FAILED, err);
}

int runner_job_run(struct runner *r, const struct spec_job *job, const struct runner_record *old,
                   bool resume, struct m87_error **err)
{
    _cleanup_free_ char *workdir = runner_workdir_path(r, job);
    struct job_ctx c = {.r = r, .job = job, .hash = job->hash, .workdir = workdir};
    struct runner_record rec = {0};
    _cleanup_error_ struct m87_error *prep = NULL;
    int rc;

    m87_strv_init(&c.env);
    runner_job_env(r, job, &c.env);
    if (!resume && (rc = leave_old_workdir(r, old, workdir, err)) != 0)
        goto out;
    new_record(&c, old, &rec);
    rc = resume ? runner_progress_load(r->state_dir, job->id, &c.prog, err) : 0;
    if (rc >= 0 && !resume)
        rc = runner_progress_save(r->state_dir, job->id, &c.prog, err);
    if (rc >= 0)
        rc = runner_record_save(r->state_dir, &rec, err);
    if (rc < 0)
        goto out;
    report_job(&c, &rec, RUNNER_RUNNING);
    fprintf(r->log, "m87-agent: job '%s': %s in '%s'\n", job->id, resume ? "resuming" : "running",
            workdir);
    struct m87_strv names;
    m87_strv_init(&names);
    if (runner_workdir_prepare(r, job, workdir, old ? &old->files : NULL, &names, &prep) < 0) {
        rec.message = m87_xstrdup(prep->msg);
        m87_strv_release(&names);
        rc = finish(&c, &rec, RUNNER_FAILED, err);
        goto out;
    }
    m87_strv_release(&rec.files);
    rec.files = names;
    rc = runner_record_save(r->state_dir, &rec, err);
    if (rc == 0)
        rc = check_interactive(&c, &rec, err);
    if (rc == 0)
        rc = run_steps(&c, &rec, resume, err);
    if (rc == 0)
        rc = check_service(&c, &rec, err);
    if (rc == 0)
        rc = finish(&c, &rec, RUNNER_SUCCEEDED, err);
out:
    runner_record_release(&rec);
    job_ctx_release(&c);
    return rc;
}

/* ---- stop -------------------------------------------------------------------------------------
 */

static int stop_steps(struct job_ctx *c, struct runner_record *rec, bool resume,
                      struct m87_error **err)
{
    int64_t start = resume ? resume_index(&c->prog, "stop") : 0;
    struct step_end end = {0};

    for (int64_t i = start; i < (int64_t)c->job->n_stop_steps; i++) {
        const struct spec_step *s = &c->job->stop_steps[i];
        int rc = run_step(c, "stop", i, s->name, &s->run, s->timeout_ns, &s->retry, &end, err);
        if (rc != 0) {
            if (rc > 0) {
                set_str(&rec->failed_step, s->name);
                rec->exit_code = end.exit_code;
                rec->attempts = end.attempts;
                free(rec->message);
                rec->message = m87_xasprintf("stop step '%s' failed with exit code %d", s->name,
                                             end.exit_code);
            }
            return rc;
        }
    }
    return 0;
}

/* Stop steps need the workdir as the job left it (compose down reads the compose file). */
static void restore_workdir(struct job_ctx *c)
{
    _cleanup_error_ struct m87_error *e = NULL;
    struct m87_strv names;

    m87_strv_init(&names);
    if (runner_workdir_prepare(c->r, c->job, c->workdir, NULL, &names, &e) < 0)
        fprintf(c->r->log, "m87-agent: job '%s': %s\n", c->job->id, e->msg);
    m87_strv_release(&names);
}

/* The job's project runs as an interactive stack (its run was refused for that): stopping it
 * would take down what a session started. */
static bool interactive_project(struct job_ctx *c)
{
    _cleanup_error_ struct m87_error *e = NULL;
    _cleanup_free_ char *message = NULL;

    if (runner_check_interactive(c->r, c->job, c->workdir, c->env.items, &message, &e) <= 0)
        return false;
    fprintf(c->r->log, "m87-agent: job '%s': no stop steps: %s\n", c->job->id, message);
    return true;
}

int runner_job_stop(struct runner *r, struct runner_record *rec, bool removed, bool resume,
                    struct m87_error **err)
{
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = runner_record_job(rec, err);
    if (!rs)
        return m87_error_wrap(err, "stop job '%s'", rec->id);
    struct job_ctx c = {.r = r, .job = &rs->jobs[0], .hash = rec->hash, .workdir = rec->workdir};
    int rc = runner_progress_load(r->state_dir, rec->id, &c.prog, err);

    m87_strv_init(&c.env);
    runner_job_env(r, c.job, &c.env);
    resume = resume && rc > 0 && c.prog.phase && strcmp(c.prog.phase, "stop") == 0;
    set_str(&rec->state, RUNNER_STOPPING);
    set_str(&rec->message, NULL);
    if (rc < 0 || runner_record_save(r->state_dir, rec, err) < 0)
        goto fail;
    fprintf(r->log, "m87-agent: job '%s': stopping\n", rec->id);
    restore_workdir(&c);
    rc = interactive_project(&c) ? 0 : stop_steps(&c, rec, resume, err);
    if (rc != 0) {
        rc = rc < 0 ? -1 : finish(&c, rec, RUNNER_STOPPING, err);
        goto out;
    }
    /* a record written before ephemeral workdirs lost their path may name a directory the
     * runner did not create: that one stays */
    if (rec->ephemeral && runner_workdir_is_own(r, rec->id, rec->workdir) &&
        m87_remove_tree(rec->workdir, err) < 0)
        goto fail;
    if (removed) {
        _cleanup_free_ char *dir = runner_job_dir(r->state_dir, rec->id);
        report_job(&c, rec, "removed");
        fprintf(r->log, "m87-agent: job '%s': removed\n", rec->id);
        rc = m87_remove_tree(dir, err);
    } else {
        rec->enabled = false;
        rc = finish(&c, rec, RUNNER_STOPPED, err);
    }
    goto out;
fail:
    rc = -1;
out:
    job_ctx_release(&c);
    return rc;
}
