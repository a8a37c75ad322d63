/* `m87-server token create|list|revoke`: the admin tokens beside the one of `init`
 * (docs/operations.md, "Admin tokens"). A running server looks a token up at each request, so
 * a token created or revoked here counts at once. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/command.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "server/auth.h"
#include "server/serve.h"
#include "server/store-tokens.h"
#include "server/store.h"
#include "server/util.h"

#define EXIT_FAILED 1

#define WHERE_USAGE                                                                                \
    "  --data DIR  the data directory (its database m87.db; not needed with --db)\n"               \
    "  --db URL    the PostgreSQL database of 'm87-server init --db' (default: the\n"              \
    "              environment's M87_DB)\n"

static void create_usage(FILE *out)
{
    fprintf(out, "usage: m87-server token create (--data DIR | --db URL) [--name NAME]\n"
                 "\n"
                 "Make one more admin token and print it, alone on stdout. It is stored hashed\n"
                 "and cannot be shown again; a running server accepts it at once.\n"
                 "\n"
                 "options:\n" WHERE_USAGE
                 "  --name NAME what the token is for, shown by 'token list' (at most 64\n"
                 "              characters, no control characters)\n"
                 "  -h, --help  show this help\n");
}

static void list_usage(FILE *out)
{
    fprintf(out, "usage: m87-server token list (--data DIR | --db URL) [--json]\n"
                 "\n"
                 "Show the admin tokens: ID, NAME, FINGERPRINT (the 'token' of their rows in\n"
                 "'m87 DEVICE audit') and CREATED. The tokens themselves are never shown.\n"
                 "\n"
                 "options:\n" WHERE_USAGE "  --json      print {\"tokens\": [{\"id\", \"name\", "
                 "\"fingerprint\",\n"
                 "              \"created\"}]}\n"
                 "  -h, --help  show this help\n");
}

static void revoke_usage(FILE *out)
{
    fprintf(out, "usage: m87-server token revoke (--data DIR | --db URL) ID|FINGERPRINT\n"
                 "\n"
                 "Delete the admin token with that ID or FINGERPRINT (12 hex digits; both from\n"
                 "'token list'). A running server refuses it with 401 from its next request.\n"
                 "The last admin token cannot be revoked: create another first.\n"
                 "\n"
                 "options:\n" WHERE_USAGE "  -h, --help  show this help\n");
}

static void token_usage(FILE *out)
{
    fprintf(out, "usage: m87-server token create|list|revoke [OPTIONS]\n"
                 "\n"
                 "Manage the admin tokens (docs/operations.md, Admin tokens).\n"
                 "\n"
                 "commands:\n"
                 "  create  make one more admin token and print it\n"
                 "  list    show the admin tokens, without their secrets\n"
                 "  revoke  delete an admin token\n"
                 "\n"
                 "Run 'm87-server token COMMAND --help' for a command's options.\n");
}

static int usage_error(const char *cmd, const char *msg)
{
    fprintf(stderr, "m87-server: token %s: %s\nRun 'm87-server token %s --help' for usage.\n", cmd,
            msg, cmd);
    return M87_EXIT_USAGE;
}

static int failed(const char *cmd, const struct m87_error *err)
{
    fprintf(stderr, "m87-server: token %s: %s\n", cmd, err->msg);
    return EXIT_FAILED;
}

struct where {
    const char *data;
    const char *db;
};

/* The options every subcommand takes; 0 when c was one of them. */
static int where_opt(struct where *w, int c)
{
    if (c == 'd')
        w->data = optarg;
    else if (c == 'B')
        w->db = optarg;
    else
        return -1;
    return 0;
}

static int where_check(const char *cmd, const struct where *w)
{
    if (w->db && !srv_store_is_db_url(w->db))
        return usage_error(cmd, "--db (or M87_DB): expected a PostgreSQL connection string "
                                "(postgresql://... or 'host=... dbname=...')");
    if (w->db == NULL && (w->data == NULL || *w->data == '\0'))
        return usage_error(cmd, "--data DIR (or --db URL) is required");
    return 0;
}

static struct where where_init(void)
{
    const char *env = getenv("M87_DB");
    return (struct where){.db = env && *env ? env : NULL};
}

#define WHERE_OPTS                                                                                 \
    {"data", required_argument, NULL, 'd'},                                                        \
    {                                                                                              \
        "db", required_argument, NULL, 'B'                                                         \
    }

static bool name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > SRV_TOKEN_MAX_NAME)
        return false;
    for (size_t i = 0; i < len; i++)
        if (iscntrl((unsigned char)name[i]))
            return false;
    return true;
}

static int cmd_create(int argc, char **argv)
{
    static const struct option opts[] = {
        WHERE_OPTS,
        {"name", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct where w = where_init();
    const char *name = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (where_opt(&w, c) == 0)
            continue;
        if (c == 'n')
            name = optarg;
        else if (c == 'h')
            return create_usage(stdout), 0;
        else
            return m87_bad_option("m87-server", "token create", argv, c);
    }
    if (optind < argc)
        return usage_error("create", "unexpected argument");
    if (name && !name_ok(name))
        return usage_error("create", "--name: expected 1 to 64 characters without control "
                                     "characters");
    int rc = where_check("create", &w);
    if (rc != 0)
        return rc;
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *token = NULL;
    char hash[M87_SHA256_HEX_LEN + 1];
    struct srv_store *st = NULL;
    int64_t id = 0;
    if (srv_store_open_db(w.data, w.db, false, &st, &err) < 0)
        return failed("create", err);
    if ((rc = srv_token_new(SRV_ROLE_ADMIN, &token, hash, &err)) == 0 &&
        (rc = srv_store_begin(st, &err)) == 0) {
        rc = srv_admin_token_add(st, hash, name, &id, &err);
        if (rc == 0)
            rc = srv_store_commit(st, &err);
        else
            srv_store_rollback(st);
    }
    srv_store_free(st);
    if (rc < 0)
        return failed("create", err);
    printf("%s\n", token);
    fprintf(stderr, "m87-server: token create: admin token %lld, fingerprint %.12s\n",
            (long long)id, hash);
    return fflush(stdout) == 0 ? 0 : EXIT_FAILED;
}

static void print_table(const struct srv_admin_token *v, size_t n)
{
    int wname = 4;
    for (size_t i = 0; i < n; i++)
        if (v[i].name && (int)strlen(v[i].name) > wname)
            wname = (int)strlen(v[i].name);
    printf("%-4s  %-*s  %-12s  %s\n", "ID", wname, "NAME", "FINGERPRINT", "CREATED");
    for (size_t i = 0; i < n; i++) {
        char created[32];
        srv_time_format(v[i].created, created);
        printf("%-4lld  %-*s  %-12s  %s\n", (long long)v[i].id, wname, v[i].name ? v[i].name : "-",
               v[i].fingerprint, created);
    }
}

static void print_json(const struct srv_admin_token *v, size_t n)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_key(w, "tokens");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < n; i++) {
        char created[32];
        srv_time_format(v[i].created, created);
        m87_jw_obj_open(w);
        m87_jw_kint(w, "id", v[i].id);
        m87_jw_kstr(w, "name", v[i].name);
        m87_jw_kstr(w, "fingerprint", v[i].fingerprint);
        m87_jw_kstr(w, "created", created);
        m87_jw_obj_close(w);
    }
    m87_jw_arr_close(w);
    m87_jw_obj_close(w);
    _cleanup_free_ char *text = m87_jw_finish(w);
    printf("%s\n", text);
}

static int cmd_list(int argc, char **argv)
{
    static const struct option opts[] = {
        WHERE_OPTS,
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct where w = where_init();
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (where_opt(&w, c) == 0)
            continue;
        if (c == 'j')
            json = true;
        else if (c == 'h')
            return list_usage(stdout), 0;
        else
            return m87_bad_option("m87-server", "token list", argv, c);
    }
    if (optind < argc)
        return usage_error("list", "unexpected argument");
    int rc = where_check("list", &w);
    if (rc != 0)
        return rc;
    _cleanup_error_ struct m87_error *err = NULL;
    struct srv_store *st = NULL;
    struct srv_admin_token *v = NULL;
    size_t n = 0;
    if (srv_store_open_db(w.data, w.db, false, &st, &err) < 0)
        return failed("list", err);
    srv_store_lock(st);
    rc = srv_admin_token_list(st, &v, &n, &err);
    srv_store_unlock(st);
    srv_store_free(st);
    if (rc < 0)
        return failed("list", err);
    if (json)
        print_json(v, n);
    else
        print_table(v, n);
    srv_admin_tokens_free(v, n);
    return fflush(stdout) == 0 ? 0 : EXIT_FAILED;
}

/* ID: digits, fewer than a fingerprint's; FINGERPRINT: 12 hex digits (any case). */
static int parse_which(const char *arg, int64_t *id, char fp[SRV_AUDIT_TOKEN_ID_LEN + 1])
{
    size_t len = strlen(arg);
    if (len > 0 && len < SRV_AUDIT_TOKEN_ID_LEN && strspn(arg, "0123456789") == len)
        return srv_parse_int(arg, 1, INT64_MAX, id);
    if (len != SRV_AUDIT_TOKEN_ID_LEN || strspn(arg, "0123456789abcdefABCDEF") != len)
        return -1;
    for (size_t i = 0; i <= len; i++)
        fp[i] = (char)tolower((unsigned char)arg[i]);
    return 0;
}

static int cmd_revoke(int argc, char **argv)
{
    static const struct option opts[] = {
        WHERE_OPTS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct where w = where_init();
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (where_opt(&w, c) == 0)
            continue;
        if (c == 'h')
            return revoke_usage(stdout), 0;
        return m87_bad_option("m87-server", "token revoke", argv, c);
    }
    if (optind + 1 != argc)
        return usage_error("revoke", optind < argc ? "expected one ID or FINGERPRINT"
                                                   : "which token? give its ID or FINGERPRINT");
    int64_t id = 0;
    char fp[SRV_AUDIT_TOKEN_ID_LEN + 1] = "";
    if (parse_which(argv[optind], &id, fp) < 0)
        return usage_error("revoke", "expected an ID (a number) or a FINGERPRINT (12 hex digits) "
                                     "from 'm87-server token list'");
    int rc = where_check("revoke", &w);
    if (rc != 0)
        return rc;
    _cleanup_error_ struct m87_error *err = NULL;
    struct srv_store *st = NULL;
    struct srv_admin_token gone = {0};
    if (srv_store_open_db(w.data, w.db, false, &st, &err) < 0)
        return failed("revoke", err);
    rc = srv_admin_token_revoke(st, id, id > 0 ? NULL : fp, &gone, &err);
    srv_store_free(st);
    if (rc < 0)
        return failed("revoke", err);
    fprintf(stderr, "m87-server: token revoke: revoked admin token %lld (fingerprint %s%s%s)\n",
            (long long)gone.id, gone.fingerprint, gone.name ? ", name " : "",
            gone.name ? gone.name : "");
    free(gone.name);
    return 0;
}

static const struct m87_command subcommands[] = {
    {"create", cmd_create, "make one more admin token and print it", NULL, NULL},
    {"list", cmd_list, "show the admin tokens", NULL, NULL},
    {"revoke", cmd_revoke, "delete an admin token", NULL, NULL},
};

int srv_cmd_token(int argc, char **argv)
{
    if (argc < 2) {
        token_usage(stderr);
        return M87_EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
        return token_usage(stdout), 0;
    const struct m87_command *cmd =
        m87_command_find(subcommands, M87_ARRAY_LEN(subcommands), argv[1]);
    if (cmd == NULL) {
        fprintf(stderr,
                "m87-server: token: unknown command '%s': expected create, list or revoke\n"
                "Run 'm87-server token --help' for usage.\n",
                argv[1]);
        return M87_EXIT_USAGE;
    }
    return m87_command_run(cmd, NULL, argc - 1, argv + 1);
}
