/* `m87 DEVICE audit [--since DURATION] [--kind KIND] [--json]`: who did what on the device, as
 * the server recorded it (docs/remote.md, "Audit"). */
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
    "usage: m87 DEVICE audit [--since DURATION] [--kind KIND] [--json]\n"
    "\n"
    "What was done to the device, oldest first: when, the kind (remote: exec, shell, forward,\n"
    "metrics, cp; session: a command of sync execution; deploy: a new revision of one of its\n"
    "deployments; activate: a change of its active deployment), who (the first hex digits of\n"
    "the SHA-256 of the token that asked, or 'server' for what a rollout did on its own), what,\n"
    "the command or revision, the result (exit status, or the device's refusal), how long it\n"
    "ran and the bytes of its stdin, stdout and stderr. The device journals its own record of\n"
    "remote actions and sessions as reports of kind audit.\n"
    "\n"
    "options:\n"
    "  --since DURATION  how far back (default: 24h)\n"
    "  --kind KIND       only rows of KIND: remote, session, deploy or activate\n"
    "  --json            the server's answer as JSON\n"
    "  -h, --help        show this help\n";

static char *command_text(const char *what, const struct m87_json *cmd)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (size_t i = 0; i < m87_json_len(cmd); i++)
        m87_buf_appendf(&b, NULL, "%s%s", i ? " " : "", m87_json_str(m87_json_at(cmd, i), ""));
    if (b.len == 0)
        m87_buf_appendf(&b, NULL, "%s", strcmp(what, "shell") == 0 ? "(login shell)" : "-");
    return m87_buf_steal(&b);
}

/* "d-3f2a9c01 revision 3" of a detail's deployment and revision. */
static void revision_text(struct m87_buf *b, const struct m87_json *d)
{
    m87_buf_appendf(b, NULL, "%s revision %" PRId64,
                    m87_json_str(m87_json_get(d, "deployment"), "?"),
                    m87_json_int(m87_json_get(d, "revision"), 0));
}

/* What a deploy or activate row changed, from its detail. */
static char *change_text(const char *kind, const struct m87_json *d)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    revision_text(&b, d);
    const char *fleet = m87_json_str(m87_json_get(d, "fleet"), NULL);
    int64_t release = m87_json_int(m87_json_get(d, "release"), 0);
    const struct m87_json *clone = m87_json_get(d, "clone");
    const struct m87_json *prev = m87_json_get(d, "previous");
    if (release > 0)
        m87_buf_appendf(&b, NULL, " (release %" PRId64 " of fleet %s)", release,
                        fleet ? fleet : "?");
    else if (fleet)
        m87_buf_appendf(&b, NULL, " (fleet %s)", fleet);
    if (m87_json_type(clone) == M87_JSON_OBJECT) {
        m87_buf_appendf(&b, NULL, " (a copy of %s",
                        m87_json_str(m87_json_get(clone, "deployment"), "?"));
        if (m87_json_type(m87_json_get(clone, "revision")) == M87_JSON_NUMBER)
            m87_buf_appendf(&b, NULL, " revision %" PRId64,
                            m87_json_int(m87_json_get(clone, "revision"), 0));
        m87_buf_appendf(&b, NULL, ")");
    }
    if (strcmp(kind, "activate") == 0 && m87_json_type(prev) == M87_JSON_OBJECT) {
        m87_buf_appendf(&b, NULL, " (was ");
        revision_text(&b, prev);
        m87_buf_appendf(&b, NULL, ")");
    } else if (strcmp(kind, "deploy") == 0 && !m87_json_bool(m87_json_get(d, "active"), false)) {
        m87_buf_appendf(&b, NULL, " (not active)");
    }
    if (m87_json_bool(m87_json_get(d, "now"), false))
        m87_buf_appendf(&b, NULL, " now");
    return m87_buf_steal(&b);
}

static void add_row(struct cli_table *t, const struct m87_json *a)
{
    _cleanup_free_ char *when = cli_format_local(m87_json_str(m87_json_get(a, "created"), NULL));
    const char *kind = m87_json_str(m87_json_get(a, "kind"), "remote");
    bool change = strcmp(kind, "deploy") == 0 || strcmp(kind, "activate") == 0;
    _cleanup_free_ char *cmd = change ? change_text(kind, m87_json_get(a, "detail"))
                                      : command_text(m87_json_str(m87_json_get(a, "what"), ""),
                                                     m87_json_get(a, "command"));
    const struct m87_json *code = m87_json_get(a, "exit_code");
    const char *msg = m87_json_str(m87_json_get(a, "message"), NULL);
    bool ended = m87_json_str(m87_json_get(a, "ended"), NULL) != NULL;
    _cleanup_free_ char *result = m87_json_type(code) == M87_JSON_NUMBER
                                      ? m87_xasprintf("exit %" PRId64, m87_json_int(code, 0))
                                      : m87_xstrdup(msg      ? msg
                                                    : ended  ? "ended"
                                                    : change ? "-"
                                                             : "no end recorded");
    int64_t ms = m87_json_int(m87_json_get(a, "duration_ms"), -1);
    /* a session's time is counted by the server in whole seconds */
    bool whole = strcmp(kind, "session") == 0 && ms >= 0 && ms < 1000;
    _cleanup_free_ char *dur = whole ? m87_xstrdup("<1s") : ms >= 0 ? cli_format_ms(ms) : NULL;
    const struct m87_json *bytes = m87_json_get(a, "bytes");
    _cleanup_free_ char *io = m87_xasprintf("%" PRId64 "/%" PRId64 "/%" PRId64,
                                            m87_json_int(m87_json_get(bytes, "stdin"), 0),
                                            m87_json_int(m87_json_get(bytes, "stdout"), 0),
                                            m87_json_int(m87_json_get(bytes, "stderr"), 0));
    const char *row[] = {when,
                         kind,
                         m87_json_str(m87_json_get(a, "token"), "-"),
                         m87_json_str(m87_json_get(a, "what"), "-"),
                         cmd,
                         result,
                         dur,
                         change ? "-" : io};
    cli_table_add(t, row);
}

static int audit(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    static const struct option opts[] = {
        {"since", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"kind", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    static const char *const kinds[] = {"remote", "session", "deploy", "activate", NULL};
    int64_t since_s = AUDIT_DEFAULT_SINCE_S;
    const char *kind = NULL;
    bool json = false;
    int c;

    optind = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        int64_t ns = 0;
        if (c == 'j') {
            json = true;
        } else if (c == 'k') {
            bool known = false;
            for (size_t i = 0; kinds[i] && !known; i++)
                known = strcmp(optarg, kinds[i]) == 0;
            if (!known)
                return cli_usage_error("audit",
                                       "--kind: expected remote, session, deploy or activate, "
                                       "not '%s'",
                                       optarg);
            kind = optarg;
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
        m87_xasprintf("/v1/devices/%s/audit?since=%" PRId64 "%s%s", dev, since < 0 ? 0 : since,
                      kind ? "&kind=" : "", kind ? kind : "");
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    _cleanup_error_ struct m87_error *err = NULL;
    if (cli_http_json(ctx, "GET", path, NULL, &doc, &err) < 0)
        return cli_report(err);
    if (json) {
        cli_print_json(stdout, doc);
        return CLI_EXIT_OK;
    }
    static const char *const header[] = {"TIME",
                                         "KIND",
                                         "WHO",
                                         "WHAT",
                                         "COMMAND OR REVISION",
                                         "RESULT",
                                         "DURATION",
                                         "IN/OUT/ERR BYTES"};
    struct cli_table t;
    cli_table_init(&t, 8, header);
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
