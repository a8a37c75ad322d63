/* The run spec written out: the canonical JSON a job's hash is taken over, and the normalised
 * YAML or JSON dump. The canonical text is a stored format: the same job must give the same
 * bytes in every release, so its layout is spelled out in spec-runspec.h and pinned by fixtures. */
#include <stdio.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "m87/list.h"
#include "m87/spec-runspec.h"
#include "m87/units.h"
#include "m87/yaml-write.h"
#include "spec/spec-out-internal.h"

static const char *const job_types[] = {"service", "job"};
static const char *const workdir_modes[] = {"ephemeral", "persistent"};
static const char *const undo_policies[] = {"executed_steps", "none"};

/* ---- canonical JSON -------------------------------------------------------------------------- */

/* A member of a canonical object of strings. */
struct canon_member {
    const char *name;
    const char *value;
};

static int cmp_member(const void *a, const void *b)
{
    return strcmp(((const struct canon_member *)a)->name, ((const struct canon_member *)b)->name);
}

/* An object of string members in the order of their names' bytes, as the canonical text wants;
 * m is sorted in place. */
static void canon_object(struct m87_jw *w, struct canon_member *m, size_t n)
{
    qsort(m, n, sizeof(*m), cmp_member);
    m87_jw_obj_open(w);
    for (size_t i = 0; i < n; i++)
        m87_jw_kstr(w, m[i].name, m[i].value);
    m87_jw_obj_close(w);
}

static void canon_files(struct m87_jw *w, const struct spec_job *job)
{
    _cleanup_free_ struct canon_member *m =
        m87_xcalloc(job->n_files ? job->n_files : 1, sizeof(*m));
    for (size_t i = 0; i < job->n_files; i++)
        m[i] = (struct canon_member){job->files[i].name, job->files[i].content};
    canon_object(w, m, job->n_files);
}

static void canon_env(struct m87_jw *w, const struct m87_kvlist *env)
{
    _cleanup_free_ struct canon_member *m = m87_xcalloc(env->len ? env->len : 1, sizeof(*m));
    for (size_t i = 0; i < env->len; i++)
        m[i] = (struct canon_member){env->items[i].key,
                                     env->items[i].value ? env->items[i].value : ""};
    canon_object(w, m, env->len);
}

static void canon_run(struct m87_jw *w, const struct spec_run *run)
{
    if (run->shell)
        m87_jw_str(w, run->text);
    else
        m87_jw_strv(w, &run->argv);
}

static void canon_step(struct m87_jw *w, const struct spec_step *step)
{
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "name", step->name);
    m87_jw_key(w, "run");
    canon_run(w, &step->run);
    m87_jw_kint(w, "timeout_ns", step->timeout_ns);
    m87_jw_key(w, "retry");
    m87_jw_obj_open(w);
    m87_jw_kint(w, "attempts", step->retry.attempts);
    m87_jw_kint(w, "backoff_ns", step->retry.backoff_ns);
    m87_jw_key(w, "on_exit_codes");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < step->retry.n_on_exit_codes; i++)
        m87_jw_int(w, step->retry.on_exit_codes[i]);
    m87_jw_arr_close(w);
    m87_jw_obj_close(w);
    m87_jw_key(w, "undo");
    if (step->has_undo) {
        m87_jw_obj_open(w);
        m87_jw_key(w, "run");
        canon_run(w, &step->undo);
        m87_jw_kint(w, "timeout_ns", step->undo_timeout_ns);
        m87_jw_obj_close(w);
    } else {
        m87_jw_null(w);
    }
    m87_jw_obj_close(w);
}

static void canon_steps(struct m87_jw *w, const struct spec_step *steps, size_t n)
{
    m87_jw_arr_open(w);
    for (size_t i = 0; i < n; i++)
        canon_step(w, &steps[i]);
    m87_jw_arr_close(w);
}

char *spec_job_canonical_json(const struct spec_job *job)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "id", job->id);
    m87_jw_kstr(w, "type", job_types[job->type]);
    m87_jw_key(w, "workdir");
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "mode", workdir_modes[job->workdir_mode]);
    m87_jw_kstr(w, "path", job->workdir_path);
    m87_jw_obj_close(w);
    m87_jw_key(w, "files");
    canon_files(w, job);
    m87_jw_kstr(w, "bundle", job->bundle);
    m87_jw_key(w, "env");
    canon_env(w, &job->env);
    m87_jw_key(w, "steps");
    canon_steps(w, job->steps, job->n_steps);
    m87_jw_key(w, "on_failure");
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "undo", undo_policies[job->on_failure_undo]);
    m87_jw_obj_close(w);
    m87_jw_key(w, "stop");
    m87_jw_obj_open(w);
    m87_jw_key(w, "steps");
    canon_steps(w, job->stop_steps, job->n_stop_steps);
    m87_jw_obj_close(w);
    m87_jw_obj_close(w);
    return m87_jw_finish(w);
}

void spec_job_hash(const struct spec_job *job, char out[SPEC_JOB_HASH_LEN + 1])
{
    _cleanup_free_ char *canon = spec_job_canonical_json(job);
    struct m87_sha256 *h = m87_sha256_new();
    m87_sha256_update(h, SPEC_JOB_HASH_PREFIX, strlen(SPEC_JOB_HASH_PREFIX));
    m87_sha256_update(h, canon, strlen(canon));
    m87_sha256_final(h, out);
}

/* ---- dump ------------------------------------------------------------------------------------ */

static void o_kstr(struct spec_out *o, const char *key, const char *s)
{
    out_key(o, key);
    out_str(o, s);
}

/* Go's duration text without the zero tails: "1h", "1h30m", "15m", "5s", "500ms". */
static void o_kduration(struct spec_out *o, const char *key, int64_t ns)
{
    _cleanup_free_ char *s = m87_format_duration(ns);
    size_t len = strlen(s);
    if (len > 3 && strcmp(s + len - 3, "m0s") == 0)
        s[len -= 2] = '\0';
    if (len > 3 && strcmp(s + len - 3, "h0m") == 0)
        s[len - 2] = '\0';
    o_kstr(o, key, s);
}

static void o_run(struct spec_out *o, const char *key, const struct spec_run *run)
{
    out_key(o, key);
    if (run->shell) {
        out_str(o, run->text);
        return;
    }
    out_seq_open(o);
    for (size_t i = 0; i < run->argv.len; i++)
        out_str(o, run->argv.items[i]);
    out_seq_close(o);
}

static void o_retry(struct spec_out *o, const struct spec_retry *retry)
{
    out_key(o, "retry");
    out_map_open(o);
    out_key(o, "attempts");
    out_int(o, retry->attempts);
    o_kduration(o, "backoff", retry->backoff_ns);
    out_key(o, "on_exit_codes");
    out_seq_open(o);
    for (size_t i = 0; i < retry->n_on_exit_codes; i++)
        out_int(o, retry->on_exit_codes[i]);
    out_seq_close(o);
    out_map_close(o);
}

static void o_steps(struct spec_out *o, const struct spec_step *steps, size_t n)
{
    out_key(o, "steps");
    out_seq_open(o);
    for (size_t i = 0; i < n; i++) {
        const struct spec_step *step = &steps[i];
        out_map_open(o);
        o_kstr(o, "name", step->name);
        o_run(o, "run", &step->run);
        o_kduration(o, "timeout", step->timeout_ns);
        o_retry(o, &step->retry);
        if (step->has_undo) {
            out_key(o, "undo");
            out_map_open(o);
            o_run(o, "run", &step->undo);
            o_kduration(o, "timeout", step->undo_timeout_ns);
            out_map_close(o);
        }
        out_map_close(o);
    }
    out_seq_close(o);
}

static void o_job_head(struct spec_out *o, const struct spec_job *job)
{
    o_kstr(o, "id", job->id);
    o_kstr(o, "type", job_types[job->type]);
    out_key(o, "enabled");
    out_bool(o, job->enabled);
    out_key(o, "workdir");
    out_map_open(o);
    o_kstr(o, "mode", workdir_modes[job->workdir_mode]);
    if (job->workdir_path)
        o_kstr(o, "path", job->workdir_path);
    out_map_close(o);
    out_key(o, "files");
    out_map_open(o);
    for (size_t i = 0; i < job->n_files; i++)
        o_kstr(o, job->files[i].name, job->files[i].content);
    out_map_close(o);
    if (job->bundle)
        o_kstr(o, "bundle", job->bundle);
    out_key(o, "env");
    out_map_open(o);
    for (size_t i = 0; i < job->env.len; i++)
        o_kstr(o, job->env.items[i].key, job->env.items[i].value ? job->env.items[i].value : "");
    out_map_close(o);
}

static void o_job(struct spec_out *o, const struct spec_job *job)
{
    out_map_open(o);
    o_job_head(o, job);
    o_steps(o, job->steps, job->n_steps);
    out_key(o, "on_failure");
    out_map_open(o);
    o_kstr(o, "undo", undo_policies[job->on_failure_undo]);
    out_map_close(o);
    out_key(o, "stop");
    out_map_open(o);
    o_steps(o, job->stop_steps, job->n_stop_steps);
    out_map_close(o);
    out_map_close(o);
}

/* yajl writes DEL, C1 controls, U+2028/9, U+FEFF, U+FFFE/F raw; YAML (and so the parser) refuses
 * or folds them. They can only stand inside strings, where a \u escape means the same, so the
 * JSON dump escapes them and stays readable by spec_runspec_parse. */
static char *json_yaml_safe(char *json)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    const unsigned char *p = (const unsigned char *)json, *end = p + strlen(json);
    while (p < end) {
        uint32_t cp = 0;
        size_t len = spec_utf8_next(p, (size_t)(end - p), &cp);
        if (len > 0 && spec_yaml_unsafe(cp)) {
            m87_buf_appendf(&b, NULL, "\\u%04x", (unsigned)cp);
        } else {
            len = len ? len : 1; /* a byte that starts no valid sequence is copied alone */
            m87_buf_append(&b, p, len, NULL);
        }
        p += len;
    }
    free(json);
    return m87_buf_steal(&b);
}

char *spec_runspec_dump(const struct spec_runspec *rs, bool json)
{
    struct spec_out o = {NULL, NULL};
    if (json)
        o.jw = m87_jw_new();
    else
        o.yw = m87_yw_new();
    out_map_open(&o);
    out_key(&o, "jobs");
    out_seq_open(&o);
    for (size_t i = 0; i < rs->n_jobs; i++)
        o_job(&o, &rs->jobs[i]);
    out_seq_close(&o);
    out_map_close(&o);
    return json ? json_yaml_safe(m87_jw_finish(o.jw)) : m87_yw_finish(o.yw);
}
