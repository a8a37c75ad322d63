/* The runner's state store: jobs/ID/job.json and jobs/ID/progress.json, each replaced
 * atomically, so that a runner killed at any point finds either the old or the new record. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/runner-state.h"
#include "m87/runner.h"
#include "m87/spec-runspec.h"
#include "m87/state-file.h"

char *runner_job_dir(const char *state_dir, const char *id)
{
    return m87_xasprintf("%s/jobs/%s", state_dir, id);
}

void runner_record_release(struct runner_record *rec)
{
    free(rec->id);
    free(rec->hash);
    free(rec->state);
    free(rec->workdir);
    free(rec->spec);
    m87_strv_release(&rec->files);
    free(rec->started);
    free(rec->finished);
    free(rec->message);
    free(rec->failed_step);
    free(rec->output);
    *rec = (struct runner_record){0};
}

static void result_release(struct runner_step_result *s)
{
    free(s->phase);
    free(s->name);
    free(s->state);
    free(s->output);
    free(s->started);
}

void runner_progress_release(struct runner_progress *p)
{
    free(p->phase);
    free(p->state);
    for (size_t i = 0; i < p->n_results; i++)
        result_release(&p->results[i]);
    free(p->results);
    *p = (struct runner_progress){0};
}

struct runner_step_result *runner_progress_result(struct runner_progress *p, const char *phase,
                                                  const char *name)
{
    for (size_t i = 0; i < p->n_results; i++)
        if (strcmp(p->results[i].phase, phase) == 0 && strcmp(p->results[i].name, name) == 0)
            return &p->results[i];
    p->results = m87_xrealloc(p->results, (p->n_results + 1) * sizeof(*p->results));
    struct runner_step_result *s = &p->results[p->n_results++];
    *s = (struct runner_step_result){
        .phase = m87_xstrdup(phase),
        .name = m87_xstrdup(name),
        .state = m87_xstrdup("pending"),
        .exit_code = -1,
    };
    return s;
}

/* ---- reading ----------------------------------------------------------------------------------
 */

static char *dup_str(const struct m87_json *doc, const char *key)
{
    const char *s = m87_json_str(m87_json_get(doc, key), NULL);
    return s ? m87_xstrdup(s) : NULL;
}

int runner_record_load(const char *state_dir, const char *id, struct runner_record *rec,
                       struct m87_error **err)
{
    _cleanup_free_ char *path = m87_xasprintf("%s/jobs/%s/job.json", state_dir, id);
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    int rc = m87_state_read_json(path, RUNNER_MAX_STATE_FILE, &doc, err);

    if (rc <= 0)
        return rc;
    *rec = (struct runner_record){
        .id = dup_str(doc, "id"),
        .hash = dup_str(doc, "hash"),
        .state = dup_str(doc, "state"),
        .enabled = m87_json_bool(m87_json_get(doc, "enabled"), true),
        .workdir = dup_str(doc, "workdir"),
        .ephemeral = m87_json_bool(m87_json_get(doc, "ephemeral"), true),
        .spec = dup_str(doc, "spec"),
        .started = dup_str(doc, "started"),
        .finished = dup_str(doc, "finished"),
        .message = dup_str(doc, "message"),
        .failed_step = dup_str(doc, "step"),
        .output = dup_str(doc, "output"),
        .exit_code = (int)m87_json_int(m87_json_get(doc, "exit_code"), -1),
        .attempts = m87_json_int(m87_json_get(doc, "attempts"), 0),
        .containers = m87_json_int(m87_json_get(doc, "containers"), -1),
    };
    m87_strv_init(&rec->files);
    m87_json_to_strv(m87_json_get(doc, "files"), &rec->files);
    if (!rec->id || !rec->hash || !rec->state || !rec->workdir || !rec->spec) {
        runner_record_release(rec);
        return m87_error_set(err, M87_E_PARSE, 0, "read '%s': missing fields", path);
    }
    return 1;
}

static void load_result(const struct m87_json *n, struct runner_step_result *s)
{
    *s = (struct runner_step_result){
        .phase = dup_str(n, "phase"),
        .name = dup_str(n, "name"),
        .state = dup_str(n, "state"),
        .attempts = m87_json_int(m87_json_get(n, "attempts"), 0),
        .exit_code = (int)m87_json_int(m87_json_get(n, "exit_code"), -1),
        .duration_ms = m87_json_int(m87_json_get(n, "duration_ms"), 0),
        .output = dup_str(n, "output"),
        .started = dup_str(n, "started"),
    };
    if (!s->phase)
        s->phase = m87_xstrdup("steps");
    if (!s->name)
        s->name = m87_xstrdup("?");
    if (!s->state)
        s->state = m87_xstrdup("pending");
}

int runner_progress_load(const char *state_dir, const char *id, struct runner_progress *p,
                         struct m87_error **err)
{
    _cleanup_free_ char *path = m87_xasprintf("%s/jobs/%s/progress.json", state_dir, id);
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    int rc = m87_state_read_json(path, RUNNER_MAX_STATE_FILE, &doc, err);

    *p = (struct runner_progress){0};
    if (rc <= 0)
        return rc;
    p->phase = dup_str(doc, "phase");
    p->state = dup_str(doc, "state");
    p->index = m87_json_int(m87_json_get(doc, "index"), 0);
    p->attempt = m87_json_int(m87_json_get(doc, "attempt"), 0);
    const struct m87_json *steps = m87_json_get(doc, "steps");
    p->n_results = m87_json_len(steps);
    p->results = m87_xcalloc(p->n_results ? p->n_results : 1, sizeof(*p->results));
    for (size_t i = 0; i < p->n_results; i++)
        load_result(m87_json_at(steps, i), &p->results[i]);
    if (!p->phase)
        p->phase = m87_xstrdup("steps");
    if (!p->state)
        p->state = m87_xstrdup("pending");
    return 1;
}

/* ---- writing ----------------------------------------------------------------------------------
 */

static int save(const char *state_dir, const char *id, const char *name, char *text,
                struct m87_error **err)
{
    _cleanup_free_ char *dir = runner_job_dir(state_dir, id);
    _cleanup_free_ char *path = m87_xasprintf("%s/%s", dir, name);
    _cleanup_free_ char *owned = text;

    if (m87_mkdir_p(dir, 0700, err) < 0)
        return -1;
    return m87_write_file_atomic(path, owned, strlen(owned), 0600, err);
}

static void kint_or_null(struct m87_jw *w, const char *key, int64_t v)
{
    m87_jw_key(w, key);
    if (v < 0)
        m87_jw_null(w);
    else
        m87_jw_int(w, v);
}

void runner_record_write_run(struct m87_jw *w, const struct runner_record *r)
{
    m87_jw_kstr(w, "started", r->started);
    m87_jw_kstr(w, "finished", r->finished);
    m87_jw_kstr(w, "message", r->message);
    m87_jw_kstr(w, "step", r->failed_step);
    m87_jw_kstr(w, "output", r->output);
    kint_or_null(w, "exit_code", r->exit_code);
    m87_jw_kint(w, "attempts", r->attempts);
}

void runner_step_result_write(struct m87_jw *w, const struct runner_step_result *s)
{
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "phase", s->phase);
    m87_jw_kstr(w, "name", s->name);
    m87_jw_kstr(w, "state", s->state);
    m87_jw_kint(w, "attempts", s->attempts);
    kint_or_null(w, "exit_code", s->exit_code);
    m87_jw_kint(w, "duration_ms", s->duration_ms);
    m87_jw_kstr(w, "output", s->output ? s->output : "");
    m87_jw_kstr(w, "started", s->started);
    m87_jw_obj_close(w);
}

int runner_record_save(const char *state_dir, const struct runner_record *rec,
                       struct m87_error **err)
{
    struct m87_jw *w = m87_jw_new();

    m87_jw_obj_open(w);
    m87_jw_kstr(w, "id", rec->id);
    m87_jw_kstr(w, "hash", rec->hash);
    m87_jw_kstr(w, "state", rec->state);
    m87_jw_kbool(w, "enabled", rec->enabled);
    m87_jw_kstr(w, "workdir", rec->workdir);
    m87_jw_kbool(w, "ephemeral", rec->ephemeral);
    m87_jw_key(w, "files");
    m87_jw_strv(w, &rec->files);
    runner_record_write_run(w, rec);
    kint_or_null(w, "containers", rec->containers);
    m87_jw_kstr(w, "spec", rec->spec);
    m87_jw_obj_close(w);
    return save(state_dir, rec->id, "job.json", m87_jw_finish(w), err);
}

int runner_progress_save(const char *state_dir, const char *id, const struct runner_progress *p,
                         struct m87_error **err)
{
    struct m87_jw *w = m87_jw_new();

    m87_jw_obj_open(w);
    m87_jw_kstr(w, "phase", p->phase);
    m87_jw_kint(w, "index", p->index);
    m87_jw_kint(w, "attempt", p->attempt);
    m87_jw_kstr(w, "state", p->state);
    m87_jw_key(w, "steps");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < p->n_results; i++)
        runner_step_result_write(w, &p->results[i]);
    m87_jw_arr_close(w);
    m87_jw_obj_close(w);
    return save(state_dir, id, "progress.json", m87_jw_finish(w), err);
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int runner_state_list(const char *state_dir, struct m87_strv *ids, struct m87_error **err)
{
    _cleanup_free_ char *dir = m87_xasprintf("%s/jobs", state_dir);
    DIR *d = opendir(dir);

    if (!d)
        return errno == ENOENT ? 0 : m87_error_set(err, M87_E_IO, errno, "open '%s'", dir);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        _cleanup_free_ char *path = m87_xasprintf("%s/%s/job.json", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
            m87_strv_add(ids, e->d_name);
    }
    closedir(d);
    if (ids->len)
        qsort(ids->items, ids->len, sizeof(char *), cmp_strp);
    return 0;
}

struct spec_runspec *runner_record_job(const struct runner_record *rec, struct m87_error **err)
{
    _cleanup_free_ char *name = m87_xasprintf("state of job '%s'", rec->id);
    struct spec_runspec *rs = spec_runspec_parse(rec->spec, strlen(rec->spec), name, err);

    if (rs && rs->n_jobs != 1) {
        spec_runspec_free(rs);
        m87_error_set(err, M87_E_PARSE, 0, "%s: expected one job", name);
        return NULL;
    }
    return rs;
}
