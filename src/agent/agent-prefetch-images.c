/* The images a revision needs, known before it is applied: each job's files (and bundle) are
 * written into a scratch directory as the runner would write its workdir, and the compose project
 * its first native `pull` or `up` step names is loaded from there with the job's environment. */
#include <stdlib.h>
#include <string.h>

#include "agent/daemon.h"
#include "agent/prefetch.h"
#include "m87/alloc.h"
#include "m87/compose.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/list.h"
#include "m87/path.h"
#include "m87/runner-text.h"
#include "m87/runner.h"
#include "m87/spec-compose-args.h"
#include "m87/spec-project.h"
#include "m87/spec-runspec.h"
#include "m87/spec-service.h"

/* The global options of argv ("compose", ARGS...), read as `m87-agent compose` reads them; true
 * when the command pulls images (pull, up), false for any other or a line it would refuse. */
static bool read_args(const struct m87_strv *argv, struct spec_compose_args *o)
{
    int argc = (int)argv->len;

    if (spec_compose_args_parse(o, argc, argv->items, SPEC_COMPOSE_ARGS_ALL, NULL) < 0 || o->help)
        return false;
    const char *sub = o->command < argc ? argv->items[o->command] : "";
    return strcmp(sub, "pull") == 0 || strcmp(sub, "up") == 0;
}

static const char *job_env(void *ctx, const char *name)
{
    const char *v = m87_kvlist_get(ctx, name);
    return v ? v : getenv(name);
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

static int load_images(const struct spec_job *job, const struct spec_compose_args *o,
                       const char *wd, struct m87_strv *images, struct m87_error **err)
{
    struct m87_strv files;
    m87_strv_init(&files);
    for (size_t i = 0; i < o->files.len; i++) {
        _cleanup_free_ char *abs = m87_absolute(wd, o->files.items[i]);
        m87_strv_add(&files, abs);
    }
    _cleanup_free_ char *dir = o->project_dir ? m87_absolute(wd, o->project_dir) : NULL;
    _cleanup_free_ char *env_file = o->env_file ? m87_absolute(wd, o->env_file) : NULL;
    struct spec_load_options lo = {
        .files = (const char *const *)files.items,
        .n_files = files.len,
        .project_name = o->project_name,
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
                              struct spec_compose_args *o)
{
    for (size_t i = 0; i < job->n_steps; i++) {
        m87_strv_init(argv);
        if (runner_native_compose(&job->steps[i].run, argv) && read_args(argv, o))
            return true;
        m87_strv_release(argv);
        spec_compose_args_release(o);
        *o = (struct spec_compose_args){0};
    }
    return false;
}

static int job_images(const struct spec_job *job, const char *state_dir, const char *bundles_dir,
                      const char *work_dir, struct m87_strv *images, struct m87_error **err)
{
    struct spec_compose_args o = {0};
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
    spec_compose_args_release(&o);
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
