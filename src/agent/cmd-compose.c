/* `m87-agent compose`: the Docker Compose command line over the native executor. This file
 * reads the global options and hands over to the subcommand (cmd-compose-stack.c,
 * cmd-compose-show.c), which loads the project through cmd-compose-project.c. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent-internal.h"
#include "m87/spec.h"

enum {
    OPT_PROJECT_DIR = 256,
    OPT_ENV_FILE,
    OPT_PROFILE,
    OPT_PROGRESS,
};

struct compose_subcommand {
    const char *name;
    int (*handler)(struct agent_compose *g, int argc, char **argv);
    bool progress; /* reports executor events */
    const char *summary;
};

static const struct compose_subcommand subcommands[] = {
    {"up", agent_compose_up, true, "create and start containers"},
    {"down", agent_compose_down, true, "stop and remove containers, networks (and volumes)"},
    {"pull", agent_compose_pull, true, "pull service images"},
    {"ps", agent_compose_ps, false, "list containers"},
    {"logs", agent_compose_logs, false, "show container output"},
    {"stop", agent_compose_stop, true, "stop services"},
    {"start", agent_compose_start, true, "start services"},
    {"restart", agent_compose_restart, true, "restart services"},
    {"config", agent_compose_config, false, "check and print the normalised project"},
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

static int set_progress(struct agent_compose *g, const char *mode)
{
    if (strcmp(mode, "auto") == 0 || strcmp(mode, "tty") == 0 || strcmp(mode, "plain") == 0 ||
        strcmp(mode, "quiet") == 0) {
        g->progress_mode = mode;
        return 0;
    }
    fprintf(stderr, "m87-agent: compose: invalid --progress '%s' (auto, tty, plain or quiet)\n",
            mode);
    return -1;
}

static int compose_parse(struct agent_compose *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {"project-name", required_argument, NULL, 'p'},
        {"project-directory", required_argument, NULL, OPT_PROJECT_DIR},
        {"env-file", required_argument, NULL, OPT_ENV_FILE},
        {"profile", required_argument, NULL, OPT_PROFILE},
        {"progress", required_argument, NULL, OPT_PROGRESS},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int ch;

    while ((ch = getopt_long(argc, argv, "+:f:p:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            m87_strv_add(&g->files, optarg);
            break;
        case 'p':
            g->project_name = optarg;
            break;
        case OPT_PROJECT_DIR:
            g->project_dir = optarg;
            break;
        case OPT_ENV_FILE:
            g->env_file = optarg;
            break;
        case OPT_PROFILE:
            m87_strv_add(&g->profiles, optarg);
            break;
        case OPT_PROGRESS:
            if (set_progress(g, optarg) < 0)
                return AGENT_EXIT_USAGE;
            break;
        case 'h':
            compose_usage(stdout);
            return -1;
        default:
            return agent_bad_option("compose", argv, ch);
        }
    }
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
    int rc = compose_parse(&g, argc, argv);
    if (rc == AGENT_EXIT_OK && optind >= argc) {
        compose_usage(stderr);
        rc = AGENT_EXIT_USAGE;
    } else if (rc == AGENT_EXIT_OK) {
        rc = compose_dispatch(&g, argc - optind, argv + optind);
    } else if (rc < 0) {
        rc = AGENT_EXIT_OK;
    }
    agent_progress_free(g.progress);
    m87_strv_release(&g.files);
    m87_strv_release(&g.profiles);
    return rc;
}
