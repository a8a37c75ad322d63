/* The runner's job and step reports: REPORT records (docs/api.md, "Report record") appended
 * to the journal with the revision the runner applies. */
#include <stdio.h>
#include <string.h>

#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/runner-journal.h"
#include "m87/runner.h"

void runner_report_fill(struct m87_jw *w, const void *ctx)
{
    const struct runner_report *rep = ctx;

    m87_jw_kstr(w, "kind", rep->kind);
    m87_jw_kstr(w, "revision", rep->revision);
    m87_jw_kstr(w, "job", rep->job);
    m87_jw_kstr(w, "job_hash", rep->job_hash);
    m87_jw_kstr_opt(w, "phase", rep->phase);
    m87_jw_kstr_opt(w, "step", rep->step);
    if (rep->attempt > 0)
        m87_jw_kint(w, strcmp(rep->kind, "job") == 0 ? "attempts" : "attempt", rep->attempt);
    m87_jw_kstr(w, "state", rep->state);
    if (rep->has_exit) {
        m87_jw_key(w, "exit_code");
        if (rep->exit_code < 0)
            m87_jw_null(w);
        else
            m87_jw_int(w, rep->exit_code);
    }
    if (rep->duration_ms >= 0)
        m87_jw_kint(w, "duration_ms", rep->duration_ms);
    m87_jw_kstr_opt(w, "output", rep->output);
    m87_jw_kstr_opt(w, "message", rep->message);
}

void runner_report(struct runner *r, const struct runner_report *rep)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct runner_report copy = *rep;

    copy.revision = r->revision;
    if (runner_journal_append(r->journal, runner_report_fill, &copy, NULL, &err) < 0)
        fprintf(r->log, "m87-agent: %s\n", err->msg);
}
