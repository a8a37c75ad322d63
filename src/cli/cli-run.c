/* Running a subcommand: its help before any login, else with the context loaded; and the
 * dispatch of a group of subcommands by name. Above the option checks and the config. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cli_run(const struct cli_sub *sub, const char *device, int argc, char **argv)
{
    struct cli_ctx ctx;

    if (cli_wants_help(argc, argv)) {
        fputs(sub->help, stdout);
        return CLI_EXIT_OK;
    }
    int rc = cli_ctx_load(&ctx);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = sub->fn(&ctx, device, argc, argv);
    cli_ctx_release(&ctx);
    return rc;
}

int cli_dispatch(const char *group, const char *group_help, const struct cli_sub *subs, size_t n,
                 const char *device, int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(group_help, stdout);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; argc >= 2 && i < n; i++)
        if (strcmp(argv[1], subs[i].name) == 0)
            return cli_run(&subs[i], device, argc - 1, argv + 1);
    if (argc < 2)
        fprintf(stderr, "m87: %s: missing command\n", group);
    else
        fprintf(stderr, "m87: %s: unknown command '%s'\n", group, argv[1]);
    fputs(group_help, stderr);
    return CLI_EXIT_USAGE;
}
