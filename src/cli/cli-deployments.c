/* `m87 DEVICE deployment new|list|show|activate|clone|rm` (status is in cli-status.c). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "m87/json.h"

static const char deployment_help[] =
    "usage: m87 DEVICE deployment <command> [<args>]\n"
    "\n"
    "commands:\n"
    "  new [--active [--now]] [--json]      create an empty deployment\n"
    "  list [--json]                        list the device's deployments\n"
    "  show [ID] [--revision N] [--yaml] [--json]\n"
    "                                       show a deployment (default: the active one)\n"
    "  activate ID [--now]                  make ID the device's desired state\n"
    "  clone ID[@REVISION] [--active [--now]] [--json]\n"
    "                                       copy a deployment at a revision (rollback)\n"
    "  status [--deployment-id ID] [--logs] [--follow] [--json]\n"
    "                                       what the device did with the deployment\n"
    "  rm ID                                remove a deployment that is not active\n"
    "\n"
    "Run 'm87 DEVICE deployment <command> --help' for the options of a command.\n";

static const char new_help[] =
    "usage: m87 DEVICE deployment new [--active [--now]] [--json]\n"
    "\n"
    "Create an empty deployment (revision 1, no jobs).\n"
    "\n"
    "options:\n"
    "  --active    make it the device's active deployment at once\n"
    "  --now       with --active: the device applies it at once, outside its maintenance\n"
    "              windows\n"
    "  --json      print the deployment as JSON\n"
    "  -h, --help  show this help\n";

static const char list_help[] = "usage: m87 DEVICE deployment list [--json]\n"
                                "\n"
                                "List the device's deployments, oldest first; '*' marks the "
                                "active one.\n"
                                "\n"
                                "options:\n"
                                "  --json      print the server's {\"deployments\":[...]}\n"
                                "  -h, --help  show this help\n";

static const char activate_help[] =
    "usage: m87 DEVICE deployment activate ID [--now]\n"
    "\n"
    "Make deployment ID the device's active deployment; the device applies its newest\n"
    "revision when it next syncs, inside a maintenance window when it has windows.\n"
    "\n"
    "options:\n"
    "  --now       apply it at once, outside the maintenance windows (also for the deployment\n"
    "              that is active already: its newest revision stops waiting for a window)\n"
    "  -h, --help  show this help\n";

static const char clone_help[] =
    "usage: m87 DEVICE deployment clone ID[@REVISION] [--active [--now]] [--json]\n"
    "\n"
    "Create a deployment whose first revision has the jobs of ID at REVISION (default: its\n"
    "newest). With --active this is a rollback to a known-good state.\n"
    "\n"
    "options:\n"
    "  --active    make the clone the active deployment\n"
    "  --now       with --active: the device applies it at once, outside its maintenance\n"
    "              windows\n"
    "  --json      print the new deployment as JSON\n"
    "  -h, --help  show this help\n";

static const char rm_help[] = "usage: m87 DEVICE deployment rm ID\n"
                              "\n"
                              "Remove a deployment and its revisions. The active deployment "
                              "cannot be removed.\n"
                              "\n"
                              "options:\n"
                              "  -h, --help  show this help\n";

/* new and clone: POST a deployment and say what was made. */
struct create_opts {
    bool active;
    bool now;
    bool json;
};

static int create(const struct cli_ctx *ctx, const char *device, const struct create_opts *o,
                  const char *src, int64_t rev)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    _cleanup_free_ char *path =
        cli_device_path(device, o->now ? "/deployments?now=1" : "/deployments");
    bool active = o->active, json = o->json;
    unsigned char rnd[4];

    /* the id is chosen here, so that a signature can name the deployment it is for */
    if (m87_random_bytes(rnd, sizeof(rnd), &err) < 0)
        return cli_report(err);
    _cleanup_free_ char *new_id =
        m87_xasprintf("d-%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "id", new_id);
    m87_jw_kbool(w, "active", active);
    if (src) {
        m87_jw_key(w, "clone");
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "id", src);
        if (rev > 0)
            m87_jw_kint(w, "revision", rev);
        m87_jw_obj_close(w);
    }
    m87_jw_obj_close(w);
    _cleanup_free_ char *body = m87_jw_finish(w);
    _cleanup_free_ char *sig = NULL;
    int rc = cli_sign_copy(ctx, device, src, rev, new_id, o->now, &sig);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (cli_http_json_header(ctx, "POST", path, body, sig, &doc, &err) < 0)
        return cli_report(err);
    if (json) {
        cli_print_json(stdout, doc);
        return CLI_EXIT_OK;
    }
    const char *id = m87_json_str(m87_json_get(doc, "id"), "?");
    if (src && rev > 0)
        printf("created deployment %s on %s from %s at revision %lld\n", id, device, src,
               (long long)rev);
    else if (src)
        printf("created deployment %s on %s from %s at its newest revision\n", id, device, src);
    else
        printf("created deployment %s on %s\n", id, device);
    if (active)
        printf("%s is now the active deployment of %s%s\n", id, device,
               o->now ? "; the device applies it at once" : "");
    else
        printf("activate it with: m87 %s deployment activate %s\n", device, id);
    return CLI_EXIT_OK;
}

static int parse_active(const char *cmd, const char *help, int argc, char **argv,
                        struct create_opts *o, int operands)
{
    const struct cli_option opts[] = {
        {"active", CLI_OPT_FLAG, &o->active, 0},
        {"now", CLI_OPT_FLAG, &o->now, 0},
        {"json", CLI_OPT_FLAG, &o->json, 0},
    };
    int rc = cli_parse_options(cmd, help, argc, argv, opts, M87_ARRAY_LEN(opts));

    if (rc)
        return rc;
    if (o->now && !o->active)
        return cli_usage_error(cmd, "--now needs --active");
    return cli_operands(cmd, argc, argv, operands, operands);
}

static int dep_new(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    struct create_opts o = {0};
    int rc = parse_active("deployment new", new_help, argc, argv, &o, 0);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    return create(ctx, device, &o, NULL, 0);
}

static int dep_clone(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *src = NULL;
    struct create_opts o = {0};
    int64_t rev = 0;
    int rc = parse_active("deployment clone", clone_help, argc, argv, &o, 1);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    if (cli_parse_clone_ref(argv[optind], &src, &rev, &err) < 0)
        return cli_usage_error("deployment clone", "%s", err->msg);
    return create(ctx, device, &o, src, rev);
}

static bool print_list(const char *device, const struct m87_json *doc)
{
    static const char *const header[] = {"ID", "ACTIVE", "REVISION", "JOBS", "UPDATED"};
    const struct m87_json *list = m87_json_get(doc, "deployments");
    struct cli_table t;

    (void)device;
    cli_table_init(&t, M87_ARRAY_LEN(header), header);
    for (size_t i = 0; i < m87_json_len(list); i++) {
        const struct m87_json *d = m87_json_at(list, i);
        const struct m87_json *jobs = m87_json_get(d, "jobs");
        _cleanup_free_ char *rev =
            m87_xasprintf("%lld", (long long)m87_json_int(m87_json_get(d, "revision"), 0));
        struct m87_buf names;
        m87_buf_init(&names, 0);
        for (size_t k = 0; k < m87_json_len(jobs); k++)
            m87_buf_appendf(&names, NULL, "%s%s", k ? "," : "",
                            m87_json_str(m87_json_at(jobs, k), "?"));
        const char *row[] = {m87_json_str(m87_json_get(d, "id"), "?"),
                             m87_json_bool(m87_json_get(d, "active"), false) ? "*" : "", rev,
                             names.len ? names.data : "-",
                             m87_json_str(m87_json_get(d, "updated"), NULL)};
        cli_table_add(&t, row);
        m87_buf_release(&names);
    }
    cli_table_print(&t);
    return false;
}

static int dep_list(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    _cleanup_free_ char *path = cli_device_path(device, "/deployments");
    return cli_get_and_show(ctx, "deployment list", list_help, argc, argv, path, device,
                            print_list);
}

static int dep_activate(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    _cleanup_error_ struct m87_error *err = NULL;
    bool now = false;
    const struct cli_option opts[] = {{"now", CLI_OPT_FLAG, &now, 0}};
    int rc = cli_parse_options("deployment activate", activate_help, argc, argv, opts,
                               M87_ARRAY_LEN(opts));

    if (rc == 0)
        rc = cli_operands("deployment activate", argc, argv, 1, 1);
    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    const char *id = argv[optind];
    _cleanup_free_ char *path =
        cli_deployment_path(device, id, now ? "/activate?now=1" : "/activate");
    _cleanup_free_ char *sig = NULL;
    if ((rc = cli_sign_copy(ctx, device, id, 0, NULL, now, &sig)) != CLI_EXIT_OK)
        return rc;
    if (cli_http_json_header(ctx, "POST", path, "{}", sig, NULL, &err) < 0)
        return cli_report(err);
    printf("deployment %s is now the active deployment of %s\n", id, device);
    if (now)
        printf("the device applies it at once, without waiting for a maintenance window\n");
    return CLI_EXIT_OK;
}

static int dep_rm(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    _cleanup_error_ struct m87_error *err = NULL;
    int rc = cli_parse_simple("deployment rm", rm_help, argc, argv, NULL, 1, 1);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    const char *id = argv[optind];
    _cleanup_free_ char *path = cli_deployment_path(device, id, NULL);
    if (cli_http_json(ctx, "DELETE", path, NULL, NULL, &err) < 0) {
        rc = cli_report(err);
        if (m87_error_code(err) == M87_E_CONFLICT)
            fprintf(stderr, "To remove it, first run: m87 %s deployment activate OTHER-ID\n",
                    device);
        return rc;
    }
    printf("deployment %s removed from %s\n", id, device);
    return CLI_EXIT_OK;
}

static const struct cli_sub subcommands[] = {
    {"new", dep_new, new_help},
    {"list", dep_list, list_help},
    {"show", cli_deployment_show, cli_show_help},
    {"activate", dep_activate, activate_help},
    {"clone", dep_clone, clone_help},
    {"status", cli_deployment_status, cli_status_help},
    {"rm", dep_rm, rm_help},
};

int cli_cmd_deployment(const char *device, int argc, char **argv)
{
    _cleanup_free_ char *group = m87_xasprintf("%s deployment", device);

    return cli_dispatch(group, deployment_help, subcommands, M87_ARRAY_LEN(subcommands), device,
                        argc, argv);
}
