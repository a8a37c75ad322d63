/* The runner's state store: jobs/ID/job.json and jobs/ID/progress.json, each replaced
 * atomically, so that a runner killed at any point finds either the old or the new record. */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
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

/* ---- the members of the files ------------------------------------------------------------ */

enum field_type {
    FIELD_STR,  /* char * */
    FIELD_BOOL, /* bool */
    FIELD_INT,  /* int */
    FIELD_I64,  /* int64_t */
    FIELD_STRV, /* struct m87_strv, an array of strings in the file */
};

/* One member of an object of the state files: its key, where it lives in the struct, and what
 * it is when the file lacks it. One table serves reading, writing and freeing, so that the three
 * cannot disagree; the writer follows the table's order. */
struct field {
    const char *key;
    enum field_type type;
    size_t offset;
    int64_t none;       /* BOOL, INT, I64 when absent; when negative, a negative value is null */
    const char *absent; /* STR when absent (NULL: none) */
    bool empty;         /* STR written as "" rather than null when NULL */
};

#define RECORD(member) offsetof(struct runner_record, member)
#define RESULT(member) offsetof(struct runner_step_result, member)
#define PROGRESS(member) offsetof(struct runner_progress, member)

/* job.json is record_head, record_run (also what `m87-agent status` prints), record_tail. */
static const struct field record_head[] = {
    {"id", FIELD_STR, RECORD(id)},           {"hash", FIELD_STR, RECORD(hash)},
    {"state", FIELD_STR, RECORD(state)},     {"enabled", FIELD_BOOL, RECORD(enabled), true},
    {"workdir", FIELD_STR, RECORD(workdir)}, {"ephemeral", FIELD_BOOL, RECORD(ephemeral), true},
    {"files", FIELD_STRV, RECORD(files)},
};

static const struct field record_run[] = {
    {"started", FIELD_STR, RECORD(started)},      {"finished", FIELD_STR, RECORD(finished)},
    {"message", FIELD_STR, RECORD(message)},      {"step", FIELD_STR, RECORD(failed_step)},
    {"output", FIELD_STR, RECORD(output)},        {"exit_code", FIELD_INT, RECORD(exit_code), -1},
    {"attempts", FIELD_I64, RECORD(attempts), 0},
};

static const struct field record_tail[] = {
    {"containers", FIELD_I64, RECORD(containers), -1},
    {"spec", FIELD_STR, RECORD(spec)},
};

/* progress.json is progress_fields, then "steps": an array of result_fields objects. */
static const struct field progress_fields[] = {
    {"phase", FIELD_STR, PROGRESS(phase), 0, "steps"},
    {"index", FIELD_I64, PROGRESS(index), 0},
    {"attempt", FIELD_I64, PROGRESS(attempt), 0},
    {"state", FIELD_STR, PROGRESS(state), 0, "pending"},
};

static const struct field result_fields[] = {
    {"phase", FIELD_STR, RESULT(phase), 0, "steps"},
    {"name", FIELD_STR, RESULT(name), 0, "?"},
    {"state", FIELD_STR, RESULT(state), 0, "pending"},
    {"attempts", FIELD_I64, RESULT(attempts), 0},
    {"exit_code", FIELD_INT, RESULT(exit_code), -1},
    {"duration_ms", FIELD_I64, RESULT(duration_ms), 0},
    {"output", FIELD_STR, RESULT(output), 0, NULL, true},
    {"started", FIELD_STR, RESULT(started)},
};

#define FIELDS(t) t, M87_ARRAY_LEN(t)

static void *member(const void *obj, const struct field *f)
{
    return (char *)obj + f->offset;
}

static void fields_release(const struct field *t, size_t n, void *obj)
{
    for (const struct field *f = t; f < t + n; f++) {
        if (f->type == FIELD_STR)
            free(*(char **)member(obj, f));
        else if (f->type == FIELD_STRV)
            m87_strv_release(member(obj, f));
    }
}

static void fields_load(const struct field *t, size_t n, const struct m87_json *doc, void *obj)
{
    for (const struct field *f = t; f < t + n; f++) {
        const struct m87_json *v = m87_json_get(doc, f->key);
        void *p = member(obj, f);
        const char *s;
        switch (f->type) {
        case FIELD_STR:
            s = m87_json_str(v, f->absent);
            *(char **)p = s ? m87_xstrdup(s) : NULL;
            break;
        case FIELD_BOOL:
            *(bool *)p = m87_json_bool(v, f->none != 0);
            break;
        case FIELD_INT:
            *(int *)p = (int)m87_json_int(v, f->none);
            break;
        case FIELD_I64:
            *(int64_t *)p = m87_json_int(v, f->none);
            break;
        case FIELD_STRV:
            m87_strv_init(p);
            m87_json_to_strv(v, p);
            break;
        }
    }
}

static void fields_write(struct m87_jw *w, const struct field *t, size_t n, const void *obj)
{
    for (const struct field *f = t; f < t + n; f++) {
        const void *p = member(obj, f);
        const char *s;
        int64_t i;
        switch (f->type) {
        case FIELD_STR:
            s = *(char *const *)p;
            m87_jw_kstr(w, f->key, !s && f->empty ? "" : s);
            break;
        case FIELD_BOOL:
            m87_jw_kbool(w, f->key, *(const bool *)p);
            break;
        case FIELD_INT:
        case FIELD_I64:
            i = f->type == FIELD_INT ? *(const int *)p : *(const int64_t *)p;
            m87_jw_key(w, f->key);
            if (f->none < 0 && i < 0)
                m87_jw_null(w);
            else
                m87_jw_int(w, i);
            break;
        case FIELD_STRV:
            m87_jw_key(w, f->key);
            m87_jw_strv(w, p);
            break;
        }
    }
}

void runner_record_release(struct runner_record *rec)
{
    fields_release(FIELDS(record_head), rec);
    fields_release(FIELDS(record_run), rec);
    fields_release(FIELDS(record_tail), rec);
    *rec = (struct runner_record){0};
}

void runner_progress_release(struct runner_progress *p)
{
    fields_release(FIELDS(progress_fields), p);
    for (size_t i = 0; i < p->n_results; i++)
        fields_release(FIELDS(result_fields), &p->results[i]);
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

int runner_record_load(const char *state_dir, const char *id, struct runner_record *rec,
                       struct m87_error **err)
{
    _cleanup_free_ char *path = m87_xasprintf("%s/jobs/%s/job.json", state_dir, id);
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    int rc = m87_state_read_json(path, RUNNER_MAX_STATE_FILE, &doc, err);

    if (rc <= 0)
        return rc;
    *rec = (struct runner_record){0};
    fields_load(FIELDS(record_head), doc, rec);
    fields_load(FIELDS(record_run), doc, rec);
    fields_load(FIELDS(record_tail), doc, rec);
    if (!rec->id || !rec->hash || !rec->state || !rec->workdir || !rec->spec) {
        runner_record_release(rec);
        return m87_error_set(err, M87_E_PARSE, 0, "read '%s': missing fields", path);
    }
    return 1;
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
    fields_load(FIELDS(progress_fields), doc, p);
    const struct m87_json *steps = m87_json_get(doc, "steps");
    p->n_results = m87_json_len(steps);
    p->results = m87_xcalloc(p->n_results ? p->n_results : 1, sizeof(*p->results));
    for (size_t i = 0; i < p->n_results; i++)
        fields_load(FIELDS(result_fields), m87_json_at(steps, i), &p->results[i]);
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

void runner_record_write_run(struct m87_jw *w, const struct runner_record *r)
{
    fields_write(w, FIELDS(record_run), r);
}

void runner_step_result_write(struct m87_jw *w, const struct runner_step_result *s)
{
    m87_jw_obj_open(w);
    fields_write(w, FIELDS(result_fields), s);
    m87_jw_obj_close(w);
}

int runner_record_save(const char *state_dir, const struct runner_record *rec,
                       struct m87_error **err)
{
    struct m87_jw *w = m87_jw_new();

    m87_jw_obj_open(w);
    fields_write(w, FIELDS(record_head), rec);
    fields_write(w, FIELDS(record_run), rec);
    fields_write(w, FIELDS(record_tail), rec);
    m87_jw_obj_close(w);
    return save(state_dir, rec->id, "job.json", m87_jw_finish(w), err);
}

int runner_progress_save(const char *state_dir, const char *id, const struct runner_progress *p,
                         struct m87_error **err)
{
    struct m87_jw *w = m87_jw_new();

    m87_jw_obj_open(w);
    fields_write(w, FIELDS(progress_fields), p);
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
    struct spec_runspec *rs = spec_runspec_parse_stored(rec->spec, strlen(rec->spec), name, err);

    if (rs && rs->n_jobs != 1) {
        spec_runspec_free(rs);
        m87_error_set(err, M87_E_PARSE, 0, "%s: expected one job", name);
        return NULL;
    }
    return rs;
}
