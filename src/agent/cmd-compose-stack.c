/* `m87-agent compose up`, `down`, `pull`, `stop`, `start`, `restart` and `config`: each parses
 * its options and runs the executor on the project (config prints it). */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent-internal.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/engine-images.h"
#include "m87/engine.h"
#include "m87/error.h"
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
    OPT_IGNORE_PULL_FAILURES,
};

/* Set by the daemon for its first apply after a start: an unchanged service job whose
 * containers are gone is brought back from the images already on the device, registry or not. */
#define IGNORE_PULL_FAILURES_ENV "M87_COMPOSE_IGNORE_PULL_FAILURES"

/* The common tail of the simple subcommands: load, check the services, connect, run. */
typedef int (*compose_op_fn)(struct engine_client *c, const struct spec_project *p,
                             const struct compose_options *opts, struct m87_error **err);

static int run_op(struct agent_compose *g, compose_op_fn op, bool by_name_ok,
                  struct compose_options *o, char **services, int n_services)
{
    _cleanup_(agent_project_release) struct agent_project ap = {0};
    _cleanup_(engine_client_freep) struct engine_client *c = NULL;
    _cleanup_error_ struct m87_error *err = NULL;
    int rc = agent_project_open(g, by_name_ok, services, n_services, &ap, &c);

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

int agent_compose_up(struct agent_compose *g, int argc, char **argv)
{
    struct compose_options o;
    bool detach = false;

    agent_options_init(g, &o, NULL, 0);
    int rc = up_parse(argc, argv, &o, &detach);
    if (rc != AGENT_EXIT_OK)
        return rc < 0 ? AGENT_EXIT_OK : rc;
    char **services = argv + optind;
    int n = argc - optind;
    agent_options_services(&o, services, n);
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

int agent_compose_down(struct agent_compose *g, int argc, char **argv)
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
    int rc = agent_no_operands("compose down", argc, argv);
    return rc != AGENT_EXIT_OK ? rc : run_op(g, compose_down, true, &o, NULL, 0);
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
    agent_options_services(&o, argv + optind, n);
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

int agent_compose_config(struct agent_compose *g, int argc, char **argv)
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
    int rc = agent_no_operands("compose config", argc, argv);
    if (rc != AGENT_EXIT_OK)
        return rc;
    _cleanup_(agent_project_release) struct agent_project ap = {0};
    rc = agent_project_load(g, false, &ap);
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

/* ---- pull --------------------------------------------------------------------------------------
 */

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
    int rc = agent_project_open(g, false, services, n, &ap, &c);

    if (rc != AGENT_EXIT_OK)
        return rc;
    agent_options_init(g, &o, services, n);
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

int agent_compose_pull(struct agent_compose *g, int argc, char **argv)
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

int agent_compose_stop(struct agent_compose *g, int argc, char **argv)
{
    return cmd_simple(g, &simple_cmds[1], argc, argv);
}

int agent_compose_start(struct agent_compose *g, int argc, char **argv)
{
    return cmd_simple(g, &simple_cmds[2], argc, argv);
}

int agent_compose_restart(struct agent_compose *g, int argc, char **argv)
{
    return cmd_simple(g, &simple_cmds[3], argc, argv);
}
