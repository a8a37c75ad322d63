/* What every m87-agent command shares: its error printed, the exit status an error maps to,
 * getopt_long's complaints and numeric option values turned into messages. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent-internal.h"
#include "m87/error.h"

int agent_parse_long(const char *cmd, const char *opt, const char *text, long min, long max,
                     long *out)
{
    char *end = NULL;

    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        fprintf(stderr, "m87-agent: %s: invalid value '%s' for %s\n", cmd, text, opt);
        return -1;
    }
    *out = v;
    return 0;
}

int agent_no_operands(const char *cmd, int argc, char **argv)
{
    if (optind >= argc)
        return AGENT_EXIT_OK;
    fprintf(stderr, "m87-agent: %s: unexpected argument '%s'\n", cmd, argv[optind]);
    return AGENT_EXIT_USAGE;
}

void agent_print_error(const struct m87_error *err)
{
    fprintf(stderr, "m87-agent: %s\n", err && err->msg ? err->msg : "unknown error");
}

/* Input is checked whole before anything is applied (the parser, the options), so whatever
 * fails afterwards is the stack or dockerd failing, whatever its code: a dependency that did
 * not start is M87_E_INVAL to the executor but exit status 1 to the user. */
int agent_exit_for(const struct m87_error *err)
{
    (void)err;
    return AGENT_EXIT_FAILED;
}
