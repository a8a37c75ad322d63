/* `m87 devices add|list|show|label|rm|rotate-token|revoke-token` (label: cli-labels.c). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"

static const char devices_help[] =
    "usage: m87 devices <command> [<args>]\n"
    "\n"
    "commands:\n"
    "  add NAME [--label KEY=VALUE]... [--json]\n"
    "                      register a device and print its token (shown once)\n"
    "  list [--select SELECTOR] [--json]\n"
    "                      list the devices: online, last seen, agent, applied revision, labels\n"
    "  show NAME [--json]  show a device with its labels and active deployment\n"
    "  label NAME KEY=VALUE|KEY-... [--json]\n"
    "                      set and remove labels of a device\n"
    "  rm NAME             remove a device with its deployments and reports\n"
    "  rotate-token NAME [--json]\n"
    "                      give the device a new token (shown once); the old one stops working\n"
    "  revoke-token NAME   take the device's token away until rotate-token gives it a new one\n"
    "\n"
    "Run 'm87 devices <command> --help' for the options of a command.\n";

static const char add_help[] =
    "usage: m87 devices add NAME [--label KEY=VALUE]... [--json]\n"
    "\n"
    "Register a device. Its token is printed this once, with the command line that starts\n"
    "the agent on the device. NAME: [a-z0-9][a-z0-9_.-]{0,62}.\n"
    "\n"
    "options:\n"
    "  --label KEY=VALUE  give the device a label (repeatable; see 'm87 devices label --help')\n"
    "  --json             print {\"name\",\"token\",\"created\",\"labels\",\"fleets_joined\",\n"
    "                     \"server\",\"agent_command\"}\n"
    "  -h, --help         show this help\n";

static const char list_help[] =
    "usage: m87 devices list [--select SELECTOR] [--json]\n"
    "\n"
    "List the devices, sorted by name, or those whose labels meet SELECTOR: requirements\n"
    "separated by ',' (all must hold), as Kubernetes writes them:\n"
    "  KEY=VALUE, KEY==VALUE  the label is VALUE\n"
    "  KEY!=VALUE             the label is not VALUE, or the device does not have it\n"
    "  KEY in (V1,V2)         the label is one of the values\n"
    "  KEY notin (V1,V2)      the label is none of them, or the device does not have it\n"
    "  KEY                    the device has the label\n"
    "  !KEY                   the device does not have the label\n"
    "Example: --select 'site in (berlin,munich),hw=pi4,!retired'\n"
    "\n"
    "options:\n"
    "  --select SELECTOR  only the devices that meet SELECTOR\n"
    "  --json             print the server's {\"devices\":[...]}\n"
    "  -h, --help         show this help\n";

static const char show_help[] =
    "usage: m87 devices show NAME [--json]\n"
    "\n"
    "Show a device: online, last seen, agent, applied revision, prefetch policy, labels and its\n"
    "active deployment.\n"
    "\n"
    "options:\n"
    "  --json      print the server's device object\n"
    "  -h, --help  show this help\n";

static const char rm_help[] = "usage: m87 devices rm NAME\n"
                              "\n"
                              "Remove a device, its token, deployments and reports.\n"
                              "\n"
                              "options:\n"
                              "  -h, --help  show this help\n";

static void print_added(const struct cli_ctx *ctx, const struct m87_json *dev, bool json)
{
    const char *name = m87_json_str(m87_json_get(dev, "name"), "?");
    const char *token = m87_json_str(m87_json_get(dev, "token"), "?");
    _cleanup_free_ char *agent =
        m87_xasprintf("m87-agent run --server %s --token %s", ctx->server, token);

    if (json) {
        struct m87_jw *w = m87_jw_new();
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "name", name);
        m87_jw_kstr(w, "token", token);
        m87_jw_kstr(w, "created", m87_json_str(m87_json_get(dev, "created"), NULL));
        m87_jw_key(w, "labels");
        m87_jw_node(w, m87_json_get(dev, "labels"));
        m87_jw_key(w, "fleets_joined");
        m87_jw_node(w, m87_json_get(dev, "fleets_joined"));
        m87_jw_kstr(w, "server", ctx->server);
        m87_jw_kstr(w, "agent_command", agent);
        m87_jw_obj_close(w);
        _cleanup_free_ char *text = m87_jw_finish(w);
        printf("%s\n", text);
        return;
    }
    printf("device '%s' added\n"
           "token: %s\n"
           "The token is shown this once. Start the agent on the device with:\n"
           "  %s\n",
           name, token, agent);
    _cleanup_free_ char *labels = cli_labels_text(m87_json_get(dev, "labels"));
    if (labels)
        printf("labels: %s\n", labels);
    cli_print_fleet_moves(name, dev);
}

static int devices_add(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    (void)device;
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *dev = NULL;
    _cleanup_(m87_strv_release) struct m87_strv labels = {0};
    bool json = false;
    const struct cli_option opts[] = {
        {"json", CLI_OPT_FLAG, &json, 0},
        {"label", CLI_OPT_STRINGS, &labels, 0},
    };
    int rc = cli_parse_options("devices add", add_help, argc, argv, opts, M87_ARRAY_LEN(opts));

    if (rc == 0)
        rc = cli_operands("devices add", argc, argv, 1, 1);
    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "name", argv[optind]);
    if (labels.len)
        rc = cli_labels_write("devices add", "--label", &labels, false, w);
    m87_jw_obj_close(w);
    _cleanup_free_ char *body = m87_jw_finish(w);
    if (rc)
        return rc;
    if (cli_http_json(ctx, "POST", "/v1/devices", body, &dev, &err) < 0)
        return cli_report(err);
    print_added(ctx, dev, json);
    return CLI_EXIT_OK;
}

static bool print_devices(const char *device, const struct m87_json *doc)
{
    static const char *const header[] = {"NAME",  "ONLINE",  "LAST SEEN",
                                         "AGENT", "APPLIED", "LABELS"};
    const struct m87_json *list = m87_json_get(doc, "devices");
    struct cli_table t;
    time_t now = time(NULL);

    (void)device;
    cli_table_init(&t, M87_ARRAY_LEN(header), header);
    for (size_t i = 0; i < m87_json_len(list); i++) {
        const struct m87_json *d = m87_json_at(list, i);
        const char *applied = m87_json_str(m87_json_get(d, "applied_revision"), NULL);
        _cleanup_free_ char *seen =
            cli_format_ago(m87_json_str(m87_json_get(d, "last_seen"), NULL), now);
        _cleanup_free_ char *short_hash = applied ? m87_xstrndup(applied, 12) : NULL;
        _cleanup_free_ char *labels = cli_labels_text(m87_json_get(d, "labels"));
        const char *row[] = {m87_json_str(m87_json_get(d, "name"), "?"),
                             m87_json_bool(m87_json_get(d, "online"), false) ? "yes" : "no",
                             seen,
                             m87_json_str(m87_json_get(d, "agent_version"), NULL),
                             short_hash,
                             labels};
        cli_table_add(&t, row);
    }
    cli_table_print(&t);
    return false;
}

/* The selector is checked here with the server's own parser, so that a mistake is shown with its
 * column before anything is sent. */
static int devices_list(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    const char *select = NULL;
    bool json = false;
    const struct cli_option opts[] = {
        {"json", CLI_OPT_FLAG, &json, 0},
        {"select", CLI_OPT_STRING, &select, 0},
    };
    int rc = cli_parse_options("devices list", list_help, argc, argv, opts, M87_ARRAY_LEN(opts));

    if (rc == 0)
        rc = cli_operands("devices list", argc, argv, 0, 0);
    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    _cleanup_free_ char *path = NULL;
    if (select) {
        if ((rc = cli_check_selector("devices list", select)) != CLI_EXIT_OK)
            return rc;
        _cleanup_free_ char *e = cli_escape(select);
        path = m87_xasprintf("/v1/devices?select=%s", e);
    }
    if (cli_http_json(ctx, "GET", path ? path : "/v1/devices", NULL, &doc, &err) < 0)
        return cli_report(err);
    if (json) {
        cli_print_json(stdout, doc);
        return CLI_EXIT_OK;
    }
    print_devices(device, doc);
    return CLI_EXIT_OK;
}

static void print_device(const struct m87_json *d)
{
    time_t now = time(NULL);
    _cleanup_free_ char *seen =
        cli_format_ago(m87_json_str(m87_json_get(d, "last_seen"), NULL), now);
    _cleanup_free_ char *labels = cli_labels_text(m87_json_get(d, "labels"));
    const char *active = m87_json_str(m87_json_path(d, "active_deployment", "id", NULL), NULL);

    printf("name:       %s\n", m87_json_str(m87_json_get(d, "name"), "?"));
    printf("online:     %s\n", m87_json_bool(m87_json_get(d, "online"), false) ? "yes" : "no");
    printf("last seen:  %s\n", seen);
    printf("agent:      %s\n", m87_json_str(m87_json_get(d, "agent_version"), "-"));
    printf("applied:    %s\n", m87_json_str(m87_json_get(d, "applied_revision"), "-"));
    printf("prefetch:   %s\n", m87_json_str(m87_json_get(d, "prefetch"), "-"));
    printf("labels:     %s\n", labels ? labels : "-");
    printf("deployment: %s\n", active ? active : "-");
}

static int devices_show(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    (void)device;
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    bool json = false;
    int rc = cli_parse_simple("devices show", show_help, argc, argv, &json, 1, 1);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    _cleanup_free_ char *path = cli_device_path(argv[optind], NULL);
    if (cli_http_json(ctx, "GET", path, NULL, &doc, &err) < 0)
        return cli_report(err);
    if (json)
        cli_print_json(stdout, doc);
    else
        print_device(doc);
    return CLI_EXIT_OK;
}

static int devices_rm(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    (void)device;
    _cleanup_error_ struct m87_error *err = NULL;
    int rc = cli_parse_simple("devices rm", rm_help, argc, argv, NULL, 1, 1);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    _cleanup_free_ char *path = cli_device_path(argv[optind], NULL);
    if (cli_http_json(ctx, "DELETE", path, NULL, NULL, &err) < 0)
        return cli_report(err);
    printf("device '%s' removed\n", argv[optind]);
    return CLI_EXIT_OK;
}

static const char rotate_help[] =
    "usage: m87 devices rotate-token NAME [--json]\n"
    "\n"
    "Give the device a new token, printed this once; its old token stops working at once (a\n"
    "running agent is refused until it is restarted with the new token).\n"
    "\n"
    "options:\n"
    "  --json      print {\"name\",\"token\"}\n"
    "  -h, --help  show this help\n";

static const char revoke_help[] = "usage: m87 devices revoke-token NAME\n"
                                  "\n"
                                  "Take the device's token away: its agent is refused until "
                                  "rotate-token\ngives it a new one. Its deployments stay.\n"
                                  "\n"
                                  "options:\n"
                                  "  -h, --help  show this help\n";

static int devices_rotate(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    (void)device;
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    bool json = false;
    int rc = cli_parse_simple("devices rotate-token", rotate_help, argc, argv, &json, 1, 1);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    _cleanup_free_ char *path = cli_device_path(argv[optind], "/token");
    if (cli_http_json(ctx, "POST", path, "{}", &doc, &err) < 0)
        return cli_report(err);
    if (json) {
        cli_print_json(stdout, doc);
        return CLI_EXIT_OK;
    }
    printf("new token of '%s': %s\n"
           "The token is shown this once; the old one no longer works. Put it in the agent's\n"
           "token file (--token-file, mode 0600) or config file and restart the agent.\n",
           argv[optind], m87_json_str(m87_json_get(doc, "token"), "?"));
    return CLI_EXIT_OK;
}

static int devices_revoke(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    (void)device;
    _cleanup_error_ struct m87_error *err = NULL;
    int rc = cli_parse_simple("devices revoke-token", revoke_help, argc, argv, NULL, 1, 1);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    _cleanup_free_ char *path = cli_device_path(argv[optind], "/token");
    if (cli_http_json(ctx, "DELETE", path, NULL, NULL, &err) < 0)
        return cli_report(err);
    printf("token of '%s' revoked; give it a new one with: m87 devices rotate-token %s\n",
           argv[optind], argv[optind]);
    return CLI_EXIT_OK;
}

static const struct cli_sub subcommands[] = {
    {"add", devices_add, add_help},
    {"list", devices_list, list_help},
    {"show", devices_show, show_help},
    {"label", cli_devices_label, cli_label_help},
    {"rm", devices_rm, rm_help},
    {"rotate-token", devices_rotate, rotate_help},
    {"revoke-token", devices_revoke, revoke_help},
};

int cli_cmd_devices(int argc, char **argv)
{
    return cli_dispatch("devices", devices_help, subcommands, M87_ARRAY_LEN(subcommands), NULL,
                        argc, argv);
}
