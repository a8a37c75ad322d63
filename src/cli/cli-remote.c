/* `m87 DEVICE docker compose|ps|logs ...`: a command run on the device now, through its agent
 * (docs/cli.md, "Sync execution"). This file turns the command line into a session request; the
 * compose project is converted and bundled by the code `deploy` uses (cli-compose.c);
 * cli-remote-stream.c creates the session and prints its output as it comes. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/spec-compose-args.h"
#include "m87/spec-project.h"
#include "m87/spec-runspec.h"
#include "m87/units.h"

static const char docker_help[] =
    "usage: m87 DEVICE docker [--wait DURATION] compose [-f FILE]... [-p NAME] COMMAND [ARGS...]\n"
    "       m87 DEVICE docker [--wait DURATION] ps [-a]\n"
    "       m87 DEVICE docker [--wait DURATION] logs [-f] [-t] [-n N] CONTAINER\n"
    "\n"
    "Run a command on the device now, through its agent, and print its output as it comes;\n"
    "the exit status is the command's. COMMAND is up, down, pull, ps, logs, stop, start or\n"
    "restart, with their docker compose options. The compose project (the files and what\n"
    "they reference) travels with the command as `deploy` sends it; stacks started this way\n"
    "are marked interactive on the device and the device's deployments leave them alone.\n"
    "\n"
    "options:\n"
    "  --wait DURATION  wait that long for an offline device to come online (default: say\n"
    "                   so within a few seconds and exit with status 2)\n"
    "  -f, --file FILE  compose file (repeatable; default: compose.yaml, compose.yml,\n"
    "                   docker-compose.yml or docker-compose.yaml here)\n"
    "  -p, --project-name NAME  the project name (default: name:, or the directory's name)\n"
    "  -h, --help       show this help\n"
    "\n"
    "Ctrl-C cancels the command on the device. Exit status: the command's; 2 when the\n"
    "device is offline or the input is bad; 1 when the device went away mid-command;\n"
    "130 after Ctrl-C. Output is kept on the server: m87 DEVICE sessions.\n";

static const char *const compose_commands[] = {"up",   "down",  "pull",    "ps",
                                               "logs", "start", "restart", "stop"};

/* Commands that docker compose runs on a project known by -p NAME alone. */
static bool by_name_ok(const char *sub)
{
    return strcmp(sub, "up") != 0 && strcmp(sub, "pull") != 0;
}

static bool default_file_here(void)
{
    static const char *const names[] = {"compose.yaml", "compose.yml", "docker-compose.yml",
                                        "docker-compose.yaml"};
    for (size_t i = 0; i < M87_ARRAY_LEN(names); i++)
        if (access(names[i], F_OK) == 0)
            return true;
    return false;
}

/* The compose files as the agent finds them: relative to the first one's directory. */
static int relative_files(const struct m87_strv *files, struct m87_jw *w, struct m87_error **err)
{
    char dir[PATH_MAX];

    m87_jw_key(w, "files");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < files->len; i++) {
        char full[PATH_MAX];
        if (!realpath(files->items[i], full))
            return m87_error_set(err, M87_E_IO, errno, "open '%s'", files->items[i]);
        if (i == 0) {
            memcpy(dir, full, sizeof(dir));
            *strrchr(dir, '/') = '\0';
        }
        size_t n = strlen(dir);
        if (strncmp(full, dir, n) != 0 || full[n] != '/')
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "compose file '%s' is outside the project directory '%s'",
                                 files->items[i], dir);
        m87_jw_str(w, full + n + 1);
    }
    m87_jw_arr_close(w);
    return 0;
}

/* The job of the converted project, as the request's "job". */
static void write_job(struct m87_jw *w, const struct spec_runspec *rs)
{
    _cleanup_free_ char *json = spec_runspec_dump(rs, true);
    _cleanup_(m87_json_freep) struct m87_json *doc = m87_json_parse(json, strlen(json), NULL);

    m87_jw_key(w, "job");
    m87_jw_node(w, m87_json_at(m87_json_get(doc, "jobs"), 0));
}

static void write_args(struct m87_jw *w, int argc, char **argv)
{
    m87_jw_key(w, "args");
    m87_jw_arr_open(w);
    for (int i = 0; i < argc; i++)
        m87_jw_str(w, argv[i]);
    m87_jw_arr_close(w);
}

/* The request of `docker compose`: the project converted and bundled as `deploy` does. */
static char *compose_request(const struct spec_compose_args *o, int argc, char **argv,
                             struct cli_bundle *bundle, struct m87_error **err)
{
    struct spec_load_options load = {.files = (const char *const *)o->files.items,
                                     .n_files = o->files.len,
                                     .project_name = o->project_name};
    struct m87_jw *w = m87_jw_new();
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = NULL;
    bool by_name =
        o->project_name && o->files.len == 0 && !default_file_here() && by_name_ok(argv[0]);

    if (!by_name && !(rs = cli_compose_job_load(&load, NULL, bundle, err))) {
        m87_jw_free(w);
        return NULL;
    }
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "command", "compose");
    write_args(w, argc, argv);
    m87_jw_key(w, "compose");
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "project", rs ? rs->jobs[0].id : o->project_name);
    if (relative_files(&o->files, w, err) < 0) {
        m87_jw_free(w);
        return NULL;
    }
    m87_jw_obj_close(w);
    if (rs)
        write_job(w, rs);
    m87_jw_obj_close(w);
    return m87_jw_finish(w);
}

/* The options before the command, of which a session takes -f and -p. */
static int parse_compose(int argc, char **argv, struct spec_compose_args *o)
{
    _cleanup_error_ struct m87_error *err = NULL;

    if (spec_compose_args_parse(o, argc, argv,
                                SPEC_COMPOSE_ARGS_FILE | SPEC_COMPOSE_ARGS_PROJECT_NAME, &err) < 0)
        return cli_usage_error("docker compose", "%s", err->msg);
    if (o->command >= argc)
        return cli_usage_error("docker compose", "missing command (up, down, pull, ps, logs, "
                                                 "start, restart or stop)");
    for (size_t i = 0; i < M87_ARRAY_LEN(compose_commands); i++)
        if (strcmp(argv[o->command], compose_commands[i]) == 0)
            return 0;
    return cli_usage_error("docker compose",
                           "unknown command '%s' (up, down, pull, ps, logs, "
                           "start, restart or stop)",
                           argv[o->command]);
}

static int run_compose(const struct cli_ctx *ctx, const char *device, int64_t wait_ms, int argc,
                       char **argv)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct spec_compose_args o;
    struct cli_bundle bundle = {0};

    int rc = parse_compose(argc, argv, &o);
    if (rc) {
        spec_compose_args_release(&o);
        return rc;
    }
    _cleanup_free_ char *body =
        compose_request(&o, argc - o.command, argv + o.command, &bundle, &err);
    spec_compose_args_release(&o);
    if (!body) {
        fprintf(stderr, "m87: %s\n", err->msg);
        cli_bundle_release(&bundle);
        return CLI_EXIT_USAGE;
    }
    rc = cli_bundle_upload(ctx, &bundle);
    cli_bundle_release(&bundle);
    return rc ? rc : cli_remote_run(ctx, device, body, wait_ms);
}

/* ps and logs: the agent checks their options. */
static int run_plain(const struct cli_ctx *ctx, const char *device, int64_t wait_ms,
                     const char *cmd, int argc, char **argv)
{
    struct m87_jw *w = m87_jw_new();

    m87_jw_obj_open(w);
    m87_jw_kstr(w, "command", cmd);
    write_args(w, argc, argv);
    m87_jw_obj_close(w);
    _cleanup_free_ char *body = m87_jw_finish(w);
    return cli_remote_run(ctx, device, body, wait_ms);
}

static int parse_docker(int argc, char **argv, int64_t *wait_ms)
{
    static const struct option opts[] = {
        {"wait", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    int c;

    optind = 0;
    while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
        int64_t ns = 0;
        if (c != 'w')
            return cli_bad_option("docker", argv, c);
        if (m87_parse_duration(optarg, &ns, NULL) < 0 || ns < 0)
            return cli_usage_error("docker",
                                   "--wait: expected a duration like 30s or 5m, "
                                   "not '%s'",
                                   optarg);
        *wait_ms = ns / 1000000;
    }
    if (optind >= argc)
        return cli_usage_error("docker", "missing command (compose, ps or logs)");
    return 0;
}

static int docker(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    int64_t wait_ms = -1;
    int rc = parse_docker(argc, argv, &wait_ms);

    if (rc)
        return rc;
    const char *cmd = argv[optind];
    int n = argc - optind;
    char **rest = argv + optind;
    if (strcmp(cmd, "compose") == 0)
        return run_compose(ctx, device, wait_ms, n, rest);
    if (strcmp(cmd, "ps") == 0 || strcmp(cmd, "logs") == 0)
        return run_plain(ctx, device, wait_ms, cmd, n - 1, rest + 1);
    return cli_usage_error("docker", "unknown command '%s' (compose, ps or logs)", cmd);
}

int cli_cmd_docker(const char *device, int argc, char **argv)
{
    static const struct cli_sub sub = {"docker", docker, docker_help};

    return cli_run(&sub, device, argc, argv);
}
