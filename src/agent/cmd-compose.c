/* `m87-agent compose`: the Docker Compose command line over the native executor. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/agent-internal.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-compose-args.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"

enum {
    OPT_REMOVE_ORPHANS = 256,
    OPT_WAIT,
    OPT_WAIT_TIMEOUT,
    OPT_PULL,
    OPT_FORCE_RECREATE,
    OPT_FORMAT,
    OPT_SERVICES,
    OPT_TAIL,
    OPT_NO_PREFIX,
    OPT_IGNORE_PULL_FAILURES,
};

/* Set by the daemon for its first apply after a start: an unchanged service job whose
 * containers are gone is brought back from the images already on the device, registry or not. */
#define IGNORE_PULL_FAILURES_ENV "M87_COMPOSE_IGNORE_PULL_FAILURES"

static const char *const default_files[] = {"compose.yaml", "compose.yml", "docker-compose.yml",
                                            "docker-compose.yaml"};

int agent_parse_long(const char *cmd, const char *opt, const char *text, long min, long max,
                     long *out)
{
    char *end = NULL;

    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        fprintf(stderr, "m87-agent: %s: invalid value '%s' for %s\n", cmd, text, opt);
        return -1;
    }
    *out = v;
    return 0;
}

void agent_print_error(const struct m87_error *err)
{
    fprintf(stderr, "m87-agent: %s\n", err && err->msg ? err->msg : "unknown error");
}

/* Input is checked whole before anything is applied (the parser, the options), so whatever
 * fails afterwards is the stack or dockerd failing, whatever its code: a dependency that did
 * not start is M87_E_INVAL to the executor but exit status 1 to the user. */
int agent_exit_for(const struct m87_error *err)
{
    (void)err;
    return AGENT_EXIT_FAILED;
}

/* ---- the project ------------------------------------------------------------------------------
 */

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

/* ---- options shared by the subcommands ----------------------------------------------------------
 */

void agent_options_init(const struct agent_compose *g, struct compose_options *o, char **services,
                        int n_services)
{
    *o = (struct compose_options){
        .services = n_services > 0 ? (const char *const *)services : NULL,
        .n_services = n_services > 0 ? (size_t)n_services : 0,
        .timeout_s = -1,
        .on_event = g->progress ? agent_progress_event : NULL,
        .ctx = g->progress,
    };
}

/* The common tail of the simple subcommands: load, check the services, connect, run. */
typedef int (*compose_op_fn)(struct engine_client *c, const struct spec_project *p,
                             const struct compose_options *opts, struct m87_error **err);

static int run_op(struct agent_compose *g, compose_op_fn op, bool by_name_ok,
                  struct compose_options *o, char **services, int n_services)
{
    _cleanup_(agent_project_release) struct agent_project ap = {0};
    _cleanup_(engine_client_freep) struct engine_client *c = NULL;
    _cleanup_error_ struct m87_error *err = NULL;
    int rc = agent_project_load(g, by_name_ok, &ap);

    if (rc == AGENT_EXIT_OK)
        rc = agent_check_services(&ap, services, n_services);
    if (rc == AGENT_EXIT_OK)
        rc = agent_open_client(&c);
    if (rc != AGENT_EXIT_OK)
        return rc;
    rc = op(c, ap.p, o, &err);
    agent_progress_flush(g->progress);
    if (rc < 0) {
        agent_print_error(err);
        return agent_exit_for(err);
    }
    return AGENT_EXIT_OK;
}

/* ---- up -----------------------------------------------------------------------------------------
 */

static void up_usage(FILE *out)
{
    fprintf(out,
            "usage: m87-agent compose up [options] [SERVICE...]\n"
            "\n"
            "Create and start the project's containers: pull the missing images, create networks\n"
            "and volumes, recreate only the containers whose configuration changed, and start\n"
            "them in dependency order.\n"
            "\n"
            "options:\n"
            "  -d, --detach             return once the containers are started (without it,\n"
            "                           follow their logs; Ctrl-C stops them)\n"
            "      --remove-orphans     remove containers of services no longer in the files\n"
            "      --wait               wait until every container runs and is healthy\n"
            "                           (implies -d)\n"
            "      --wait-timeout SECONDS  bound of --wait\n"
            "      --pull POLICY        always, missing, never, or policy: each service's\n"
            "                           pull_policy (the default)\n"
            "      --force-recreate     recreate containers even when nothing changed\n"
            "  -h, --help               show this help\n");
}

static int parse_pull(const char *text, enum compose_pull *out)
{
    static const struct {
        const char *name;
        enum compose_pull pull;
    } policies[] = {
        {"always", COMPOSE_PULL_ALWAYS},
        {"missing", COMPOSE_PULL_MISSING},
        {"never", COMPOSE_PULL_NEVER},
        {"policy", COMPOSE_PULL_POLICY},
    };

    for (size_t i = 0; i < M87_ARRAY_LEN(policies); i++) {
        if (strcmp(text, policies[i].name) == 0) {
            *out = policies[i].pull;
            return 0;
        }
    }
    fprintf(stderr,
            "m87-agent: compose up: invalid --pull '%s' (always, missing, never or policy)\n",
            text);
    return -1;
}

static int up_parse(int argc, char **argv, struct compose_options *o, bool *detach)
{
    static const struct option opts[] = {
        {"detach", no_argument, NULL, 'd'},
        {"remove-orphans", no_argument, NULL, OPT_REMOVE_ORPHANS},
        {"wait", no_argument, NULL, OPT_WAIT},
        {"wait-timeout", required_argument, NULL, OPT_WAIT_TIMEOUT},
        {"pull", required_argument, NULL, OPT_PULL},
        {"force-recreate", no_argument, NULL, OPT_FORCE_RECREATE},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    long secs;
    int ch;

    while ((ch = getopt_long(argc, argv, ":dh", opts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            *detach = true;
            break;
        case OPT_REMOVE_ORPHANS:
            o->remove_orphans = true;
            break;
        case OPT_WAIT:
            o->wait = true;
            *detach = true; /* as in compose: waiting implies detaching */
            break;
        case OPT_WAIT_TIMEOUT:
            if (agent_parse_long("compose up", "--wait-timeout", optarg, 0, LONG_MAX / 1000,
                                 &secs) < 0)
                return AGENT_EXIT_USAGE;
            o->wait_timeout_ms = secs * 1000;
            break;
        case OPT_PULL:
            if (parse_pull(optarg, &o->pull) < 0)
                return AGENT_EXIT_USAGE;
            break;
        case OPT_FORCE_RECREATE:
            o->force_recreate = true;
            break;
        case 'h':
            up_usage(stdout);
            return -1;
        default:
            return agent_bad_option("compose up", argv, ch);
        }
    }
    return AGENT_EXIT_OK;
}

static int cmd_up(struct agent_compose *g, int argc, char **argv)
{
    struct compose_options o;
    bool detach = false;

    agent_options_init(g, &o, NULL, 0);
    int rc = up_parse(argc, argv, &o, &detach);
    if (rc != AGENT_EXIT_OK)
        return rc < 0 ? AGENT_EXIT_OK : rc;
    char **services = argv + optind;
    int n = argc - optind;
    o.services = n > 0 ? (const char *const *)services : NULL;
    o.n_services = n > 0 ? (size_t)n : 0;
    rc = run_op(g, compose_up, false, &o, services, n);
    if (rc != AGENT_EXIT_OK || detach)
        return rc;
    return agent_compose_attach(g, services, n);
}

/* ---- down, pull, stop, start, restart -------------------------------------------------------- */

static void down_usage(FILE *out)
{
    fprintf(out, "usage: m87-agent compose down [options]\n"
                 "\n"
                 "Stop and remove the project's containers and networks (and volumes with -v).\n"
                 "Without compose files, -p NAME names the project.\n"
                 "\n"
                 "options:\n"
                 "      --remove-orphans  also remove containers of services not in the files\n"
                 "  -v, --volumes         remove named volumes and anonymous volumes\n"
                 "  -t, --timeout N       seconds to wait for each container to stop\n"
                 "  -h, --help            show this help\n");
}

static int cmd_down(struct agent_compose *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"remove-orphans", no_argument, NULL, OPT_REMOVE_ORPHANS},
        {"volumes", no_argument, NULL, 'v'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct compose_options o;
    long t;
    int ch;

    agent_options_init(g, &o, NULL, 0);
    while ((ch = getopt_long(argc, argv, ":vt:h", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_REMOVE_ORPHANS:
            o.remove_orphans = true;
            break;
        case 'v':
            o.volumes = true;
            break;
        case 't':
            if (agent_parse_long("compose down", "--timeout", optarg, 0, INT_MAX, &t) < 0)
                return AGENT_EXIT_USAGE;
            o.timeout_s = (int)t;
            break;
        case 'h':
            down_usage(stdout);
            return AGENT_EXIT_OK;
        default:
            return agent_bad_option("compose down", argv, ch);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "m87-agent: compose down: unexpected argument '%s'\n", argv[optind]);
        return AGENT_EXIT_USAGE;
    }
    return run_op(g, compose_down, true, &o, NULL, 0);
}

struct simple_cmd {
    const char *name;
    compose_op_fn op;
    bool has_timeout;
    bool by_name_ok;
    const char *what;
};

static const struct simple_cmd simple_cmds[] = {
    {"pull", compose_pull, false, false, "Pull the images of the services."},
    {"stop", compose_stop, true, true, "Stop the services' containers."},
    {"start", compose_start, false, true, "Start the services' existing containers."},
    {"restart", compose_restart, true, true, "Restart the services' containers."},
};

static void simple_usage(const struct simple_cmd *sc, FILE *out)
{
    fprintf(out, "usage: m87-agent compose %s [options] [SERVICE...]\n\n%s\n\noptions:\n", sc->name,
            sc->what);
    if (sc->has_timeout)
        fprintf(out, "  -t, --timeout N  seconds to wait for each container to stop\n");
    fprintf(out, "  -h, --help       show this help\n");
}

static int cmd_simple(struct agent_compose *g, const struct simple_cmd *sc, int argc, char **argv)
{
    static const struct option opts[] = {
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    _cleanup_free_ char *cmd = m87_xasprintf("compose %s", sc->name);
    struct compose_options o;
    long t;
    int ch;

    agent_options_init(g, &o, NULL, 0);
    while ((ch = getopt_long(argc, argv, sc->has_timeout ? ":t:h" : ":h",
                             sc->has_timeout ? opts : opts + 1, NULL)) != -1) {
        switch (ch) {
        case 't':
            if (agent_parse_long(cmd, "--timeout", optarg, 0, INT_MAX, &t) < 0)
                return AGENT_EXIT_USAGE;
            o.timeout_s = (int)t;
            break;
        case 'h':
            simple_usage(sc, stdout);
            return AGENT_EXIT_OK;
        default:
            return agent_bad_option(cmd, argv, ch);
        }
    }
    int n = argc - optind;
    o.services = n > 0 ? (const char *const *)(argv + optind) : NULL;
    o.n_services = n > 0 ? (size_t)n : 0;
    return run_op(g, sc->op, sc->by_name_ok, &o, argv + optind, n);
}

/* ---- config --------------------------------------------------------------------------------- */

static void config_usage(FILE *out)
{
    fprintf(out, "usage: m87-agent compose config [options]\n"
                 "\n"
                 "Check the compose files and print the project as the executor sees it: files\n"
                 "merged, variables interpolated, defaults applied, paths made absolute.\n"
                 "\n"
                 "options:\n"
                 "      --format FORMAT  yaml (default) or json\n"
                 "      --services       print only the service names, one a line\n"
                 "  -q, --quiet          only check, print nothing\n"
                 "  -h, --help           show this help\n");
}

static int cmd_config(struct agent_compose *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, OPT_FORMAT},
        {"services", no_argument, NULL, OPT_SERVICES},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    bool json = false, services = false, quiet = false;
    int ch;

    while ((ch = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_FORMAT:
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "yaml") != 0) {
                fprintf(stderr,
                        "m87-agent: compose config: invalid --format '%s' "
                        "(yaml or json)\n",
                        optarg);
                return AGENT_EXIT_USAGE;
            }
            json = strcmp(optarg, "json") == 0;
            break;
        case OPT_SERVICES:
            services = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            config_usage(stdout);
            return AGENT_EXIT_OK;
        default:
            return agent_bad_option("compose config", argv, ch);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "m87-agent: compose config: unexpected argument '%s'\n", argv[optind]);
        return AGENT_EXIT_USAGE;
    }
    _cleanup_(agent_project_release) struct agent_project ap = {0};
    int rc = agent_project_load(g, false, &ap);
    if (rc != AGENT_EXIT_OK || quiet)
        return rc;
    if (services) {
        for (size_t i = 0; i < ap.p->n_services; i++)
            printf("%s\n", ap.p->services[i].name);
        return AGENT_EXIT_OK;
    }
    _cleanup_free_ char *text = spec_project_dump(ap.p, json);
    fputs(text, stdout);
    if (json && text[0] && text[strlen(text) - 1] != '\n')
        fputc('\n', stdout);
    return AGENT_EXIT_OK;
}

/* ---- compose itself
 * ------------------------------------------------------------------------------ */

static void pull_usage(FILE *out)
{
    fprintf(out, "usage: m87-agent compose pull [options] [SERVICE...]\n"
                 "\n"
                 "Pull the images of the services.\n"
                 "\n"
                 "options:\n"
                 "      --ignore-pull-failures  a failed pull is a warning when every image of\n"
                 "                              the selected services is present on the device\n"
                 "  -h, --help                  show this help\n");
}

/* Whether every image the selected services name is in dockerd's store already. */
static bool images_present(struct engine_client *c, const struct spec_project *p, char **services,
                           int n)
{
    for (size_t i = 0; i < p->n_services; i++) {
        const struct spec_service *s = &p->services[i];
        bool selected = n == 0;
        for (int k = 0; k < n && !selected; k++)
            selected = strcmp(services[k], s->name) == 0;
        if (!selected || !s->image)
            continue;
        struct engine_image_info *info = NULL;
        _cleanup_error_ struct m87_error *err = NULL;
        if (engine_image_inspect(c, s->image, &info, &err) < 0)
            return false;
        engine_image_info_free(info);
    }
    return true;
}

static int pull_run(struct agent_compose *g, bool ignore, char **services, int n)
{
    _cleanup_(agent_project_release) struct agent_project ap = {0};
    _cleanup_(engine_client_freep) struct engine_client *c = NULL;
    _cleanup_error_ struct m87_error *err = NULL;
    struct compose_options o;
    int rc = agent_project_load(g, false, &ap);

    if (rc == AGENT_EXIT_OK)
        rc = agent_check_services(&ap, services, n);
    if (rc == AGENT_EXIT_OK)
        rc = agent_open_client(&c);
    if (rc != AGENT_EXIT_OK)
        return rc;
    agent_options_init(g, &o, NULL, 0);
    o.services = n > 0 ? (const char *const *)services : NULL;
    o.n_services = n > 0 ? (size_t)n : 0;
    rc = compose_pull(c, ap.p, &o, &err);
    agent_progress_flush(g->progress);
    if (rc == 0)
        return AGENT_EXIT_OK;
    if (ignore && images_present(c, ap.p, services, n)) {
        fprintf(stderr, "m87-agent: compose pull: warning: %s; using the images present\n",
                err->msg);
        return AGENT_EXIT_OK;
    }
    agent_print_error(err);
    return agent_exit_for(err);
}

static int cmd_pull(struct agent_compose *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"ignore-pull-failures", no_argument, NULL, OPT_IGNORE_PULL_FAILURES},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *env = getenv(IGNORE_PULL_FAILURES_ENV);
    bool ignore = env && strcmp(env, "1") == 0;
    int ch;

    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_IGNORE_PULL_FAILURES:
            ignore = true;
            break;
        case 'h':
            pull_usage(stdout);
            return AGENT_EXIT_OK;
        default:
            return agent_bad_option("compose pull", argv, ch);
        }
    }
    return pull_run(g, ignore, argv + optind, argc - optind);
}

static int cmd_stop(struct agent_compose *g, int argc, char **argv)
{
    return cmd_simple(g, &simple_cmds[1], argc, argv);
}

static int cmd_start(struct agent_compose *g, int argc, char **argv)
{
    return cmd_simple(g, &simple_cmds[2], argc, argv);
}

static int cmd_restart(struct agent_compose *g, int argc, char **argv)
{
    return cmd_simple(g, &simple_cmds[3], argc, argv);
}

struct compose_subcommand {
    const char *name;
    int (*handler)(struct agent_compose *g, int argc, char **argv);
    bool progress; /* reports executor events */
    const char *summary;
};

static const struct compose_subcommand subcommands[] = {
    {"up", cmd_up, true, "create and start containers"},
    {"down", cmd_down, true, "stop and remove containers, networks (and volumes)"},
    {"pull", cmd_pull, true, "pull service images"},
    {"ps", agent_compose_ps, false, "list containers"},
    {"logs", agent_compose_logs, false, "show container output"},
    {"stop", cmd_stop, true, "stop services"},
    {"start", cmd_start, true, "start services"},
    {"restart", cmd_restart, true, "restart services"},
    {"config", cmd_config, false, "check and print the normalised project"},
};

static void compose_usage(FILE *out)
{
    fprintf(out,
            "usage: m87-agent compose [options] COMMAND [ARGS...]\n"
            "\n"
            "Apply a Docker Compose project through the Docker Engine API ($DOCKER_HOST, default\n"
            "unix:///var/run/docker.sock), as Docker Compose v2 does.\n"
            "\n"
            "options:\n"
            "  -f, --file FILE             compose file (repeat to merge; default: compose.yaml,\n"
            "                              compose.yml, docker-compose.yml or docker-compose.yaml\n"
            "                              in the project directory)\n"
            "  -p, --project-name NAME     project name (default: $COMPOSE_PROJECT_NAME, name:,\n"
            "                              or the project directory's name)\n"
            "      --project-directory DIR project directory (default: the first file's)\n"
            "      --env-file FILE         variables file (default: PROJECT_DIR/.env)\n"
            "      --profile PROFILE       enable a profile (repeatable; default:\n"
            "                              $COMPOSE_PROFILES)\n"
            "      --progress MODE         auto, tty, plain or quiet (default: auto)\n"
            "  -h, --help                  show this help\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < M87_ARRAY_LEN(subcommands); i++)
        fprintf(out, "  %-9s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(out,
            "\nExit status: 0 on success, 1 when the stack or dockerd failed, 2 on bad input.\n"
            "Run 'm87-agent compose COMMAND --help' for the options of a command.\n");
}

/* The global options; -1 after printing the help. */
static int compose_parse(struct agent_compose *g, int argc, char **argv, int *command)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct spec_compose_args a;

    if (spec_compose_args_parse(&a, argc, argv, SPEC_COMPOSE_ARGS_ALL, &err) < 0) {
        spec_compose_args_release(&a);
        fprintf(stderr, "m87-agent: compose: %s\n", err->msg);
        fprintf(stderr, "Run 'm87-agent compose --help' for usage.\n");
        return AGENT_EXIT_USAGE;
    }
    if (a.help) {
        spec_compose_args_release(&a);
        compose_usage(stdout);
        return -1;
    }
    m87_strv_release(&g->files);
    m87_strv_release(&g->profiles);
    g->files = a.files;
    g->profiles = a.profiles;
    g->project_name = a.project_name;
    g->project_dir = a.project_dir;
    g->env_file = a.env_file;
    g->progress_mode = a.progress;
    *command = a.command;
    return AGENT_EXIT_OK;
}

static int compose_dispatch(struct agent_compose *g, int argc, char **argv)
{
    for (size_t i = 0; i < M87_ARRAY_LEN(subcommands); i++) {
        if (strcmp(argv[0], subcommands[i].name) != 0)
            continue;
        const char *mode = g->progress_mode ? g->progress_mode : "auto";
        if (subcommands[i].progress && strcmp(mode, "quiet") != 0) {
            bool tty =
                strcmp(mode, "tty") == 0 || (strcmp(mode, "auto") == 0 && isatty(STDERR_FILENO));
            g->progress = agent_progress_new(stderr, tty);
        }
        optind = 0; /* glibc: start the next getopt_long over, with its own optstring */
        return subcommands[i].handler(g, argc, argv);
    }
    fprintf(stderr, "m87-agent: compose: unknown command '%s'\n", argv[0]);
    fprintf(stderr, "Run 'm87-agent compose --help' for usage.\n");
    return AGENT_EXIT_USAGE;
}

int agent_cmd_compose(int argc, char **argv)
{
    struct agent_compose g = {0};

    m87_strv_init(&g.files);
    m87_strv_init(&g.profiles);
    int command = argc;
    int rc = compose_parse(&g, argc, argv, &command);
    if (rc == AGENT_EXIT_OK && command >= argc) {
        compose_usage(stderr);
        rc = AGENT_EXIT_USAGE;
    } else if (rc == AGENT_EXIT_OK) {
        rc = compose_dispatch(&g, argc - command, argv + command);
    } else if (rc < 0) {
        rc = AGENT_EXIT_OK;
    }
    agent_progress_free(g.progress);
    m87_strv_release(&g.files);
    m87_strv_release(&g.profiles);
    return rc;
}
