/* `m87-agent compose`: the Docker Compose command line over the native executor. This file
 * reads the global options and hands over to the subcommand (cmd-compose-stack.c,
 * cmd-compose-show.c), which loads the project through cmd-compose-project.c. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent-internal.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "agent/registries.h"
#include "m87/engine-creds.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-compose-args.h"

struct compose_subcommand {
    const char *name;
    int (*handler)(struct agent_compose *g, int argc, char **argv);
    bool progress; /* reports executor events */
    bool pulls;    /* may pull: needs the registry credentials */
    const char *summary;
};

static const struct compose_subcommand subcommands[] = {
    {"up", agent_compose_up, true, true, "create and start containers"},
    {"down", agent_compose_down, true, false, "stop and remove containers, networks (and volumes)"},
    {"pull", agent_compose_pull, true, true, "pull service images"},
    {"ps", agent_compose_ps, false, false, "list containers"},
    {"logs", agent_compose_logs, false, false, "show container output"},
    {"stop", agent_compose_stop, true, false, "stop services"},
    {"start", agent_compose_start, true, false, "start services"},
    {"restart", agent_compose_restart, true, false, "restart services"},
    {"config", agent_compose_config, false, false, "check and print the normalised project"},
};

static void compose_usage(FILE *out)
{
    fprintf(out,
            "usage: m87-agent compose [options] COMMAND [ARGS...]\n"
            "\n"
            "Apply a Docker Compose project through the Docker Engine API ($DOCKER_HOST, default\n"
            "unix:///var/run/docker.sock), as Docker Compose v2 does. Pulls send the registry\n"
            "credentials the m87 server gave the device (the file $M87_AGENT_REGISTRIES names,\n"
            "set by the agent for its steps), else those of the docker CLI's config\n"
            "($DOCKER_CONFIG/config.json or ~/.docker/config.json: auths, credHelpers,\n"
            "credsStore).\n"
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

/* The docker CLI's registry credentials, after the server's (M87_AGENT_REGISTRIES); a file it
 * cannot read leaves those pulls anonymous after a warning, as with docker. */
static struct engine_creds *load_creds(void)
{
    _cleanup_error_ struct m87_error *config = NULL;
    _cleanup_error_ struct m87_error *server = NULL;
    struct engine_creds *c = agent_creds_load(&config, &server);

    if (server != NULL)
        fprintf(stderr, "m87-agent: compose: warning: %s; they are not used\n", server->msg);
    if (config != NULL)
        fprintf(stderr, "m87-agent: compose: warning: %s; pulls are anonymous\n", config->msg);
    return c;
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
        if (subcommands[i].pulls)
            g->creds = load_creds();
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
    engine_creds_free(g.creds);
    m87_strv_release(&g.files);
    m87_strv_release(&g.profiles);
    return rc;
}
