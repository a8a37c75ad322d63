/* The images a revision needs, known before it is applied: each job's files (and bundle) are
 * written into a scratch directory as the runner would write its workdir, and the compose project
 * its first native `pull` or `up` step names is loaded from there with the job's environment. */
#include <stdlib.h>
#include <string.h>

#include "agent/prefetch.h"
#include "m87/compose.h"
#include "m87/runner-text.h"
#include "m87/runner.h"
#include "m87/spec.h"

struct compose_args {
    struct m87_strv files;
    struct m87_strv profiles;
    const char *project;
    const char *project_dir;
    const char *env_file;
};

static bool takes_value(const char *a)
{
    static const char *const opts[] = {
        "-f",         "--file",    "-p",         "--project-name",
        "--env-file", "--profile", "--progress", "--project-directory"};
    for (size_t i = 0; i < M87_ARRAY_LEN(opts); i++)
        if (strcmp(a, opts[i]) == 0)
            return true;
    return false;
}

static void take_option(struct compose_args *o, const char *a, const char *v)
{
    if (strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0)
        m87_strv_add(&o->files, v);
    else if (strcmp(a, "--profile") == 0)
        m87_strv_add(&o->profiles, v);
    else if (strcmp(a, "-p") == 0 || strcmp(a, "--project-name") == 0)
        o->project = v;
    else if (strcmp(a, "--project-directory") == 0)
        o->project_dir = v;
    else if (strcmp(a, "--env-file") == 0)
        o->env_file = v;
}

/* The options before the subcommand of argv ("compose", ARGS...); true when the subcommand
 * pulls images (pull, up). Values written --opt=value are taken too. */
static bool read_args(const struct m87_strv *argv, struct compose_args *o)
{
    for (size_t i = 1; i < argv->len; i++) {
        const char *a = argv->items[i];
        if (a[0] != '-')
            return strcmp(a, "pull") == 0 || strcmp(a, "up") == 0;
        const char *eq = strchr(a, '=');
        if (eq && strncmp(a, "--", 2) == 0) {
            _cleanup_free_ char *name = m87_xstrndup(a, (size_t)(eq - a));
            take_option(o, name, eq + 1);
        } else if (takes_value(a) && i + 1 < argv->len) {
            take_option(o, a, argv->items[++i]);
        }
    }
    return false;
}

static const char *job_env(void *ctx, const char *name)
{
    const char *v = m87_kvlist_get(ctx, name);
    return v ? v : getenv(name);
}

static char *absolute(const char *dir, const char *path)
{
    return path[0] == '/' ? m87_xstrdup(path) : m87_xasprintf("%s/%s", dir, path);
}

static void add_images(const struct spec_project *p, struct m87_strv *images)
{
    for (size_t i = 0; i < p->n_services; i++) {
        const struct spec_service *s = &p->services[i];
        bool seen = false;
        if (!s->image || s->pull_policy == SPEC_PULL_NEVER)
            continue;
        for (size_t k = 0; k < images->len && !seen; k++)
            seen = strcmp(images->items[k], s->image) == 0;
        if (!seen)
            m87_strv_add(images, s->image);
    }
}

static int load_images(const struct spec_job *job, const struct compose_args *o, const char *wd,
                       struct m87_strv *images, struct m87_error **err)
{
    struct m87_strv files;
    m87_strv_init(&files);
    for (size_t i = 0; i < o->files.len; i++) {
        _cleanup_free_ char *abs = absolute(wd, o->files.items[i]);
        m87_strv_add(&files, abs);
    }
    _cleanup_free_ char *dir = o->project_dir ? absolute(wd, o->project_dir) : NULL;
    _cleanup_free_ char *env_file = o->env_file ? absolute(wd, o->env_file) : NULL;
    struct spec_load_options lo = {
        .files = (const char *const *)files.items,
        .n_files = files.len,
        .project_name = o->project,
        .project_dir = dir ? dir : (files.len ? NULL : wd),
        .env_file = env_file,
        .profiles = (const char *const *)o->profiles.items,
        .n_profiles = o->profiles.len,
        .lookup = job_env,
        .lookup_ctx = (void *)&job->env,
    };
    struct spec_project *p = spec_compose_load(&lo, err);
    m87_strv_release(&files);
    if (!p)
        return m87_error_wrap(err, "job '%s'", job->id);
    add_images(p, images);
    spec_project_free(p);
    return 0;
}

/* The first native compose step that pulls; false when the job has none. */
static bool find_compose_step(const struct spec_job *job, struct m87_strv *argv,
                              struct compose_args *o)
{
    for (size_t i = 0; i < job->n_steps; i++) {
        m87_strv_init(argv);
        if (runner_native_compose(&job->steps[i].run, argv) && read_args(argv, o))
            return true;
        m87_strv_release(argv);
        m87_strv_release(&o->files);
        m87_strv_release(&o->profiles);
        *o = (struct compose_args){0};
    }
    return false;
}

static int job_images(const struct spec_job *job, const char *state_dir, const char *bundles_dir,
                      const char *work_dir, struct m87_strv *images, struct m87_error **err)
{
    struct compose_args o = {0};
    struct m87_strv argv, names;

    if (!find_compose_step(job, &argv, &o))
        return 0;
    struct runner r = {.state_dir = (char *)state_dir, .bundles_dir = (char *)bundles_dir};
    _cleanup_free_ char *wd = m87_xasprintf("%s/%s", work_dir, job->id);
    m87_strv_init(&names);
    int rc = m87_remove_tree(wd, err);
    if (rc == 0)
        rc = runner_workdir_prepare(&r, job, wd, NULL, &names, err);
    if (rc == 0)
        rc = load_images(job, &o, wd, images, err);
    m87_remove_tree(wd, NULL);
    m87_strv_release(&names);
    m87_strv_release(&argv);
    m87_strv_release(&o.files);
    m87_strv_release(&o.profiles);
    return rc;
}

int agent_revision_images(const struct spec_runspec *rs, const char *state_dir,
                          const char *bundles_dir, const char *work_dir, struct m87_strv *images,
                          struct m87_error **err)
{
    if (m87_mkdir_p(work_dir, 0700, err) < 0)
        return -1;
    for (size_t i = 0; i < rs->n_jobs; i++)
        if (rs->jobs[i].enabled &&
            job_images(&rs->jobs[i], state_dir, bundles_dir, work_dir, images, err) < 0)
            return -1;
    return 0;
}
