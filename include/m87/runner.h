/* The job runner: applies a run spec on this device (docs/agent.md).
 *
 * State lives under one directory (default RUNNER_DEFAULT_STATE_DIR):
 *   lock                      flock'ed by the one runner allowed at a time
 *   jobs/ID/job.json          the job last started there: its run spec, hash, workdir, state
 *   jobs/ID/progress.json     where its steps are: phase, step, attempt, and each step's result
 *                             (both runner-state.h)
 *   workdirs/ID               ephemeral and default workdirs
 *   bundles/sha256-HEX.tar.gz bundles copied in before extraction
 *   reports/                  the report journal (runner-journal.h)
 * Every file is replaced atomically; a runner killed at any point and started again finishes
 * the work: a step that was running is run again, a finished job is not.
 */
#ifndef M87_RUNNER_H
#define M87_RUNNER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/list.h"
#include "m87/engine.h"
#include "m87/spec-runspec.h"

#define RUNNER_DEFAULT_STATE_DIR "/var/lib/m87"
#define RUNNER_KILL_GRACE_MS 10000L       /* SIGTERM to SIGKILL at a step's timeout */
#define RUNNER_SETTLE_MS 10000L           /* bound for a service's containers to settle */
#define RUNNER_HEALTH_MS (5L * 60 * 1000) /* bound for health checks to turn healthy */
#define RUNNER_STEADY_MS 1000L            /* containers seen running this long = settled */

/* ---- the runner --------------------------------------------------------------------------- */

struct runner_journal;
struct runner_record;

/* Runs a native compose command line (argv[0] "compose", as runner_native_compose fills it) in
 * a step's child process, in the step's workdir and environment; returns its exit status. The
 * front end that owns the compose command line gives it: the runner only forks for it. */
typedef int (*runner_native_fn)(int argc, char **argv);

struct runner_options {
    const char *state_dir;   /* NULL: RUNNER_DEFAULT_STATE_DIR */
    const char *bundles_dir; /* where sha256-HEX.tar.gz are found; NULL: none */
    const char *docker_host; /* set as DOCKER_HOST for steps and the client; NULL: inherit */
    const char *revision;    /* the revision hash reports carry; NULL: none (local apply) */
    FILE *log;               /* step output and progress lines; NULL: stderr */
    bool recheck_services;   /* an unchanged succeeded service job whose containers do not run
                                has its steps run again (the daemon's first apply after a start) */
    runner_native_fn native; /* native compose steps; NULL: they fail with exit status 127 */
};

struct runner {
    char *state_dir;
    char *bundles_dir;
    char *docker_host;
    char *revision;
    FILE *log;
    long kill_grace_ms;
    int lock_fd;
    struct runner_journal *journal;
    struct engine_client *engine; /* opened on first need */
    int failures;                 /* jobs failed in this pass */
    bool recheck_services;
    runner_native_fn native;
};

/* Create the state dir, take its lock (M87_E_CONFLICT "another runner holds 'DIR/lock'" when
 * taken) and open the journal. */
struct runner *runner_new(const struct runner_options *opts, struct m87_error **err);
void runner_free(struct runner *r);
static inline void runner_freep(struct runner **r)
{
    runner_free(*r);
}

/* Bring the device to rs: stop what is gone or disabled, run what is new, changed, failed
 * or interrupted. 0 when every enabled job succeeded, 1 when one failed (details in the state
 * and the journal), -1 with *err when the state cannot be written or read. */
int runner_apply(struct runner *r, const struct spec_runspec *rs, struct m87_error **err);

/* ---- steps (runner-exec.c) --------------------------------------------------------------------
 */

struct runner_exec {
    const char *job; /* for the log prefix */
    const char *step;
    const char *workdir;
    char *const *envp; /* the whole environment of the command */
    int64_t timeout_ns;
};

struct runner_outcome {
    int exit_code; /* the status, or 128+signal; 127 when it could not be started */
    bool timed_out;
    int64_t duration_ms;
    char *output; /* the tail, clean UTF-8 */
};

/* Run one attempt of run in a child of its own process group (cwd workdir, environment envp),
 * stdout and stderr into one pipe, streamed to log prefixed "[job/step] " and kept as a tail.
 * At the timeout the group gets SIGTERM, then SIGKILL after grace_ms; whatever is left of the
 * group when the command exits is killed. -1 only when no child could be made. */
int runner_exec(struct runner *r, const struct runner_exec *x, const struct spec_run *run,
                struct runner_outcome *out, struct m87_error **err);
void runner_outcome_release(struct runner_outcome *o);

/* ---- workdir (runner-workdir.c) ---------------------------------------------------------------
 */

/* The workdir of a job: its path, or STATE/workdirs/ID. Caller frees. */
char *runner_workdir_path(const struct runner *r, const struct spec_job *job);
/* Whether workdir is the one the runner makes for job id, STATE/workdirs/ID: the only kind of
 * workdir it ever removes (a directory it did not create is never its to delete). */
bool runner_workdir_is_own(const struct runner *r, const char *id, const char *workdir);
/* Create the workdir, extract the job's bundle, write its files (never through a symlink),
 * remove the files of old_files no longer listed. names gets the files written. */
int runner_workdir_prepare(struct runner *r, const struct spec_job *job, const char *workdir,
                           const struct m87_strv *old_files, struct m87_strv *names,
                           struct m87_error **err);

/* ---- services (runner-health.c) ----------------------------------------------------------------
 */

/* The label on every container a session's `compose up` makes (agent-session-cmd.c):
 * deployments leave them alone. */
#define AGENT_INTERACTIVE_LABEL "m87.interactive"

/* Before a service job's steps: 1 with *message when its compose project already runs as an
 * interactive stack (sessions, docs/agent.md), which the job's `up` would take over; 0 when
 * not, -1 with *err when dockerd cannot be asked. */
int runner_check_interactive(struct runner *r, const struct spec_job *job, const char *workdir,
                             char *const *envp, char **message, struct m87_error **err);

/* After a service job's steps: wait until its compose project's containers run (and are healthy
 * where they have a health check). 0 when they do (or there are none), 1 with *message saying
 * which container failed and its last log lines, -1 with *err when dockerd cannot be asked. *count:
 * the containers found at the last look. */
int runner_check_service(struct runner *r, const struct spec_job *job, const char *workdir,
                         char *const *envp, int *count, char **message, struct m87_error **err);

/* ---- jobs (runner-job.c) ----------------------------------------------------------------------
 */

/* Run a job's steps (from the progress when resuming), retries, undo on failure, and the
 * service check. 0 succeeded, 1 failed, -1 with *err on a state failure. */
int runner_job_run(struct runner *r, const struct spec_job *job, const struct runner_record *old,
                   bool resume, struct m87_error **err);
/* Run the stop steps of the job stored in rec and drop an ephemeral workdir. removed: the job
 * left the spec (its state goes too) rather than being disabled. 0, 1 when a stop step failed
 * (the job stays "stopping" and is tried again next time), -1 with *err. */
int runner_job_stop(struct runner *r, struct runner_record *rec, bool removed, bool resume,
                    struct m87_error **err);

/* The environment of a job's commands: the agent's, the job's env, DOCKER_HOST. Free with
 * m87_strv_release; items NULL-terminated (items[len] == NULL). */
void runner_job_env(const struct runner *r, const struct spec_job *job, struct m87_strv *envp);

/* ---- reports (runner-report.c) ---------------------------------------------------------------
 */

/* A job or step record for the journal. */
struct runner_report {
    const char *kind; /* step, job */
    const char *job;
    const char *job_hash;
    const char *phase; /* NULL for job records */
    const char *step;
    int64_t attempt; /* 0: left out */
    const char *state;
    int exit_code; /* -1: null */
    bool has_exit;
    int64_t duration_ms; /* -1: left out */
    const char *output;
    const char *message;
    const char *revision;
};
/* Append r to the journal; a failure to journal is logged, not fatal. */
void runner_report(struct runner *r, const struct runner_report *rep);
/* The fields of rep (after seq and time): a runner_record_fn. */
void runner_report_fill(struct m87_jw *w, const void *rep);

#endif
