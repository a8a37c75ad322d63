/* `m87 DEVICE audit [--since DURATION] [--json]`: who did what on the device through remote
 * access, as the server recorded it (docs/remote.md, "Audit"). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/units.h"

#define AUDIT_DEFAULT_SINCE_S (24 * 3600)

static const char audit_help[] =
    "usage: m87 DEVICE audit [--since DURATION] [--json]\n"
    "\n"
    "The remote actions on the device (exec, shell), oldest first: when, who (the first hex\n"
    "digits of the SHA-256 of the token that asked), what, the command, its exit status, how\n"
    "long it ran and the bytes of its stdin, stdout and stderr. A refusal of the device shows\n"
    "as its message. The device journals its own record of each as a report of kind audit.\n"
    "\n"
    "options:\n"
    "  --since DURATION  how far back (default: 24h)\n"
    "  --json            the server's answer as JSON\n"
    "  -h, --help        show this help\n";

static char *command_text(const struct m87_json *cmd)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (size_t i = 0; i < m87_json_len(cmd); i++)
        m87_buf_appendf(&b, NULL, "%s%s", i ? " " : "", m87_json_str(m87_json_at(cmd, i), ""));
    if (b.len == 0)
        m87_buf_appendf(&b, NULL, "(login shell)");
    return m87_buf_steal(&b);
}

static void add_row(struct cli_table *t, const struct m87_json *a)
{
    _cleanup_free_ char *when = cli_format_local(m87_json_str(m87_json_get(a, "created"), NULL));
    _cleanup_free_ char *cmd = command_text(m87_json_get(a, "command"));
    const struct m87_json *code = m87_json_get(a, "exit_code");
    const char *msg = m87_json_str(m87_json_get(a, "message"), NULL);
    bool ended = m87_json_str(m87_json_get(a, "ended"), NULL) != NULL;
    _cleanup_free_ char *result = m87_json_type(code) == M87_JSON_NUMBER
                                      ? m87_xasprintf("exit %" PRId64, m87_json_int(code, 0))
                                      : m87_xstrdup(msg     ? msg
                                                    : ended ? "ended"
                                                            : "no end recorded");
    int64_t ms = m87_json_int(m87_json_get(a, "duration_ms"), -1);
    _cleanup_free_ char *dur = ms >= 0 ? cli_format_ms(ms) : NULL;
    const struct m87_json *bytes = m87_json_get(a, "bytes");
    _cleanup_free_ char *io = m87_xasprintf("%" PRId64 "/%" PRId64 "/%" PRId64,
                                            m87_json_int(m87_json_get(bytes, "stdin"), 0),
                                            m87_json_int(m87_json_get(bytes, "stdout"), 0),
                                            m87_json_int(m87_json_get(bytes, "stderr"), 0));
    const char *row[] = {when,
                         m87_json_str(m87_json_get(a, "token"), "-"),
                         m87_json_str(m87_json_get(a, "what"), "-"),
                         cmd,
                         result,
                         dur,
                         io};
    cli_table_add(t, row);
}

static int audit(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    int64_t since_s = AUDIT_DEFAULT_SINCE_S;
    bool json = false;
    int c;

    optind = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        int64_t ns = 0;
        if (c == 'j') {
            json = true;
        } else if (c == 's') {
            if (m87_parse_duration(optarg, &ns, NULL) < 0 || ns < 0)
                return cli_usage_error("audit",
                                       "--since: expected a duration like 30m or 24h, "
                                       "not '%s'",
                                       optarg);
            since_s = ns / 1000000000;
        } else {
            return cli_bad_option("audit", argv, c);
        }
    }
    if (optind < argc)
        return cli_usage_error("audit", "unexpected argument '%s'", argv[optind]);
    _cleanup_free_ char *dev = cli_escape(device);
    int64_t since = (int64_t)time(NULL) - since_s;
    _cleanup_free_ char *path =
        m87_xasprintf("/v1/devices/%s/audit?since=%" PRId64, dev, since < 0 ? 0 : since);
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    _cleanup_error_ struct m87_error *err = NULL;
    if (cli_http_json(ctx, "GET", path, NULL, &doc, &err) < 0)
        return cli_report(err);
    if (json) {
        cli_print_json(stdout, doc);
        return CLI_EXIT_OK;
    }
    static const char *const header[] = {
        "TIME", "WHO", "WHAT", "COMMAND", "RESULT", "DURATION", "IN/OUT/ERR BYTES"};
    struct cli_table t;
    cli_table_init(&t, 7, header);
    const struct m87_json *list = m87_json_get(doc, "audit");
    for (size_t i = 0; i < m87_json_len(list); i++)
        add_row(&t, m87_json_at(list, i));
    cli_table_print(&t);
    return CLI_EXIT_OK;
}

int cli_cmd_audit(const char *device, int argc, char **argv)
{
    static const struct cli_sub sub = {"audit", audit, audit_help};
    return cli_run(&sub, device, argc, argv);
}
