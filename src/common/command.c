/* Command tables: lookup, dispatch and usage lines; the bad-option message of every program. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m87/command.h"
#include "m87/alloc.h"

const struct m87_command *m87_command_find(const struct m87_command *cmds, size_t n,
                                           const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(cmds[i].name, name) == 0)
            return &cmds[i];
    return NULL;
}

int m87_command_run(const struct m87_command *cmd, const char *scope, int argc, char **argv)
{
    return cmd->scoped_fn ? cmd->scoped_fn(scope, argc, argv) : cmd->fn(argc, argv);
}

void m87_command_usage(FILE *out, const char *scope, const struct m87_command *cmds, size_t n,
                       int column)
{
    for (size_t i = 0; i < n; i++) {
        const struct m87_command *c = &cmds[i];
        if (c->summary == NULL)
            continue;
        int len = fprintf(out, "  %s%s%s%s%s", scope ? scope : "", scope ? " " : "", c->name,
                          c->args ? " " : "", c->args ? c->args : "");
        if (len >= column) {
            fputc('\n', out);
            len = 0;
        }
        fprintf(out, "%*s%s\n", column - len, "", c->summary);
    }
}

char *m87_command_names(const struct m87_command *cmds, size_t n)
{
    size_t listed = 0, seen = 0;
    for (size_t i = 0; i < n; i++)
        listed += cmds[i].summary != NULL;
    char *s = m87_xstrdup("");
    for (size_t i = 0; i < n; i++) {
        if (cmds[i].summary == NULL)
            continue;
        seen++;
        const char *sep = seen == 1 ? "" : seen == listed ? " or " : ", ";
        char *next = m87_xasprintf("%s%s%s", s, sep, cmds[i].name);
        free(s);
        s = next;
    }
    return s;
}

int m87_bad_option(const char *prog, const char *cmd, char **argv, int c)
{
    const char *arg = argv[optind - 1];
    char shortopt[3] = {'-', (char)optopt, 0};

    /* getopt_long leaves the whole word in argv ("-vx", "-fFILE"): name the option alone */
    if (optopt > 0 && optopt < 128 && strncmp(arg, "--", 2) != 0)
        arg = shortopt;
    if (c == ':')
        fprintf(stderr, "%s: %s: option '%s' needs a value\n", prog, cmd, arg);
    else
        fprintf(stderr, "%s: %s: unknown option '%s'\n", prog, cmd, arg);
    fprintf(stderr, "Run '%s %s --help' for usage.\n", prog, cmd);
    return M87_EXIT_USAGE;
}
