/* m87: the command line of the control plane. */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "m87/version.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: m87 [--help] [--version] <command> [<args>]\n"
            "       m87 DEVICE <command> [<args>]\n"
            "\n"
            "Ship Docker Compose stacks to edge devices that are often offline.\n"
            "\n"
            "commands:\n"
            "  login --server URL --token TOKEN    save the server and the admin token\n"
            "  devices add|list|rm|rotate-token|revoke-token\n"
            "                                      manage devices and their tokens\n"
            "  keys generate|show                  the key that signs revisions\n"
            "\n"
            "device commands:\n"
            "  DEVICE deployment new|list|show|activate|clone|status|rm\n"
            "                                      manage the device's deployments\n"
            "  DEVICE deploy FILE                  add or replace jobs from a run spec or a\n"
            "                                      docker-compose.yml in the active deployment\n"
            "  DEVICE undeploy ID                  remove a job from the active deployment\n"
            "  DEVICE window add|list|rm           maintenance windows: when the device may\n"
            "                                      switch to a new revision\n"
            "  DEVICE prefetch-policy [always|window]\n"
            "                                      when the device pulls a waiting revision's\n"
            "                                      images\n"
            "  DEVICE prefetch IMAGE...|status|clear\n"
            "                                      pull images ahead of any deployment\n"
            "  DEVICE docker compose|ps|logs ...   run a command on the device now and print\n"
            "                                      its output as it comes (sync execution)\n"
            "  DEVICE sessions [show ID]           the commands run that way, and their output\n"
            "\n"
            "options:\n"
            "  -h, --help     show this help\n"
            "  -V, --version  print the version\n"
            "\n"
            "Run 'm87 <command> --help' for the options of a command.\n"
            "Exit status: 0 ok, 1 the thing asked about failed, 2 usage, auth or network.\n");
}

static int device_command(int argc, char **argv)
{
    const char *device = argv[1];

    if (argc < 3) {
        fprintf(stderr,
                "m87: %s: missing command (deployment, deploy, undeploy, window or "
                "prefetch-policy)\n",
                device);
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[2], "deployment") == 0)
        return cli_cmd_deployment(device, argc - 2, argv + 2);
    if (strcmp(argv[2], "deploy") == 0)
        return cli_cmd_deploy(device, argc - 2, argv + 2);
    if (strcmp(argv[2], "undeploy") == 0)
        return cli_cmd_undeploy(device, argc - 2, argv + 2);
    if (strcmp(argv[2], "window") == 0)
        return cli_cmd_window(device, argc - 2, argv + 2);
    /* "m87 DEVICE --prefetch window", the spelling, is prefetch-policy */
    if (strcmp(argv[2], "prefetch-policy") == 0 || strcmp(argv[2], "--prefetch") == 0)
        return cli_cmd_prefetch_policy(device, argc - 2, argv + 2);
    if (strcmp(argv[2], "prefetch") == 0)
        return cli_cmd_prefetch(device, argc - 2, argv + 2);
    if (strcmp(argv[2], "docker") == 0)
        return cli_cmd_docker(device, argc - 2, argv + 2);
    if (strcmp(argv[2], "sessions") == 0)
        return cli_cmd_sessions(device, argc - 2, argv + 2);
    fprintf(stderr, "m87: %s: unknown command '%s'\n", device, argv[2]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}

static int run(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("m87 %s\n", M87_VERSION);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "login") == 0)
        return cli_cmd_login(argc - 1, argv + 1);
    if (strcmp(argv[1], "devices") == 0)
        return cli_cmd_devices(argc - 1, argv + 1);
    if (strcmp(argv[1], "keys") == 0)
        return cli_cmd_keys(argc - 1, argv + 1);
    if (argv[1][0] == '-') {
        fprintf(stderr, "m87: unknown option '%s'\n", argv[1]);
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    return device_command(argc, argv);
}

int main(int argc, char **argv)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "m87: cannot initialise libcurl\n");
        return CLI_EXIT_FAILED;
    }
    int rc = run(argc, argv);
    curl_global_cleanup();
    return rc;
}
