/* The top of a program whose commands are one table (m87-agent, m87-server): its own options,
 * then the dispatch (src/common/command-main.c). */
#ifndef M87_COMMAND_MAIN_H
#define M87_COMMAND_MAIN_H

#include <stddef.h>
#include <stdio.h>

#include "m87/command.h"

/* main() of program prog with the n commands of cmds and usage (which writes the usage text to
 * out): no argument prints the usage to stderr and returns M87_EXIT_USAGE; -h or --help prints
 * it to stdout and -V or --version "PROG VERSION", returning 0; a command of cmds runs with the
 * arguments after it and its result is returned; anything else is "PROG: unknown command 'X'"
 * and the usage on stderr, M87_EXIT_USAGE. */
int m87_command_main(const char *prog, const struct m87_command *cmds, size_t n,
                     void (*usage)(FILE *out), int argc, char **argv);

#endif
