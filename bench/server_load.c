/* server_load: N simulated devices long-polling an m87-server over loopback.
 *
 *   server_load --server 127.0.0.1:PORT --admin TOKEN --devices N [--wait 30]
 *               [--steady SECONDS] [--sample M] [--server-pid PID] [--prefix NAME]
 *
 * against `m87-server serve --max-connections-per-address 0`: every simulated device connects
 * from 127.0.0.1, which the default limit per client address would cut at 256.
 *
 * Setup: N devices, each with one inactive empty deployment, made through the admin API.
 * Then every device opens its own keep-alive connection and syncs with wait=W (30 s): the
 * server holds each sync and answers at the end of the wait, and the device syncs again at
 * once, so each device syncs every W seconds. Measured:
 *   - server RSS (VmRSS of --server-pid) before the connections and with all N held, and the
 *     difference per held connection;
 *   - syncs per second answered during --steady seconds (best a multiple of the wait),
 *     starting half a wait after all devices are held;
 *   - for M sampled devices, one after the other: the time from sending `activate` for the
 *     device's deployment to the device receiving its target (p50, p99, max).
 * A measurement, not a test: it prints what it saw and fails only when the server does.
 *
 * HTTP here is the minimum the tool needs against our own server (Content-Length bodies,
 * keep-alive), written over raw non-blocking sockets so that 10,000 connections cost the
 * tool little; JSON goes through the common helpers. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/file.h"
#include "m87/json.h"

#define MAX_RESPONSE (8u * 1024 * 1024)

struct conn {
    int fd;
    struct m87_buf out;
    size_t out_off;
    struct m87_buf in;
    bool busy;
    double sent;
    void *owner;
    void (*done)(struct conn *c, int status, const char *body, size_t len);
};

struct dev {
    char *name;
    char *token;
    char *dep;
    char *applied;
    double activated; /* when activate was sent, 0 when not */
    struct conn c;
};

static struct {
    struct sockaddr_in addr;
    const char *host;
    const char *admin;
    int epfd;
    int wait;
    struct dev *devs;
    size_t n;
    uint64_t syncs;
    uint64_t errors;
    double *lat;
    size_t n_lat;
    struct conn admin_conn;
    bool admin_busy;
} L;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static M87_NORETURN void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "server_load: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static int connect_to(bool blocking)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK), 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&L.addr, sizeof(L.addr)) < 0 && errno != EINPROGRESS)
        die("connect: %s", strerror(errno));
    return fd;
}

static void build_request(struct m87_buf *out, const char *method, const char *path,
                          const char *token, const char *body)
{
    size_t len = body ? strlen(body) : 0;
    m87_buf_appendf(out, NULL,
                    "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                    method, path, L.host, token, len, body ? body : "");
}

/* A complete response in buf: its status, body offset and length; false when incomplete. */
static bool parse_response(const struct m87_buf *b, int *status, size_t *body, size_t *len)
{
    const char *end = b->data ? memmem(b->data, b->len, "\r\n\r\n", 4) : NULL;
    if (end == NULL)
        return false;
    size_t head = (size_t)(end - b->data) + 4;
    *status = (int)strtol(b->data + 9, NULL, 10);
    size_t cl = 0;
    for (const char *p = b->data; p < end; p++) {
        if ((p == b->data || p[-1] == '\n') && strncasecmp(p, "Content-Length:", 15) == 0)
            cl = (size_t)strtoull(p + 15, NULL, 10);
    }
    if (b->len < head + cl)
        return false;
    *body = head;
    *len = cl;
    return true;
}

/* A blocking request on a kept-alive connection, for setup. Returns the status. */
static int admin_call(const char *method, const char *path, const char *body, char **resp)
{
    static int fd = -1;
    struct m87_buf out, in;
    m87_buf_init(&out, 0);
    m87_buf_init(&in, MAX_RESPONSE);
    build_request(&out, method, path, L.admin, body);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (fd < 0)
            fd = connect_to(true);
        if (write(fd, out.data, out.len) != (ssize_t)out.len) {
            close(fd);
            fd = -1;
            continue;
        }
        int status = 0;
        size_t off = 0, len = 0;
        char chunk[65536];
        while (!parse_response(&in, &status, &off, &len)) {
            ssize_t n = read(fd, chunk, sizeof(chunk));
            if (n <= 0)
                break;
            m87_buf_append(&in, chunk, (size_t)n, NULL);
        }
        if (status == 0) {
            close(fd);
            fd = -1;
            m87_buf_reset(&in);
            continue;
        }
        if (resp)
            *resp = m87_xstrndup(in.data + off, len);
        m87_buf_release(&out);
        m87_buf_release(&in);
        return status;
    }
    die("%s %s: no answer", method, path);
}

static char *json_field(const char *body, const char *key)
{
    struct m87_json *doc = m87_json_parse(body, strlen(body), NULL);
    const char *v = m87_json_str(m87_json_get(doc, key), NULL);
    char *out = v ? m87_xstrdup(v) : NULL;
    m87_json_free(doc);
    return out;
}

static void setup_devices(const char *prefix)
{
    double t0 = now();
    for (size_t i = 0; i < L.n; i++) {
        struct dev *d = &L.devs[i];
        d->name = m87_xasprintf("%s-%zu", prefix, i);
        _cleanup_free_ char *body = m87_xasprintf("{\"name\":\"%s\"}", d->name);
        _cleanup_free_ char *resp = NULL;
        if (admin_call("POST", "/v1/devices", body, &resp) != 201)
            die("create device %s: %s", d->name, resp);
        d->token = json_field(resp, "token");
        _cleanup_free_ char *path = m87_xasprintf("/v1/devices/%s/deployments", d->name);
        _cleanup_free_ char *dresp = NULL;
        if (admin_call("POST", path, "{}", &dresp) != 201)
            die("create deployment: %s", dresp);
        d->dep = json_field(dresp, "id");
        d->c.fd = -1;
        d->c.owner = d;
    }
    printf("setup: %zu devices and deployments in %.1f s\n", L.n, now() - t0);
}

/* ---- the event loop --------------------------------------------------------------------- */

static void watch(struct conn *c, bool add)
{
    struct epoll_event ev = {.events = EPOLLIN | (c->out.len > c->out_off ? EPOLLOUT : 0),
                             .data.ptr = c};
    epoll_ctl(L.epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev);
}

static void send_request(struct conn *c, const char *method, const char *path, const char *token,
                         const char *body)
{
    bool fresh = c->fd < 0;
    if (fresh)
        c->fd = connect_to(false);
    m87_buf_reset(&c->out);
    c->out_off = 0;
    build_request(&c->out, method, path, token, body);
    c->busy = true;
    c->sent = now();
    watch(c, fresh);
}

static void dev_sync(struct dev *d)
{
    _cleanup_free_ char *body = NULL;
    if (d->applied)
        body = m87_xasprintf("{\"applied\":\"%s\",\"wait\":%d}", d->applied, L.wait);
    else
        body = m87_xasprintf("{\"applied\":null,\"wait\":%d}", L.wait);
    send_request(&d->c, "POST", "/v1/agent/sync", d->token, body);
}

static void dev_done(struct conn *c, int status, const char *body, size_t len)
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
                L.lat[L.n_lat++] = now() - d->activated;
                d->activated = 0;
            }
        }
        m87_json_free(doc);
    }
    dev_sync(d);
}

static void admin_done(struct conn *c, int status, const char *body, size_t len)
{
    (void)c;
    if (status != 200)
        die("activate: status %d: %.*s", status, (int)len, body);
    L.admin_busy = false;
}

static void on_readable(struct conn *c)
{
    char chunk[16384];
    for (;;) {
        ssize_t n = read(c->fd, chunk, sizeof(chunk));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0) { /* closed: reconnect with the next request */
            epoll_ctl(L.epfd, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            c->fd = -1;
            if (c->busy)
                die("connection closed with a request in flight");
            return;
        }
        if (m87_buf_append(&c->in, chunk, (size_t)n, NULL) < 0)
            die("response too large");
    }
    int status;
    size_t off, len;
    if (c->busy && parse_response(&c->in, &status, &off, &len)) {
        _cleanup_free_ char *body = m87_xstrndup(c->in.data + off, len);
        m87_buf_consume(&c->in, off + len);
        c->busy = false;
        c->done(c, status, body, len);
    }
}

static void on_writable(struct conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = write(c->fd, c->out.data + c->out_off, c->out.len - c->out_off);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n < 0)
            die("write: %s", strerror(errno));
        c->out_off += (size_t)n;
    }
    watch(c, false);
}

static void run_loop(double seconds, void (*tick)(void))
{
    struct epoll_event evs[512];
    double end = now() + seconds;
    while (now() < end) {
        int n = epoll_wait(L.epfd, evs, 512, 5);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(c);
            if (c->fd >= 0 && (evs[i].events & EPOLLOUT))
                on_writable(c);
        }
        if (tick)
            tick();
    }
}

/* ---- phases ------------------------------------------------------------------------------ */

static long rss_kb(int pid)
{
    if (pid <= 0)
        return -1;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    _cleanup_free_ char *text = m87_read_file(path, 1 << 20, NULL, NULL);
    const char *p = text ? strstr(text, "VmRSS:") : NULL;
    return p ? strtol(p + 6, NULL, 10) : -1;
}

static long held_now(void)
{
    _cleanup_free_ char *resp = NULL;
    admin_call("GET", "/metrics", NULL, &resp);
    const char *p = strstr(resp, "\nm87_longpolls_held ");
    return p ? strtol(p + 20, NULL, 10) : -1;
}

static size_t opened;
static void ramp_tick(void)
{
    /* a few hundred connects per tick keep the listen backlog from overflowing */
    for (int k = 0; k < 200 && opened < L.n; k++)
        dev_sync(&L.devs[opened++]);
}

static void connect_all(void)
{
    double t0 = now();
    opened = 0;
    while (opened < L.n)
        run_loop(0.02, ramp_tick);
    long held = 0;
    for (int i = 0; i < 600 && (held = held_now()) < (long)L.n; i++)
        run_loop(0.1, NULL);
    printf("connect: %zu devices held (server says %ld) after %.1f s\n", L.n, held, now() - t0);
}

static size_t sample_next, sample_n;
static double next_activate;
static void activate_tick(void)
{
    if (L.admin_busy || sample_next >= sample_n || now() < next_activate)
        return;
    /* spread the sample over all devices */
    struct dev *d = &L.devs[(sample_next * L.n) / sample_n];
    _cleanup_free_ char *path =
        m87_xasprintf("/v1/devices/%s/deployments/%s/activate", d->name, d->dep);
    L.admin_busy = true;
    d->activated = now();
    send_request(&L.admin_conn, "POST", path, L.admin, "{}");
    sample_next++;
    next_activate = now() + 0.05;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double p)
{
    if (L.n_lat == 0)
        return 0;
    size_t i = (size_t)(p * (double)(L.n_lat - 1) + 0.5);
    return L.lat[i] * 1000;
}

static void usage(void)
{
    fprintf(stderr, "usage: server_load --server HOST:PORT --admin TOKEN --devices N [--wait S]"
                    " [--steady S] [--sample M] [--server-pid PID] [--prefix NAME]\n");
    exit(2);
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
        {NULL, 0, NULL, 0},
    };
    const char *server = NULL, *prefix = "load";
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
        default:
            usage();
        }
    }
    const char *colon = server ? strrchr(server, ':') : NULL;
    if (colon == NULL || L.admin == NULL || n <= 0)
        usage();
    L.host = server;
    _cleanup_free_ char *ip = m87_xstrndup(server, (size_t)(colon - server));
    L.addr.sin_family = AF_INET;
    L.addr.sin_port = htons((uint16_t)strtol(colon + 1, NULL, 10));
    if (inet_pton(AF_INET, ip, &L.addr.sin_addr) != 1)
        die("--server: expected IPv4:PORT");
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    signal(SIGPIPE, SIG_IGN);

    setvbuf(stdout, NULL, _IOLBF, 0);
    L.n = (size_t)n;
    L.devs = m87_xcalloc(L.n, sizeof(*L.devs));
    sample_n = (size_t)(sample < n ? sample : n);
    L.lat = m87_xcalloc(sample_n + 1, sizeof(*L.lat));
    L.epfd = epoll_create1(EPOLL_CLOEXEC);
    for (size_t i = 0; i < L.n; i++) {
        m87_buf_init(&L.devs[i].c.in, MAX_RESPONSE);
        m87_buf_init(&L.devs[i].c.out, 0);
        L.devs[i].c.done = dev_done;
    }
    L.admin_conn.fd = -1;
    L.admin_conn.done = admin_done;
    m87_buf_init(&L.admin_conn.in, MAX_RESPONSE);
    m87_buf_init(&L.admin_conn.out, 0);

    setup_devices(prefix);
    long rss0 = rss_kb((int)pid);
    connect_all();
    long rss1 = rss_kb((int)pid);
    printf("rss: %.1f MB before, %.1f MB with %zu held: %.2f KB per held connection\n",
           rss0 / 1024.0, rss1 / 1024.0, L.n, (double)(rss1 - rss0) / (double)L.n);

    /* start half a wait in, between two rounds, so that the window holds whole rounds */
    run_loop((double)L.wait / 2, NULL);
    uint64_t s0 = L.syncs;
    double t0 = now();
    run_loop((double)steady, NULL);
    double dt = now() - t0;
    printf("steady: %llu syncs in %.1f s = %.1f syncs/s (each device every %d s; %llu errors)\n",
           (unsigned long long)(L.syncs - s0), dt, (double)(L.syncs - s0) / dt, L.wait,
           (unsigned long long)L.errors);

    double ta = now();
    while (sample_next < sample_n || L.admin_busy || L.n_lat < sample_next) {
        run_loop(0.01, activate_tick);
        if (now() - ta > 120)
            die("activation phase timed out with %zu of %zu answered", L.n_lat, sample_n);
    }
    qsort(L.lat, L.n_lat, sizeof(double), cmp_double);
    printf("activate -> target: %zu samples, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", L.n_lat,
           pct(0.5), pct(0.99), L.n_lat ? L.lat[L.n_lat - 1] * 1000 : 0);
    printf("rss at the end: %.1f MB\n", rss_kb((int)pid) / 1024.0);
    return 0;
}
