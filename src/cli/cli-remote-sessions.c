/* `m87 DEVICE sessions [show ID]`: the commands run on the device with `m87 DEVICE docker`, and
 * their output as the server keeps it. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json.h"

static const char sessions_help[] =
    "usage: m87 DEVICE sessions [list] [--json]\n"
    "       m87 DEVICE sessions show ID [--json]\n"
    "\n"
    "The commands run on the device with 'm87 DEVICE docker ...' (oldest first), and the\n"
    "output of one of them, as the server keeps it (7 days by default).\n"
    "\n"
    "options:\n"
    "  --json      print the server's answer as JSON\n"
    "  -h, --help  show this help\n";

static char *command_text(const struct m87_json *s)
{
    const char *cmd = m87_json_str(m87_json_get(s, "command"), "?");
    const struct m87_json *args = m87_json_get(s, "args");
    struct m87_buf b;

    m87_buf_init(&b, 0);
    m87_buf_appendf(&b, NULL, "docker %s", cmd);
    if (strcmp(cmd, "compose") == 0 && m87_json_get(s, "project"))
        m87_buf_appendf(&b, NULL, " -p %s", m87_json_str(m87_json_get(s, "project"), "?"));
    for (size_t i = 0; i < m87_json_len(args); i++)
        m87_buf_appendf(&b, NULL, " %s", m87_json_str(m87_json_at(args, i), ""));
    return m87_buf_steal(&b);
}

static char *exit_text(const struct m87_json *s)
{
    const struct m87_json *code = m87_json_get(s, "exit_code");
    if (m87_json_type(code) != M87_JSON_NUMBER)
        return NULL;
    return m87_xasprintf("%lld", (long long)m87_json_int(code, 0));
}

static int list(const struct cli_ctx *ctx, const char *device, bool json)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    _cleanup_free_ char *path = cli_device_path(device, "/sessions");
    static const char *const header[] = {"ID", "STATE", "EXIT", "CREATED", "COMMAND"};
    struct cli_table t;

    if (cli_http_json(ctx, "GET", path, NULL, &doc, &err) < 0)
        return cli_report(err);
    if (json) {
        cli_print_json(stdout, doc);
        return CLI_EXIT_OK;
    }
    const struct m87_json *v = m87_json_get(doc, "sessions");
    cli_table_init(&t, M87_ARRAY_LEN(header), header);
    for (size_t i = 0; i < m87_json_len(v); i++) {
        const struct m87_json *s = m87_json_at(v, i);
        _cleanup_free_ char *cmd = command_text(s);
        _cleanup_free_ char *code = exit_text(s);
        const char *row[] = {m87_json_str(m87_json_get(s, "id"), "?"),
                             m87_json_str(m87_json_get(s, "state"), "?"), code,
                             m87_json_str(m87_json_get(s, "created"), NULL), cmd};
        cli_table_add(&t, row);
    }
    cli_table_print(&t);
    return CLI_EXIT_OK;
}

static void print_header(const struct m87_json *s)
{
    _cleanup_free_ char *cmd = command_text(s);
    _cleanup_free_ char *code = exit_text(s);
    const char *msg = m87_json_str(m87_json_get(s, "message"), NULL);

    printf("session   %s\n", m87_json_str(m87_json_get(s, "id"), "?"));
    printf("device    %s\n", m87_json_str(m87_json_path(s, "device", "name", NULL), "?"));
    printf("command   %s\n", cmd);
    printf("state     %s%s%s\n", m87_json_str(m87_json_get(s, "state"), "?"),
           code ? ", exit code " : "", code ? code : "");
    printf("created   %s\n", m87_json_str(m87_json_get(s, "created"), "-"));
    printf("started   %s\n", m87_json_str(m87_json_get(s, "started"), "-"));
    printf("ended     %s\n", m87_json_str(m87_json_get(s, "ended"), "-"));
    if (msg)
        printf("message   %s\n", msg);
    printf("\n");
}

/* The whole output, read in pages. */
static int show(const struct cli_ctx *ctx, const char *device, const char *id, bool json)
{
    _cleanup_free_ char *d = cli_escape(device);
    _cleanup_free_ char *i = cli_escape(id);
    int64_t after = 0;

    for (bool first = true;; first = false) {
        _cleanup_error_ struct m87_error *err = NULL;
        _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
        _cleanup_free_ char *path =
            m87_xasprintf("/v1/devices/%s/sessions/%s/output?after=%lld", d, i, (long long)after);
        if (cli_http_json(ctx, "GET", path, NULL, &doc, &err) < 0)
            return cli_report(err);
        const struct m87_json *out = m87_json_get(doc, "output");
        if (json) {
            cli_print_json(stdout, doc);
        } else {
            if (first)
                print_header(doc);
            for (size_t k = 0; k < m87_json_len(out); k++)
                fputs(m87_json_str(m87_json_get(m87_json_at(out, k), "text"), ""), stdout);
        }
        if (m87_json_len(out) == 0)
            return CLI_EXIT_OK;
        after = m87_json_int(m87_json_get(doc, "next"), after);
    }
}

static int sessions(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    bool json = false;
    bool is_show = argc >= 2 && strcmp(argv[1], "show") == 0;
    bool is_list = argc >= 2 && strcmp(argv[1], "list") == 0;
    int skip = is_show || is_list ? 1 : 0;
    const char *cmd = is_show ? "sessions show" : "sessions";
    int rc = cli_parse_simple(cmd, sessions_help, argc - skip, argv + skip, &json, is_show ? 1 : 0,
                              is_show ? 1 : 0);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    if (is_show)
        return show(ctx, device, argv[skip + optind], json);
    return list(ctx, device, json);
}

int cli_cmd_sessions(const char *device, int argc, char **argv)
{
    static const struct cli_sub sub = {"sessions", sessions, sessions_help};

    return cli_run(&sub, device, argc, argv);
}

void cli_print_interactive(const char *device, const struct m87_json *st)
{
    static const char *const header[] = {"PROJECT", "CONTAINER", "SERVICE", "STATE", "STATUS"};
    const struct m87_json *v = m87_json_get(st, "interactive");
    struct cli_table t;

    if (m87_json_len(v) == 0)
        return;
    printf("\ninteractive stacks (m87 %s docker compose; no deployment touches them)\n", device);
    cli_table_init(&t, M87_ARRAY_LEN(header), header);
    for (size_t i = 0; i < m87_json_len(v); i++) {
        const struct m87_json *p = m87_json_at(v, i);
        const struct m87_json *cs = m87_json_get(p, "containers");
        for (size_t k = 0; k < m87_json_len(cs); k++) {
            const struct m87_json *c = m87_json_at(cs, k);
            const char *row[] = {m87_json_str(m87_json_get(p, "project"), "?"),
                                 m87_json_str(m87_json_get(c, "name"), NULL),
                                 m87_json_str(m87_json_get(c, "service"), NULL),
                                 m87_json_str(m87_json_get(c, "state"), NULL),
                                 m87_json_str(m87_json_get(c, "status"), NULL)};
            cli_table_add(&t, row);
        }
    }
    cli_table_print(&t);
}
