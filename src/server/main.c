/* m87-server: the control plane. `init` makes the data directory, `serve` serves it. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/command.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/units.h"
#include "m87/command-main.h"
#include "server/limits.h"
#include "server/ratelimit.h"
#include "server/retention.h"
#include "server/serve.h"
#include "server/store.h"
#include "server/util.h"

#define EXIT_FAILED 1
#define EXIT_USAGE M87_EXIT_USAGE

static void init_usage(FILE *out)
{
    fprintf(out, "usage: m87-server init --data DIR [--db URL]\n"
                 "\n"
                 "Create DIR (mode 0700) with an empty database and print the admin token,\n"
                 "alone on stdout. It is stored hashed and cannot be shown again.\n"
                 "\n"
                 "options:\n"
                 "  --data DIR  the data directory (must not hold a database yet)\n"
                 "  --db URL    keep the records in this PostgreSQL database instead of\n"
                 "              DIR/m87.db (postgresql://USER:PASSWORD@HOST:PORT/DB or libpq's\n"
                 "              'host=... dbname=...'; default: the environment's M87_DB).\n"
                 "              The database must exist and be empty of m87's tables; DIR\n"
                 "              still holds the bundles and the key sealing registry passwords\n"
                 "  -h, --help  show this help\n");
}

static void serve_usage(FILE *out)
{
    fprintf(
        out,
        "usage: m87-server serve --data DIR [--db URL] --listen HOST:PORT [--tls-cert FILE\n"
        "                        --tls-key FILE] [--longpoll-max SECONDS]\n"
        "                        [--session-retention DURATION] [--auth-fail-limit N]\n"
        "                        [--max-connections-per-address N]\n"
        "                        [--report-retention DURATION] [--report-max-per-device SIZE]\n"
        "                        [--report-ingest-limit SIZE] [--disk-reserve SIZE] [--no-ui]\n"
        "                        [--advertise URL]\n"
        "                        [--db-pool N] [--audit-retention DURATION]\n"
        "\n"
        "Serve the API of docs/api.md, and the dashboard of docs/dashboard.md at /, until\n"
        "SIGTERM or SIGINT.\n"
        "\n"
        "options:\n"
        "  --data DIR              the data directory made by 'm87-server init': the\n"
        "                          database m87.db (without --db), the bundles, the key\n"
        "                          sealing registry passwords\n"
        "  --db URL                the PostgreSQL database 'm87-server init --db' set up\n"
        "                          (default: the environment's M87_DB; see docs/operations.md);\n"
        "                          its connections are opened again by themselves after an\n"
        "                          outage, during which requests get 503 with Retry-After\n"
        "  --db-pool N             connections to --db's database that requests and the\n"
        "                          background work share, 1 to 64 (default 4); SQLite has one\n"
        "  --listen HOST:PORT      address to listen on ([::1]:8443 for IPv6)\n"
        "  --tls-cert FILE         PEM certificate (chain): serve HTTPS\n"
        "  --tls-key FILE          PEM private key of the certificate\n"
        "  --longpoll-max SECONDS  longest time an agent sync is held (0-300, "
        "default 300)\n"
        "  --session-retention DURATION  how long the output of a sync command is "
        "kept (default 7d)\n"
        "  --auth-fail-limit N     failed authentications a source (an IPv4 address, "
        "an IPv6 /64)\n"
        "                          may make in a row and per minute before it gets 429 "
        "(default 30,\n"
        "                          0: no limit)\n"
        "  --max-connections-per-address N  open connections a client address may have\n"
        "                          (default 256, 0: no limit); devices behind one NAT share\n"
        "                          an address, each holding one or two connections\n"
        "  --report-retention DURATION  how long a report is kept (default 30d, 0: whatever\n"
        "                          its age)\n"
        "  --report-max-per-device SIZE  bytes of reports kept per device, the oldest pruned\n"
        "                          first (default 64MB, 0: no limit)\n"
        "  --report-ingest-limit SIZE  bytes of reports a device may send per minute; past it\n"
        "                          its sync gets 429 and the agent sends them later (default\n"
        "                          4MB, 0: no limit)\n"
        "  --disk-reserve SIZE     free space on the data directory's disk below which reports\n"
        "                          are refused with 507 (default 256MB, 0: none)\n"
        "  --no-ui                 do not serve the dashboard (/ and /ui/ answer 404)\n"
        "  --advertise URL         where the other replicas of the --db reach this one, to\n"
        "                          relay remote channels (http://HOST:PORT; default: the\n"
        "                          --listen address unless it is a wildcard)\n"
        "  --audit-retention DURATION  how long an audit row is kept after its last event\n"
        "                          (default 365d, 0: forever)\n"
        "  -h, --help              show this help\n");
}

static int usage_error(const char *cmd, const char *msg)
{
    fprintf(stderr, "m87-server: %s: %s\nRun 'm87-server %s --help' for usage.\n", cmd, msg, cmd);
    return EXIT_USAGE;
}

#define DB_USAGE                                                                                   \
    "--db (or M87_DB): expected a PostgreSQL connection string (postgresql://... or "              \
    "'host=... dbname=...')"

/* M87_DB, when set and not empty: the default of --db. */
static const char *db_from_env(void)
{
    const char *v = getenv("M87_DB");
    return v && *v ? v : NULL;
}

/* NULL (SQLite in the data directory) or a PostgreSQL connection string; the value itself is
 * never printed (it may hold a password). */
static int check_db(const char *db)
{
    return db == NULL || srv_store_is_db_url(db) ? 0 : -1;
}

static int cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"db", required_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data = NULL;
    const char *db = db_from_env();
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'd')
            data = optarg;
        else if (c == 'B')
            db = optarg;
        else if (c == 'h')
            return init_usage(stdout), 0;
        else
            return m87_bad_option("m87-server", "init", argv, c);
    }
    if (optind < argc)
        return usage_error("init", "unexpected argument");
    if (data == NULL || *data == '\0')
        return usage_error("init", "--data DIR is required");
    if (check_db(db) < 0)
        return usage_error("init", DB_USAGE);
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *token = NULL;
    if (srv_init(data, db, &token, &err) < 0) {
        fprintf(stderr, "m87-server: init: %s\n", err->msg);
        return EXIT_FAILED;
    }
    printf("%s\n", token);
    return fflush(stdout) == 0 ? 0 : EXIT_FAILED;
}

/* http[s]://HOST:PORT, nothing after */
static bool advertise_ok(const char *url)
{
    const char *rest = strncmp(url, "http://", 7) == 0    ? url + 7
                       : strncmp(url, "https://", 8) == 0 ? url + 8
                                                          : NULL;
    const char *colon = rest ? strrchr(rest, ':') : NULL;
    return colon && colon > rest && colon[1] && strchr(rest, '/') == NULL &&
           strspn(colon + 1, "0123456789") == strlen(colon + 1);
}

static int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},
        {"db", required_argument, NULL, 'B'},
        {"listen", required_argument, NULL, 'l'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},
        {"longpoll-max", required_argument, NULL, 'p'},
        {"session-retention", required_argument, NULL, 'r'},
        {"auth-fail-limit", required_argument, NULL, 'a'},
        {"max-connections-per-address", required_argument, NULL, 'm'},
        {"report-retention", required_argument, NULL, 'R'},
        {"report-max-per-device", required_argument, NULL, 'M'},
        {"report-ingest-limit", required_argument, NULL, 'I'},
        {"disk-reserve", required_argument, NULL, 'D'},
        {"no-ui", no_argument, NULL, 'U'},
        {"advertise", required_argument, NULL, 'A'},
        {"db-pool", required_argument, NULL, 'P'},
        {"audit-retention", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct srv_serve_opts o = {.longpoll_max = SRV_MAX_WAIT,
                               .auth_fail_limit = SRV_AUTH_FAIL_LIMIT,
                               .max_conn_per_address = SRV_CONNECTIONS_PER_ADDRESS,
                               .report_retention = SRV_REPORT_RETENTION,
                               .report_max_per_device = SRV_REPORT_MAX_PER_DEVICE,
                               .report_ingest_limit = SRV_REPORT_INGEST_LIMIT,
                               .disk_reserve = SRV_DISK_RESERVE,
                               .audit_retention = SRV_AUDIT_RETENTION,
                               .db_url = db_from_env()};
    int64_t lp = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.data_dir = optarg;
            break;
        case 'B':
            o.db_url = optarg;
            break;
        case 'l':
            o.listen = optarg;
            break;
        case 'c':
            o.tls_cert = optarg;
            break;
        case 'k':
            o.tls_key = optarg;
            break;
        case 'p':
            if (srv_parse_int(optarg, 0, SRV_MAX_WAIT, &lp) < 0)
                return usage_error("serve", "--longpoll-max: expected 0 to 300 seconds");
            o.longpoll_max = (int)lp;
            break;
        case 'a':
            if (srv_parse_int(optarg, 0, 1000000, &lp) < 0)
                return usage_error("serve", "--auth-fail-limit: expected 0 to 1000000");
            o.auth_fail_limit = (int)lp;
            break;
        case 'm':
            if (srv_parse_int(optarg, 0, SRV_MAX_CONNECTIONS, &lp) < 0)
                return usage_error("serve", "--max-connections-per-address: expected 0 to 60000");
            o.max_conn_per_address = (int)lp;
            break;
        case 'r': {
            int64_t ns = 0;
            if (m87_parse_duration(optarg, &ns, NULL) < 0 || ns < 1000000000LL)
                return usage_error("serve", "--session-retention: expected a duration like 7d");
            o.session_retention = ns / 1000000000LL;
            break;
        }
        case 'R':
        case 'T': {
            int64_t ns = 0;
            if (m87_parse_duration(optarg, &ns, NULL) < 0 || ns < 0 ||
                (ns > 0 && ns < 1000000000LL))
                return usage_error("serve", c == 'R' ? "--report-retention: expected a duration "
                                                       "like 30d (at least 1s; 0: kept whatever "
                                                       "their age)"
                                                     : "--audit-retention: expected a duration "
                                                       "like 365d (at least 1s; 0: kept forever)");
            *(c == 'R' ? &o.report_retention : &o.audit_retention) = ns / 1000000000LL;
            break;
        }
        case 'M':
        case 'I':
        case 'D': {
            int64_t *to = c == 'M'   ? &o.report_max_per_device
                          : c == 'I' ? &o.report_ingest_limit
                                     : &o.disk_reserve;
            if (m87_parse_bytes(optarg, to, NULL) < 0)
                return usage_error("serve", c == 'M'   ? "--report-max-per-device: expected a size "
                                                         "like 64MB (0: no limit)"
                                            : c == 'I' ? "--report-ingest-limit: expected a size "
                                                         "like 4MB (0: no limit)"
                                                       : "--disk-reserve: expected a size like "
                                                         "256MB (0: none)");
            break;
        }
        case 'U':
            o.no_ui = true;
            break;
        case 'A':
            if (!advertise_ok(optarg))
                return usage_error("serve", "--advertise: expected http://HOST:PORT or "
                                            "https://HOST:PORT");
            o.advertise = optarg;
            break;
        case 'P':
            if (srv_parse_int(optarg, 1, SRV_DB_POOL_MAX, &lp) < 0)
                return usage_error("serve", "--db-pool: expected 1 to 64 connections");
            o.db_pool = (int)lp;
            break;
        case 'h':
            serve_usage(stdout);
            return 0;
        default:
            return m87_bad_option("m87-server", "serve", argv, c);
        }
    }
    if (optind < argc)
        return usage_error("serve", "unexpected argument");
    if (o.data_dir == NULL || o.listen == NULL)
        return usage_error("serve", "--data DIR and --listen HOST:PORT are required");
    if (check_db(o.db_url) < 0)
        return usage_error("serve", DB_USAGE);
    if ((o.tls_cert == NULL) != (o.tls_key == NULL))
        return usage_error("serve", "--tls-cert and --tls-key go together");
    _cleanup_error_ struct m87_error *err = NULL;
    if (srv_serve(&o, &err) < 0) {
        fprintf(stderr, "m87-server: serve: %s\n", err->msg);
        return m87_error_code(err) == M87_E_INVAL ? EXIT_USAGE : EXIT_FAILED;
    }
    return 0;
}

static void migrate_usage(FILE *out)
{
    fprintf(out,
            "usage: m87-server migrate --from DIR --to URL|DIR\n"
            "\n"
            "Copy the installation in DIR (its SQLite database: devices, tokens, deployments,\n"
            "revisions, bundles, reports, sessions, windows, fleets, rollouts, audit, every\n"
            "table) into an empty database, in one transaction, and print each table's row\n"
            "count in both; it fails when one differs. Stop the server that serves DIR first:\n"
            "a DIR a running server holds is refused. DIR's records are not changed.\n"
            "\n"
            "options:\n"
            "  --from DIR  the data directory of the installation to copy\n"
            "  --to URL    a PostgreSQL database (postgresql://USER@HOST/DB or key=value\n"
            "              pairs; the PG* environment variables fill in the rest), made\n"
            "              with CREATE DATABASE and not initialised by m87-server; or a\n"
            "              directory without a database, which becomes a data directory\n"
            "  -h, --help  show this help\n"
            "\n"
            "See docs/operations.md, Moving to PostgreSQL.\n");
}

static int cmd_migrate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct srv_migrate_opts o = {.out = stdout, .progress = isatty(STDERR_FILENO) == 1};
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'f')
            o.from = optarg;
        else if (c == 't')
            o.to = optarg;
        else if (c == 'h')
            return migrate_usage(stdout), 0;
        else
            return m87_bad_option("m87-server", "migrate", argv, c);
    }
    if (optind < argc)
        return usage_error("migrate", "unexpected argument");
    if (o.from == NULL || *o.from == '\0' || o.to == NULL || *o.to == '\0')
        return usage_error("migrate", "--from DIR and --to URL are required");
    _cleanup_error_ struct m87_error *err = NULL;
    if (srv_migrate(&o, &err) < 0) {
        fprintf(stderr, "m87-server: migrate: %s\n", err->msg);
        return EXIT_FAILED;
    }
    fprintf(stderr, "m87-server: migrate: done; every table has its rows\n");
    return 0;
}

static const struct m87_command commands[] = {
    {"init", cmd_init, "create the data directory, the database and the admin token"},
    {"serve", cmd_serve, "serve the API"},
    {"migrate", cmd_migrate, "copy an installation into a new database (PostgreSQL)"},
    {"token", srv_cmd_token, "create, list or revoke admin tokens", "create|list|revoke"},
};

static const struct m87_program program = {
    .name = "m87-server",
    .summary = "Store devices, deployments and reports; serve the agents and the CLI.",
    .cmds = commands,
    .n = M87_ARRAY_LEN(commands),
    .column = 11,
    .help = "Run 'm87-server COMMAND --help' for a command's options.",
};

int main(int argc, char **argv)
{
    return m87_program_main(&program, argc, argv);
}
