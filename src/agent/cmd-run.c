/* `m87-agent run`: the device daemon (daemon.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent-internal.h"
#include "agent/config.h"
#include "agent/daemon.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/log.h"
#include "m87/runner.h"

enum {
    OPT_SERVER = 256,
    OPT_TOKEN,
    OPT_TOKEN_FILE,
    OPT_STATE_DIR,
    OPT_DOCKER_HOST,
    OPT_CA_FILE,
    OPT_INSECURE_HTTP,
    OPT_TRUST,
    OPT_CONFIG,
    OPT_LOG_PRIORITY,
    OPT_DEBUG,
};

static void run_usage(FILE *out)
{
    fprintf(
        out,
        "usage: m87-agent run [options]\n"
        "\n"
        "The device daemon: long-poll the server over an outbound connection, keep the\n"
        "target revision on local disk and apply it (also at start, before the server is\n"
        "reached), send the reports back. Runs until SIGTERM.\n"
        "\n"
        "options (also as `key = value` lines of the config file; flags win; the token\n"
        "comes from --token, --token-file, M87_TOKEN, token-file =, token =, the first given):\n"
        "      --server URL        the m87 server (https://; http:// only with --insecure-http)\n"
        "      --token-file FILE   file holding the device token `m87 devices add` printed\n"
        "                          (mode 0600); or M87_TOKEN in the environment\n"
        "      --token TOKEN       the token itself: avoid, `ps` shows it to every user\n"
        "      --state-dir DIR     state directory (default: " RUNNER_DEFAULT_STATE_DIR ")\n"
        "      --docker-host HOST  dockerd (default: $DOCKER_HOST, else the local socket)\n"
        "      --ca-file FILE      PEM file of the CA of the server's certificate\n"
        "      --insecure-http     allow a plain http:// server (the token travels in clear)\n"
        "      --trust FILE        apply only revisions signed by this Ed25519 public key\n"
        "                          (PEM, `m87 keys generate`); repeatable, for key rotation\n"
        "      --config FILE       config file (default: " AGENT_DEFAULT_CONFIG ", if present)\n"
        "      --log-priority      prefix log lines with <N> for journald (default: when\n"
        "                          stderr is the journal, $JOURNAL_STREAM)\n"
        "      --debug             log debug lines too\n"
        "  -h, --help              show this help\n"
        "\n"
        "Exit status: 0 after SIGTERM or SIGINT, 1 when it cannot start, 2 on bad options or\n"
        "a bad config file.\n");
}

struct run_flags {
    const char *config;
    bool log_priority;
    bool debug;
};

static int parse_run(int argc, char **argv, struct agent_config *c, struct run_flags *f)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, OPT_SERVER},
        {"token", required_argument, NULL, OPT_TOKEN},
        {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
        {"state-dir", required_argument, NULL, OPT_STATE_DIR},
        {"docker-host", required_argument, NULL, OPT_DOCKER_HOST},
        {"ca-file", required_argument, NULL, OPT_CA_FILE},
        {"insecure-http", no_argument, NULL, OPT_INSECURE_HTTP},
        {"trust", required_argument, NULL, OPT_TRUST},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"log-priority", no_argument, NULL, OPT_LOG_PRIORITY},
        {"debug", no_argument, NULL, OPT_DEBUG},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int ch, li = 0;

    optind = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, &li)) != -1) {
        if (ch >= OPT_SERVER && ch <= OPT_CA_FILE) { /* the string settings, named as in the file */
            char **field = agent_config_string(c, opts[li].name);
            free(*field);
            *field = m87_xstrdup(optarg);
        } else if (ch == OPT_INSECURE_HTTP) {
            c->insecure_http = c->insecure_http_set = true;
        } else if (ch == OPT_TRUST) {
            m87_strv_add(&c->trust, optarg);
            c->trust_set = true;
        } else if (ch == OPT_CONFIG) {
            f->config = optarg;
        } else if (ch == OPT_LOG_PRIORITY) {
            f->log_priority = true;
        } else if (ch == OPT_DEBUG) {
            f->debug = true;
        } else if (ch == 'h') {
            run_usage(stdout);
            return -1;
        } else {
            return agent_bad_option("run", argv, ch);
        }
    }
    return agent_no_operands("run", argc, argv);
}

int agent_cmd_run(int argc, char **argv)
{
    struct agent_config cfg = {0};
    struct run_flags f = {0};
    _cleanup_error_ struct m87_error *err = NULL;

    int rc = parse_run(argc, argv, &cfg, &f);
    if (rc == AGENT_EXIT_OK) {
        bool given = f.config != NULL;
        if (agent_config_load(given ? f.config : AGENT_DEFAULT_CONFIG, given, &cfg, &err) < 0 ||
            agent_config_finish(&cfg, getenv("M87_TOKEN"), &err) < 0) {
            fprintf(stderr, "m87-agent: run: %s\n", err->msg);
            rc = AGENT_EXIT_USAGE;
        }
    }
    /* the steps inherit the environment: they have no business with the device token */
    unsetenv("M87_TOKEN");
    if (rc == AGENT_EXIT_OK) {
        m87_log_setup(f.debug ? M87_LOG_DEBUG : M87_LOG_INFO,
                      f.log_priority || getenv("JOURNAL_STREAM") != NULL);
        for (size_t i = 0; i < cfg.warnings.len; i++)
            m87_log(M87_LOG_WARN, "%s", cfg.warnings.items[i]);
        if (agent_daemon_run(&cfg, &err) < 0) {
            m87_log(M87_LOG_ERR, "%s", err->msg);
            rc = AGENT_EXIT_FAILED;
        }
    }
    agent_config_release(&cfg);
    return rc < 0 ? AGENT_EXIT_OK : rc;
}
