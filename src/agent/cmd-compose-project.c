/* What the `m87-agent compose` subcommands share: the project loaded as the global options say
 * (or known by its name alone), its services checked, the client of dockerd, the executor's
 * options. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/agent-internal.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/spec-project.h"

static const char *const default_files[] = {"compose.yaml", "compose.yml", "docker-compose.yml",
                                            "docker-compose.yaml"};

static bool default_file_exists(const char *dir)
{
    for (size_t i = 0; i < M87_ARRAY_LEN(default_files); i++) {
        _cleanup_free_ char *path = m87_xasprintf("%s/%s", dir ? dir : ".", default_files[i]);
        struct stat st;
        if (stat(path, &st) == 0)
            return true;
    }
    return false;
}

/* down, ps, logs, stop, start and restart work on a project known only by its name, as docker
 * compose's do: the executor finds its objects by label. */
static struct spec_project *project_by_name(const char *name)
{
    struct spec_project *p = m87_xcalloc(1, sizeof(*p));
    char cwd[PATH_MAX];

    p->name = spec_normalize_project_name(name);
    p->working_dir = m87_xstrdup(getcwd(cwd, sizeof(cwd)) ? cwd : "/");
    return p;
}

void agent_project_release(struct agent_project *ap)
{
    if (!ap->p)
        return;
    if (ap->by_name) {
        free(ap->p->name);
        free(ap->p->working_dir);
        free(ap->p);
    } else {
        spec_project_free(ap->p);
    }
    ap->p = NULL;
}

int agent_project_load(const struct agent_compose *g, bool by_name_ok, struct agent_project *out)
{
    struct spec_load_options lo = {
        .files = (const char *const *)g->files.items,
        .n_files = g->files.len,
        .project_name = g->project_name,
        .project_dir = g->project_dir,
        .env_file = g->env_file,
    };
    _cleanup_error_ struct m87_error *err = NULL;

    if (g->profiles.len) {
        lo.profiles = (const char *const *)g->profiles.items;
        lo.n_profiles = g->profiles.len;
    }
    *out = (struct agent_project){0};
    if (by_name_ok && g->project_name && g->files.len == 0 &&
        !default_file_exists(g->project_dir)) {
        out->p = project_by_name(g->project_name);
        out->by_name = true;
        /* the same rule as with files: a name that would need normalising is refused */
        if (!out->p->name[0] || strcmp(out->p->name, g->project_name) != 0) {
            fprintf(stderr,
                    "m87-agent: invalid project name '%s' (-p): it must consist only of lower "
                    "case letters, digits, '-' and '_', and start with a letter or digit\n",
                    g->project_name);
            agent_project_release(out);
            return AGENT_EXIT_USAGE;
        }
        return AGENT_EXIT_OK;
    }
    out->p = spec_compose_load(&lo, &err);
    if (!out->p) {
        agent_print_error(err);
        return AGENT_EXIT_USAGE;
    }
    for (size_t i = 0; i < out->p->warnings.len; i++)
        fprintf(stderr, "m87-agent: warning: %s\n", out->p->warnings.items[i]);
    return AGENT_EXIT_OK;
}

int agent_check_services(const struct agent_project *ap, char **names, int n)
{
    if (ap->by_name)
        return AGENT_EXIT_OK;
    for (int i = 0; i < n; i++) {
        if (spec_project_service(ap->p, names[i]))
            continue;
        bool disabled = false;
        for (size_t j = 0; j < ap->p->disabled_services.len; j++)
            disabled = disabled || strcmp(ap->p->disabled_services.items[j], names[i]) == 0;
        if (disabled)
            fprintf(stderr, "m87-agent: service '%s' is not in an active profile\n", names[i]);
        else
            fprintf(stderr, "m87-agent: no such service: %s\n", names[i]);
        return AGENT_EXIT_USAGE;
    }
    return AGENT_EXIT_OK;
}

int agent_open_client(struct engine_client **out)
{
    _cleanup_error_ struct m87_error *err = NULL;

    *out = engine_client_new(NULL, &err);
    if (!*out) {
        /* M87_E_INVAL: a DOCKER_HOST we cannot use is bad input */
        agent_print_error(err);
        return m87_error_code(err) == M87_E_INVAL ? AGENT_EXIT_USAGE : AGENT_EXIT_FAILED;
    }
    return AGENT_EXIT_OK;
}

int agent_project_open(const struct agent_compose *g, bool by_name_ok, char **services,
                       int n_services, struct agent_project *ap, struct engine_client **c)
{
    int rc = agent_project_load(g, by_name_ok, ap);

    if (rc == AGENT_EXIT_OK)
        rc = agent_check_services(ap, services, n_services);
    if (rc == AGENT_EXIT_OK)
        rc = agent_open_client(c);
    return rc;
}

/* ---- options shared by the subcommands ----------------------------------------------------------
 */

void agent_options_init(const struct agent_compose *g, struct compose_options *o, char **services,
                        int n_services)
{
    *o = (struct compose_options){
        .timeout_s = -1,
        .on_event = g->progress ? agent_progress_event : NULL,
        .ctx = g->progress,
        .creds = g->creds,
    };
    agent_options_services(o, services, n_services);
}

void agent_options_services(struct compose_options *o, char **services, int n_services)
{
    o->services = n_services > 0 ? (const char *const *)services : NULL;
    o->n_services = n_services > 0 ? (size_t)n_services : 0;
}
