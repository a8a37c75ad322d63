/* The top of a program whose commands are one table: usage text, help, version, dispatch. */
#include <stdio.h>
#include <string.h>

#include "m87/command-main.h"
#include "m87/command.h"
#include "m87/version.h"

void m87_program_usage(const struct m87_program *p, FILE *out)
{
    fprintf(out,
            "usage: %s [--help] [--version] <command> [<args>]\n"
            "\n"
            "%s\n"
            "\n"
            "commands:\n",
            p->name, p->summary);
    m87_command_usage(out, NULL, p->cmds, p->n, p->column);
    fprintf(out,
            "\n"
            "options:\n"
            "  -h, --help     show this help\n"
            "  -V, --version  print the version\n"
            "\n"
            "%s\n",
            p->help);
}

int m87_program_main(const struct m87_program *p, int argc, char **argv)
{
    if (argc < 2) {
        m87_program_usage(p, stderr);
        return M87_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        m87_program_usage(p, stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("%s %s\n", p->name, M87_VERSION);
        return 0;
    }
    const struct m87_command *cmd = m87_command_find(p->cmds, p->n, argv[1]);
    if (cmd)
        return m87_command_run(cmd, NULL, argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command '%s'\n", p->name, argv[1]);
    m87_program_usage(p, stderr);
    return M87_EXIT_USAGE;
}
