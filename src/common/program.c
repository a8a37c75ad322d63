/* The top of a program with a command table: help, version, dispatch, unknown commands. */
#include <stdio.h>
#include <string.h>

#include "m87/command.h"
#include "m87/program.h"
#include "m87/version.h"

int m87_program_main(const char *prog, const struct m87_command *cmds, size_t n,
                     void (*usage)(FILE *out), int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return M87_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("%s %s\n", prog, M87_VERSION);
        return 0;
    }
    const struct m87_command *cmd = m87_command_find(cmds, n, argv[1]);
    if (cmd)
        return m87_command_run(cmd, NULL, argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command '%s'\n", prog, argv[1]);
    usage(stderr);
    return M87_EXIT_USAGE;
}
