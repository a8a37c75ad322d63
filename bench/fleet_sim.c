/* fleet_sim: a fleet of N simulated devices speaking the agent protocol to one m87-server, and
 * staged rollouts of releases to it, to measure what the server does at fleet scale.
 *
 *   fleet_sim --server 127.0.0.1:PORT --admin TOKEN --devices N [--waves LIST]
 *             [--health-window S] [--apply MIN-MAX] [--fail SHARE] [--offline SHARE]
 *             [--rollouts R] [--wait S] [--server-pid PID] [--data DIR] [--prefix NAME]
 *
 * against `m87-server serve --max-connections-per-address 0` (every device connects from
 * 127.0.0.1).
 *
 * Setup, through the admin API: N devices labelled sim=PREFIX and a fleet PREFIX selecting them.
 * A share --offline of the devices never syncs; the others long-poll (wait --wait, 30 s). Then R
 * releases one after the other (POST /v1/fleets/PREFIX/releases, --offline skip, the failures
 * allowed: --max-failed 100%), each rolled out in the waves --waves (default
 * 5%,10%,...,100%: twenty waves). A device that receives a target "applies" it for a random time
 * in --apply (seconds, default 0.2-1.0) and then syncs with applied = its hash and a job report
 * for each job: succeeded, or failed for a share --fail of the devices.
 *
 * Measured per rollout and over all of them:
 *   - wave advance: for each wave after the first, the time from the gate of the wave before
 *     being met (the answer to the last report of its healthy members, plus the health window)
 *     to the first target of the next wave reaching a device (p50, p99, max);
 *   - the rollout's wall time;
 *   - server RSS (VmRSS of --server-pid) before, and its peak sampled every 100 ms;
 *   - the database's size (--data DIR: m87.db and its -wal).
 * A measurement, not a test: it prints what it saw and fails only when the server does. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loadgen.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/json.h"

struct dev {
    char *name;
    char *token;
    char *applied;
    char *pending; /* a target being "applied" */
    bool offline;
    bool fails;
    double apply_at;  /* when the apply ends, 0: none */
    double target_at; /* when the newest target arrived */
    double acked_at;  /* when the answer to its job report arrived */
    int64_t seq;
    int wave; /* from the rollout's answer, 0: not in it */
    struct lg_conn c;
};

static struct {
    const char *prefix;
    int wait;
    int health_window;
    double apply_min, apply_max;
    struct dev *devs;
    size_t n;
    uint64_t errors;
    long rss_peak;
    int pid;
    double next_rss;
} S;

static void dev_done(struct lg_conn *c, int status, const char *body, size_t len);

static void dev_sync(struct dev *d, const char *reports)
{
    _cleanup_free_ char *body =
        m87_xasprintf("{\"applied\":%s%s%s,\"wait\":%d,\"reports\":[%s]}", d->applied ? "\"" : "",
                      d->applied ? d->applied : "null", d->applied ? "\"" : "",
                      reports ? 0 : S.wait, reports ? reports : "");
    lg_send(&d->c, "POST", "/v1/agent/sync", d->token, body);
}

static void dev_done(struct lg_conn *c, int status, const char *body, size_t len)
{
    struct dev *d = c->owner;
    if (status != 200) {
        S.errors++;
        fprintf(stderr, "sync %s: status %d: %.*s\n", d->name, status, (int)len, body);
        dev_sync(d, NULL);
        return;
    }
    if (d->acked_at < 0)
        d->acked_at = lg_now();
    struct m87_json *doc = m87_json_parse(body, len, NULL);
    const char *hash = m87_json_str(m87_json_path(doc, "target", "hash", NULL), NULL);
    if (hash && (!d->applied || strcmp(hash, d->applied) != 0)) {
        free(d->pending);
        d->pending = m87_xstrdup(hash);
        d->target_at = lg_now();
        double r = (double)random() / (double)RAND_MAX;
        d->apply_at = d->target_at + S.apply_min + r * (S.apply_max - S.apply_min);
    }
    m87_json_free(doc);
    if (d->apply_at == 0)
        dev_sync(d, NULL);
    /* else: quiet until the apply ends (the tick sends the report) */
}

/* Devices whose apply ended report it; the server RSS is sampled. */
static void tick(void)
{
    double t = lg_now();
    for (size_t i = 0; i < S.n; i++) {
        struct dev *d = &S.devs[i];
        if (d->apply_at == 0 || t < d->apply_at || d->c.busy)
            continue;
        free(d->applied);
        d->applied = d->pending;
        d->pending = NULL;
        d->apply_at = 0;
        d->acked_at = -1;
        d->seq++;
        _cleanup_free_ char *rep = m87_xasprintf(
            "{\"seq\":%lld,\"kind\":\"job\",\"revision\":\"%s\",\"job\":\"app\",\"state\":\"%s\"}",
            (long long)d->seq, d->applied, d->fails ? "failed" : "succeeded");
        dev_sync(d, rep);
    }
    if (t >= S.next_rss) {
        long rss = lg_rss_kb(S.pid);
        if (rss > S.rss_peak)
            S.rss_peak = rss;
        S.next_rss = t + 0.1;
    }
}

static void setup(double offline_share, double fail_share)
{
    double t0 = lg_now();
    for (size_t i = 0; i < S.n; i++) {
        struct dev *d = &S.devs[i];
        d->name = m87_xasprintf("%s-%05zu", S.prefix, i);
        _cleanup_free_ char *body =
            m87_xasprintf("{\"name\":\"%s\",\"labels\":{\"sim\":\"%s\"}}", d->name, S.prefix);
        _cleanup_free_ char *resp = NULL;
        if (lg_admin_call("POST", "/v1/devices", body, &resp) != 201)
            lg_die("create device %s: %s", d->name, resp);
        d->token = lg_json_field(resp, "token");
        /* spread the shares evenly over the names, so that every wave has its part */
        d->offline = (double)((i * 7919) % S.n) < offline_share * (double)S.n;
        d->fails = !d->offline && (double)((i * 104729 + 1) % S.n) < fail_share * (double)S.n;
        lg_conn_init(&d->c, d, dev_done);
    }
    _cleanup_free_ char *fleet =
        m87_xasprintf("{\"name\":\"%s\",\"selector\":\"sim=%s\"}", S.prefix, S.prefix);
    _cleanup_free_ char *resp = NULL;
    if (lg_admin_call("POST", "/v1/fleets", fleet, &resp) != 201)
        lg_die("create fleet: %s", resp);
    printf("setup: %zu devices and fleet '%s' in %.1f s\n", S.n, S.prefix, lg_now() - t0);
}

static void connect_all(void)
{
    double t0 = lg_now();
    size_t online = 0;
    for (size_t i = 0; i < S.n; i++) {
        if (S.devs[i].offline)
            continue;
        dev_sync(&S.devs[i], NULL);
        if (++online % 200 == 0)
            lg_run(0.02, NULL); /* keep the listen backlog from overflowing */
    }
    lg_run(1.0, NULL);
    printf("connect: %zu of %zu devices online, %.1f s\n", online, S.n, lg_now() - t0);
}

/* The rollout's answer; state into *state (caller frees). */
static struct m87_json *get_rollout(const char *id, char **state)
{
    _cleanup_free_ char *path = m87_xasprintf("/v1/fleets/%s/rollouts/%s", S.prefix, id);
    _cleanup_free_ char *resp = NULL;
    if (lg_admin_call("GET", path, NULL, &resp) != 200)
        lg_die("GET %s: %s", path, resp);
    struct m87_json *doc = m87_json_parse(resp, strlen(resp), NULL);
    const char *st = m87_json_str(m87_json_get(doc, "state"), NULL);
    if (st == NULL)
        st = m87_json_str(m87_json_path(doc, "rollout", "state", NULL), "?");
    *state = m87_xstrdup(st);
    return doc;
}

static size_t n_adv;
static double *adv;

/* One release rolled out to the end; its wave advances appended to adv. */
static void rollout(int number, const char *waves, int n_waves)
{
    _cleanup_free_ char *body = m87_xasprintf(
        "{\"spec\":{\"jobs\":[{\"id\":\"app\",\"files\":{\"release.txt\":\"release %d\\n\"},"
        "\"steps\":[{\"name\":\"up\",\"run\":\"true\"}]}]},\"waves\":\"%s\","
        "\"health_window\":%d,\"max_failed\":\"100%%\",\"offline\":\"skip\",\"now\":true}",
        number, waves, S.health_window);
    _cleanup_free_ char *path = m87_xasprintf("/v1/fleets/%s/releases", S.prefix);
    _cleanup_free_ char *resp = NULL;
    double t0 = lg_now();
    if (lg_admin_call("POST", path, body, &resp) != 201)
        lg_die("POST %s: %s", path, resp);
    struct m87_json *doc = m87_json_parse(resp, strlen(resp), NULL);
    _cleanup_free_ char *id = m87_xstrdup(m87_json_str(m87_json_path(doc, "rollout", "id", NULL),
                                                       m87_json_str(m87_json_get(doc, "id"), "")));
    m87_json_free(doc);

    _cleanup_free_ char *state = NULL;
    struct m87_json *ro = NULL;
    for (;;) {
        lg_run(1.0, tick);
        free(state);
        m87_json_free(ro);
        ro = get_rollout(id, &state);
        if (strcmp(state, "running") != 0 && strcmp(state, "paused") != 0)
            break;
        if (lg_now() - t0 > 3600)
            lg_die("rollout %s still %s after an hour", id, state);
    }
    double wall = lg_now() - t0;

    /* the waves from the answer: per wave, its gate (last ack + window) and its first target */
    const struct m87_json *devs = m87_json_get(ro, "devices");
    _cleanup_free_ double *gate = m87_xcalloc((size_t)n_waves + 2, sizeof(double));
    _cleanup_free_ double *first = m87_xcalloc((size_t)n_waves + 2, sizeof(double));
    for (size_t i = 0; i < m87_json_len(devs); i++) {
        const struct m87_json *e = m87_json_at(devs, i);
        const char *name = m87_json_str(m87_json_get(e, "device"), "");
        const char *st = m87_json_str(m87_json_get(e, "state"), "");
        int w = (int)m87_json_int(m87_json_get(e, "wave"), 0);
        size_t k = (size_t)strtoul(strrchr(name, '-') + 1, NULL, 10);
        if (k >= S.n || w < 1 || w > n_waves)
            continue;
        struct dev *d = &S.devs[k];
        if (d->offline)
            continue;
        if (strcmp(st, "healthy") == 0 && d->acked_at > gate[w])
            gate[w] = d->acked_at;
        if (d->target_at > 0 && (first[w] == 0 || d->target_at < first[w]))
            first[w] = d->target_at;
    }
    size_t before = n_adv;
    for (int w = 2; w <= n_waves; w++) {
        if (gate[w - 1] <= 0 || first[w] <= 0)
            continue;
        adv[n_adv++] = first[w] - (gate[w - 1] + S.health_window);
    }
    printf("rollout %d (%s): %s after %.1f s, %zu wave advances measured\n", number, id, state,
           wall, n_adv - before);
    m87_json_free(ro);
}

static long file_kb(const char *dir, const char *name)
{
    _cleanup_free_ char *path = m87_xasprintf("%s/%s", dir, name);
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)(sb.st_size / 1024) : 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: fleet_sim --server HOST:PORT --admin TOKEN --devices N [--waves LIST]"
                    " [--health-window S] [--apply MIN-MAX] [--fail SHARE] [--offline SHARE]"
                    " [--rollouts R] [--wait S] [--server-pid PID] [--data DIR]"
                    " [--prefix NAME]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, 's'},        {"admin", required_argument, NULL, 'a'},
        {"devices", required_argument, NULL, 'n'},       {"waves", required_argument, NULL, 'W'},
        {"health-window", required_argument, NULL, 'h'}, {"apply", required_argument, NULL, 'A'},
        {"fail", required_argument, NULL, 'f'},          {"offline", required_argument, NULL, 'o'},
        {"rollouts", required_argument, NULL, 'r'},      {"wait", required_argument, NULL, 'w'},
        {"server-pid", required_argument, NULL, 'p'},    {"data", required_argument, NULL, 'd'},
        {"prefix", required_argument, NULL, 'x'},        {NULL, 0, NULL, 0},
    };
    const char *server = NULL, *admin = NULL, *data = NULL;
    const char *waves = "5%,10%,15%,20%,25%,30%,35%,40%,45%,50%,55%,60%,65%,70%,75%,80%,85%,90%,"
                        "95%,100%";
    long n = 0, rollouts = 1;
    double offline = 0, fail = 0;
    S.prefix = "sim";
    S.wait = 30;
    S.health_window = 2;
    S.apply_min = 0.2;
    S.apply_max = 1.0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            server = optarg;
            break;
        case 'a':
            admin = optarg;
            break;
        case 'n':
            n = strtol(optarg, NULL, 10);
            break;
        case 'W':
            waves = optarg;
            break;
        case 'h':
            S.health_window = (int)strtol(optarg, NULL, 10);
            break;
        case 'A':
            if (sscanf(optarg, "%lf-%lf", &S.apply_min, &S.apply_max) != 2 ||
                S.apply_max < S.apply_min)
                usage();
            break;
        case 'f':
            fail = strtod(optarg, NULL);
            break;
        case 'o':
            offline = strtod(optarg, NULL);
            break;
        case 'r':
            rollouts = strtol(optarg, NULL, 10);
            break;
        case 'w':
            S.wait = (int)strtol(optarg, NULL, 10);
            break;
        case 'p':
            S.pid = (int)strtol(optarg, NULL, 10);
            break;
        case 'd':
            data = optarg;
            break;
        case 'x':
            S.prefix = optarg;
            break;
        default:
            usage();
        }
    }
    if (server == NULL || admin == NULL || n <= 0 || rollouts <= 0)
        usage();
    lg_init(server, admin);
    setvbuf(stdout, NULL, _IOLBF, 0);
    srandom(87);
    S.n = (size_t)n;
    S.devs = m87_xcalloc(S.n, sizeof(*S.devs));
    int n_waves = 1;
    for (const char *p = waves; *p; p++)
        n_waves += *p == ',';
    adv = m87_xcalloc((size_t)(rollouts * n_waves) + 1, sizeof(double));

    setup(offline, fail);
    long rss0 = lg_rss_kb(S.pid);
    connect_all();
    for (int r = 1; r <= rollouts; r++)
        rollout(r, waves, n_waves);

    qsort(adv, n_adv, sizeof(double), lg_cmp_double);
    printf("wave advance after the gate: %zu samples, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
           n_adv, lg_quantile(adv, n_adv, 0.5) * 1000, lg_quantile(adv, n_adv, 0.99) * 1000,
           n_adv ? adv[n_adv - 1] * 1000 : 0);
    printf("server rss: %.1f MB before the connections, peak %.1f MB\n", rss0 / 1024.0,
           S.rss_peak / 1024.0);
    if (data)
        printf("database: %.1f MB (m87.db %ld KB, wal %ld KB)\n",
               (double)(file_kb(data, "m87.db") + file_kb(data, "m87.db-wal")) / 1024.0,
               file_kb(data, "m87.db"), file_kb(data, "m87.db-wal"));
    printf("sync errors: %llu\n", (unsigned long long)S.errors);
    return 0;
}
