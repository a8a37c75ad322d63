/* `m87-agent apply SPEC`: bring this device to a run spec from local disk, then exit. */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent-internal.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/runner.h"
#include "m87/spec-runspec.h"

enum {
    OPT_STATE_DIR = 256,
    OPT_BUNDLES,
    OPT_DOCKER_HOST,
};

static void apply_usage(FILE *out)
{
    fprintf(
        out,
        "usage: m87-agent apply [options] SPEC\n"
        "\n"
        "Bring this device to the run spec SPEC (YAML or JSON): stop the jobs it no longer has\n"
        "or disables, run the jobs that are new, changed, failed or were interrupted, leave\n"
        "the others alone. One runner at a time holds the state directory.\n"
        "\n"
        "options:\n"
        "      --state-dir DIR     state directory (default: " RUNNER_DEFAULT_STATE_DIR ")\n"
        "      --bundles DIR       where bundles sha256-HEX.tar.gz are found (default: the\n"
        "                          directory of SPEC)\n"
        "      --docker-host HOST  dockerd for the steps and the checks (default: $DOCKER_HOST)\n"
        "  -h, --help              show this help\n"
        "\n"
        "Exit status: 0 when every enabled job succeeded, 1 when one failed or another runner\n"
        "holds the state directory, 2 on bad input (nothing is run).\n");
}

int agent_cmd_apply(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, OPT_STATE_DIR},
        {"bundles", required_argument, NULL, OPT_BUNDLES},
        {"docker-host", required_argument, NULL, OPT_DOCKER_HOST},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    struct runner_options ro = {.native = agent_cmd_compose};
    _cleanup_error_ struct m87_error *err = NULL;
    int ch;

    optind = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_STATE_DIR:
            ro.state_dir = optarg;
            break;
        case OPT_BUNDLES:
            ro.bundles_dir = optarg;
            break;
        case OPT_DOCKER_HOST:
            ro.docker_host = optarg;
            break;
        case 'h':
            apply_usage(stdout);
            return AGENT_EXIT_OK;
        default:
            return agent_bad_option("apply", argv, ch);
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "m87-agent: apply: %s\n",
                optind < argc ? "too many arguments" : "missing the run spec file");
        fprintf(stderr, "Run 'm87-agent apply --help' for usage.\n");
        return AGENT_EXIT_USAGE;
    }
    const char *path = argv[optind];
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = spec_runspec_load(path, &err);
    if (!rs) {
        agent_print_error(err);
        return AGENT_EXIT_USAGE;
    }
    _cleanup_free_ char *copy = m87_xstrdup(path);
    if (!ro.bundles_dir)
        ro.bundles_dir = dirname(copy);
    _cleanup_(runner_freep) struct runner *r = runner_new(&ro, &err);
    if (!r) {
        agent_print_error(err);
        return AGENT_EXIT_FAILED;
    }
    int rc = runner_apply(r, rs, &err);
    if (rc < 0) {
        agent_print_error(err);
        return AGENT_EXIT_FAILED;
    }
    return rc == 0 ? AGENT_EXIT_OK : AGENT_EXIT_FAILED;
}
