/* The run spec: walk the YAML tree, check every field, fill every default. Each reader takes
 * the node, its PATH for messages ("jobs[0].steps[1]") and the struct to fill; the structs are
 * zeroed first, so whatever was filled before a failure is freed by the same release. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/spec-bundle.h"
#include "m87/spec-pos.h"
#include "m87/spec-runspec.h"
#include "m87/units.h"
#include "m87/yaml.h"
#include "spec/spec-runspec-internal.h"

/* ---- commands and steps ---------------------------------------------------------------------- */

static bool blank(const char *s)
{
    return s[strspn(s, " \t\r\n")] == '\0';
}

static int parse_argv(const struct m87_yaml_node *n, const char *path, struct spec_run *run,
                      struct m87_error **err)
{
    if (m87_yaml_len(n) == 0)
        return rs_error(n, err, M87_E_INVAL, path, "must not be empty");
    for (size_t i = 0; i < m87_yaml_len(n); i++) {
        const struct m87_yaml_node *item = m87_yaml_at(n, i);
        _cleanup_free_ char *ipath = m87_xasprintf("%s[%zu]", path, i);
        const char *s = NULL;
        if (m87_yaml_read_str(item, ipath, &s, err) < 0)
            return -1;
        if (i == 0 && *s == '\0')
            return rs_error(item, err, M87_E_INVAL, ipath, "must not be empty");
        m87_strv_add(&run->argv, s);
    }
    return 0;
}

static int parse_run(const struct m87_yaml_node *n, const char *path, struct spec_run *run,
                     struct m87_error **err)
{
    if (m87_yaml_kind(n) == M87_YAML_SEQUENCE)
        return parse_argv(n, path, run, err);
    if (m87_yaml_kind(n) == M87_YAML_MAPPING || m87_yaml_is_null(n)) {
        _cleanup_free_ char *g = rs_got(n);
        return rs_error(n, err, M87_E_INVAL, path,
                        "expected a string or a sequence of strings, got %s", g);
    }
    const char *s = m87_yaml_text(n);
    if (blank(s))
        return rs_error(n, err, M87_E_INVAL, path, "must not be empty");
    run->shell = true;
    run->text = m87_xstrdup(s);
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int parse_exit_codes(const struct m87_yaml_node *n, const char *path,
                            struct spec_retry *retry, struct m87_error **err)
{
    if (rs_want_kind(n, M87_YAML_SEQUENCE, path, err) < 0)
        return -1;
    size_t len = m87_yaml_len(n), out = 0;
    retry->on_exit_codes = m87_xcalloc(len ? len : 1, sizeof(int));
    for (size_t i = 0; i < len; i++) {
        _cleanup_free_ char *ipath = m87_xasprintf("%s[%zu]", path, i);
        int64_t code = 0;
        if (rs_read_int_range(m87_yaml_at(n, i), ipath, 1, 255, &code, err) < 0)
            return -1;
        retry->on_exit_codes[i] = (int)code;
    }
    qsort(retry->on_exit_codes, len, sizeof(int), cmp_int);
    for (size_t i = 0; i < len; i++)
        if (out == 0 || retry->on_exit_codes[out - 1] != retry->on_exit_codes[i])
            retry->on_exit_codes[out++] = retry->on_exit_codes[i];
    retry->n_on_exit_codes = out;
    return 0;
}

static int parse_retry(const struct m87_yaml_node *n, const char *path, struct spec_retry *retry,
                       struct m87_error **err)
{
    static const char *const fields[] = {"attempts", "backoff", "on_exit_codes", NULL};
    if (rs_check_fields(n, path, fields, err) < 0)
        return -1;
    const struct m87_yaml_node *v;
    if ((v = m87_yaml_get(n, "attempts"))) {
        _cleanup_free_ char *p = rs_child_path(path, "attempts");
        if (rs_read_int_range(v, p, 1, SPEC_RUNSPEC_MAX_ATTEMPTS, &retry->attempts, err) < 0)
            return -1;
    }
    if ((v = m87_yaml_get(n, "backoff"))) {
        _cleanup_free_ char *p = rs_child_path(path, "backoff");
        if (rs_read_duration(v, p, true, &retry->backoff_ns, err) < 0)
            return -1;
    }
    if ((v = m87_yaml_get(n, "on_exit_codes"))) {
        _cleanup_free_ char *p = rs_child_path(path, "on_exit_codes");
        if (parse_exit_codes(v, p, retry, err) < 0)
            return -1;
    }
    return 0;
}

static int parse_undo(const struct m87_yaml_node *n, const char *path, struct spec_step *step,
                      struct m87_error **err)
{
    static const char *const fields[] = {"run", "timeout", NULL};
    if (rs_check_fields(n, path, fields, err) < 0)
        return -1;
    const struct m87_yaml_node *v = rs_required(n, path, "run", err);
    _cleanup_free_ char *rpath = rs_child_path(path, "run");
    if (v == NULL || parse_run(v, rpath, &step->undo, err) < 0)
        return -1;
    step->has_undo = true;
    if ((v = m87_yaml_get(n, "timeout"))) {
        _cleanup_free_ char *p = rs_child_path(path, "timeout");
        if (rs_read_duration(v, p, false, &step->undo_timeout_ns, err) < 0)
            return -1;
    }
    return 0;
}

static int parse_step(const struct m87_yaml_node *n, const char *path, bool stop,
                      struct spec_step *step, struct m87_error **err)
{
    static const char *const fields[] = {"name", "run", "timeout", "retry", "undo", NULL};
    step->timeout_ns = SPEC_RUNSPEC_DEFAULT_TIMEOUT;
    step->retry.attempts = 1;
    step->retry.backoff_ns = SPEC_RUNSPEC_DEFAULT_BACKOFF;
    step->undo_timeout_ns = SPEC_RUNSPEC_DEFAULT_UNDO_TIMEOUT;
    if (rs_check_fields(n, path, fields, err) < 0)
        return -1;
    rs_set_pos(&step->pos, n);
    const struct m87_yaml_node *undo_key = rs_key_of(n, "undo"), *v;
    if (stop && undo_key)
        return rs_error(undo_key, err, M87_E_INVAL, path, "undo is not allowed in stop steps");
    _cleanup_free_ char *npath = rs_child_path(path, "name");
    if ((v = rs_required(n, path, "name", err)) == NULL ||
        rs_read_safe_name(v, npath, "name", &step->name, err) < 0)
        return -1;
    _cleanup_free_ char *rpath = rs_child_path(path, "run");
    if ((v = rs_required(n, path, "run", err)) == NULL || parse_run(v, rpath, &step->run, err) < 0)
        return -1;
    _cleanup_free_ char *tpath = rs_child_path(path, "timeout");
    if ((v = m87_yaml_get(n, "timeout")) &&
        rs_read_duration(v, tpath, false, &step->timeout_ns, err) < 0)
        return -1;
    _cleanup_free_ char *retry_path = rs_child_path(path, "retry");
    if ((v = m87_yaml_get(n, "retry")) && parse_retry(v, retry_path, &step->retry, err) < 0)
        return -1;
    _cleanup_free_ char *upath = rs_child_path(path, "undo");
    if ((v = m87_yaml_get(n, "undo")) && parse_undo(v, upath, step, err) < 0)
        return -1;
    return 0;
}

static int parse_steps(const struct m87_yaml_node *n, const char *path, bool stop,
                       struct spec_step **steps, size_t *n_steps, struct m87_error **err)
{
    if (rs_want_kind(n, M87_YAML_SEQUENCE, path, err) < 0)
        return -1;
    size_t len = m87_yaml_len(n);
    if (len == 0 && !stop)
        return rs_error(n, err, M87_E_INVAL, path, "must have at least one step");
    if (len > SPEC_RUNSPEC_MAX_STEPS)
        return rs_error(n, err, M87_E_TOOBIG, path, "%zu steps exceed the limit of %u", len,
                        SPEC_RUNSPEC_MAX_STEPS);
    *steps = m87_xcalloc(len ? len : 1, sizeof(**steps));
    *n_steps = len;
    for (size_t i = 0; i < len; i++) {
        const struct m87_yaml_node *item = m87_yaml_at(n, i);
        _cleanup_free_ char *ipath = m87_xasprintf("%s[%zu]", path, i);
        if (parse_step(item, ipath, stop, &(*steps)[i], err) < 0)
            return -1;
        for (size_t j = 0; j < i; j++) {
            if (strcmp((*steps)[j].name, (*steps)[i].name) != 0)
                continue;
            _cleanup_free_ char *npath = rs_child_path(ipath, "name");
            return rs_error(m87_yaml_get(item, "name"), err, M87_E_INVAL, npath,
                            "duplicate step name '%s' (first at %s[%zu])", (*steps)[i].name,
                            stop ? "stop.steps" : "steps", j);
        }
    }
    return 0;
}

/* ---- jobs ------------------------------------------------------------------------------------ */

static const char *workdir_problem(const char *s)
{
    return rs_path_problem(s, true);
}

static int parse_workdir(const struct m87_yaml_node *n, const char *path, struct spec_job *job,
                         struct m87_error **err)
{
    static const char *const fields[] = {"mode", "path", NULL};
    static const char *const modes[] = {"ephemeral", "persistent", NULL};
    if (rs_check_fields(n, path, fields, err) < 0)
        return -1;
    const struct m87_yaml_node *v;
    int mode = 0;
    _cleanup_free_ char *mpath = rs_child_path(path, "mode");
    if ((v = m87_yaml_get(n, "mode")) &&
        rs_read_enum(v, mpath, modes, "ephemeral or persistent", &mode, err) < 0)
        return -1;
    job->workdir_mode = (enum spec_workdir_mode)mode;
    if ((v = m87_yaml_get(n, "path")) == NULL)
        return 0;
    _cleanup_free_ char *ppath = rs_child_path(path, "path");
    return rs_read_checked(v, ppath, "path", workdir_problem, &job->workdir_path, err);
}

/* "a" and "a/b" cannot both be files: the first would have to be a directory. */
static int check_file_clash(const struct spec_job *job, size_t i, const struct m87_yaml_node *key,
                            const char *path, struct m87_error **err)
{
    const char *b = job->files[i].name;
    for (size_t j = 0; j < i; j++) {
        const char *a = job->files[j].name;
        size_t la = strlen(a), lb = strlen(b);
        const char *shorter = la < lb ? a : b, *longer = la < lb ? b : a;
        size_t ls = la < lb ? la : lb;
        if (strncmp(shorter, longer, ls) != 0 || longer[ls] != '/')
            continue;
        _cleanup_free_ char *qs = rs_shorten(shorter), *ql = rs_shorten(longer);
        return rs_error(key, err, M87_E_INVAL, path,
                        "files '%s' and '%s' clash: '%s' cannot be both a file and a directory", qs,
                        ql, qs);
    }
    return 0;
}

static int parse_file(const struct m87_yaml_node *key, const struct m87_yaml_node *v,
                      const char *path, struct spec_job *job, size_t *total, struct m87_error **err)
{
    const char *name = m87_yaml_text(key), *content = NULL;
    const char *problem = rs_path_problem(name, false);
    if (problem) {
        _cleanup_free_ char *q = rs_shorten(name);
        return rs_error(key, err, M87_E_INVAL, path, "invalid file name '%s': %s", q, problem);
    }
    _cleanup_free_ char *fpath = rs_child_path(path, name);
    if (m87_yaml_read_str(v, fpath, &content, err) < 0)
        return -1;
    size_t len = strlen(content);
    if (len > SPEC_RUNSPEC_MAX_CONTENT - *total)
        return rs_error(v, err, M87_E_TOOBIG, fpath,
                        "file contents exceed the limit of %u bytes per job",
                        SPEC_RUNSPEC_MAX_CONTENT);
    *total += len;
    struct spec_job_file *f = &job->files[job->n_files++];
    f->name = m87_xstrdup(name);
    f->content = m87_xstrdup(content);
    return check_file_clash(job, job->n_files - 1, key, path, err);
}

static int parse_files(const struct m87_yaml_node *n, const char *path, struct spec_job *job,
                       struct m87_error **err)
{
    if (rs_want_kind(n, M87_YAML_MAPPING, path, err) < 0)
        return -1;
    size_t len = m87_yaml_len(n), total = 0;
    if (len > SPEC_RUNSPEC_MAX_FILES)
        return rs_error(n, err, M87_E_TOOBIG, path, "%zu files exceed the limit of %u", len,
                        SPEC_RUNSPEC_MAX_FILES);
    job->files = m87_xcalloc(len ? len : 1, sizeof(*job->files));
    for (size_t i = 0; i < len; i++) {
        const struct m87_yaml_node *key = NULL, *v = m87_yaml_entry(n, i, &key);
        if (parse_file(key, v, path, job, &total, err) < 0)
            return -1;
    }
    return 0;
}

static const char *digest_problem(const char *s)
{
    return spec_bundle_digest_valid(s) ? NULL : "expected 'sha256:' and 64 lower-case hex digits";
}

static int parse_bundle(const struct m87_yaml_node *n, const char *path, struct spec_job *job,
                        struct m87_error **err)
{
    return rs_read_checked(n, path, "bundle digest", digest_problem, &job->bundle, err);
}

static int parse_env(const struct m87_yaml_node *n, const char *path, struct spec_job *job,
                     struct m87_error **err)
{
    if (rs_want_kind(n, M87_YAML_MAPPING, path, err) < 0)
        return -1;
    size_t len = m87_yaml_len(n);
    if (len > SPEC_RUNSPEC_MAX_ENV)
        return rs_error(n, err, M87_E_TOOBIG, path, "%zu variables exceed the limit of %u", len,
                        SPEC_RUNSPEC_MAX_ENV);
    for (size_t i = 0; i < len; i++) {
        const struct m87_yaml_node *key = NULL, *v = m87_yaml_entry(n, i, &key);
        const char *name = m87_yaml_text(key), *value = NULL;
        if (!rs_env_name(name) || strlen(name) > SPEC_RUNSPEC_MAX_ENV_NAME) {
            _cleanup_free_ char *q = rs_shorten(name);
            return rs_error(key, err, M87_E_INVAL, path,
                            "invalid variable name '%s': use up to %u letters, digits and '_', "
                            "not starting with a digit",
                            q, SPEC_RUNSPEC_MAX_ENV_NAME);
        }
        _cleanup_free_ char *vpath = rs_child_path(path, name);
        if (m87_yaml_read_str(v, vpath, &value, err) < 0)
            return -1;
        m87_kvlist_add(&job->env, name, value);
    }
    return 0;
}

static int parse_on_failure(const struct m87_yaml_node *n, const char *path, struct spec_job *job,
                            struct m87_error **err)
{
    static const char *const fields[] = {"undo", NULL};
    static const char *const policies[] = {"executed_steps", "none", NULL};
    if (rs_check_fields(n, path, fields, err) < 0)
        return -1;
    const struct m87_yaml_node *v = m87_yaml_get(n, "undo");
    int policy = 0;
    _cleanup_free_ char *upath = rs_child_path(path, "undo");
    if (v && rs_read_enum(v, upath, policies, "none or executed_steps", &policy, err) < 0)
        return -1;
    job->on_failure_undo = (enum spec_undo_policy)policy;
    return 0;
}

static int parse_stop(const struct m87_yaml_node *n, const char *path, struct spec_job *job,
                      struct m87_error **err)
{
    static const char *const fields[] = {"steps", NULL};
    if (rs_check_fields(n, path, fields, err) < 0)
        return -1;
    const struct m87_yaml_node *v = m87_yaml_get(n, "steps");
    _cleanup_free_ char *spath = rs_child_path(path, "steps");
    if (v && parse_steps(v, spath, true, &job->stop_steps, &job->n_stop_steps, err) < 0)
        return -1;
    return 0;
}

typedef int (*section_fn)(const struct m87_yaml_node *n, const char *path, struct spec_job *job,
                          struct m87_error **err);

static int parse_section(const struct m87_yaml_node *job_node, const char *path, const char *field,
                         section_fn fn, struct spec_job *job, struct m87_error **err)
{
    const struct m87_yaml_node *v = m87_yaml_get(job_node, field);
    if (v == NULL)
        return 0;
    _cleanup_free_ char *p = rs_child_path(path, field);
    return fn(v, p, job, err);
}

static int parse_job_head(const struct m87_yaml_node *n, const char *path, struct spec_job *job,
                          struct m87_error **err)
{
    static const char *const types[] = {"service", "job", NULL};
    const struct m87_yaml_node *v;
    _cleanup_free_ char *ipath = rs_child_path(path, "id");
    if ((v = rs_required(n, path, "id", err)) == NULL ||
        rs_read_safe_name(v, ipath, "id", &job->id, err) < 0)
        return -1;
    int type = 0;
    _cleanup_free_ char *tpath = rs_child_path(path, "type");
    if ((v = m87_yaml_get(n, "type")) &&
        rs_read_enum(v, tpath, types, "service or job", &type, err) < 0)
        return -1;
    job->type = (enum spec_job_type)type;
    _cleanup_free_ char *epath = rs_child_path(path, "enabled");
    if ((v = m87_yaml_get(n, "enabled")) && m87_yaml_read_bool(v, epath, &job->enabled, err) < 0)
        return -1;
    return 0;
}

static int parse_job(const struct m87_yaml_node *n, const char *path, struct spec_job *job,
                     struct m87_error **err)
{
    static const char *const fields[] = {"id",  "type",  "enabled",    "workdir", "files", "bundle",
                                         "env", "steps", "on_failure", "stop",    NULL};
    job->enabled = true;
    if (rs_check_fields(n, path, fields, err) < 0)
        return -1;
    rs_set_pos(&job->pos, n);
    if (parse_job_head(n, path, job, err) < 0 ||
        parse_section(n, path, "workdir", parse_workdir, job, err) < 0 ||
        parse_section(n, path, "files", parse_files, job, err) < 0 ||
        parse_section(n, path, "bundle", parse_bundle, job, err) < 0 ||
        parse_section(n, path, "env", parse_env, job, err) < 0)
        return -1;
    const struct m87_yaml_node *v = rs_required(n, path, "steps", err);
    _cleanup_free_ char *spath = rs_child_path(path, "steps");
    if (v == NULL || parse_steps(v, spath, false, &job->steps, &job->n_steps, err) < 0)
        return -1;
    if (parse_section(n, path, "on_failure", parse_on_failure, job, err) < 0 ||
        parse_section(n, path, "stop", parse_stop, job, err) < 0)
        return -1;
    spec_job_hash(job, job->hash);
    return 0;
}

static int parse_jobs(const struct m87_yaml_node *n, struct spec_runspec *rs,
                      struct m87_error **err)
{
    if (rs_want_kind(n, M87_YAML_SEQUENCE, "jobs", err) < 0)
        return -1;
    size_t len = m87_yaml_len(n);
    if (len > SPEC_RUNSPEC_MAX_JOBS)
        return rs_error(n, err, M87_E_TOOBIG, "jobs", "%zu jobs exceed the limit of %u", len,
                        SPEC_RUNSPEC_MAX_JOBS);
    rs->jobs = m87_xcalloc(len ? len : 1, sizeof(*rs->jobs));
    rs->n_jobs = len;
    for (size_t i = 0; i < len; i++) {
        const struct m87_yaml_node *item = m87_yaml_at(n, i);
        _cleanup_free_ char *path = m87_xasprintf("jobs[%zu]", i);
        rs->jobs[i].index = i;
        if (parse_job(item, path, &rs->jobs[i], err) < 0)
            return -1;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(rs->jobs[j].id, rs->jobs[i].id) != 0)
                continue;
            _cleanup_free_ char *ipath = rs_child_path(path, "id");
            return rs_error(m87_yaml_get(item, "id"), err, M87_E_INVAL, ipath,
                            "duplicate job id '%s' (first at jobs[%zu])", rs->jobs[i].id, j);
        }
    }
    return 0;
}

/* An ephemeral workdir is the agent's own: created under its state directory, removed when the
 * job stops. One at a path would have the agent remove a directory it did not create. */
static int check_ephemeral_paths(const struct m87_yaml_node *jobs, const struct spec_runspec *rs,
                                 struct m87_error **err)
{
    for (size_t i = 0; i < rs->n_jobs; i++) {
        if (rs->jobs[i].workdir_mode != SPEC_WORKDIR_EPHEMERAL || !rs->jobs[i].workdir_path)
            continue;
        const struct m87_yaml_node *wd = m87_yaml_get(m87_yaml_at(jobs, i), "workdir");
        _cleanup_free_ char *path = m87_xasprintf("jobs[%zu].workdir.path", i);
        return rs_error(m87_yaml_get(wd, "path"), err, M87_E_INVAL, path,
                        "an ephemeral workdir is created by the agent; a path needs mode "
                        "persistent");
    }
    return 0;
}

/* ---- entry points ---------------------------------------------------------------------------- */

static struct spec_runspec *parse_text(const char *text, size_t len, const char *file, bool stored,
                                       struct m87_error **err)
{
    static const char *const fields[] = {"jobs", NULL};
    if (len > SPEC_RUNSPEC_MAX_FILE) {
        m87_error_set(err, M87_E_TOOBIG, 0, "%s: run spec exceeds the limit of %u bytes", file,
                      SPEC_RUNSPEC_MAX_FILE);
        return NULL;
    }
    _cleanup_(m87_yaml_freep) struct m87_yaml_doc *doc = m87_yaml_parse(text, len, file, err);
    if (doc == NULL)
        return NULL;
    const struct m87_yaml_node *root = m87_yaml_root(doc), *jobs;
    if (rs_check_fields(root, "", fields, err) < 0 ||
        (jobs = rs_required(root, "", "jobs", err)) == NULL)
        return NULL;
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = m87_xcalloc(1, sizeof(*rs));
    if (parse_jobs(jobs, rs, err) < 0 || (!stored && check_ephemeral_paths(jobs, rs, err) < 0))
        return NULL;
    return M87_STEAL(rs);
}

struct spec_runspec *spec_runspec_parse(const char *text, size_t len, const char *file,
                                        struct m87_error **err)
{
    return parse_text(text, len, file, false, err);
}

struct spec_runspec *spec_runspec_parse_stored(const char *text, size_t len, const char *file,
                                               struct m87_error **err)
{
    return parse_text(text, len, file, true, err);
}

struct spec_runspec *spec_runspec_load(const char *path, struct m87_error **err)
{
    size_t len = 0;
    /* one byte over the cap, so that an oversized file fails with the parser's message */
    _cleanup_free_ char *text = m87_read_file(path, SPEC_RUNSPEC_MAX_FILE + 1, &len, err);
    if (text == NULL)
        return NULL;
    return spec_runspec_parse(text, len, path, err);
}

static void run_release(struct spec_run *run)
{
    free(run->text);
    m87_strv_release(&run->argv);
}

static void steps_free(struct spec_step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(steps[i].name);
        free(steps[i].pos.file);
        run_release(&steps[i].run);
        free(steps[i].retry.on_exit_codes);
        run_release(&steps[i].undo);
    }
    free(steps);
}

void spec_job_release(struct spec_job *job)
{
    free(job->id);
    free(job->pos.file);
    free(job->workdir_path);
    for (size_t i = 0; i < job->n_files; i++) {
        free(job->files[i].name);
        free(job->files[i].content);
    }
    free(job->files);
    free(job->bundle);
    m87_kvlist_release(&job->env);
    steps_free(job->steps, job->n_steps);
    steps_free(job->stop_steps, job->n_stop_steps);
    memset(job, 0, sizeof(*job));
}

void spec_runspec_free(struct spec_runspec *rs)
{
    if (rs == NULL)
        return;
    for (size_t i = 0; i < rs->n_jobs; i++)
        spec_job_release(&rs->jobs[i]);
    free(rs->jobs);
    free(rs);
}

const struct spec_job *spec_runspec_job(const struct spec_runspec *rs, const char *id)
{
    for (size_t i = 0; i < rs->n_jobs; i++)
        if (rs->jobs[i].id && strcmp(rs->jobs[i].id, id) == 0)
            return &rs->jobs[i];
    return NULL;
}

struct spec_runspec *spec_runspec_parse_job(const struct m87_json *job, const char *file,
                                            struct m87_error **err)
{
    struct m87_jw *w = m87_jw_new();

    m87_jw_obj_open(w);
    m87_jw_key(w, "jobs");
    m87_jw_arr_open(w);
    m87_jw_node(w, job);
    m87_jw_arr_close(w);
    m87_jw_obj_close(w);
    _cleanup_free_ char *text = m87_jw_finish(w);
    return spec_runspec_parse(text, strlen(text), file, err);
}
