/* `m87 DEVICE deploy FILE` and `m87 DEVICE undeploy ID`: change the jobs of a deployment. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json.h"
#include "m87/spec-runspec.h"
#include "m87/yaml.h"

static const char deploy_help[] =
    "usage: m87 DEVICE deploy FILE [--name ID] [--deployment-id ID] [--now] [--json]\n"
    "\n"
    "Add the jobs of FILE to the device's active deployment (or to ID), replacing jobs of\n"
    "the same id; the change is one new revision. FILE is either\n"
    "  - a run spec (a mapping with 'jobs:'), or\n"
    "  - a Docker Compose file (a mapping with 'services:' and no 'jobs:'): it is converted\n"
    "    into one job that pulls and starts the stack on the device; the files it references\n"
    "    (env files, configs, secrets, bind-mounted files) travel with it, in a bundle\n"
    "    uploaded first when they cannot be inline.\n"
    "The file is checked completely before anything is sent.\n"
    "\n"
    "options:\n"
    "  --name ID           the job's id (compose: default the project name; run spec: only\n"
    "                      with a single job, which is renamed)\n"
    "  --deployment-id ID  a deployment other than the active one\n"
    "  --now               apply the new revision at once, outside the device's maintenance\n"
    "                      windows (the deployment must be the active one)\n"
    "  --json              print the deployment as JSON\n"
    "  -h, --help          show this help\n";

static const char undeploy_help[] =
    "usage: m87 DEVICE undeploy ID [--deployment-id ID] [--now] [--json]\n"
    "\n"
    "Remove job ID from the device's active deployment (or from --deployment-id): a new\n"
    "revision without it. The device runs the job's stop steps and removes its workdir.\n"
    "\n"
    "options:\n"
    "  --deployment-id ID  a deployment other than the active one\n"
    "  --now               apply the new revision at once, outside the device's maintenance\n"
    "                      windows\n"
    "  --json              print the deployment as JSON\n"
    "  -h, --help          show this help\n";

struct deploy_opts {
    const char *name;
    const char *deployment;
    bool json;
    bool now;
};

int cli_file_kind(const char *text, size_t len, const char *file, enum cli_file_kind *kind,
                  struct m87_error **err)
{
    _cleanup_(m87_yaml_freep) struct m87_yaml_doc *doc = m87_yaml_parse(text, len, file, err);

    if (!doc)
        return -1;
    const struct m87_yaml_node *root = m87_yaml_root(doc);
    *kind = CLI_FILE_RUNSPEC;
    if (m87_yaml_kind(root) == M87_YAML_MAPPING && m87_yaml_get(root, "services") &&
        !m87_yaml_get(root, "jobs"))
        *kind = CLI_FILE_COMPOSE;
    return 0;
}

static int parse(const char *cmd, int argc, char **argv, struct deploy_opts *o, bool with_name)
{
    const struct cli_option opts[] = {
        {"name", CLI_OPT_STRING, with_name ? &o->name : NULL, 0},
        {"deployment-id", CLI_OPT_STRING, &o->deployment, 0},
        {"json", CLI_OPT_FLAG, &o->json, 0},
        {"now", CLI_OPT_FLAG, &o->now, 0},
    };
    int rc = cli_parse_options(cmd, with_name ? deploy_help : undeploy_help, argc, argv, opts,
                               M87_ARRAY_LEN(opts));

    return rc ? rc : cli_operands(cmd, argc, argv, 1, 1);
}

/* A run spec file, checked here so that its errors name the user's file:line:column. */
static struct spec_runspec *load_runspec(const char *path, const char *text, size_t len,
                                         const char *name, struct m87_error **err)
{
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs =
        spec_runspec_parse(text, len, path, err);

    if (!rs || !name)
        return M87_STEAL(rs);
    if (rs->n_jobs != 1) {
        m87_error_set(err, M87_E_INVAL, 0, "%s: --name needs a run spec with one job, not %zu",
                      path, rs->n_jobs);
        return NULL;
    }
    free(rs->jobs[0].id);
    rs->jobs[0].id = m87_xstrdup(name);
    /* read back, so that the new id is checked like any other */
    _cleanup_free_ char *json = spec_runspec_dump(rs, true);
    return spec_runspec_parse(json, strlen(json), "--name", err);
}

static void print_result(const char *device, const struct m87_json *dep,
                         const struct spec_runspec *rs, bool json, bool now)
{
    if (json) {
        cli_print_json(stdout, dep);
        return;
    }
    for (size_t i = 0; i < rs->n_jobs; i++)
        printf("deployed job '%s' to %s\n", rs->jobs[i].id, device);
    printf("deployment %s is at revision %lld (hash %.12s)\n",
           m87_json_str(m87_json_get(dep, "id"), "?"),
           (long long)m87_json_int(m87_json_get(dep, "revision"), 0),
           m87_json_str(m87_json_get(dep, "hash"), "-"));
    if (now)
        printf("the device applies it at once, without waiting for a maintenance window\n");
    if (m87_json_bool(m87_json_get(dep, "active"), false))
        printf("follow it with: m87 %s deployment status --follow\n", device);
}

static int post_jobs(const struct cli_ctx *ctx, const char *device, const char *deployment,
                     const struct spec_runspec *rs, const struct deploy_opts *o)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *dep = NULL;
    _cleanup_free_ char *path =
        cli_deployment_path(device, deployment, o->now ? "/jobs?now=1" : "/jobs");
    _cleanup_free_ char *body = spec_runspec_dump(rs, true);
    _cleanup_free_ char *sig = NULL;
    int rc = cli_sign_jobs(ctx, device, deployment, rs, o->now, &sig);

    if (rc != CLI_EXIT_OK)
        return rc;
    if (cli_http_json_header(ctx, "POST", path, body, sig, &dep, &err) < 0)
        return cli_report(err);
    print_result(device, dep, rs, o->json, o->now);
    return CLI_EXIT_OK;
}

int cli_load_jobs(const char *file, const char *name, struct cli_bundle *bundle,
                  struct spec_runspec **out)
{
    _cleanup_error_ struct m87_error *err = NULL;
    enum cli_file_kind kind;
    size_t len = 0;
    _cleanup_free_ char *text = m87_read_file(file, SPEC_RUNSPEC_MAX_FILE, &len, &err);

    *out = NULL;
    if (!text || cli_file_kind(text, len, file, &kind, &err) < 0) {
        fprintf(stderr, "m87: %s\n", err->msg);
        return CLI_EXIT_USAGE;
    }
    if (kind == CLI_FILE_COMPOSE)
        *out = cli_compose_job(file, name, bundle, &err);
    else
        *out = load_runspec(file, text, len, name, &err);
    if (!*out) {
        fprintf(stderr, "m87: %s\n", err->msg);
        cli_bundle_release(bundle);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static int deploy(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    _cleanup_free_ char *id = NULL;
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = NULL;
    struct cli_bundle bundle = {0};
    struct deploy_opts o = {0};
    int rc = parse("deploy", argc, argv, &o, true);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    if ((rc = cli_load_jobs(argv[optind], o.name, &bundle, &rs)) != CLI_EXIT_OK)
        return rc;
    rc = cli_deployment_id(ctx, device, o.deployment, &id);
    if (rc == CLI_EXIT_OK)
        rc = cli_bundle_upload(ctx, &bundle);
    if (rc == CLI_EXIT_OK)
        rc = post_jobs(ctx, device, id, rs, &o);
    cli_bundle_release(&bundle);
    return rc;
}

static int undeploy(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *dep = NULL;
    _cleanup_free_ char *id = NULL;
    struct deploy_opts o = {0};
    int rc = parse("undeploy", argc, argv, &o, false);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    if ((rc = cli_deployment_id(ctx, device, o.deployment, &id)) != CLI_EXIT_OK)
        return rc;
    const char *job = argv[optind];
    _cleanup_free_ char *j = cli_escape(job);
    _cleanup_free_ char *tail = m87_xasprintf("/jobs/%s%s", j, o.now ? "?now=1" : "");
    _cleanup_free_ char *path = cli_deployment_path(device, id, tail);
    _cleanup_free_ char *sig = NULL;
    if ((rc = cli_sign_undeploy(ctx, device, id, job, o.now, &sig)) != CLI_EXIT_OK)
        return rc;
    if (cli_http_json_header(ctx, "DELETE", path, NULL, sig, &dep, &err) < 0)
        return cli_report(err);
    if (o.json) {
        cli_print_json(stdout, dep);
        return CLI_EXIT_OK;
    }
    printf("removed job '%s' from %s\n", job, device);
    printf("deployment %s is at revision %lld; the device runs the job's stop steps\n",
           m87_json_str(m87_json_get(dep, "id"), "?"),
           (long long)m87_json_int(m87_json_get(dep, "revision"), 0));
    return CLI_EXIT_OK;
}

int cli_cmd_deploy(const char *device, int argc, char **argv)
{
    static const struct cli_sub sub = {"deploy", deploy, deploy_help};

    return cli_run(&sub, device, argc, argv);
}

int cli_cmd_undeploy(const char *device, int argc, char **argv)
{
    static const struct cli_sub sub = {"undeploy", undeploy, undeploy_help};

    return cli_run(&sub, device, argc, argv);
}
