/* The top of a program whose commands are one table (m87-agent, m87-server): its usage text and
 * its own options, then the dispatch (src/common/command-main.c). */
#ifndef M87_COMMAND_MAIN_H
#define M87_COMMAND_MAIN_H

#include <stddef.h>
#include <stdio.h>

#include "m87/command.h"

/* A program: what its usage text says around the table of its commands. */
struct m87_program {
    const char *name;    /* "m87-server" */
    const char *summary; /* the sentence under the usage line */
    const struct m87_command *cmds;
    size_t n;
    int column;       /* where the commands' summaries start (m87_command_usage) */
    const char *help; /* the last line: how to get a command's options */
};

/* Write p's usage text to out: the usage line, the summary, the commands, the options -h and
 * -V, and p->help. */
void m87_program_usage(const struct m87_program *p, FILE *out);

/* main() of p: no argument prints the usage to stderr and returns M87_EXIT_USAGE; -h or --help
 * prints it to stdout and -V or --version "NAME VERSION", returning 0; a command of p->cmds runs
 * with the arguments from its name on and its result is returned; anything else is "NAME:
 * unknown command 'X'" and the usage on stderr, M87_EXIT_USAGE. */
int m87_program_main(const struct m87_program *p, int argc, char **argv);

#endif
