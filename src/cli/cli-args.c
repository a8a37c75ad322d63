/* Option and operand checks shared by the m87 commands. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/error.h"

int cli_help(const char *help)
{
    fputs(help, stdout);
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    _cleanup_free_ char *msg = m87_xvasprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "m87: %s: %s\n", cmd, msg);
    fprintf(stderr, "Run 'm87 %s --help' for usage.\n", cmd);
    return CLI_EXIT_USAGE;
}

int cli_operands(const char *cmd, int argc, char **argv, int min, int max)
{
    int n = argc - optind;

    if (n < min)
        return cli_usage_error(cmd, "missing operand");
    if (n > max)
        return cli_usage_error(cmd, "unexpected operand '%s'", argv[optind + max]);
    return 0;
}

int cli_parse_positive(const char *text, int64_t *out)
{
    char *end = NULL;

    if (!text || text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || *end || v <= 0)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_clone_ref(const char *text, char **id, int64_t *rev, struct m87_error **err)
{
    const char *at = strchr(text, '@');
    size_t id_len = at ? (size_t)(at - text) : strlen(text);

    if (id_len == 0)
        return m87_error_set(err, M87_E_INVAL, 0, "'%s': missing deployment id", text);
    *rev = 0;
    if (at && cli_parse_positive(at + 1, rev) < 0)
        return m87_error_set(err, M87_E_INVAL, 0, "'%s': revision '%s' is not a positive integer",
                             text, at + 1);
    *id = m87_xstrndup(text, id_len);
    return 0;
}

/* Options of the subcommands: --json and --help. 1: help shown, 0: go on, else an exit status. */
int cli_parse_simple(const char *cmd, const char *help, int argc, char **argv, bool *json, int min,
                     int max)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;

    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h')
            return cli_help(help);
        if (c != 'j' || !json)
            return c == 'j' ? cli_usage_error(cmd, "unknown option '--json'")
                            : cli_bad_option(cmd, argv, c);
        *json = true;
    }
    return cli_operands(cmd, argc, argv, min, max);
}

bool cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}
