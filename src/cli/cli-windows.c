/* `m87 DEVICE window add|list|rm` and `m87 DEVICE prefetch-policy`: when the device may switch
 * to a new revision, and when it may pull images for it. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/spec-window.h"

static const char window_help[] =
    "usage: m87 DEVICE window <command> [<args>]\n"
    "\n"
    "commands:\n"
    "  add RULE [--json]   add a maintenance window, e.g. \"daily 02:00-04:00\"\n"
    "  list [--json]       list the device's windows and when each opens next\n"
    "  rm ID               remove a window\n"
    "\n"
    "With windows set, the device receives a new revision at once and prefetches its images,\n"
    "but switches to it (stops the old, starts the new) only inside a window. Without any, it\n"
    "switches at once. 'deploy --now' and 'deployment activate --now' override.\n"
    "\n"
    "Run 'm87 DEVICE window <command> --help' for the options of a command.\n";

static const char add_help[] =
    "usage: m87 DEVICE window add RULE [--json]\n"
    "\n"
    "Add a maintenance window. RULE is \"DAYS START-END [ZONE]\":\n"
    "  DAYS   daily, or days and ranges: mon tue wed thu fri sat sun, sat,sun, mon-fri\n"
    "  START  HH:MM; the window starts on each listed day\n"
    "  END    HH:MM (24:00 for midnight); an END at or before START is on the next day\n"
    "  ZONE   UTC (default), +HH:MM, -HH:MM, or a tz name like Europe/Berlin; times inside a\n"
    "         daylight-saving change follow the zone\n"
    "Examples: \"daily 02:00-04:00\", \"sat,sun 00:00-06:00\",\n"
    "          \"mon-fri 22:00-02:00 Europe/Berlin\" (Friday's ends Saturday 02:00)\n"
    "\n"
    "options:\n"
    "  --json      print the window as JSON\n"
    "  -h, --help  show this help\n";

static const char list_help[] = "usage: m87 DEVICE window list [--json]\n"
                                "\n"
                                "List the device's windows, the next start of each in local "
                                "time, and the prefetch policy.\n"
                                "\n"
                                "options:\n"
                                "  --json      print the server's {\"windows\":[...],"
                                "\"prefetch\":...}\n"
                                "  -h, --help  show this help\n";

static const char rm_help[] = "usage: m87 DEVICE window rm ID\n"
                              "\n"
                              "Remove window ID (see 'window list').\n"
                              "\n"
                              "options:\n"
                              "  -h, --help  show this help\n";

static const char prefetch_help[] =
    "usage: m87 DEVICE prefetch-policy [always|window] [--json]\n"
    "\n"
    "Show or set when the device pulls the images of a revision that waits for a window:\n"
    "  always  at once, so that the switch in the window is quick (the default)\n"
    "  window  only inside a window, for metered links; a pull still running when the window\n"
    "          ends goes on, but no new one starts\n"
    "\n"
    "options:\n"
    "  --json      print the device as JSON\n"
    "  -h, --help  show this help\n";

/* The next start of rule after now in local time, "-" when the rule does not parse here. */
static char *next_start(const char *rule, time_t now)
{
    struct spec_window w;
    if (!rule || spec_window_parse(rule, &w, NULL) < 0)
        return m87_xstrdup("-");
    return cli_format_local_time(spec_window_next_start(&w, now));
}

static int window_add(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    bool json = false;
    struct spec_window w;
    int rc = cli_parse_simple("window add", add_help, argc, argv, &json, 1, 1);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    const char *rule = argv[optind];
    if (spec_window_parse(rule, &w, &err) < 0)
        return cli_usage_error("window add", "'%s': %s", rule, err->msg);
    struct m87_jw *jw = m87_jw_new();
    m87_jw_obj_open(jw);
    m87_jw_kstr(jw, "rule", rule);
    m87_jw_obj_close(jw);
    _cleanup_free_ char *body = m87_jw_finish(jw);
    _cleanup_free_ char *path = cli_device_path(device, "/windows");
    if (cli_http_json(ctx, "POST", path, body, &doc, &err) < 0)
        return cli_report(err);
    if (json) {
        cli_print_json(stdout, doc);
        return CLI_EXIT_OK;
    }
    _cleanup_free_ char *next =
        next_start(m87_json_str(m87_json_get(doc, "rule"), NULL), time(NULL));
    printf("added window %lld to %s: %s\nnext start: %s\n",
           (long long)m87_json_int(m87_json_get(doc, "id"), 0), device,
           m87_json_str(m87_json_get(doc, "rule"), "?"), next);
    return CLI_EXIT_OK;
}

static bool print_windows(const char *device, const struct m87_json *doc)
{
    static const char *const header[] = {"ID", "RULE", "NEXT START", "CREATED"};
    const struct m87_json *list = m87_json_get(doc, "windows");
    time_t now = time(NULL);
    struct cli_table t;

    if (m87_json_len(list) == 0) {
        printf("no windows: %s switches to a new revision at once\n", device);
    } else {
        cli_table_init(&t, M87_ARRAY_LEN(header), header);
        for (size_t i = 0; i < m87_json_len(list); i++) {
            const struct m87_json *w = m87_json_at(list, i);
            const char *rule = m87_json_str(m87_json_get(w, "rule"), NULL);
            _cleanup_free_ char *id =
                m87_xasprintf("%lld", (long long)m87_json_int(m87_json_get(w, "id"), 0));
            _cleanup_free_ char *next = next_start(rule, now);
            const char *row[] = {id, rule, next, m87_json_str(m87_json_get(w, "created"), NULL)};
            cli_table_add(&t, row);
        }
        cli_table_print(&t);
    }
    printf("prefetch: %s\n", m87_json_str(m87_json_get(doc, "prefetch"), "always"));
    return false;
}

static int window_list(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    _cleanup_free_ char *path = cli_device_path(device, "/windows");
    return cli_get_and_show(ctx, "window list", list_help, argc, argv, path, device, print_windows);
}

static int window_rm(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    _cleanup_error_ struct m87_error *err = NULL;
    int64_t id = 0;
    int rc = cli_parse_simple("window rm", rm_help, argc, argv, NULL, 1, 1);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    if (cli_parse_positive(argv[optind], &id) < 0)
        return cli_usage_error("window rm", "'%s' is not a window id (see 'window list')",
                               argv[optind]);
    _cleanup_free_ char *tail = m87_xasprintf("/windows/%lld", (long long)id);
    _cleanup_free_ char *path = cli_device_path(device, tail);
    if (cli_http_json(ctx, "DELETE", path, NULL, NULL, &err) < 0)
        return cli_report(err);
    printf("removed window %lld from %s\n", (long long)id, device);
    return CLI_EXIT_OK;
}

static const struct cli_sub subcommands[] = {
    {"add", window_add, add_help},
    {"list", window_list, list_help},
    {"rm", window_rm, rm_help},
};

int cli_cmd_window(const char *device, int argc, char **argv)
{
    _cleanup_free_ char *group = m87_xasprintf("%s window", device);

    return cli_dispatch(group, window_help, subcommands, M87_ARRAY_LEN(subcommands), device, argc,
                        argv);
}

static void print_policy(const char *device, const char *policy)
{
    printf("prefetch policy of %s: %s (%s)\n", device, policy,
           strcmp(policy, "window") == 0 ? "images are pulled only inside a maintenance window"
                                         : "images are pulled as soon as a revision arrives");
}

static int prefetch_policy(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    _cleanup_free_ char *path = cli_device_path(device, NULL);
    _cleanup_free_ char *body = NULL;
    bool json = false;
    int rc = cli_parse_simple("prefetch-policy", prefetch_help, argc, argv, &json, 0, 1);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    const char *value = optind < argc ? argv[optind] : NULL;
    if (value && strcmp(value, "always") != 0 && strcmp(value, "window") != 0)
        return cli_usage_error("prefetch-policy", "'%s': expected always or window", value);
    if (value) {
        struct m87_jw *w = m87_jw_new();
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "prefetch", value);
        m87_jw_obj_close(w);
        body = m87_jw_finish(w);
    }
    if (cli_http_json(ctx, value ? "PATCH" : "GET", path, body, &doc, &err) < 0)
        return cli_report(err);
    if (json)
        cli_print_json(stdout, doc);
    else
        print_policy(device, m87_json_str(m87_json_get(doc, "prefetch"), "always"));
    return CLI_EXIT_OK;
}

int cli_cmd_prefetch_policy(const char *device, int argc, char **argv)
{
    static const struct cli_sub sub = {"prefetch-policy", prefetch_policy, prefetch_help};

    return cli_run(&sub, device, argc, argv);
}
