/* The top of a program whose first argument names a command of its table (src/common/program.c):
 * what m87-agent and m87-server do before a command runs. */
#ifndef M87_PROGRAM_H
#define M87_PROGRAM_H

#include <stddef.h>
#include <stdio.h>

#include "m87/command.h"

/* Run the command argv[1] names in cmds (with argv + 1) and return what it returns. Without a
 * command: usage(stderr) and M87_EXIT_USAGE. "--help" or "-h": usage(stdout) and 0. "--version"
 * or "-V": "PROG VERSION" on stdout and 0. A name not in cmds: "PROG: unknown command 'NAME'"
 * and usage on stderr, M87_EXIT_USAGE. */
int m87_program_main(const char *prog, const struct m87_command *cmds, size_t n,
                     void (*usage)(FILE *out), int argc, char **argv);

#endif
