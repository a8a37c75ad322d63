/* Option and operand checks shared by the m87 commands. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-selector.h"
#include "m87/units.h"

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

/* What getopt_long returns for option i: its short name, or a value no character takes. */
static int option_val(const struct cli_option *o, size_t i)
{
    return o->short_name ? o->short_name : 256 + (int)i;
}

/* Store optarg (or true) through o->out; 0, or the exit status after printing why not. */
static int set_option(const char *cmd, const struct cli_option *o)
{
    if (!o->out)
        return cli_usage_error(cmd, "unknown option '--%s'", o->name);
    switch (o->kind) {
    case CLI_OPT_FLAG:
        *(bool *)o->out = true;
        break;
    case CLI_OPT_STRING:
        *(const char **)o->out = optarg;
        break;
    case CLI_OPT_POSITIVE:
        if (cli_parse_positive(optarg, o->out) < 0)
            return cli_usage_error(cmd, "--%s '%s' is not a positive integer", o->name, optarg);
        break;
    case CLI_OPT_STRINGS:
        m87_strv_add(o->out, optarg);
        break;
    case CLI_OPT_DURATION:
        if (m87_parse_duration(optarg, o->out, NULL) < 0 || *(int64_t *)o->out <= 0)
            return cli_usage_error(cmd, "--%s: invalid duration '%s'", o->name, optarg);
        break;
    }
    return 0;
}

int cli_parse_options(const char *cmd, const char *help, int argc, char **argv,
                      const struct cli_option *opts, size_t n)
{
    struct option longs[CLI_MAX_OPTIONS + 2] = {{0}};
    char shorts[2 * CLI_MAX_OPTIONS + 3] = ":h";
    size_t n_shorts = 2;
    int c;

    if (n > CLI_MAX_OPTIONS)
        abort(); /* a table of the code, not input */
    for (size_t i = 0; i < n; i++) {
        bool arg = opts[i].kind != CLI_OPT_FLAG;
        longs[i] = (struct option){opts[i].name, arg ? required_argument : no_argument, NULL,
                                   option_val(&opts[i], i)};
        if (opts[i].short_name) {
            shorts[n_shorts++] = opts[i].short_name;
            if (arg)
                shorts[n_shorts++] = ':';
        }
    }
    longs[n] = (struct option){"help", no_argument, NULL, 'h'};
    optind = 0;
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        if (c == 'h')
            return cli_help(help);
        size_t i = 0;
        while (i < n && option_val(&opts[i], i) != c)
            i++;
        int rc = i < n ? set_option(cmd, &opts[i]) : cli_bad_option(cmd, argv, c);
        if (rc)
            return rc;
    }
    return 0;
}

int cli_parse_simple(const char *cmd, const char *help, int argc, char **argv, bool *json, int min,
                     int max)
{
    const struct cli_option opts[] = {{"json", CLI_OPT_FLAG, json, 0}};
    int rc = cli_parse_options(cmd, help, argc, argv, opts, M87_ARRAY_LEN(opts));

    return rc ? rc : cli_operands(cmd, argc, argv, min, max);
}

bool cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) /* after --: operands */
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

int cli_check_selector(const char *cmd, const char *select)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct spec_selector sel;

    if (spec_selector_parse(select, &sel, &err) < 0) {
        _cleanup_free_ char *q = m87_quote_excerpt(select, 80);
        return cli_usage_error(cmd, "--select %s: %s", q, err->msg);
    }
    spec_selector_release(&sel);
    return CLI_EXIT_OK;
}
