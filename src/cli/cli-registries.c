/* `m87 registries add|list|rm`: registry credentials the devices pull with. The password comes
 * from stdin only: a command line is visible to every user of the machine (`ps`). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/io.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"

/* The server takes passwords and tokens of up to 4096 bytes (SRV_SECRET_MAX). */
#define CLI_MAX_PASSWORD 4096u

static const char registries_help[] =
    "usage: m87 registries <command> [<args>]\n"
    "\n"
    "Credentials the devices pull private images with. The server keeps each password\n"
    "encrypted and sends it only to the devices it is for, in their sync.\n"
    "\n"
    "commands:\n"
    "  add HOST --username USER --password-stdin [--device NAME... | --select SEL]\n"
    "                      add or replace the credentials of a registry\n"
    "  list [--json]       list the credentials: host, user, device or selector (never the\n"
    "                      password)\n"
    "  rm HOST [--device NAME | --select SEL]\n"
    "                      remove the credentials of a registry\n"
    "\n"
    "Run 'm87 registries <command> --help' for the options of a command.\n";

static const char add_help[] =
    "usage: m87 registries add HOST --username USER --password-stdin\n"
    "                          [--device NAME... | --select SEL]\n"
    "\n"
    "Add or replace the credentials of the registry HOST (\"registry.example.com\",\n"
    "\"10.0.0.5:5000\", \"docker.io\") for the devices named by --device, for the devices whose\n"
    "labels the selector selects (live: a device relabelled later gets them or loses them), or\n"
    "for every device. For a host, a device's own entry wins, then the newest entry whose\n"
    "selector selects it, then the every-device entry. The devices get the change in their next\n"
    "sync, without a new deployment, and use it for every pull.\n"
    "\n"
    "options:\n"
    "  -u, --username USER  the user name (or \"<token>\" with an identity token as password)\n"
    "  --password-stdin     read the password or token from stdin (required; one trailing\n"
    "                       newline is dropped)\n"
    "  --device NAME        only for this device; repeat for more\n"
    "  --select SEL         for the devices a label selector selects ('site=berlin,hw in\n"
    "                       (pi4,pi5)'; see m87 devices list --help)\n"
    "  -h, --help           show this help\n";

static const char list_help[] = "usage: m87 registries list [--json]\n"
                                "\n"
                                "List the registry credentials: host, user, for whom (a device, a\n"
                                "label selector, or \"*\": every device), created, updated.\n"
                                "Passwords are never shown.\n"
                                "\n"
                                "options:\n"
                                "  --json      print the server's {\"registries\":[...]}\n"
                                "  -h, --help  show this help\n";

static const char rm_help[] =
    "usage: m87 registries rm HOST [--device NAME | --select SEL]\n"
    "\n"
    "Remove the credentials of the registry HOST: every entry of it, or with --device only\n"
    "that device's own entry, or with --select only the entry of that selector. The devices\n"
    "forget them in their next sync.\n"
    "\n"
    "options:\n"
    "  --device NAME  only this device's entry\n"
    "  --select SEL   only the entry of this label selector\n"
    "  -h, --help     show this help\n";

/* stdin up to its end, one trailing "\n" or "\r\n" dropped; the message never quotes it. */
static char *read_password(struct m87_error **err)
{
    char *buf = m87_xmalloc(CLI_MAX_PASSWORD + 2);
    size_t len = 0;
    for (;;) {
        ssize_t n = m87_read_some(STDIN_FILENO, buf + len, CLI_MAX_PASSWORD + 1 - len);
        if (n < 0) {
            m87_error_set(err, M87_E_IO, errno, "read the password from stdin");
            break;
        }
        len += (size_t)n;
        if (n == 0 || len > CLI_MAX_PASSWORD)
            break;
    }
    if (len > CLI_MAX_PASSWORD && *err == NULL)
        m87_error_set(err, M87_E_TOOBIG, 0, "the password on stdin exceeds %u bytes",
                      CLI_MAX_PASSWORD);
    if (*err == NULL) {
        if (len > 0 && buf[len - 1] == '\n')
            len--;
        if (len > 0 && buf[len - 1] == '\r')
            len--;
        buf[len] = '\0';
        if (len == 0 || memchr(buf, '\0', len) != NULL)
            m87_error_set(err, M87_E_INVAL, 0, "the password on stdin is empty or holds a NUL");
    }
    if (*err == NULL)
        return buf;
    explicit_bzero(buf, CLI_MAX_PASSWORD + 2);
    free(buf);
    return NULL;
}

struct add_args {
    const char *username;
    bool password_stdin;
    struct m87_strv devices;
    const char *select;
};

/* 1: help shown, 0: go on (optind at HOST), else an exit status. */
static int parse_add(int argc, char **argv, struct add_args *a)
{
    static const struct option opts[] = {
        {"username", required_argument, NULL, 'u'}, {"password-stdin", no_argument, NULL, 'p'},
        {"device", required_argument, NULL, 'd'},   {"select", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},           {0},
    };
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":u:h", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            a->username = optarg;
            break;
        case 'p':
            a->password_stdin = true;
            break;
        case 'd':
            m87_strv_add(&a->devices, optarg);
            break;
        case 's':
            a->select = optarg;
            break;
        case 'h':
            return cli_help(add_help);
        default:
            return cli_bad_option("registries add", argv, c);
        }
    }
    int rc = cli_operands("registries add", argc, argv, 1, 1);
    if (rc)
        return rc;
    if (a->username == NULL)
        return cli_usage_error("registries add", "--username is required");
    if (a->select && a->devices.len > 0)
        return cli_usage_error("registries add", "--device and --select: give one of them");
    if (a->select && (rc = cli_check_selector("registries add", a->select)) != CLI_EXIT_OK)
        return rc;
    if (!a->password_stdin)
        return cli_usage_error("registries add",
                               "--password-stdin is required (a password on the command line "
                               "would show in `ps`)");
    return 0;
}

static char *add_body(const char *host, const struct add_args *a, const char *password)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "host", host);
    m87_jw_kstr(w, "username", a->username);
    m87_jw_kstr(w, "password", password);
    if (a->devices.len > 0) {
        m87_jw_key(w, "devices");
        m87_jw_arr_open(w);
        for (size_t i = 0; i < a->devices.len; i++)
            m87_jw_str(w, a->devices.items[i]);
        m87_jw_arr_close(w);
    }
    m87_jw_kstr_opt(w, "select", a->select);
    m87_jw_obj_close(w);
    return m87_jw_finish(w);
}

static int registries_add(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    (void)device;
    _cleanup_error_ struct m87_error *err = NULL;
    struct add_args a = {0};
    m87_strv_init(&a.devices);
    int rc = parse_add(argc, argv, &a);
    if (rc) {
        m87_strv_release(&a.devices);
        return rc == 1 ? CLI_EXIT_OK : rc;
    }
    const char *host = argv[optind];
    char *password = read_password(&err);
    if (password == NULL) {
        m87_strv_release(&a.devices);
        return m87_error_code(err) == M87_E_IO ? cli_report(err)
                                               : cli_usage_error("registries add", "%s", err->msg);
    }
    char *body = add_body(host, &a, password);
    rc = cli_http_json(ctx, "POST", "/v1/registries", body, NULL, &err);
    explicit_bzero(body, strlen(body));
    explicit_bzero(password, strlen(password));
    free(body);
    free(password);
    if (rc == 0) {
        if (a.select)
            printf("credentials of '%s' set for the devices of '%s'\n", host, a.select);
        else if (a.devices.len == 0)
            printf("credentials of '%s' set for every device\n", host);
        for (size_t i = 0; i < a.devices.len; i++)
            printf("credentials of '%s' set for device '%s'\n", host, a.devices.items[i]);
    }
    m87_strv_release(&a.devices);
    return rc == 0 ? CLI_EXIT_OK : cli_report(err);
}

static bool print_registries(const char *device, const struct m87_json *doc)
{
    static const char *const header[] = {"HOST", "USERNAME", "FOR", "CREATED", "UPDATED"};
    const struct m87_json *list = m87_json_get(doc, "registries");
    struct cli_table t;

    (void)device;
    cli_table_init(&t, M87_ARRAY_LEN(header), header);
    for (size_t i = 0; i < m87_json_len(list); i++) {
        const struct m87_json *e = m87_json_at(list, i);
        _cleanup_free_ char *created =
            cli_format_local(m87_json_str(m87_json_get(e, "created"), NULL));
        _cleanup_free_ char *updated =
            cli_format_local(m87_json_str(m87_json_get(e, "updated"), NULL));
        const char *dev = m87_json_str(m87_json_get(e, "device"), NULL);
        const char *select = m87_json_str(m87_json_get(e, "select"), NULL);
        _cleanup_free_ char *whom = dev      ? m87_xstrdup(dev)
                                    : select ? m87_xasprintf("select %s", select)
                                             : m87_xstrdup("*");
        const char *row[] = {m87_json_str(m87_json_get(e, "host"), "?"),
                             m87_json_str(m87_json_get(e, "username"), "?"), whom, created,
                             updated};
        cli_table_add(&t, row);
    }
    cli_table_print(&t);
    return false;
}

static int registries_list(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    return cli_get_and_show(ctx, "registries list", list_help, argc, argv, "/v1/registries", device,
                            print_registries);
}

static int registries_rm(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    (void)device;
    _cleanup_error_ struct m87_error *err = NULL;
    const char *dev = NULL, *select = NULL;
    const struct cli_option opts[] = {{"device", CLI_OPT_STRING, &dev, 0},
                                      {"select", CLI_OPT_STRING, &select, 0}};
    int rc = cli_parse_options("registries rm", rm_help, argc, argv, opts, M87_ARRAY_LEN(opts));
    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    if ((rc = cli_operands("registries rm", argc, argv, 1, 1)) != 0)
        return rc;
    if (dev && select)
        return cli_usage_error("registries rm", "--device and --select: give one of them");
    if (select && (rc = cli_check_selector("registries rm", select)) != CLI_EXIT_OK)
        return rc;
    const char *host = argv[optind];
    _cleanup_free_ char *h = cli_escape(host);
    _cleanup_free_ char *d = dev ? cli_escape(dev) : NULL;
    _cleanup_free_ char *s = select ? cli_escape(select) : NULL;
    _cleanup_free_ char *path =
        m87_xasprintf("/v1/registries?host=%s%s%s%s%s", h, d ? "&device=" : "", d ? d : "",
                      s ? "&select=" : "", s ? s : "");
    if (cli_http_json(ctx, "DELETE", path, NULL, NULL, &err) < 0)
        return cli_report(err);
    if (select)
        printf("credentials of '%s' removed for the devices of '%s'\n", host, select);
    else if (dev)
        printf("credentials of '%s' removed for device '%s'\n", host, dev);
    else
        printf("credentials of '%s' removed\n", host);
    return CLI_EXIT_OK;
}

static const struct cli_sub subcommands[] = {
    {"add", registries_add, add_help},
    {"list", registries_list, list_help},
    {"rm", registries_rm, rm_help},
};

int cli_cmd_registries(int argc, char **argv)
{
    return cli_dispatch("registries", registries_help, subcommands, M87_ARRAY_LEN(subcommands),
                        NULL, argc, argv);
}
