/* The runner's state store (runner-state.c): jobs/ID/job.json and jobs/ID/progress.json under
 * the runner's state directory (runner.h), each replaced atomically.
 */
#ifndef M87_RUNNER_STATE_H
#define M87_RUNNER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-runspec.h"

struct m87_jw;

#define RUNNER_MAX_STATE_FILE (16u * 1024 * 1024)

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
/* One step result as a JSON object, as progress.json holds it and `m87-agent status --json`
 * prints it: phase, name, state, attempts, exit_code (null when none), duration_ms, output ("" when
 * none), started. */
void runner_step_result_write(struct m87_jw *w, const struct runner_step_result *s);
/* The members of the record's last run, as job.json holds them and `m87-agent status --json`
 * prints them: started, finished, message, step, output, exit_code (null when none), attempts. */
void runner_record_write_run(struct m87_jw *w, const struct runner_record *r);
/* Ids of jobs/ * that hold a job.json, sorted. */
int runner_state_list(const char *state_dir, struct m87_strv *ids, struct m87_error **err);
/* The job stored in rec->spec, parsed again; NULL with *err when unreadable. */
struct spec_runspec *runner_record_job(const struct runner_record *rec, struct m87_error **err);

#endif
