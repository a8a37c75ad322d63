/* `m87 DEVICE metrics [--follow] [--json]` (docs/remote.md): the device's state now, through a
 * remote channel ("what": "metrics") whose stdout is one JSON object; with --since DURATION, the
 * samples its agent sent with its sync and the server kept, which need no device online. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/pump.h"
#include "m87/time.h"
#include "m87/units.h"

#define METRICS_FOLLOW_MS 2000L
#define METRICS_MAX_TEXT (64u * 1024) /* of the device's answer: it fits a pipe */

static const char metrics_help[] =
    "usage: m87 DEVICE metrics [--follow] [--json]\n"
    "       m87 DEVICE metrics --since DURATION [--json]\n"
    "\n"
    "The device's state now, asked of its agent through the server: CPU use, load, memory,\n"
    "free space of / and of dockerd's data root, network bytes since boot, the hottest\n"
    "temperature the board exposes, uptime, containers. The device must allow it\n"
    "(`remote = metrics` in its agent config).\n"
    "\n"
    "With --since, the samples the agent sent with its sync (one every metrics-interval, 5\n"
    "minutes by default) that the server kept (a day), oldest first: the device need not be\n"
    "online, nor allow remote access.\n"
    "\n"
    "options:\n"
    "  --follow          ask again every 2 seconds until Ctrl-C\n"
    "  --since DURATION  the stored samples of the last DURATION (30m, 6h, 1d)\n"
    "  --json            the device's JSON object, one line per sample; with --since the\n"
    "                    server's answer {\"samples\": [{\"time\", \"metrics\"}, ...]}\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0; 2 when the device is offline or does not allow it; 1 when it failed.\n";

static volatile sig_atomic_t metrics_stop;

static void on_stop(int sig)
{
    (void)sig;
    metrics_stop = 1;
}

static char *size_text(int64_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0]))
        v /= 1024, u++;
    return u == 0 ? m87_xasprintf("%" PRId64 " B", n) : m87_xasprintf("%.1f %s", v, units[u]);
}

static char *disk_text(const struct m87_json *d)
{
    if (m87_json_type(d) != M87_JSON_OBJECT)
        return NULL;
    _cleanup_free_ char *free_b = size_text(m87_json_int(m87_json_get(d, "free"), 0));
    _cleanup_free_ char *total = size_text(m87_json_int(m87_json_get(d, "total"), 0));
    return m87_xasprintf("%s free of %s (%s)", free_b, total,
                         m87_json_str(m87_json_get(d, "path"), "?"));
}

static void print_people(const struct m87_json *m)
{
    static const char *const header[] = {"METRIC", "VALUE"};
    struct cli_table t;
    cli_table_init(&t, 2, header);
    const struct m87_json *cpu = m87_json_get(m, "cpu_percent");
    _cleanup_free_ char *cpu_s = m87_json_type(cpu) == M87_JSON_NUMBER
                                     ? m87_xasprintf("%" PRId64 "%%", m87_json_int(cpu, 0))
                                     : NULL;
    const struct m87_json *l = m87_json_get(m, "load_x100");
    _cleanup_free_ char *load_s =
        m87_json_len(l) == 3
            ? m87_xasprintf("%.2f %.2f %.2f", m87_json_int(m87_json_at(l, 0), 0) / 100.0,
                            m87_json_int(m87_json_at(l, 1), 0) / 100.0,
                            m87_json_int(m87_json_at(l, 2), 0) / 100.0)
            : NULL;
    const struct m87_json *mem = m87_json_get(m, "memory");
    _cleanup_free_ char *avail = size_text(m87_json_int(m87_json_get(mem, "available"), 0));
    _cleanup_free_ char *total = size_text(m87_json_int(m87_json_get(mem, "total"), 0));
    _cleanup_free_ char *mem_s = m87_xasprintf("%s available of %s", avail, total);
    _cleanup_free_ char *root_s = disk_text(m87_json_get(m, "disk_root"));
    _cleanup_free_ char *docker_s = disk_text(m87_json_get(m, "disk_docker"));
    const struct m87_json *net = m87_json_get(m, "network");
    _cleanup_free_ char *rx = size_text(m87_json_int(m87_json_get(net, "rx_bytes"), 0));
    _cleanup_free_ char *tx = size_text(m87_json_int(m87_json_get(net, "tx_bytes"), 0));
    _cleanup_free_ char *net_s = m87_xasprintf("%s received, %s sent since boot", rx, tx);
    const struct m87_json *temp = m87_json_get(m, "temperature_mc");
    _cleanup_free_ char *temp_s = m87_json_type(temp) == M87_JSON_NUMBER
                                      ? m87_xasprintf("%.1f C", m87_json_int(temp, 0) / 1000.0)
                                      : NULL;
    const struct m87_json *up = m87_json_get(m, "uptime_s");
    _cleanup_free_ char *up_s =
        m87_json_type(up) == M87_JSON_NUMBER ? cli_format_ms(m87_json_int(up, 0) * 1000) : NULL;
    const struct m87_json *ct = m87_json_get(m, "containers");
    _cleanup_free_ char *ct_s = m87_json_type(ct) == M87_JSON_OBJECT
                                    ? m87_xasprintf("%" PRId64 " running of %" PRId64,
                                                    m87_json_int(m87_json_get(ct, "running"), 0),
                                                    m87_json_int(m87_json_get(ct, "total"), 0))
                                    : NULL;
    const char *rows[][2] = {
        {"cpu", cpu_s},          {"load", load_s},          {"memory", mem_s},
        {"disk /", root_s},      {"disk docker", docker_s}, {"network", net_s},
        {"temperature", temp_s}, {"uptime", up_s},          {"containers", ct_s}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        cli_table_add(&t, rows[i]);
    cli_table_print(&t);
}

static char *percent_text(const struct m87_json *v)
{
    return m87_json_type(v) == M87_JSON_NUMBER ? m87_xasprintf("%" PRId64 "%%", m87_json_int(v, 0))
                                               : m87_xstrdup("-");
}

/* "4.1 GiB of 7.7 GiB": of an object's part and total members, "-" when it is not one. */
static char *part_text(const struct m87_json *o, const char *part)
{
    if (m87_json_type(o) != M87_JSON_OBJECT)
        return m87_xstrdup("-");
    _cleanup_free_ char *p = size_text(m87_json_int(m87_json_get(o, part), 0));
    _cleanup_free_ char *t = size_text(m87_json_int(m87_json_get(o, "total"), 0));
    return m87_xasprintf("%s of %s", p, t);
}

static void add_stored_row(struct cli_table *t, const struct m87_json *s)
{
    const struct m87_json *m = m87_json_get(s, "metrics");
    _cleanup_free_ char *when = cli_format_local(m87_json_str(m87_json_get(s, "time"), NULL));
    _cleanup_free_ char *cpu = percent_text(m87_json_get(m, "cpu_percent"));
    const struct m87_json *l = m87_json_get(m, "load_x100");
    _cleanup_free_ char *load =
        m87_json_len(l) == 3 ? m87_xasprintf("%.2f", m87_json_int(m87_json_at(l, 0), 0) / 100.0)
                             : m87_xstrdup("-");
    _cleanup_free_ char *mem = part_text(m87_json_get(m, "memory"), "available");
    _cleanup_free_ char *root = part_text(m87_json_get(m, "disk_root"), "free");
    _cleanup_free_ char *docker = part_text(m87_json_get(m, "disk_docker"), "free");
    const struct m87_json *temp = m87_json_get(m, "temperature_mc");
    _cleanup_free_ char *temp_s = m87_json_type(temp) == M87_JSON_NUMBER
                                      ? m87_xasprintf("%.1f C", m87_json_int(temp, 0) / 1000.0)
                                      : m87_xstrdup("-");
    const struct m87_json *up = m87_json_get(m, "uptime_s");
    _cleanup_free_ char *up_s = m87_json_type(up) == M87_JSON_NUMBER
                                    ? cli_format_ms(m87_json_int(up, 0) * 1000)
                                    : m87_xstrdup("-");
    const struct m87_json *ct = m87_json_get(m, "containers");
    _cleanup_free_ char *ct_s =
        m87_json_type(ct) == M87_JSON_OBJECT
            ? m87_xasprintf("%" PRId64 "/%" PRId64, m87_json_int(m87_json_get(ct, "running"), 0),
                            m87_json_int(m87_json_get(ct, "total"), 0))
            : m87_xstrdup("-");
    const char *row[] = {when, cpu, load, mem, root, docker, temp_s, up_s, ct_s};
    cli_table_add(t, row);
}

/* --since: the samples the server kept, whether or not the device is online. */
static int stored(const struct cli_ctx *ctx, const char *device, const char *since_text,
                  int64_t since_s, bool json)
{
    _cleanup_free_ char *dev = cli_escape(device);
    _cleanup_free_ char *path =
        m87_xasprintf("/v1/devices/%s/metrics?since=%" PRId64 "s", dev, since_s);
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    _cleanup_error_ struct m87_error *err = NULL;
    if (cli_http_json(ctx, "GET", path, NULL, &doc, &err) < 0)
        return cli_report(err);
    if (json) {
        cli_print_json(stdout, doc);
        return CLI_EXIT_OK;
    }
    const struct m87_json *list = m87_json_get(doc, "samples");
    if (m87_json_len(list) == 0) {
        fprintf(stderr,
                "m87: metrics: no samples of '%s' in the last %s (its agent sends one with its "
                "sync every metrics-interval, 5 minutes by default; the server keeps a day)\n",
                device, since_text);
        return CLI_EXIT_OK;
    }
    static const char *const header[] = {
        "TIME", "CPU",    "LOAD",      "MEMORY AVAILABLE", "DISK / FREE", "DISK DOCKER FREE",
        "TEMP", "UPTIME", "CONTAINERS"};
    struct cli_table t;
    cli_table_init(&t, M87_ARRAY_LEN(header), header);
    for (size_t i = 0; i < m87_json_len(list); i++)
        add_stored_row(&t, m87_json_at(list, i));
    cli_table_print(&t);
    return CLI_EXIT_OK;
}

/* One sample: the device's JSON text into *text. 0, or the exit status after printing why. */
static int sample(const struct cli_ctx *ctx, const char *device, char **text)
{
    struct cli_channel ch = {0};
    int fds[2];
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "what", "metrics");
    m87_jw_obj_close(w);
    _cleanup_free_ char *body = m87_jw_finish(w);
    int rc = cli_channel_open(&ch, ctx, device, body);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (pipe2(fds, O_CLOEXEC) < 0) {
        fprintf(stderr, "m87: metrics: pipe: %s\n", strerror(errno));
        cli_channel_release(&ch);
        return CLI_EXIT_FAILED;
    }
    struct m87_pump *p = m87_pump_new();
    m87_pump_add(p, cli_channel_stream(&ch, "stdout"), fds[1], M87_PUMP_DOWNLOAD, true);
    _cleanup_error_ struct m87_error *err = NULL;
    rc = m87_pump_run(p, &metrics_stop, &err);
    m87_pump_free(p); /* closes the pipe's write end */
    if (rc < 0 && m87_error_code(err) == M87_E_CANCELLED) {
        close(fds[0]);
        cli_channel_release(&ch);
        return 130;
    }
    rc = cli_channel_end(&ch, "metrics: ");
    cli_channel_release(&ch);
    struct m87_buf b;
    m87_buf_init(&b, METRICS_MAX_TEXT);
    char chunk[4096];
    ssize_t n;
    while ((n = read(fds[0], chunk, sizeof(chunk))) > 0)
        if (m87_buf_append(&b, chunk, (size_t)n, NULL) < 0)
            break;
    close(fds[0]);
    if (rc != 0) {
        m87_buf_release(&b);
        return rc;
    }
    *text = m87_buf_steal(&b);
    return CLI_EXIT_OK;
}

static int metrics(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    static const struct option opts[] = {
        {"follow", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"since", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    bool json = false, follow = false;
    const char *since = NULL;
    int64_t since_ns = 0;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == 'f') {
            follow = true;
        } else if (c == 'j') {
            json = true;
        } else if (c == 's') {
            since = optarg;
            if (m87_parse_duration(optarg, &since_ns, NULL) < 0 || since_ns <= 0)
                return cli_usage_error("metrics",
                                       "--since: expected a duration like 30m, 6h or 1d, not "
                                       "'%s'",
                                       optarg);
        } else {
            return cli_bad_option("metrics", argv, c);
        }
    }
    if (optind < argc)
        return cli_usage_error("metrics", "unexpected argument '%s'", argv[optind]);
    if (since && follow)
        return cli_usage_error("metrics", "--since and --follow do not go together: --since "
                                          "shows the stored samples, --follow asks the device");
    if (since) /* whole seconds, at least 1: "500ms" asks for the last second */
        return stored(ctx, device, since, since_ns < 1000000000LL ? 1 : since_ns / 1000000000LL,
                      json);
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    do {
        _cleanup_free_ char *text = NULL;
        int rc = sample(ctx, device, &text);
        if (rc == 130)
            return CLI_EXIT_OK; /* Ctrl-C during --follow */
        if (rc != CLI_EXIT_OK)
            return rc;
        _cleanup_error_ struct m87_error *err = NULL;
        _cleanup_(m87_json_freep) struct m87_json *doc = m87_json_parse(text, strlen(text), &err);
        if (!doc) {
            fprintf(stderr, "m87: metrics: the device's answer: %s\n", err->msg);
            return CLI_EXIT_FAILED;
        }
        if (json)
            cli_print_json(stdout, doc);
        else
            print_people(doc);
        fflush(stdout);
        for (int64_t until = m87_mono_ms() + METRICS_FOLLOW_MS;
             follow && !metrics_stop && m87_mono_ms() < until;)
            m87_sleep_ms(50);
    } while (follow && !metrics_stop);
    return CLI_EXIT_OK;
}

int cli_cmd_metrics(const char *device, int argc, char **argv)
{
    static const struct cli_sub sub = {"metrics", metrics, metrics_help};
    return cli_run(&sub, device, argc, argv);
}
