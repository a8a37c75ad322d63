/* Where the server is and which token to use: the config file, the environment, `m87 login`. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/token.h"

static const char login_help[] =
    "usage: m87 login --server URL --token -|TOKEN [--ca-file FILE] [--insecure-http]\n"
    "                 [--no-check]\n"
    "\n"
    "Check that the server answers with this token, then save both to\n"
    "$XDG_CONFIG_HOME/m87/config (or ~/.config/m87/config), readable by you only.\n"
    "M87_SERVER, M87_TOKEN, M87_CA_FILE and M87_INSECURE_HTTP in the environment override\n"
    "the file.\n"
    "\n"
    "options:\n"
    "  --server URL     the server, e.g. https://m87.example.com:8087\n"
    "  --token -        read the admin token printed by 'm87-server init' from stdin\n"
    "                   (one line), so that `ps` does not show it\n"
    "  --token TOKEN    the token itself, visible to every user of the machine\n"
    "  --ca-file FILE   PEM file of the CA that signed the server's certificate\n"
    "  --insecure-http  allow a plain http:// server: the token travels in clear text\n"
    "  --no-check       save without asking the server\n"
    "  -h, --help       show this help\n";

char *cli_config_file(const char *name)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");

    if (xdg && xdg[0] == '/')
        return m87_xasprintf("%s/m87/%s", xdg, name);
    if (home && home[0])
        return m87_xasprintf("%s/.config/m87/%s", home, name);
    return NULL;
}

char *cli_config_path(void)
{
    return cli_config_file("config");
}

/* M87_INSECURE_HTTP: "1"/"true" allow, "0"/"false" forbid, unset or empty: the file decides. */
static void env_insecure(bool *insecure)
{
    const char *v = getenv("M87_INSECURE_HTTP");

    if (v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0))
        *insecure = true;
    else if (v && (strcmp(v, "0") == 0 || strcmp(v, "false") == 0))
        *insecure = false;
}

static bool plain_http(const char *url)
{
    return strncmp(url, "http://", 7) == 0;
}

void cli_ctx_release(struct cli_ctx *ctx)
{
    free(ctx->server);
    free(ctx->token);
    free(ctx->ca_file);
    *ctx = (struct cli_ctx){0};
}

static void set_str(char **dst, const char *value)
{
    if (!value || !value[0])
        return;
    free(*dst);
    *dst = m87_xstrdup(value);
}

/* "https://h:1/" and "https://h:1" name the same server; paths are appended to it. */
static void trim_slashes(char *url)
{
    size_t n = strlen(url);

    while (n > 0 && url[n - 1] == '/')
        url[--n] = 0;
}

static int read_config(const char *path, struct cli_ctx *ctx, struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    size_t len = 0;
    _cleanup_free_ char *text = m87_read_file(path, CLI_MAX_CONFIG, &len, err);

    if (!text)
        return -1;
    doc = m87_json_parse(text, len, err);
    if (!doc)
        return m87_error_wrap(err, "config '%s'", path);
    if (m87_json_type(doc) != M87_JSON_OBJECT)
        return m87_error_set(err, M87_E_PARSE, 0, "config '%s': not a JSON object", path);
    set_str(&ctx->server, m87_json_str(m87_json_get(doc, "server"), NULL));
    set_str(&ctx->token, m87_json_str(m87_json_get(doc, "token"), NULL));
    set_str(&ctx->ca_file, m87_json_str(m87_json_get(doc, "ca_file"), NULL));
    ctx->insecure_http = m87_json_bool(m87_json_get(doc, "insecure_http"), false);
    return 0;
}

int cli_ctx_load(struct cli_ctx *ctx)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *path = cli_config_path();
    struct stat st;

    *ctx = (struct cli_ctx){0};
    if (path && stat(path, &st) == 0 && read_config(path, ctx, &err) < 0) {
        fprintf(stderr, "m87: %s\n", err->msg);
        return CLI_EXIT_USAGE;
    }
    set_str(&ctx->server, getenv("M87_SERVER"));
    set_str(&ctx->token, getenv("M87_TOKEN"));
    set_str(&ctx->ca_file, getenv("M87_CA_FILE"));
    env_insecure(&ctx->insecure_http);
    if (!ctx->server || !ctx->token) {
        fprintf(stderr,
                "m87: no %s configured; run: m87 login --server URL --token TOKEN\n"
                "(or set M87_SERVER and M87_TOKEN)\n",
                !ctx->server ? "server" : "token");
        cli_ctx_release(ctx);
        return CLI_EXIT_USAGE;
    }
    trim_slashes(ctx->server);
    if (plain_http(ctx->server) && !ctx->insecure_http) {
        fprintf(stderr,
                "m87: server '%s' is plain http: the token would travel in clear text; use "
                "https://, or log in with --insecure-http (or set M87_INSECURE_HTTP=1)\n",
                ctx->server);
        cli_ctx_release(ctx);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static int save_config(const struct cli_ctx *ctx, const char *path, struct m87_error **err)
{
    _cleanup_free_ char *dir = m87_xstrdup(path);
    struct m87_jw *w;

    *strrchr(dir, '/') = 0;
    if (m87_mkdir_p(dir, 0700, err) < 0)
        return -1;
    w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "server", ctx->server);
    m87_jw_kstr(w, "token", ctx->token);
    m87_jw_kstr_opt(w, "ca_file", ctx->ca_file);
    if (ctx->insecure_http)
        m87_jw_kbool(w, "insecure_http", true);
    m87_jw_obj_close(w);
    _cleanup_free_ char *text = m87_jw_finish(w);
    _cleanup_free_ char *line = m87_xasprintf("%s\n", text);
    return m87_write_file_atomic(path, line, strlen(line), 0600, err);
}

static int login_check(const struct cli_ctx *ctx)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;

    if (cli_http_json(ctx, "GET", "/v1/devices", NULL, &doc, &err) < 0)
        return cli_report(err);
    return CLI_EXIT_OK;
}

/* 0: go on, 1: help shown, else an exit status. */
static int login_parse(int argc, char **argv, struct cli_ctx *ctx, bool *check)
{
    const char *server = NULL, *token = NULL, *ca_file = NULL;
    bool no_check = false, env_allows = false;
    const struct cli_option opts[] = {
        {"server", CLI_OPT_STRING, &server, 0},
        {"token", CLI_OPT_STRING, &token, 0},
        {"ca-file", CLI_OPT_STRING, &ca_file, 0},
        {"no-check", CLI_OPT_FLAG, &no_check, 0},
        {"insecure-http", CLI_OPT_FLAG, &ctx->insecure_http, 0},
    };
    int rc = cli_parse_options("login", login_help, argc, argv, opts, M87_ARRAY_LEN(opts));

    if (rc)
        return rc;
    set_str(&ctx->server, server);
    set_str(&ctx->ca_file, ca_file);
    *check = !no_check;
    if (cli_operands("login", argc, argv, 0, 0))
        return CLI_EXIT_USAGE;
    if (token && strcmp(token, "-") == 0) {
        _cleanup_error_ struct m87_error *err = NULL;
        ctx->token = m87_token_read(STDIN_FILENO, "the token on stdin", &err);
        if (!ctx->token)
            return cli_usage_error("login", "%s", err->msg);
    } else {
        set_str(&ctx->token, token);
    }
    if (!ctx->server || !ctx->token)
        return cli_usage_error("login", "--server and --token are required");
    if (strncmp(ctx->server, "http://", 7) != 0 && strncmp(ctx->server, "https://", 8) != 0)
        return cli_usage_error("login", "server '%s' must start with http:// or https://",
                               ctx->server);
    env_insecure(&env_allows);
    if (plain_http(ctx->server) && !ctx->insecure_http && !env_allows)
        return cli_usage_error("login",
                               "server '%s' is plain http: the token would travel in clear "
                               "text; use https://, or pass --insecure-http",
                               ctx->server);
    if (ctx->ca_file && access(ctx->ca_file, R_OK) < 0)
        return cli_usage_error("login", "--ca-file '%s': %s", ctx->ca_file, strerror(errno));
    return 0;
}

int cli_cmd_login(int argc, char **argv)
{
    struct cli_ctx ctx = {0};
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *path = cli_config_path();
    bool check = true;
    char abs[PATH_MAX];

    int rc = login_parse(argc, argv, &ctx, &check);
    if (rc != 0) {
        cli_ctx_release(&ctx);
        return rc == 1 ? CLI_EXIT_OK : rc;
    }
    trim_slashes(ctx.server);
    if (ctx.ca_file && realpath(ctx.ca_file, abs))
        set_str(&ctx.ca_file, abs);
    rc = check ? login_check(&ctx) : CLI_EXIT_OK;
    if (rc == CLI_EXIT_OK && !path) {
        fprintf(stderr, "m87: login: neither XDG_CONFIG_HOME nor HOME is set\n");
        rc = CLI_EXIT_USAGE;
    } else if (rc == CLI_EXIT_OK && save_config(&ctx, path, &err) < 0) {
        fprintf(stderr, "m87: login: %s\n", err->msg);
        rc = CLI_EXIT_FAILED;
    } else if (rc == CLI_EXIT_OK) {
        printf("logged in to %s (saved to %s)\n", ctx.server, path);
    }
    cli_ctx_release(&ctx);
    return rc;
}
