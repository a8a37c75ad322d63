/*
 * m87-faultproxy: a TCP proxy for the end-to-end tests that injects network faults on
 * command, so a test can cut, stall, refuse or slow the path between two real programs
 * (dockerd and a registry, the agent and the server) without touching either.
 *
 * One thread, one poll() loop, nonblocking sockets. Each connection has one bounded
 * buffer per direction; a full buffer stops reading from that side, so a slow reader
 * pushes back on the writer instead of growing memory. Signals arrive through a
 * signalfd so that SIGTERM and SIGINT end the loop at a safe point.
 *
 * Modes (one at a time, switched through the control socket, see usage()):
 *   pass          forward both ways
 *   cut N         once N bytes have gone target->client on a connection (counted from
 *                 its start, downstream only), the target side is closed and the client
 *                 gets FIN after exactly N bytes; connections already past N are cut at
 *                 once, N=0 cuts at accept. Client->target traffic is not counted
 *   stall         nothing is forwarded, in either direction, on any connection; input is
 *                 read into the per-connection buffers until they fill and held there;
 *                 EOFs are held too. pass (or any other mode) resumes
 *   refuse        the listening socket is closed, so connects get ECONNREFUSED; leaving
 *                 refuse binds the same port again. Open connections keep forwarding
 *   throttle BPS  every connection forwards at most BPS bytes per second in each
 *                 direction (per connection, per direction; bursts of at most BPS/10)
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PROG "m87-faultproxy"

#define FLOW_BUF_CAP (64 * 1024)
#define PROXY_MAX_CONNS 512
#define PROXY_MAX_CONTROL 16
#define PROXY_BACKLOG 128
#define CTRL_MAX_LINE 256
#define CTRL_MAX_REPLY 256
#define CTRL_OUT_CAP 4096
#define ADDR_TEXT_MAX 128
#define CUT_LINGER_NS (2 * NS_PER_SEC)
#define ACCEPT_BACKOFF_NS (100 * NS_PER_MS)
#define THROTTLE_SLICES 10
#define THROTTLE_MAX_BPS 1000000000000ULL
#define NS_PER_SEC 1000000000ULL
#define NS_PER_MS 1000000ULL

/* Fixed slots at the head of the pollfd array; control clients, then connections follow. */
#define SLOT_SIGNAL 0
#define SLOT_LISTEN 1
#define SLOT_CONTROL 2
#define SLOT_FIRST_CTRL 3
#define SLOT_FIRST_CONN (SLOT_FIRST_CTRL + PROXY_MAX_CONTROL)
#define SLOT_COUNT (SLOT_FIRST_CONN + 2 * PROXY_MAX_CONNS)

enum mode { MODE_PASS, MODE_CUT, MODE_STALL, MODE_REFUSE, MODE_THROTTLE };

enum conn_state { CONN_CONNECTING, CONN_OPEN, CONN_LINGER, CONN_DEAD };

struct bucket {
    double tokens;
    uint64_t last_ns;
};

/* One direction of a connection: bytes read from its source, waiting for its sink. */
struct flow {
    size_t start;
    size_t end;
    bool src_eof;
    bool dst_shut;
    struct bucket bucket;
    char buf[FLOW_BUF_CAP];
};

struct conn {
    int client_fd;
    int target_fd;
    enum conn_state state;
    bool reset;
    uint64_t down_sent;
    uint64_t linger_deadline_ns;
    struct flow up;
    struct flow down;
};

struct ctrl_client {
    int fd;
    bool closing;
    size_t in_len;
    size_t out_len;
    char in[CTRL_MAX_LINE];
    char out[CTRL_OUT_CAP];
};

struct stats {
    uint64_t conns;
    uint64_t cuts;
    uint64_t up;
    uint64_t down;
};

struct proxy {
    enum mode mode;
    uint64_t cut_bytes;
    uint64_t throttle_bps;
    bool quit;
    int signal_fd;
    int listen_fd;
    int ctrl_fd;
    struct sockaddr_storage listen_addr;
    socklen_t listen_len;
    struct sockaddr_storage target_addr;
    socklen_t target_len;
    char target_text[ADDR_TEXT_MAX];
    char ctrl_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    uint64_t accept_resume_ns;
    struct stats stats;
    size_t n_conns;
    size_t n_polled_conns;
    nfds_t n_pfds;
    struct conn *conns[PROXY_MAX_CONNS];
    struct ctrl_client ctrl[PROXY_MAX_CONTROL];
    struct pollfd pfds[SLOT_COUNT];
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);

    if (p == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        abort();
    }
    return p;
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Digits only: strtoull alone would take "-1", " 5" and "5x". */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

static void format_addr(const struct sockaddr_storage *ss, socklen_t len, char *out, size_t cap)
{
    /* Numeric only: an IPv6 address with a scope and a port number fit easily. */
    char host[96];
    char serv[8];

    if (getnameinfo((const struct sockaddr *)ss, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, cap, "?");
        return;
    }
    if (ss->ss_family == AF_INET6)
        snprintf(out, cap, "[%s]:%s", host, serv);
    else
        snprintf(out, cap, "%s:%s", host, serv);
}

/* HOST:PORT or [V6HOST]:PORT, resolved once at start-up. */
static int resolve(const char *text, bool passive, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[ADDR_TEXT_MAX];
    const char *colon = strrchr(text, ':');
    const char *start = text;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    uint64_t port;
    size_t host_len;
    int rc;

    /* getaddrinfo would wrap 99999 round to 34463 instead of refusing it. */
    if (colon == NULL || colon == text || parse_u64(colon + 1, 65535, &port) < 0 ||
        strlen(text) >= sizeof(host)) {
        fprintf(stderr, PROG ": bad address '%s': want HOST:PORT\n", text);
        return -1;
    }
    host_len = (size_t)(colon - text);
    if (text[0] == '[' && host_len > 2 && text[host_len - 1] == ']') {
        start++;
        host_len -= 2;
    }
    memcpy(host, start, host_len);
    host[host_len] = '\0';
    if (passive)
        hints.ai_flags |= AI_PASSIVE;
    rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, PROG ": resolve '%s': %s\n", text, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void set_nodelay(int fd)
{
    int one = 1;

    /* Small request/response exchanges would otherwise wait on delayed ACKs. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Binds with SO_REUSEADDR so that leaving refuse can take the same port back while
 * connections accepted on it are still open. */
static int listener_open(struct proxy *p, char *err, size_t err_cap)
{
    int one = 1;
    int fd = socket(p->listen_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    char text[ADDR_TEXT_MAX];

    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&p->listen_addr, p->listen_len) < 0 ||
        listen(fd, PROXY_BACKLOG) < 0) {
        int saved = errno;

        format_addr(&p->listen_addr, p->listen_len, text, sizeof(text));
        snprintf(err, err_cap, "listen '%s': %s", text, strerror(saved));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    p->listen_len = sizeof(p->listen_addr);
    getsockname(fd, (struct sockaddr *)&p->listen_addr, &p->listen_len);
    p->listen_fd = fd;
    return 0;
}

static int control_open_tcp(struct proxy *p, uint64_t port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p->ctrl_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->ctrl_fd < 0 || setsockopt(p->ctrl_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(p->ctrl_fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        return -1;
    return listen(p->ctrl_fd, PROXY_BACKLOG);
}

static int control_open_unix(struct proxy *p, const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct stat st;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    /* A socket left behind by a killed proxy; anything else at the path is kept. */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    memcpy(addr.sun_path, path, strlen(path) + 1);
    p->ctrl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->ctrl_fd < 0 || bind(p->ctrl_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return -1;
    memcpy(p->ctrl_path, path, strlen(path) + 1);
    return listen(p->ctrl_fd, PROXY_BACKLOG);
}

/* All digits means a TCP port on 127.0.0.1, anything else a Unix socket path. */
static int control_open(struct proxy *p, const char *arg, char *desc, size_t desc_cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    uint64_t port;

    if (arg[0] != '\0' && strspn(arg, "0123456789") == strlen(arg)) {
        if (parse_u64(arg, 65535, &port) < 0) {
            fprintf(stderr, PROG ": control port '%s' out of range\n", arg);
            return -1;
        }
        if (control_open_tcp(p, port) < 0)
            goto fail;
        getsockname(p->ctrl_fd, (struct sockaddr *)&ss, &len);
        format_addr(&ss, len, desc, desc_cap);
        return 0;
    }
    if (control_open_unix(p, arg) < 0)
        goto fail;
    snprintf(desc, desc_cap, "%s", arg);
    return 0;
fail:
    fprintf(stderr, PROG ": control '%s': %s\n", arg, strerror(errno));
    return -1;
}

static int signals_open(struct proxy *p)
{
    sigset_t set;

    signal(SIGPIPE, SIG_IGN);
    /* Started in the background by a shell, SIGINT arrives ignored, and an ignored
     * signal is discarded instead of queued for the signalfd. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    p->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return p->signal_fd < 0 ? -1 : 0;
}

static size_t flow_pending(const struct flow *f)
{
    return f->end - f->start;
}

static double bucket_burst(uint64_t bps)
{
    double burst = (double)bps / THROTTLE_SLICES;

    return burst < 1.0 ? 1.0 : burst;
}

/* Tokens never exceed one burst, so a connection that idled, or was not throttled a
 * moment ago, cannot spend a backlog of allowance all at once. */
static void bucket_refill(struct bucket *b, uint64_t bps, uint64_t now)
{
    double burst = bucket_burst(bps);

    if (now > b->last_ns)
        b->tokens += (double)(now - b->last_ns) * (double)bps / (double)NS_PER_SEC;
    if (b->tokens > burst)
        b->tokens = burst;
    b->last_ns = now;
}

/* Under throttle a write waits for a whole burst (or all that is pending), so a slow
 * rate gives a few sizeable writes a second rather than a stream of one-byte ones. */
static bool flow_may_write(struct proxy *p, struct flow *f, uint64_t now, uint64_t *wake_ns)
{
    size_t pending = flow_pending(f);
    double need;

    if (pending == 0 || p->mode == MODE_STALL)
        return false;
    if (p->mode != MODE_THROTTLE)
        return true;
    bucket_refill(&f->bucket, p->throttle_bps, now);
    need = bucket_burst(p->throttle_bps);
    if ((double)pending < need)
        need = (double)pending;
    if (f->bucket.tokens >= need)
        return true;
    if (wake_ns != NULL) {
        double missing = need - f->bucket.tokens;
        uint64_t wait = (uint64_t)(missing * (double)NS_PER_SEC / (double)p->throttle_bps) + 1;

        if (*wake_ns == 0 || now + wait < *wake_ns)
            *wake_ns = now + wait;
    }
    return false;
}

static bool flow_may_read(const struct flow *f)
{
    return !f->src_eof && flow_pending(f) < FLOW_BUF_CAP;
}

static void conn_abort(struct conn *c)
{
    c->reset = true;
    c->state = CONN_DEAD;
}

static void flow_read(struct conn *c, struct flow *f, int fd)
{
    ssize_t r;

    if (f->end == FLOW_BUF_CAP && f->start > 0) {
        memmove(f->buf, f->buf + f->start, flow_pending(f));
        f->end -= f->start;
        f->start = 0;
    }
    do
        r = recv(fd, f->buf + f->end, FLOW_BUF_CAP - f->end, 0);
    while (r < 0 && errno == EINTR);
    if (r > 0)
        f->end += (size_t)r;
    else if (r == 0)
        f->src_eof = true;
    else if (errno != EAGAIN && errno != EWOULDBLOCK)
        conn_abort(c);
}

/* How many pending bytes the mode lets through right now. */
static size_t flow_allowance(struct proxy *p, struct conn *c, struct flow *f)
{
    size_t n = flow_pending(f);

    if (p->mode == MODE_THROTTLE && (double)n > f->bucket.tokens)
        n = (size_t)f->bucket.tokens;
    if (p->mode == MODE_CUT && f == &c->down && c->down_sent + n > p->cut_bytes)
        n = (size_t)(p->cut_bytes - c->down_sent);
    return n;
}

static void flow_account(struct proxy *p, struct conn *c, struct flow *f, size_t n)
{
    f->start += n;
    if (f->start == f->end)
        f->start = f->end = 0;
    if (p->mode == MODE_THROTTLE)
        f->bucket.tokens -= (double)n;
    if (f == &c->down) {
        c->down_sent += n;
        p->stats.down += n;
    } else {
        p->stats.up += n;
    }
}

/* Writes what the mode allows, then passes a drained EOF on as shutdown(SHUT_WR). */
static void flow_write(struct proxy *p, struct conn *c, struct flow *f, int fd, uint64_t now)
{
    while (c->state == CONN_OPEN && flow_may_write(p, f, now, NULL)) {
        size_t n = flow_allowance(p, c, f);
        ssize_t r;

        if (n == 0)
            break;
        r = send(fd, f->buf + f->start, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_abort(c);
            return;
        }
        flow_account(p, c, f, (size_t)r);
    }
    if (c->state == CONN_OPEN && p->mode != MODE_STALL && f->src_eof && !f->dst_shut &&
        flow_pending(f) == 0) {
        if (shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN)
            conn_abort(c);
        f->dst_shut = true;
    }
}

/* FIN, not RST: an RST would let the kernel drop bytes still in flight and the client
 * would see fewer than N. The client is drained until it closes, so that its unread
 * data does not turn our close into an RST either. */
static void conn_cut(struct proxy *p, struct conn *c, uint64_t now)
{
    close_fd(&c->target_fd);
    shutdown(c->client_fd, SHUT_WR);
    c->up.start = c->up.end = 0;
    c->down.start = c->down.end = 0;
    c->state = CONN_LINGER;
    c->linger_deadline_ns = now + CUT_LINGER_NS;
    p->stats.cuts++;
}

static bool conn_over_cut(const struct proxy *p, const struct conn *c)
{
    return p->mode == MODE_CUT && c->down_sent >= p->cut_bytes &&
           (c->state == CONN_OPEN || c->state == CONN_CONNECTING);
}

/* Moves whatever the current mode lets through; runs after reads and on mode change. */
static void conn_pump(struct proxy *p, struct conn *c, uint64_t now)
{
    if (conn_over_cut(p, c)) {
        conn_cut(p, c, now);
        return;
    }
    if (c->state != CONN_OPEN)
        return;
    flow_write(p, c, &c->down, c->client_fd, now);
    flow_write(p, c, &c->up, c->target_fd, now);
    if (conn_over_cut(p, c))
        conn_cut(p, c, now);
    else if (c->state == CONN_OPEN && c->up.dst_shut && c->down.dst_shut)
        c->state = CONN_DEAD;
}

static void conn_finish_connect(struct proxy *p, struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(c->target_fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == EINPROGRESS || err == EALREADY)
        return;
    if (err != 0) {
        fprintf(stderr, PROG ": connect '%s': %s\n", p->target_text, strerror(err));
        conn_abort(c);
        return;
    }
    set_nodelay(c->target_fd);
    c->state = CONN_OPEN;
}

static void conn_linger(struct conn *c, short revents, uint64_t now)
{
    char scratch[4096];
    ssize_t r;

    if (now >= c->linger_deadline_ns) {
        c->state = CONN_DEAD;
        return;
    }
    if (!(revents & (POLLIN | POLLHUP | POLLERR)))
        return;
    do
        r = recv(c->client_fd, scratch, sizeof(scratch), 0);
    while (r < 0 && errno == EINTR);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        c->state = CONN_DEAD;
}

static void conn_service(struct proxy *p, struct conn *c, short crev, short trev, uint64_t now)
{
    const short readable = POLLIN | POLLHUP | POLLERR;

    if (c->state == CONN_LINGER) {
        conn_linger(c, crev, now);
        return;
    }
    if (c->state == CONN_CONNECTING && (trev & (POLLOUT | POLLHUP | POLLERR)))
        conn_finish_connect(p, c);
    if (c->state == CONN_DEAD)
        return;
    if ((crev & readable) && flow_may_read(&c->up))
        flow_read(c, &c->up, c->client_fd);
    if (c->state == CONN_OPEN && (trev & readable) && flow_may_read(&c->down))
        flow_read(c, &c->down, c->target_fd);
    if (c->state != CONN_DEAD)
        conn_pump(p, c, now);
}

static void conn_free(struct conn *c)
{
    struct linger hard = {.l_onoff = 1, .l_linger = 0};

    /* A reset on one side is passed on as a reset, not dressed up as a clean close. */
    if (c->reset) {
        if (c->client_fd >= 0)
            setsockopt(c->client_fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
        if (c->target_fd >= 0)
            setsockopt(c->target_fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
    }
    close_fd(&c->client_fd);
    close_fd(&c->target_fd);
    free(c);
}

static void conn_start_connect(struct proxy *p, struct conn *c)
{
    int fd = socket(p->target_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    c->target_fd = fd;
    if (fd < 0) {
        fprintf(stderr, PROG ": socket: %s\n", strerror(errno));
        conn_abort(c);
        return;
    }
    if (connect(fd, (struct sockaddr *)&p->target_addr, p->target_len) == 0) {
        set_nodelay(fd);
        c->state = CONN_OPEN;
    } else if (errno == EINPROGRESS || errno == EINTR) {
        c->state = CONN_CONNECTING;
    } else {
        fprintf(stderr, PROG ": connect '%s': %s\n", p->target_text, strerror(errno));
        conn_abort(c);
    }
}

static void conn_add(struct proxy *p, int client_fd, uint64_t now)
{
    struct conn *c = xcalloc(1, sizeof(*c));

    c->client_fd = client_fd;
    c->target_fd = -1;
    c->up.bucket.last_ns = now;
    c->down.bucket.last_ns = now;
    set_nodelay(client_fd);
    p->conns[p->n_conns++] = c;
    p->stats.conns++;
    if (conn_over_cut(p, c)) {
        conn_cut(p, c, now);
        return;
    }
    conn_start_connect(p, c);
}

static void proxy_accept(struct proxy *p, uint64_t now)
{
    while (p->n_conns < PROXY_MAX_CONNS) {
        int fd = accept4(p->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd >= 0) {
            conn_add(p, fd, now);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        /* Out of descriptors: the pending connection would keep the listener readable
         * and spin the loop, so stop polling it for a moment. */
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            fprintf(stderr, PROG ": accept: %s\n", strerror(errno));
            p->accept_resume_ns = now + ACCEPT_BACKOFF_NS;
        }
        return;
    }
}

static size_t proxy_active(const struct proxy *p)
{
    size_t n = 0;

    for (size_t i = 0; i < p->n_conns; i++)
        n += p->conns[i]->state != CONN_DEAD;
    return n;
}

static void proxy_pump_all(struct proxy *p, uint64_t now)
{
    for (size_t i = 0; i < p->n_conns; i++)
        if (p->conns[i]->state != CONN_DEAD)
            conn_pump(p, p->conns[i], now);
}

static void mode_describe(const struct proxy *p, char *out, size_t cap)
{
    switch (p->mode) {
    case MODE_PASS:
        snprintf(out, cap, "ok pass");
        break;
    case MODE_CUT:
        snprintf(out, cap, "ok cut %" PRIu64, p->cut_bytes);
        break;
    case MODE_STALL:
        snprintf(out, cap, "ok stall");
        break;
    case MODE_REFUSE:
        snprintf(out, cap, "ok refuse");
        break;
    case MODE_THROTTLE:
        snprintf(out, cap, "ok throttle %" PRIu64, p->throttle_bps);
        break;
    }
}

/* Leaving refuse must get the port back first: if it cannot, the mode stays refuse and
 * the command fails, rather than pretending to accept. */
static int mode_set(struct proxy *p, enum mode mode, uint64_t arg, char *reply, size_t cap)
{
    char err[CTRL_MAX_REPLY - 16];

    if (mode == MODE_REFUSE)
        close_fd(&p->listen_fd);
    else if (p->listen_fd < 0 && listener_open(p, err, sizeof(err)) < 0) {
        snprintf(reply, cap, "error: %s", err);
        return -1;
    }
    p->mode = mode;
    if (mode == MODE_CUT)
        p->cut_bytes = arg;
    if (mode == MODE_THROTTLE)
        p->throttle_bps = arg;
    proxy_pump_all(p, now_ns());
    snprintf(reply, cap, "ok");
    return 0;
}

/* Splits off the next space-separated word in place; NULL when there is none. */
static char *next_word(char **cursor)
{
    char *s = *cursor;
    char *word;

    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0') {
        *cursor = s;
        return NULL;
    }
    word = s;
    while (*s != '\0' && *s != ' ' && *s != '\t')
        s++;
    if (*s != '\0')
        *s++ = '\0';
    *cursor = s;
    return word;
}

static void cmd_stats(struct proxy *p, char *reply, size_t cap)
{
    snprintf(reply, cap,
             "ok conns=%" PRIu64 " active=%zu cuts=%" PRIu64 " up=%" PRIu64 " down=%" PRIu64,
             p->stats.conns, proxy_active(p), p->stats.cuts, p->stats.up, p->stats.down);
}

static void cmd_with_count(struct proxy *p, enum mode mode, const char *name, const char *arg,
                           char *reply, size_t cap)
{
    uint64_t min = mode == MODE_THROTTLE ? 1 : 0;
    uint64_t max = mode == MODE_THROTTLE ? THROTTLE_MAX_BPS : UINT64_MAX;
    uint64_t v;

    if (parse_u64(arg, max, &v) < 0 || v < min) {
        snprintf(reply, cap, "error: %s needs a number from %" PRIu64 " to %" PRIu64, name, min,
                 max);
        return;
    }
    mode_set(p, mode, v, reply, cap);
}

static void ctrl_execute(struct proxy *p, char *line, char *reply, size_t cap)
{
    char *cursor = line;
    char *verb = next_word(&cursor);
    char *arg = next_word(&cursor);
    bool takes_arg = verb != NULL && (!strcmp(verb, "cut") || !strcmp(verb, "throttle"));

    if (verb == NULL)
        snprintf(reply, cap, "error: empty command");
    else if ((arg != NULL && !takes_arg) || next_word(&cursor) != NULL)
        snprintf(reply, cap, "error: too many arguments to '%s'", verb);
    else if (!strcmp(verb, "pass"))
        mode_set(p, MODE_PASS, 0, reply, cap);
    else if (!strcmp(verb, "stall"))
        mode_set(p, MODE_STALL, 0, reply, cap);
    else if (!strcmp(verb, "refuse"))
        mode_set(p, MODE_REFUSE, 0, reply, cap);
    else if (!strcmp(verb, "cut"))
        cmd_with_count(p, MODE_CUT, verb, arg, reply, cap);
    else if (!strcmp(verb, "throttle"))
        cmd_with_count(p, MODE_THROTTLE, verb, arg, reply, cap);
    else if (!strcmp(verb, "stats"))
        cmd_stats(p, reply, cap);
    else if (!strcmp(verb, "reset-stats")) {
        memset(&p->stats, 0, sizeof(p->stats));
        snprintf(reply, cap, "ok");
    } else if (!strcmp(verb, "mode"))
        mode_describe(p, reply, cap);
    else if (!strcmp(verb, "help"))
        snprintf(reply, cap,
                 "ok pass | cut N | stall | refuse | throttle BPS | stats | "
                 "reset-stats | mode | help");
    else
        snprintf(reply, cap, "error: unknown command '%.64s'", verb);
}

static void ctrl_reply(struct ctrl_client *cc, const char *reply)
{
    size_t n = strlen(reply);

    /* ctrl_wants_read keeps CTRL_MAX_REPLY free, so this always fits. */
    memcpy(cc->out + cc->out_len, reply, n);
    cc->out[cc->out_len + n] = '\n';
    cc->out_len += n + 1;
}

static void ctrl_process_lines(struct proxy *p, struct ctrl_client *cc)
{
    char reply[CTRL_MAX_REPLY - 1];
    char *nl;

    while (cc->out_len + CTRL_MAX_REPLY <= CTRL_OUT_CAP &&
           (nl = memchr(cc->in, '\n', cc->in_len)) != NULL) {
        size_t used = (size_t)(nl - cc->in) + 1;

        *nl = '\0';
        if (nl > cc->in && nl[-1] == '\r')
            nl[-1] = '\0';
        ctrl_execute(p, cc->in, reply, sizeof(reply));
        ctrl_reply(cc, reply);
        memmove(cc->in, cc->in + used, cc->in_len - used);
        cc->in_len -= used;
    }
    if (cc->in_len == CTRL_MAX_LINE && cc->out_len + CTRL_MAX_REPLY <= CTRL_OUT_CAP) {
        ctrl_reply(cc, "error: line too long");
        cc->in_len = 0;
        cc->closing = true;
    }
}

static bool ctrl_wants_read(const struct ctrl_client *cc)
{
    return !cc->closing && cc->in_len < CTRL_MAX_LINE &&
           cc->out_len + CTRL_MAX_REPLY <= CTRL_OUT_CAP;
}

static void ctrl_read(struct ctrl_client *cc)
{
    ssize_t r;

    do
        r = recv(cc->fd, cc->in + cc->in_len, CTRL_MAX_LINE - cc->in_len, 0);
    while (r < 0 && errno == EINTR);
    if (r > 0) {
        cc->in_len += (size_t)r;
    } else if (r == 0) {
        /* A last command without its newline still counts. */
        if (cc->in_len > 0 && cc->in_len < CTRL_MAX_LINE && cc->in[cc->in_len - 1] != '\n')
            cc->in[cc->in_len++] = '\n';
        cc->closing = true;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK)
        close_fd(&cc->fd);
}

static void ctrl_write(struct ctrl_client *cc)
{
    ssize_t r;

    do
        r = send(cc->fd, cc->out, cc->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            close_fd(&cc->fd);
        return;
    }
    memmove(cc->out, cc->out + r, cc->out_len - (size_t)r);
    cc->out_len -= (size_t)r;
}

/* Lines already received are answered even after the client's EOF, so that
 * `printf 'stats\n' | nc -U` style one-shot clients get their answer. */
static void ctrl_service(struct proxy *p, struct ctrl_client *cc, short revents)
{
    if ((revents & (POLLIN | POLLHUP | POLLERR)) && ctrl_wants_read(cc))
        ctrl_read(cc);
    if (cc->fd < 0)
        return;
    ctrl_process_lines(p, cc);
    if (cc->out_len > 0)
        ctrl_write(cc);
    if (cc->fd >= 0 && cc->closing && cc->out_len == 0)
        close_fd(&cc->fd);
}

static void ctrl_accept(struct proxy *p)
{
    for (size_t i = 0; i < PROXY_MAX_CONTROL; i++) {
        struct ctrl_client *cc = &p->ctrl[i];
        int fd;

        if (cc->fd >= 0)
            continue;
        fd = accept4(p->ctrl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        cc->fd = fd;
        cc->closing = false;
        cc->in_len = cc->out_len = 0;
    }
}

static bool ctrl_has_free_slot(const struct proxy *p)
{
    for (size_t i = 0; i < PROXY_MAX_CONTROL; i++)
        if (p->ctrl[i].fd < 0)
            return true;
    return false;
}

static void slot_set(struct pollfd *pfd, int fd, short events)
{
    pfd->fd = events != 0 ? fd : -1;
    pfd->events = events;
    pfd->revents = 0;
}

/* An fd with nothing wanted is left out of poll(): a half-closed socket reports POLLHUP
 * whether asked or not, which would spin the loop while its connection is stalled. */
static void conn_prepare(struct proxy *p, struct conn *c, struct pollfd *pfd, uint64_t now,
                         uint64_t *wake_ns)
{
    short cev = 0;
    short tev = 0;

    if (c->state == CONN_LINGER) {
        cev = POLLIN;
        if (*wake_ns == 0 || c->linger_deadline_ns < *wake_ns)
            *wake_ns = c->linger_deadline_ns;
    } else if (c->state != CONN_DEAD) {
        if (flow_may_read(&c->up))
            cev |= POLLIN;
        if (c->state == CONN_CONNECTING)
            tev = POLLOUT;
        if (c->state == CONN_OPEN && flow_may_read(&c->down))
            tev |= POLLIN;
        if (c->state == CONN_OPEN && flow_may_write(p, &c->down, now, wake_ns))
            cev |= POLLOUT;
        if (c->state == CONN_OPEN && flow_may_write(p, &c->up, now, wake_ns))
            tev |= POLLOUT;
    }
    slot_set(&pfd[0], c->client_fd, cev);
    slot_set(&pfd[1], c->target_fd, tev);
}

static int proxy_prepare(struct proxy *p, uint64_t now)
{
    uint64_t wake_ns = 0;
    bool accepting = p->listen_fd >= 0 && p->n_conns < PROXY_MAX_CONNS;

    if (p->accept_resume_ns > now) {
        accepting = false;
        wake_ns = p->accept_resume_ns;
    }
    slot_set(&p->pfds[SLOT_SIGNAL], p->signal_fd, POLLIN);
    slot_set(&p->pfds[SLOT_LISTEN], p->listen_fd, accepting ? POLLIN : 0);
    slot_set(&p->pfds[SLOT_CONTROL], p->ctrl_fd, ctrl_has_free_slot(p) ? POLLIN : 0);
    for (size_t i = 0; i < PROXY_MAX_CONTROL; i++) {
        struct ctrl_client *cc = &p->ctrl[i];
        short ev = (ctrl_wants_read(cc) ? POLLIN : 0) | (cc->out_len > 0 ? POLLOUT : 0);

        slot_set(&p->pfds[SLOT_FIRST_CTRL + i], cc->fd, cc->fd >= 0 ? ev : 0);
    }
    for (size_t i = 0; i < p->n_conns; i++)
        conn_prepare(p, p->conns[i], &p->pfds[SLOT_FIRST_CONN + 2 * i], now, &wake_ns);
    p->n_polled_conns = p->n_conns;
    p->n_pfds = SLOT_FIRST_CONN + 2 * p->n_conns;
    if (wake_ns == 0)
        return -1;
    if (wake_ns <= now)
        return 0;
    /* Round up: waking a hair early would only find the timer not yet due. */
    return (int)((wake_ns - now + NS_PER_MS - 1) / NS_PER_MS);
}

static void proxy_read_signals(struct proxy *p)
{
    struct signalfd_siginfo si;

    while (read(p->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        p->quit = true;
}

/* Order matters: connections use this round's revents before accepts append new ones,
 * and control commands run last so their mode changes see every connection. */
static void proxy_service(struct proxy *p, uint64_t now)
{
    if (p->pfds[SLOT_SIGNAL].revents)
        proxy_read_signals(p);
    for (size_t i = 0; i < p->n_polled_conns; i++) {
        struct pollfd *pfd = &p->pfds[SLOT_FIRST_CONN + 2 * i];

        conn_service(p, p->conns[i], pfd[0].revents, pfd[1].revents, now);
    }
    if (p->pfds[SLOT_LISTEN].revents && p->listen_fd >= 0)
        proxy_accept(p, now);
    for (size_t i = 0; i < PROXY_MAX_CONTROL; i++)
        if (p->ctrl[i].fd >= 0)
            ctrl_service(p, &p->ctrl[i], p->pfds[SLOT_FIRST_CTRL + i].revents);
    if (p->pfds[SLOT_CONTROL].revents)
        ctrl_accept(p);
}

static void proxy_sweep(struct proxy *p)
{
    size_t kept = 0;

    for (size_t i = 0; i < p->n_conns; i++) {
        if (p->conns[i]->state == CONN_DEAD)
            conn_free(p->conns[i]);
        else
            p->conns[kept++] = p->conns[i];
    }
    p->n_conns = kept;
}

static int proxy_run(struct proxy *p)
{
    while (!p->quit) {
        int timeout = proxy_prepare(p, now_ns());

        if (poll(p->pfds, p->n_pfds, timeout) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, PROG ": poll: %s\n", strerror(errno));
            return -1;
        }
        proxy_service(p, now_ns());
        proxy_sweep(p);
    }
    return 0;
}

static struct proxy *proxy_new(void)
{
    struct proxy *p = xcalloc(1, sizeof(*p));

    p->signal_fd = p->listen_fd = p->ctrl_fd = -1;
    for (size_t i = 0; i < PROXY_MAX_CONTROL; i++)
        p->ctrl[i].fd = -1;
    return p;
}

static void proxy_free(struct proxy *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_conns; i++)
        conn_free(p->conns[i]);
    for (size_t i = 0; i < PROXY_MAX_CONTROL; i++)
        close_fd(&p->ctrl[i].fd);
    close_fd(&p->ctrl_fd);
    if (p->ctrl_path[0] != '\0')
        unlink(p->ctrl_path);
    close_fd(&p->listen_fd);
    close_fd(&p->signal_fd);
    free(p);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " --listen HOST:PORT --target HOST:PORT --control PATH|PORT\n"
            "\n"
            "A TCP proxy for tests that injects faults on command.\n"
            "\n"
            "  --listen HOST:PORT   where clients connect; PORT 0 picks a free port\n"
            "  --target HOST:PORT   where each connection is forwarded\n"
            "  --control PATH|PORT  Unix socket path for commands, or a TCP port on\n"
            "                       127.0.0.1 when all digits (0 picks a free port)\n"
            "  --help               show this text\n"
            "\n"
            "Once bound, one line goes to stdout:\n"
            "  listening HOST:PORT control PATH|HOST:PORT\n"
            "\n"
            "Control: one command a line, any number a connection, each answered by one\n"
            "line, \"ok...\" or \"error: ...\":\n"
            "  pass           forward both ways\n"
            "  cut N          per connection, FIN to the client after N bytes target->client\n"
            "                 (from the connection's start), target side closed; 0 = at once\n"
            "  stall          forward nothing, hold data and EOFs; another mode resumes\n"
            "  refuse         close the listener (ECONNREFUSED); leaving it binds the port again\n"
            "  throttle BPS   at most BPS bytes/s per connection and direction\n"
            "  stats          ok conns=ACCEPTED active=OPEN cuts=CUT up=BYTES down=BYTES\n"
            "  reset-stats    zero the counters\n"
            "  mode           the current mode, e.g. \"ok throttle 20000\"\n"
            "  help           list the commands\n"
            "SIGTERM or SIGINT ends the proxy, closing every connection.\n");
}

struct options {
    const char *listen;
    const char *target;
    const char *control;
};

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"target", required_argument, NULL, 't'},
        {"control", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == 'l')
            o->listen = optarg;
        else if (opt == 't')
            o->target = optarg;
        else if (opt == 'c')
            o->control = optarg;
        else if (opt == 'h')
            return 1;
        else
            return -1;
    }
    if (optind != argc || o->listen == NULL || o->target == NULL || o->control == NULL) {
        fprintf(stderr, PROG ": --listen, --target and --control are required\n");
        return -1;
    }
    return 0;
}

static int proxy_setup(struct proxy *p, const struct options *o)
{
    char err[CTRL_MAX_REPLY];
    char ctrl_desc[ADDR_TEXT_MAX + sizeof(p->ctrl_path)];
    char listen_desc[ADDR_TEXT_MAX];

    if (resolve(o->listen, true, &p->listen_addr, &p->listen_len) < 0 ||
        resolve(o->target, false, &p->target_addr, &p->target_len) < 0)
        return -1;
    format_addr(&p->target_addr, p->target_len, p->target_text, sizeof(p->target_text));
    if (signals_open(p) < 0) {
        fprintf(stderr, PROG ": signals: %s\n", strerror(errno));
        return -1;
    }
    if (listener_open(p, err, sizeof(err)) < 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return -1;
    }
    if (control_open(p, o->control, ctrl_desc, sizeof(ctrl_desc)) < 0)
        return -1;
    format_addr(&p->listen_addr, p->listen_len, listen_desc, sizeof(listen_desc));
    printf("listening %s control %s\n", listen_desc, ctrl_desc);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct proxy *p;
    int rc = parse_options(argc, argv, &o);

    if (rc != 0) {
        usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    p = proxy_new();
    rc = proxy_setup(p, &o) < 0 || proxy_run(p) < 0 ? 1 : 0;
    proxy_free(p);
    return rc;
}
