/* The command tables of the three programs (m87, m87-agent, m87-server), as git's commands[]:
 * one table per program yields both the dispatch and the usage text, so that help never forgets
 * a command. Also the message for a bad option, the same in every program (src/common/command.c).
 *
 * Every m87 program exits with M87_EXIT_USAGE on a usage error. */
#ifndef M87_COMMAND_H
#define M87_COMMAND_H

#include <stddef.h>
#include <stdio.h>

#define M87_EXIT_USAGE 2

/* One command of a table. Exactly one of fn and scoped_fn is set: scoped_fn is for a command of
 * something named before it (`m87 DEVICE deploy`: the scope is the device). Both get the
 * command's own argv (argv[0] is its name). An entry without a summary is an alias: it
 * dispatches but the usage text does not list it. */
struct m87_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary; /* one line, lower case, no full stop */
    const char *args;    /* what follows the name in the usage text ("add|list|rm"), or NULL */
    int (*scoped_fn)(const char *scope, int argc, char **argv);
};

/* The entry of cmds named name, aliases included; NULL when none (or name is NULL). Borrowed. */
const struct m87_command *m87_command_find(const struct m87_command *cmds, size_t n,
                                           const char *name);

/* Run cmd with its argv: scoped_fn gets scope, fn does not. Returns what the handler returns. */
int m87_command_run(const struct m87_command *cmd, const char *scope, int argc, char **argv);

/* One line per listed command: "  [SCOPE ]NAME[ ARGS]", padded to column, then the summary
 * (on the next line, at column, when the name part does not leave a space before it). scope
 * may be NULL. */
void m87_command_usage(FILE *out, const char *scope, const struct m87_command *cmds, size_t n,
                       int column);

/* The listed names for a message: "a, b or c". Caller frees. */
char *m87_command_names(const struct m87_command *cmds, size_t n);

/* Print what getopt_long found wrong and how to get help, as "PROG: CMD: unknown option '-x'"
 * (c is '?') or "... option '--file' needs a value" (c is ':'), then "Run 'PROG CMD --help' for
 * usage.". A short option is named alone even when bundled or given its value ("-x", not
 * "-vx"). Reads optind and optopt, so call it right after getopt_long returned c. cmd is the
 * command as typed, e.g. "compose up". Returns M87_EXIT_USAGE. */
int m87_bad_option(const char *prog, const char *cmd, char **argv, int c);

#endif
