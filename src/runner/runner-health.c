/* A service job is succeeded only once its containers run: found by the compose project label
 * of the project its `up` step used, watched until they have been running (and healthy, where
 * they have a health check) for a moment, failed as soon as one exits. */
#include <poll.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/engine-containers.h"
#include "m87/engine-logs.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/path.h"
#include "m87/runner-text.h"
#include "m87/runner.h"
#include "m87/spec-compose-args.h"
#include "m87/spec-project.h"
#include "m87/spec-runspec.h"
#include "m87/time.h"

#define POLL_MS 250
#define LOG_LINES "10"

/* The global options of a native compose command line (argv[0] "compose") whose command is "up",
 * read as `m87-agent compose` reads them; false for any other command or a line it would refuse. */
static bool read_up_options(const struct m87_strv *argv, struct spec_compose_args *o)
{
    int argc = (int)argv->len;

    if (spec_compose_args_parse(o, argc, argv->items, SPEC_COMPOSE_ARGS_ALL, NULL) < 0 || o->help)
        return false;
    return o->command < argc && strcmp(argv->items[o->command], "up") == 0;
}

static const char *env_lookup(void *ctx, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = ctx; *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

/* The project of the last native `up`: its -p, else what loading its files says (name:,
 * COMPOSE_PROJECT_NAME, the directory), else the workdir's name. */
static char *project_name(const struct spec_job *job, const char *workdir, char *const *envp)
{
    for (size_t i = job->n_steps; i-- > 0;) {
        struct m87_strv argv;
        struct spec_compose_args o = {0};
        m87_strv_init(&argv);
        char *name = NULL;
        if (runner_native_compose(&job->steps[i].run, &argv) && read_up_options(&argv, &o)) {
            struct m87_strv files;
            m87_strv_init(&files);
            for (size_t f = 0; f < o.files.len; f++) {
                _cleanup_free_ char *abs = m87_absolute(workdir, o.files.items[f]);
                m87_strv_add(&files, abs);
            }
            _cleanup_free_ char *dir = o.project_dir ? m87_absolute(workdir, o.project_dir) : NULL;
            _cleanup_free_ char *env_file = o.env_file ? m87_absolute(workdir, o.env_file) : NULL;
            struct spec_load_options lo = {
                .files = (const char *const *)files.items,
                .n_files = files.len,
                .project_name = o.project_name,
                .project_dir = dir ? dir : (files.len ? NULL : workdir),
                .env_file = env_file,
                .lookup = env_lookup,
                .lookup_ctx = (void *)envp,
            };
            if (o.profiles.len) {
                lo.profiles = (const char *const *)o.profiles.items;
                lo.n_profiles = o.profiles.len;
            }
            struct spec_project *p = spec_compose_load(&lo, NULL);
            if (p)
                name = m87_xstrdup(p->name);
            else if (o.project_name)
                name = spec_normalize_project_name(o.project_name);
            spec_project_free(p);
            m87_strv_release(&files);
        }
        m87_strv_release(&argv);
        spec_compose_args_release(&o);
        if (name)
            return name;
    }
    const char *base = strrchr(workdir, '/');
    return spec_normalize_project_name(base ? base + 1 : workdir);
}

static int collect_line(void *ctx, enum engine_stream stream, const char *data, size_t len)
{
    (void)stream;
    m87_buf_append(ctx, "\n", 1, NULL);
    m87_buf_append(ctx, data, len, NULL);
    return 0;
}

static char *last_lines(struct engine_client *c, const char *id)
{
    struct m87_buf b;
    struct engine_logs_options lo = {.tail = LOG_LINES, .lines = true};

    m87_buf_init(&b, RUNNER_OUTPUT_TAIL);
    engine_container_logs(c, id, &lo, collect_line, &b, NULL);
    _cleanup_free_ char *text = m87_buf_steal(&b);
    return runner_utf8_clean(text, strlen(text));
}

enum verdict { VERDICT_ERROR = -1, READY, WAITING, WAITING_HEALTH, BROKEN };

/* What one container says; BROKEN fills *message. */
static enum verdict judge(struct engine_client *c, const struct engine_container_summary *s,
                          char **message, struct m87_error **err)
{
    _cleanup_(engine_container_info_freep) struct engine_container_info *info = NULL;

    if (engine_container_inspect(c, s->id, &info, err) < 0)
        return m87_error_code(*err) == M87_E_NOTFOUND ? (m87_error_clear(err), WAITING)
                                                      : VERDICT_ERROR;
    if (strcmp(info->status, "exited") == 0 || strcmp(info->status, "dead") == 0 ||
        (info->health && strcmp(info->health, "unhealthy") == 0)) {
        _cleanup_free_ char *lines = last_lines(c, s->id);
        const char *what =
            info->health && strcmp(info->health, "unhealthy") == 0 ? "is unhealthy" : "exited";
        *message = m87_xasprintf("container '%s' %s (exit code %d)%s%s", info->name, what,
                                 info->exit_code, *lines ? ", last log lines:" : "", lines);
        return BROKEN;
    }
    if (!info->running || info->restarting)
        return WAITING;
    if (info->health && strcmp(info->health, "healthy") != 0)
        return WAITING_HEALTH;
    return READY;
}

static int open_engine(struct runner *r, struct m87_error **err)
{
    struct engine_client_options o = {.host = r->docker_host};

    if (!r->engine)
        r->engine = engine_client_new(&o, err);
    return r->engine ? 0 : -1;
}

/* One look at every container: the worst verdict, the first waiting one's name in *who. */
static int look(struct runner *r, const struct m87_kvlist *filters, enum verdict *v, char **who,
                char **message, struct m87_error **err)
{
    struct engine_container_summary *list = NULL;
    size_t n = 0;

    if (engine_container_list(r->engine, true, filters, &list, &n, err) < 0)
        return -1;
    *v = READY;
    for (size_t i = 0; i < n && *v != BROKEN; i++) {
        enum verdict j = judge(r->engine, &list[i], message, err);
        if (j == VERDICT_ERROR) {
            engine_container_summaries_free(list, n);
            return -1;
        }
        if (j != READY && !*who)
            *who = m87_xasprintf("'%s' (%s)", list[i].name, list[i].state);
        if (j > *v)
            *v = j;
    }
    engine_container_summaries_free(list, n);
    return (int)n;
}

int runner_check_interactive(struct runner *r, const struct spec_job *job, const char *workdir,
                             char *const *envp, char **message, struct m87_error **err)
{
    struct engine_container_summary *list = NULL;
    size_t n = 0;

    if (job->type != SPEC_JOB_SERVICE)
        return 0;
    _cleanup_free_ char *project = project_name(job, workdir, envp);
    _cleanup_free_ char *label = m87_xasprintf("com.docker.compose.project=%s", project);
    struct m87_kvlist filters;
    m87_kvlist_init(&filters);
    m87_kvlist_add(&filters, "label", label);
    m87_kvlist_add(&filters, "label", AGENT_INTERACTIVE_LABEL "=true");
    int rc = open_engine(r, err);
    if (rc == 0)
        rc = engine_container_list(r->engine, true, &filters, &list, &n, err);
    m87_kvlist_release(&filters);
    if (rc < 0)
        return -1;
    engine_container_summaries_free(list, n);
    if (n == 0)
        return 0;
    *message = m87_xasprintf(
        "project '%s' runs as an interactive stack on this device (%zu container%s started by "
        "`m87 DEVICE docker compose`); take it down with `m87 DEVICE docker compose -p %s down` "
        "or give the deployment another project name",
        project, n, n == 1 ? "" : "s", project);
    return 1;
}

int runner_check_service(struct runner *r, const struct spec_job *job, const char *workdir,
                         char *const *envp, int *count, char **message, struct m87_error **err)
{
    _cleanup_free_ char *project = project_name(job, workdir, envp);
    _cleanup_free_ char *label = m87_xasprintf("com.docker.compose.project=%s", project);
    struct m87_kvlist filters;
    int64_t t0 = m87_mono_ms(), steady = -1;
    int rc = -1;

    m87_kvlist_init(&filters);
    m87_kvlist_add(&filters, "label", label);
    if (open_engine(r, err) < 0)
        goto out;
    for (;;) {
        enum verdict v;
        _cleanup_free_ char *who = NULL;
        int n = look(r, &filters, &v, &who, message, err);
        int64_t now = m87_mono_ms();
        if (n < 0)
            goto out;
        *count = n;
        if (n == 0 || v == BROKEN) {
            rc = n == 0 ? 0 : 1;
            goto out;
        }
        steady = v == READY ? (steady < 0 ? now : steady) : -1;
        if (steady >= 0 && now - steady >= RUNNER_STEADY_MS) {
            rc = 0;
            goto out;
        }
        long bound = v == WAITING_HEALTH ? RUNNER_HEALTH_MS : RUNNER_SETTLE_MS;
        if (v != READY && now - t0 > bound) {
            *message = m87_xasprintf("container %s did not become %s within %ld s", who,
                                     v == WAITING_HEALTH ? "healthy" : "running", bound / 1000);
            rc = 1;
            goto out;
        }
        poll(NULL, 0, POLL_MS);
    }
out:
    m87_kvlist_release(&filters);
    return rc;
}
