/* The job a converted compose project becomes: the seed document's shape (pull, up with undo
 * down, stop step down), with the compose files passed explicitly when the device could not
 * find them by itself. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/list.h"
#include "m87/spec-project.h"
#include "m87/spec-runspec.h"
#include "spec/spec-convert-internal.h"

#define NS_PER_MIN (INT64_C(60) * 1000000000)
#define PULL_ATTEMPTS 3
#define PULL_BACKOFF (INT64_C(15) * 1000000000)

static const char *const default_names[] = {"compose.yaml", "compose.yml", "docker-compose.yml",
                                            "docker-compose.yaml"};

/* A word that reads the same to /bin/sh and to the runner's split on blanks. */
static bool plain_word(const char *w)
{
    static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                               "_-./=:@+,";
    return *w && w[strspn(w, safe)] == '\0';
}

static const char *const override_names[] = {"compose.override.yml", "compose.override.yaml",
                                             "docker-compose.override.yml",
                                             "docker-compose.override.yaml"};

/* name is among the travelling files, the compose file itself aside. */
static bool travels(const struct convert_plan *plan, const char *name)
{
    for (size_t j = 0; j < plan->n_files; j++)
        if (strcmp(plan->files[j].name, name) == 0 && strcmp(name, plan->compose_names.items[0]))
            return true;
    for (size_t j = 0; j < plan->bundle.len; j++)
        if (strcmp(plan->bundle.items[j], name) == 0)
            return true;
    return false;
}

/* docker compose discovers one of the default names in the workdir, and an override file beside
 * it: -f is needed unless the one file has a default name and nothing else could be found. */
static bool needs_file_flags(const struct spec_project *p, const struct convert_plan *plan)
{
    if (p->config_files.len != 1 || plan->bundle_has_root)
        return true;
    for (size_t i = 0; i < M87_ARRAY_LEN(override_names); i++)
        if (travels(plan, override_names[i]))
            return true;
    for (size_t i = 0; i < M87_ARRAY_LEN(default_names); i++) {
        if (strcmp(plan->compose_names.items[0], default_names[i]) == 0)
            return false;
        if (travels(plan, default_names[i]))
            return true;
    }
    return true;
}

/* "docker compose [-p NAME] [--project-directory .] [-f FILE]..." for every command. */
static void command_prefix(const struct spec_project *p, const char *id,
                           const struct convert_plan *plan, struct m87_strv *words)
{
    m87_strv_add(words, "docker");
    m87_strv_add(words, "compose");
    _cleanup_free_ char *derived = spec_normalize_project_name(id);
    if (strcmp(derived, p->name) != 0) {
        m87_strv_add(words, "-p");
        m87_strv_add(words, p->name);
    }
    /* docker compose takes the first file's directory as the project's; here it was another */
    if (strchr(plan->compose_names.items[0], '/')) {
        m87_strv_add(words, "--project-directory");
        m87_strv_add(words, ".");
    }
    if (needs_file_flags(p, plan)) {
        for (size_t i = 0; i < plan->compose_names.len; i++) {
            m87_strv_add(words, "-f");
            m87_strv_add(words, plan->compose_names.items[i]);
        }
    }
}

/* A shell string as in the seed document when every word is plain; else an argv, which needs
 * no quoting (a file name with a blank). */
static void set_run(struct spec_run *run, const struct m87_strv *prefix, const char *rest)
{
    struct m87_strv words;
    m87_strv_init(&words);
    bool plain = true;
    for (size_t i = 0; i < prefix->len; i++) {
        m87_strv_add(&words, prefix->items[i]);
        plain = plain && plain_word(prefix->items[i]);
    }
    _cleanup_free_ char *copy = m87_xstrdup(rest);
    for (char *save = NULL, *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
        m87_strv_add(&words, w);
    run->shell = plain;
    if (!plain) {
        run->argv = words;
        return;
    }
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (size_t i = 0; i < words.len; i++)
        m87_buf_appendf(&b, NULL, "%s%s", i ? " " : "", words.items[i]);
    run->text = m87_buf_steal(&b);
    m87_strv_release(&words);
}

static void step(struct spec_step *s, const char *name, const struct m87_strv *prefix,
                 const char *rest, int64_t minutes)
{
    s->name = m87_xstrdup(name);
    set_run(&s->run, prefix, rest);
    s->timeout_ns = minutes * NS_PER_MIN;
    s->retry.attempts = 1;
    s->retry.backoff_ns = SPEC_RUNSPEC_DEFAULT_BACKOFF;
    s->undo_timeout_ns = SPEC_RUNSPEC_DEFAULT_UNDO_TIMEOUT;
}

void spec_convert_build_job(const struct spec_project *p, const char *id, struct convert_plan *plan,
                            const char *digest, struct spec_job *job)
{
    struct m87_strv prefix;
    m87_strv_init(&prefix);
    command_prefix(p, id, plan, &prefix);
    memset(job, 0, sizeof(*job));
    job->id = m87_xstrdup(id);
    job->type = SPEC_JOB_SERVICE;
    job->enabled = true;
    job->workdir_mode = SPEC_WORKDIR_EPHEMERAL;
    job->files = plan->files;
    job->n_files = plan->n_files;
    plan->files = NULL;
    plan->n_files = 0;
    job->bundle = digest ? m87_xstrdup(digest) : NULL;
    job->steps = m87_xcalloc(2, sizeof(*job->steps));
    job->n_steps = 2;
    step(&job->steps[0], "pull", &prefix, "pull", 15);
    job->steps[0].retry.attempts = PULL_ATTEMPTS;
    job->steps[0].retry.backoff_ns = PULL_BACKOFF;
    step(&job->steps[1], "up", &prefix, "up -d --remove-orphans", 10);
    job->steps[1].has_undo = true;
    set_run(&job->steps[1].undo, &prefix, "down --remove-orphans");
    job->steps[1].undo_timeout_ns = 5 * NS_PER_MIN;
    job->on_failure_undo = SPEC_UNDO_EXECUTED_STEPS;
    job->stop_steps = m87_xcalloc(1, sizeof(*job->stop_steps));
    job->n_stop_steps = 1;
    step(&job->stop_steps[0], "down", &prefix, "down --remove-orphans", 5);
    spec_job_hash(job, job->hash);
    m87_strv_release(&prefix);
}
