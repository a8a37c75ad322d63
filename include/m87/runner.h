/* The job runner: applies a run spec on this device (docs/agent.md).
 *
 * State lives under one directory (default RUNNER_DEFAULT_STATE_DIR):
 *   lock                      flock'ed by the one runner allowed at a time
 *   jobs/ID/job.json          the job last started there: its run spec, hash, workdir, state
 *   jobs/ID/progress.json     where its steps are: phase, step, attempt, and each step's result
 *   workdirs/ID               ephemeral and default workdirs
 *   bundles/sha256-HEX.tar.gz bundles copied in before extraction
 *   reports/                  the report journal (runner-journal.c)
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
#define RUNNER_OUTPUT_TAIL 4096u          /* bytes of output kept per step attempt */
#define RUNNER_KILL_GRACE_MS 10000L       /* SIGTERM to SIGKILL at a step's timeout */
#define RUNNER_SETTLE_MS 10000L           /* bound for a service's containers to settle */
#define RUNNER_HEALTH_MS (5L * 60 * 1000) /* bound for health checks to turn healthy */
#define RUNNER_STEADY_MS 1000L            /* containers seen running this long = settled */
#define RUNNER_MAX_STATE_FILE (16u * 1024 * 1024)
#define RUNNER_JOURNAL_SEGMENT (1024u * 1024) /* a segment grows to about this size */
#define RUNNER_MAX_RECORD (64u * 1024)        /* the server refuses larger report records */

/* ---- the report journal (runner-journal.c) ------------------------------------------------- */

/* An append-only queue of report records (one JSON object a line) in segment files
 * DIR/SEQ.jsonl named by their first record's seq, and DIR/acked holding the highest seq
 * dropped. Sequence numbers increase across restarts; each append is fsync'ed. Several
 * processes and threads may open the same DIR: each call below holds DIR/lock (flock) and a
 * mutex, and first re-reads what another writer changed. */
struct runner_journal;

/* Open (creating DIR) and recover: a torn last line of a crash is cut off. */
struct runner_journal *runner_journal_open(const char *dir, struct m87_error **err);
void runner_journal_free(struct runner_journal *j);
static inline void runner_journal_freep(struct runner_journal **j)
{
    runner_journal_free(*j);
}

/* Append one record: writes "seq" (the next number, returned in *seq when not NULL) and "time"
 * before the fields that fill adds. */
typedef void (*runner_record_fn)(struct m87_jw *w, const void *ctx);
int runner_journal_append(struct runner_journal *j, runner_record_fn fill, const void *ctx,
                          int64_t *seq, struct m87_error **err);

/* Records with seq > after, oldest first, as their JSON text (out gets one item a record), at
 * most max_count records and max_bytes of text (at least one record when there is one).
 * *last gets the seq of the last one returned (after when none). */
int runner_journal_read(struct runner_journal *j, int64_t after, size_t max_count, size_t max_bytes,
                        struct m87_strv *out, int64_t *last, struct m87_error **err);

/* Forget every record with seq <= upto (the server acknowledged them). An upto past the last
 * record moves the numbering past it (the server kept the seqs of an earlier state directory:
 * new records must not look like duplicates). */
int runner_journal_drop(struct runner_journal *j, int64_t upto, struct m87_error **err);

/* The seq the next append gets, as this handle last saw it (another writer may have appended). */
int64_t runner_journal_next_seq(const struct runner_journal *j);

/* Start a new segment once the last one reached bytes (default and most RUNNER_JOURNAL_SEGMENT,
 * least RUNNER_MAX_RECORD): a journal with a small cap needs several segments for trimming to
 * work on. */
void runner_journal_set_segment_size(struct runner_journal *j, size_t bytes);

/* While the segments hold more than max_bytes, remove the log records (kind "log" with
 * "lines") of the oldest segments, the last segment excepted (its last record gives the next
 * seq to other writers). Other records and seqs stay. *dropped gets how many went, *over
 * whether the journal is still above max_bytes. */
int runner_journal_trim_logs(struct runner_journal *j, int64_t max_bytes, int64_t *dropped,
                             bool *over, struct m87_error **err);

/* How many records are not acknowledged yet (the queue's length). */
int runner_journal_pending(struct runner_journal *j, int64_t *count, struct m87_error **err);

/* The seq of a record line ("{"seq":N,...}"); -1 when the line is not a record. Pure. */
int64_t runner_record_seq(const char *line, size_t len);

/* ---- text helpers (runner-text.c, pure) ---------------------------------------------------- */

/* The last RUNNER_OUTPUT_TAIL bytes of a stream. */
struct runner_tail {
    char buf[RUNNER_OUTPUT_TAIL];
    size_t start; /* ring start when full */
    size_t len;
    bool cut; /* something was dropped */
};

void runner_tail_add(struct runner_tail *t, const char *data, size_t len);
/* The tail as valid UTF-8 without NUL bytes (bad bytes become '?', a character cut at the
 * start is dropped). Caller frees. */
char *runner_tail_text(const struct runner_tail *t);

/* Valid UTF-8 without NUL: bad bytes become '?'. Caller frees. */
char *runner_utf8_clean(const char *data, size_t len);

/* When run is `docker compose ARGS` or `docker-compose ARGS` (a string without shell
 * metacharacters, split on blanks, or an argv) whose subcommand the native executor has, fill
 * argv with "compose" and ARGS and return true. Otherwise false and argv untouched. */
bool runner_native_compose(const struct spec_run *run, struct m87_strv *argv);

/* Whether a failed attempt (exit_code, 128+signal for a signal) may be tried again. */
bool runner_should_retry(const struct spec_retry *r, int64_t attempt, int exit_code);
/* The wait before attempt number next (2 = the first retry): backoff doubled per retry. */
int64_t runner_backoff_ns(const struct spec_retry *r, int64_t next);

/* "2026-11-23T12:00:00.123Z" for now (UTC). Caller frees. */
char *runner_now_rfc3339(void);

/* ---- the runner --------------------------------------------------------------------------- */

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

/* ---- state (runner-state.c) ----------------------------------------------------------------- */

/* Job states as stored and reported. */
#define RUNNER_RUNNING "running"
#define RUNNER_SUCCEEDED "succeeded"
#define RUNNER_FAILED "failed"
#define RUNNER_STOPPING "stopping"
#define RUNNER_STOPPED "stopped"

/* jobs/ID/job.json */
struct runner_record {
    char *id;
    char *hash;
    char *state; /* RUNNER_* above */
    bool enabled;
    char *workdir; /* absolute */
    bool ephemeral;
    char *spec;            /* {"jobs":[JOB]} as spec_runspec_dump(json) wrote it */
    struct m87_strv files; /* names written from files: (to remove those dropped later) */
    char *started;
    char *finished; /* NULL while running */
    char *message;  /* failure text, NULL when none */
    char *failed_step;
    char *output; /* the failed step's output tail */
    int exit_code;
    int64_t attempts;
    int64_t containers; /* a service job's containers when it last succeeded (-1: unknown) */
};

/* The result of one step (or undo, or stop step) in jobs/ID/progress.json. */
struct runner_step_result {
    char *phase; /* steps, undo, stop */
    char *name;
    char *state; /* running, succeeded, failed, timeout */
    int64_t attempts;
    int exit_code; /* -1: none yet */
    int64_t duration_ms;
    char *output;
    char *started;
};

/* jobs/ID/progress.json: where the job is, written before and after each attempt. */
struct runner_progress {
    char *phase;   /* steps, undo, stop */
    int64_t index; /* of the step in its list */
    int64_t attempt;
    char *state; /* running, succeeded, failed, timeout */
    struct runner_step_result *results;
    size_t n_results;
};

void runner_record_release(struct runner_record *rec);
void runner_progress_release(struct runner_progress *p);
/* The result for (phase, name), added (state "running", no exit code) when missing. */
struct runner_step_result *runner_progress_result(struct runner_progress *p, const char *phase,
                                                  const char *name);

char *runner_job_dir(const char *state_dir, const char *id);
/* 1 and *rec filled, 0 when there is none, -1 on a read or parse failure. */
int runner_record_load(const char *state_dir, const char *id, struct runner_record *rec,
                       struct m87_error **err);
int runner_record_save(const char *state_dir, const struct runner_record *rec,
                       struct m87_error **err);
int runner_progress_load(const char *state_dir, const char *id, struct runner_progress *p,
                         struct m87_error **err);
int runner_progress_save(const char *state_dir, const char *id, const struct runner_progress *p,
                         struct m87_error **err);
/* Ids of jobs/ * that hold a job.json, sorted. */
int runner_state_list(const char *state_dir, struct m87_strv *ids, struct m87_error **err);
/* The job stored in rec->spec, parsed again; NULL with *err when unreadable. */
struct spec_runspec *runner_record_job(const struct runner_record *rec, struct m87_error **err);

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

/* Journal helpers used across the runner. */
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
