/* server_load: N simulated devices long-polling an m87-server over loopback.
 *
 *   server_load --server 127.0.0.1:PORT --admin TOKEN --devices N [--wait 30]
 *               [--steady SECONDS] [--sample M] [--server-pid PID] [--prefix NAME]
 *               [--activate-via HOST:PORT] [--hold-until FILE] [--latencies FILE]
 *
 * against `m87-server serve --max-connections-per-address 0`: every simulated device connects
 * from 127.0.0.1, which the default limit per client address would cut at 256.
 *
 * Setup: N devices, each with one inactive empty deployment, made through the admin API.
 * Then every device opens its own keep-alive connection and syncs with wait=W (30 s): the
 * server holds each sync and answers at the end of the wait, and the device syncs again at
 * once, so each device syncs every W seconds. The devices connect as a fleet coming back
 * after an outage, 10,000 a second; a connection that fails with its sync in flight (the
 * kernel resets what a server's full listen backlog cannot take) is tried again as the agent
 * does, after a jittered backoff (loadgen.h), and counted. Measured:
 *   - how long until the server holds all N, and the connection failures retried;
 *   - server RSS (VmRSS of --server-pid) before the connections and with all N held, and the
 *     difference per held connection;
 *   - syncs per second answered during --steady seconds (best a multiple of the wait),
 *     starting half a wait after all devices are held;
 *   - for M sampled devices, one after the other: the time from sending `activate` for the
 *     device's deployment to the device receiving its target (p50, p99, max).
 *
 * For replicas on one database (bench/replicas_load.py runs one server_load per replica):
 * --activate-via sends the activations to another replica than the one the devices hold their
 * syncs on (what is measured is then the wakeup across replicas), --hold-until keeps the devices
 * syncing after they are all held until FILE exists (so that several clients start their
 * measurements together), --latencies writes every activate -> target sample (ms, one a line).
 *
 * A measurement, not a test: it prints what it saw and fails only when the server does.
 *
 * The connections and the loop are bench/loadgen.c's. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loadgen.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/json.h"

struct dev {
    char *name;
    char *token;
    char *dep;
    char *applied;
    double activated; /* when activate was sent, 0 when not */
    struct lg_conn c;
};

static struct {
    const char *admin;
    int wait;
    struct dev *devs;
    size_t n;
    uint64_t syncs;
    uint64_t errors;
    double *lat;
    size_t n_lat;
    struct lg_conn admin_conn;
    bool admin_busy;
} L;

static void dev_done(struct lg_conn *c, int status, const char *body, size_t len);

static void setup_devices(const char *prefix)
{
    double t0 = lg_now();
    for (size_t i = 0; i < L.n; i++) {
        struct dev *d = &L.devs[i];
        d->name = m87_xasprintf("%s-%zu", prefix, i);
        _cleanup_free_ char *body = m87_xasprintf("{\"name\":\"%s\"}", d->name);
        _cleanup_free_ char *resp = NULL;
        if (lg_admin_call("POST", "/v1/devices", body, &resp) != 201)
            lg_die("create device %s: %s", d->name, resp);
        d->token = lg_json_field(resp, "token");
        _cleanup_free_ char *path = m87_xasprintf("/v1/devices/%s/deployments", d->name);
        _cleanup_free_ char *dresp = NULL;
        if (lg_admin_call("POST", path, "{}", &dresp) != 201)
            lg_die("create deployment: %s", dresp);
        d->dep = lg_json_field(dresp, "id");
        lg_conn_init(&d->c, d, dev_done);
    }
    printf("setup: %zu devices and deployments in %.1f s\n", L.n, lg_now() - t0);
}

static void dev_sync(struct dev *d)
{
    _cleanup_free_ char *body = NULL;
    if (d->applied)
        body = m87_xasprintf("{\"applied\":\"%s\",\"wait\":%d}", d->applied, L.wait);
    else
        body = m87_xasprintf("{\"applied\":null,\"wait\":%d}", L.wait);
    lg_send(&d->c, "POST", "/v1/agent/sync", d->token, body);
}

static void dev_done(struct lg_conn *c, int status, const char *body, size_t len)
{
    struct dev *d = c->owner;
    if (status != 200) {
        L.errors++;
        fprintf(stderr, "sync %s: status %d\n", d->name, status);
    } else {
        L.syncs++;
        struct m87_json *doc = m87_json_parse(body, len, NULL);
        const char *hash = m87_json_str(m87_json_path(doc, "target", "hash", NULL), NULL);
        if (hash) {
            free(d->applied);
            d->applied = m87_xstrdup(hash);
            if (d->activated > 0) {
                L.lat[L.n_lat++] = lg_now() - d->activated;
                d->activated = 0;
            }
        }
        m87_json_free(doc);
    }
    dev_sync(d);
}

static void admin_done(struct lg_conn *c, int status, const char *body, size_t len)
{
    (void)c;
    if (status != 200)
        lg_die("activate: status %d: %.*s", status, (int)len, body);
    L.admin_busy = false;
}

/* ---- phases ------------------------------------------------------------------------------ */

static long held_now(void)
{
    _cleanup_free_ char *resp = NULL;
    lg_admin_call("GET", "/metrics", NULL, &resp);
    const char *p = strstr(resp, "\nm87_longpolls_held ");
    return p ? strtol(p + 20, NULL, 10) : -1;
}

/* how long the devices may take to be held: a storm's last retries wait up to a minute */
#define CONNECT_LIMIT_S 600

static size_t opened;
static void ramp_tick(void)
{
    /* 200 connects a tick, 10,000 a second: a fleet coming back after an outage, faster than
     * a server answers first syncs. What its listen backlog cannot take the kernel resets, and
     * the devices try again as the agent does (loadgen.h) */
    for (int k = 0; k < 200 && opened < L.n; k++)
        dev_sync(&L.devs[opened++]);
}

static void connect_all(void)
{
    double t0 = lg_now();
    opened = 0;
    while (opened < L.n)
        lg_run(0.02, ramp_tick);
    long held = 0;
    /* once a second: GET /metrics also counts the devices online in the database */
    while ((held = held_now()) < (long)L.n && lg_now() - t0 < CONNECT_LIMIT_S)
        lg_run(1.0, NULL);
    printf("connect: %ld of %zu devices held (the server's count) after %.1f s; %lu connection "
           "failures retried\n",
           held, L.n, lg_now() - t0, lg_failures());
}

static size_t sample_next, sample_n;
static double next_activate;
static void activate_tick(void)
{
    if (L.admin_busy || sample_next >= sample_n || lg_now() < next_activate)
        return;
    /* spread the sample over all devices */
    struct dev *d = &L.devs[(sample_next * L.n) / sample_n];
    _cleanup_free_ char *path =
        m87_xasprintf("/v1/devices/%s/deployments/%s/activate", d->name, d->dep);
    L.admin_busy = true;
    d->activated = lg_now();
    lg_send(&L.admin_conn, "POST", path, L.admin, "{}");
    sample_next++;
    next_activate = lg_now() + 0.05;
}

static double pct(double p)
{
    return lg_quantile(L.lat, L.n_lat, p) * 1000;
}

M87_NORETURN static void usage(int code)
{
    fprintf(code ? stderr : stdout,
            "usage: server_load --server HOST:PORT --admin TOKEN --devices N [--wait S]"
            " [--steady S] [--sample M] [--server-pid PID] [--prefix NAME]"
            " [--activate-via HOST:PORT] [--hold-until FILE] [--latencies FILE]\n");
    exit(code);
}

static void hold_until(const char *file)
{
    printf("holding until %s exists\n", file);
    while (access(file, F_OK) != 0)
        lg_run(0.1, NULL);
}

static void write_latencies(const char *file)
{
    FILE *f = fopen(file, "w");
    if (f == NULL)
        lg_die("--latencies %s: %s", file, strerror(errno));
    for (size_t i = 0; i < L.n_lat; i++)
        fprintf(f, "%.3f\n", L.lat[i] * 1000);
    if (fclose(f) != 0)
        lg_die("--latencies %s: %s", file, strerror(errno));
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, 's'},
        {"admin", required_argument, NULL, 'a'},
        {"devices", required_argument, NULL, 'n'},
        {"wait", required_argument, NULL, 'w'},
        {"steady", required_argument, NULL, 't'},
        {"sample", required_argument, NULL, 'm'},
        {"server-pid", required_argument, NULL, 'p'},
        {"prefix", required_argument, NULL, 'x'},
        {"activate-via", required_argument, NULL, 'v'},
        {"hold-until", required_argument, NULL, 'u'},
        {"latencies", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *server = NULL, *prefix = "load", *via = NULL, *hold = NULL, *lat_file = NULL;
    long n = 0, steady = 60, sample = 500, pid = 0;
    L.wait = 30;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            server = optarg;
            break;
        case 'a':
            L.admin = optarg;
            break;
        case 'n':
            n = strtol(optarg, NULL, 10);
            break;
        case 'w':
            L.wait = (int)strtol(optarg, NULL, 10);
            break;
        case 't':
            steady = strtol(optarg, NULL, 10);
            break;
        case 'm':
            sample = strtol(optarg, NULL, 10);
            break;
        case 'p':
            pid = strtol(optarg, NULL, 10);
            break;
        case 'x':
            prefix = optarg;
            break;
        case 'v':
            via = optarg;
            break;
        case 'u':
            hold = optarg;
            break;
        case 'o':
            lat_file = optarg;
            break;
        case 'h':
            usage(0);
        default:
            usage(2);
        }
    }
    if (server == NULL || L.admin == NULL || n <= 0)
        usage(2);
    lg_init(server, L.admin);
    if (via)
        lg_other_server("--activate-via", via);

    setvbuf(stdout, NULL, _IOLBF, 0);
    L.n = (size_t)n;
    L.devs = m87_xcalloc(L.n, sizeof(*L.devs));
    sample_n = (size_t)(sample < n ? sample : n);
    L.lat = m87_xcalloc(sample_n + 1, sizeof(*L.lat));
    lg_conn_init(&L.admin_conn, NULL, admin_done);
    L.admin_conn.to_other = via != NULL;

    setup_devices(prefix);
    long rss0 = lg_rss_kb((int)pid);
    connect_all();
    long rss1 = lg_rss_kb((int)pid);
    printf("rss: %.1f MB before, %.1f MB with %zu held: %.2f KB per held connection\n",
           rss0 / 1024.0, rss1 / 1024.0, L.n, (double)(rss1 - rss0) / (double)L.n);
    if (hold)
        hold_until(hold);

    /* start half a wait in, between two rounds, so that the window holds whole rounds */
    lg_run((double)L.wait / 2, NULL);
    uint64_t s0 = L.syncs;
    double t0 = lg_now();
    lg_run((double)steady, NULL);
    double dt = lg_now() - t0;
    printf("steady: %llu syncs in %.1f s = %.1f syncs/s (each device every %d s; %llu errors)\n",
           (unsigned long long)(L.syncs - s0), dt, (double)(L.syncs - s0) / dt, L.wait,
           (unsigned long long)L.errors);

    double ta = lg_now();
    while (sample_next < sample_n || L.admin_busy || L.n_lat < sample_next) {
        lg_run(0.01, activate_tick);
        if (lg_now() - ta > 120)
            lg_die("activation phase timed out with %zu of %zu answered", L.n_lat, sample_n);
    }
    qsort(L.lat, L.n_lat, sizeof(double), lg_cmp_double);
    printf("activate -> target: %zu samples, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", L.n_lat,
           pct(0.5), pct(0.99), L.n_lat ? L.lat[L.n_lat - 1] * 1000 : 0);
    if (lat_file)
        write_latencies(lat_file);
    printf("rss at the end: %.1f MB\n", lg_rss_kb((int)pid) / 1024.0);
    printf("failures: %lu connection failures retried in all\n", lg_failures());
    return 0;
}
