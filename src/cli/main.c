/* m87: the command line of the control plane. */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/command.h"
#include "m87/compiler.h"
#include "m87/version.h"

/* `m87 COMMAND ...` */
static const struct m87_command commands[] = {
    {"login", cli_cmd_login, "save the server and the admin token", "--server URL --token -"},
    {"devices", cli_cmd_devices, "manage devices, their labels and tokens",
     "add|list|show|label|rm|rotate-token|revoke-token"},
    {"fleets", cli_cmd_fleets, "the devices whose labels meet a selector", "add|list|show|rm"},
    {"fleet", cli_cmd_fleet, "a fleet's releases and their staged rollouts",
     "NAME deploy|rollouts|rollout|pause|resume|abort|status"},
    {"keys", cli_cmd_keys, "the key that signs revisions", "generate|show"},
    {"registries", cli_cmd_registries, "credentials the devices pull private images with",
     "add|list|rm"},
    {"cp", cli_cmd_cp, "copy files and trees to or from a device",
     "[-r] SRC DEVICE:DST | DEVICE:SRC DST"},
};

/* `m87 DEVICE COMMAND ...` */
static const struct m87_command device_commands[] = {
    {.name = "status",
     .scoped_fn = cli_cmd_status,
     .summary = "is the device healthy (exit 0) or not (1): for health gates",
     .args = "[--quiet|--short|--json]"},
    {.name = "deployment",
     .scoped_fn = cli_cmd_deployment,
     .summary = "manage the device's deployments",
     .args = "new|list|show|activate|clone|status|rm"},
    {.name = "deploy",
     .scoped_fn = cli_cmd_deploy,
     .summary = "add or replace jobs from a run spec or a docker-compose.yml",
     .args = "FILE"},
    {.name = "undeploy",
     .scoped_fn = cli_cmd_undeploy,
     .summary = "remove a job from the active deployment",
     .args = "ID"},
    {.name = "window",
     .scoped_fn = cli_cmd_window,
     .summary = "maintenance windows: when the device may switch revision",
     .args = "add|list|rm"},
    {.name = "prefetch-policy",
     .scoped_fn = cli_cmd_prefetch_policy,
     .summary = "when the device pulls a waiting revision's images",
     .args = "[always|window]"},
    /* "m87 DEVICE --prefetch window", the spelling, is prefetch-policy */
    {.name = "--prefetch", .scoped_fn = cli_cmd_prefetch_policy},
    {.name = "prefetch",
     .scoped_fn = cli_cmd_prefetch,
     .summary = "pull images ahead of any deployment",
     .args = "IMAGE...|status|clear"},
    {.name = "docker",
     .scoped_fn = cli_cmd_docker,
     .summary = "run a command on the device now, print its output as it comes",
     .args = "compose|ps|logs ..."},
    {.name = "sessions",
     .scoped_fn = cli_cmd_sessions,
     .summary = "the commands run that way, and their output",
     .args = "[show ID]"},
    {.name = "exec",
     .scoped_fn = cli_cmd_exec,
     .summary = "run a command on the device's host, with input and a terminal",
     .args = "[-i] [-t] [-e K=V] [-w DIR] -- CMD..."},
    {.name = "shell",
     .scoped_fn = cli_cmd_shell,
     .summary = "a login shell on the device's host",
     .args = ""},
    {.name = "forward",
     .scoped_fn = cli_cmd_forward,
     .summary = "forward local TCP ports to ports the device reaches",
     .args = "[LOCALADDR:]LOCALPORT[:[HOST:]PORT]..."},
    {.name = "metrics",
     .scoped_fn = cli_cmd_metrics,
     .summary = "the device's CPU, memory, disks, network, temperature (now, or kept)",
     .args = "[--follow | --since 6h] [--json]"},
    {.name = "audit",
     .scoped_fn = cli_cmd_audit,
     .summary = "who did what on the device through remote access",
     .args = "[--since 24h] [--json]"},
};

#define USAGE_COLUMN 38

static void usage(FILE *out)
{
    fprintf(out, "usage: m87 [--help] [--version] <command> [<args>]\n"
                 "       m87 DEVICE <command> [<args>]\n"
                 "\n"
                 "Ship Docker Compose stacks to edge devices that are often offline.\n"
                 "\n"
                 "commands:\n");
    m87_command_usage(out, NULL, commands, M87_ARRAY_LEN(commands), USAGE_COLUMN);
    fprintf(out, "\n"
                 "device commands:\n");
    m87_command_usage(out, "DEVICE", device_commands, M87_ARRAY_LEN(device_commands), USAGE_COLUMN);
    fprintf(out, "\n"
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
        _cleanup_free_ char *names =
            m87_command_names(device_commands, M87_ARRAY_LEN(device_commands));
        fprintf(stderr, "m87: %s: missing command (%s)\n", device, names);
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const struct m87_command *cmd =
        m87_command_find(device_commands, M87_ARRAY_LEN(device_commands), argv[2]);
    if (cmd)
        return m87_command_run(cmd, device, argc - 2, argv + 2);
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
    const struct m87_command *cmd = m87_command_find(commands, M87_ARRAY_LEN(commands), argv[1]);
    if (cmd)
        return m87_command_run(cmd, NULL, argc - 1, argv + 1);
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
