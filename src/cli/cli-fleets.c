/* `m87 fleets add|list|show|rm`, and the lines that say which fleets a device joins and leaves
 * when `devices add` or `devices label` changes its labels. A fleet's members are the server's
 * answer: the CLI only shows them. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"

static const char fleets_help[] =
    "usage: m87 fleets <command> [<args>]\n"
    "\n"
    "A fleet is a name for the devices whose labels meet a selector. Membership is live: a\n"
    "device registered or relabelled later joins or leaves the fleet.\n"
    "\n"
    "commands:\n"
    "  add NAME --select SELECTOR [--json]\n"
    "                      make a fleet of the devices that meet SELECTOR\n"
    "  list [--json]       list the fleets with their selector and number of members\n"
    "  show NAME [--json]  show a fleet's selector and its members now\n"
    "  rm NAME [--json]    remove a fleet (its devices stay)\n"
    "\n"
    "Run 'm87 fleets <command> --help' for the options of a command.\n";

static const char add_help[] =
    "usage: m87 fleets add NAME --select SELECTOR [--json]\n"
    "\n"
    "Make a fleet of the devices whose labels meet SELECTOR, now and later, and show its\n"
    "members. NAME: [a-z0-9][a-z0-9_.-]{0,62}. SELECTOR as 'm87 devices list --help' says:\n"
    "'site=berlin', 'site in (berlin,munich),hw!=pi3', '!retired'; the empty selector makes\n"
    "a fleet of every device.\n"
    "\n"
    "options:\n"
    "  --select SELECTOR  the fleet's selector (required)\n"
    "  --json             print the server's {\"name\",\"selector\",\"created\",\"members\"}\n"
    "  -h, --help         show this help\n";

static const char list_help[] =
    "usage: m87 fleets list [--json]\n"
    "\n"
    "List the fleets, sorted by name, with their number of members and selector.\n"
    "\n"
    "options:\n"
    "  --json      print the server's {\"fleets\":[...]}\n"
    "  -h, --help  show this help\n";

static const char show_help[] =
    "usage: m87 fleets show NAME [--json]\n"
    "\n"
    "Show a fleet: its selector and the devices whose labels meet it now.\n"
    "\n"
    "options:\n"
    "  --json      print the server's {\"name\",\"selector\",\"created\",\"members\"}\n"
    "  -h, --help  show this help\n";

static const char rm_help[] = "usage: m87 fleets rm NAME [--json]\n"
                              "\n"
                              "Remove a fleet. Its devices, their labels and deployments stay.\n"
                              "\n"
                              "options:\n"
                              "  --json      print {\"name\",\"removed\":true}\n"
                              "  -h, --help  show this help\n";

void cli_print_fleet_moves(const char *device, const struct m87_json *doc)
{
    const struct m87_json *joined = m87_json_get(doc, "fleets_joined");
    const struct m87_json *left = m87_json_get(doc, "fleets_left");
    for (size_t i = 0; i < m87_json_len(joined); i++)
        printf("%s joins fleet %s\n", device, m87_json_str(m87_json_at(joined, i), "?"));
    for (size_t i = 0; i < m87_json_len(left); i++)
        printf("%s leaves fleet %s\n", device, m87_json_str(m87_json_at(left, i), "?"));
}

static char *fleet_path(const char *name)
{
    _cleanup_free_ char *e = cli_escape(name);
    return m87_xasprintf("/v1/fleets/%s", e);
}

static void print_fleet(const struct m87_json *f)
{
    const struct m87_json *members = m87_json_get(f, "members");
    const char *selector = m87_json_str(m87_json_get(f, "selector"), "");
    _cleanup_free_ char *created = cli_format_local(m87_json_str(m87_json_get(f, "created"), NULL));
    size_t n = m87_json_len(members);

    printf("name:     %s\n", m87_json_str(m87_json_get(f, "name"), "?"));
    printf("selector: %s\n", selector[0] ? selector : "(every device)");
    printf("created:  %s\n", created);
    printf("members:  %zu\n", n);
    for (size_t i = 0; i < n; i++)
        printf("  %s\n", m87_json_str(m87_json_at(members, i), "?"));
}

/* The selector is checked with the server's own parser before anything is sent, so that a
 * mistake is shown with its column. */
static int fleets_add(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    (void)device;
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    const char *select = NULL;
    bool json = false;
    const struct cli_option opts[] = {
        {"json", CLI_OPT_FLAG, &json, 0},
        {"select", CLI_OPT_STRING, &select, 0},
    };
    int rc = cli_parse_options("fleets add", add_help, argc, argv, opts, M87_ARRAY_LEN(opts));

    if (rc == 0)
        rc = cli_operands("fleets add", argc, argv, 1, 1);
    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    if (select == NULL)
        return cli_usage_error("fleets add", "--select SELECTOR is required");
    if ((rc = cli_check_selector("fleets add", select)) != CLI_EXIT_OK)
        return rc;
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "name", argv[optind]);
    m87_jw_kstr(w, "selector", select);
    m87_jw_obj_close(w);
    _cleanup_free_ char *body = m87_jw_finish(w);
    if (cli_http_json(ctx, "POST", "/v1/fleets", body, &doc, &err) < 0)
        return cli_report(err);
    if (json) {
        cli_print_json(stdout, doc);
        return CLI_EXIT_OK;
    }
    printf("fleet '%s' added\n", argv[optind]);
    print_fleet(doc);
    return CLI_EXIT_OK;
}

static bool print_fleets(const char *device, const struct m87_json *doc)
{
    static const char *const header[] = {"NAME", "MEMBERS", "SELECTOR"};
    const struct m87_json *list = m87_json_get(doc, "fleets");
    struct cli_table t;

    (void)device;
    cli_table_init(&t, M87_ARRAY_LEN(header), header);
    for (size_t i = 0; i < m87_json_len(list); i++) {
        const struct m87_json *f = m87_json_at(list, i);
        _cleanup_free_ char *count =
            m87_xasprintf("%lld", (long long)m87_json_int(m87_json_get(f, "member_count"), 0));
        const char *selector = m87_json_str(m87_json_get(f, "selector"), "");
        const char *row[] = {m87_json_str(m87_json_get(f, "name"), "?"), count,
                             selector[0] ? selector : "(every device)"};
        cli_table_add(&t, row);
    }
    cli_table_print(&t);
    return false;
}

static int fleets_list(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    return cli_get_and_show(ctx, "fleets list", list_help, argc, argv, "/v1/fleets", device,
                            print_fleets);
}

static int fleets_show(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    (void)device;
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    bool json = false;
    int rc = cli_parse_simple("fleets show", show_help, argc, argv, &json, 1, 1);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    _cleanup_free_ char *path = fleet_path(argv[optind]);
    if (cli_http_json(ctx, "GET", path, NULL, &doc, &err) < 0)
        return cli_report(err);
    if (json)
        cli_print_json(stdout, doc);
    else
        print_fleet(doc);
    return CLI_EXIT_OK;
}

static int fleets_rm(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    (void)device;
    _cleanup_error_ struct m87_error *err = NULL;
    bool json = false;
    int rc = cli_parse_simple("fleets rm", rm_help, argc, argv, &json, 1, 1);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    _cleanup_free_ char *path = fleet_path(argv[optind]);
    if (cli_http_json(ctx, "DELETE", path, NULL, NULL, &err) < 0)
        return cli_report(err);
    if (json) {
        struct m87_jw *w = m87_jw_new();
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "name", argv[optind]);
        m87_jw_kbool(w, "removed", true);
        m87_jw_obj_close(w);
        _cleanup_free_ char *text = m87_jw_finish(w);
        printf("%s\n", text);
        return CLI_EXIT_OK;
    }
    printf("fleet '%s' removed\n", argv[optind]);
    return CLI_EXIT_OK;
}

static const struct cli_sub subcommands[] = {
    {"add", fleets_add, add_help},
    {"list", fleets_list, list_help},
    {"show", fleets_show, show_help},
    {"rm", fleets_rm, rm_help},
};

int cli_cmd_fleets(int argc, char **argv)
{
    return cli_dispatch("fleets", fleets_help, subcommands, M87_ARRAY_LEN(subcommands), NULL, argc,
                        argv);
}
