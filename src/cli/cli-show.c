/* `m87 DEVICE deployment show`: a deployment's jobs at a revision, and its revisions. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/spec-runspec.h"

const char cli_show_help[] =
    "usage: m87 DEVICE deployment show [ID] [--revision N] [--yaml] [--json]\n"
    "\n"
    "Show a deployment (default: the active one) at its newest revision or at revision N:\n"
    "its jobs and the list of its revisions.\n"
    "\n"
    "options:\n"
    "  --revision N  show revision N\n"
    "  --yaml        print the run spec as YAML (every default written; 'm87 DEVICE deploy'\n"
    "                reads it back)\n"
    "  --json        print the server's deployment object with its spec\n"
    "  -h, --help    show this help\n";

struct show_opts {
    const char *id;
    int64_t revision;
    bool yaml;
    bool json;
};

static int parse(int argc, char **argv, struct show_opts *o)
{
    const struct cli_option opts[] = {
        {"revision", CLI_OPT_POSITIVE, &o->revision, 0},
        {"yaml", CLI_OPT_FLAG, &o->yaml, 0},
        {"json", CLI_OPT_FLAG, &o->json, 0},
    };
    int rc =
        cli_parse_options("deployment show", cli_show_help, argc, argv, opts, M87_ARRAY_LEN(opts));

    if (rc)
        return rc;
    if (o->yaml && o->json)
        return cli_usage_error("deployment show", "--yaml and --json exclude each other");
    rc = cli_operands("deployment show", argc, argv, 0, 1);
    if (rc == 0 && optind < argc)
        o->id = argv[optind];
    return rc;
}

/* The stored spec is spec_runspec_dump's JSON: read it back, write it as YAML. */
static int print_yaml(const struct m87_json *spec)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_jw_freep) struct m87_jw *w = m87_jw_new();
    size_t len = 0;

    m87_jw_node(w, spec);
    const char *text = m87_jw_text(w, &len);
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs =
        spec_runspec_parse_stored(text, len, "server", &err);
    if (!rs) {
        fprintf(stderr, "m87: the server's run spec does not parse: %s\n", err->msg);
        return CLI_EXIT_FAILED;
    }
    _cleanup_free_ char *yaml = spec_runspec_dump(rs, false);
    fputs(yaml, stdout);
    return CLI_EXIT_OK;
}

static void join_step_names(struct m87_buf *b, const struct m87_json *steps)
{
    for (size_t i = 0; i < m87_json_len(steps); i++)
        m87_buf_appendf(b, NULL, "%s%s", i ? "," : "",
                        m87_json_str(m87_json_get(m87_json_at(steps, i), "name"), "?"));
    if (b->len == 0)
        m87_buf_append(b, "-", 1, NULL);
}

static void print_jobs(const struct m87_json *jobs)
{
    static const char *const header[] = {"JOB", "TYPE", "ENABLED", "STEPS", "STOP", "BUNDLE"};
    struct cli_table t;

    cli_table_init(&t, M87_ARRAY_LEN(header), header);
    for (size_t i = 0; i < m87_json_len(jobs); i++) {
        const struct m87_json *j = m87_json_at(jobs, i);
        const char *bundle = m87_json_str(m87_json_get(j, "bundle"), NULL);
        _cleanup_free_ char *short_bundle = bundle ? m87_xstrndup(bundle, 19) : NULL;
        struct m87_buf steps, stop;
        m87_buf_init(&steps, 0);
        m87_buf_init(&stop, 0);
        join_step_names(&steps, m87_json_get(j, "steps"));
        join_step_names(&stop, m87_json_path(j, "stop", "steps", NULL));
        const char *row[] = {m87_json_str(m87_json_get(j, "id"), "?"),
                             m87_json_str(m87_json_get(j, "type"), "service"),
                             m87_json_bool(m87_json_get(j, "enabled"), true) ? "yes" : "no",
                             steps.data,
                             stop.data,
                             short_bundle};
        cli_table_add(&t, row);
        m87_buf_release(&steps);
        m87_buf_release(&stop);
    }
    cli_table_print(&t);
}

static void print_revisions(const struct m87_json *revs, int64_t shown)
{
    static const char *const header[] = {"", "REVISION", "HASH", "CREATED", "JOBS"};
    struct cli_table t;

    cli_table_init(&t, M87_ARRAY_LEN(header), header);
    for (size_t i = 0; i < m87_json_len(revs); i++) {
        const struct m87_json *r = m87_json_at(revs, i);
        int64_t n = m87_json_int(m87_json_get(r, "revision"), 0);
        const struct m87_json *jobs = m87_json_get(r, "jobs");
        _cleanup_free_ char *num = m87_xasprintf("%lld", (long long)n);
        _cleanup_free_ char *hash = m87_xstrndup(m87_json_str(m87_json_get(r, "hash"), "?"), 12);
        struct m87_buf names;
        m87_buf_init(&names, 0);
        for (size_t k = 0; k < m87_json_len(jobs); k++)
            m87_buf_appendf(&names, NULL, "%s%s", k ? "," : "",
                            m87_json_str(m87_json_at(jobs, k), "?"));
        const char *row[] = {n == shown ? ">" : "", num, hash,
                             m87_json_str(m87_json_get(r, "created"), NULL),
                             names.len ? names.data : "-"};
        cli_table_add(&t, row);
        m87_buf_release(&names);
    }
    cli_table_print(&t);
}

static void print_human(const char *device, const struct m87_json *dep, const struct m87_json *revs)
{
    const char *id = m87_json_str(m87_json_get(dep, "id"), "?");
    int64_t rev = m87_json_int(m87_json_get(dep, "revision"), 0);

    printf("deployment  %s%s\n", id,
           m87_json_bool(m87_json_get(dep, "active"), false) ? " (active)" : "");
    printf("device      %s\n", device);
    printf("revision    %lld\n", (long long)rev);
    printf("hash        %s\n", m87_json_str(m87_json_get(dep, "hash"), "-"));
    printf("created     %s\n", m87_json_str(m87_json_get(dep, "created"), "-"));
    printf("updated     %s\n", m87_json_str(m87_json_get(dep, "updated"), "-"));
    const struct m87_json *jobs = m87_json_path(dep, "spec", "jobs", NULL);
    printf("\n");
    if (m87_json_len(jobs) == 0)
        printf("no jobs: add one with: m87 %s deploy docker-compose.yml\n", device);
    else
        print_jobs(jobs);
    if (m87_json_len(revs) > 0) {
        printf("\n");
        print_revisions(revs, rev);
    }
}

int cli_deployment_show(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *dep = NULL;
    _cleanup_(m87_json_freep) struct m87_json *revs = NULL;
    _cleanup_free_ char *id = NULL;
    struct show_opts o = {0};
    int rc = parse(argc, argv, &o);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    if ((rc = cli_deployment_id(ctx, device, o.id, &id)) != CLI_EXIT_OK)
        return rc;
    _cleanup_free_ char *query =
        o.revision ? m87_xasprintf("?revision=%lld", (long long)o.revision) : NULL;
    _cleanup_free_ char *dep_path = cli_deployment_path(device, id, query);
    _cleanup_free_ char *revs_path = cli_deployment_path(device, id, "/revisions");
    if (cli_http_json(ctx, "GET", dep_path, NULL, &dep, &err) < 0)
        return cli_report(err);
    if (o.json) {
        cli_print_json(stdout, dep);
        return CLI_EXIT_OK;
    }
    if (o.yaml)
        return print_yaml(m87_json_get(dep, "spec"));
    if (cli_http_json(ctx, "GET", revs_path, NULL, &revs, &err) < 0)
        return cli_report(err);
    print_human(device, dep, m87_json_get(revs, "revisions"));
    return CLI_EXIT_OK;
}
