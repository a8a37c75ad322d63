/* The connections and the event loop of the load tools (loadgen.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"
#include "m87/alloc.h"
#include "m87/file.h"
#include "m87/json.h"

#define MAX_RESPONSE (8u * 1024 * 1024)
/* the agent's reconnect backoff (src/agent/backoff.h) */
#define BACKOFF_BASE_S 1.0
#define BACKOFF_CAP_S 60.0

static struct {
    struct sockaddr_in addr;
    struct sockaddr_in other; /* lg_other_server()'s */
    const char *host;
    const char *admin;
    int epfd;
    int admin_fd;
    struct lg_conn **retry; /* connections waiting to send their request again */
    size_t n_retry, cap_retry;
    unsigned long failures;
} G = {.admin_fd = -1};

double lg_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void lg_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", program_invocation_short_name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void parse_addr(const char *what, const char *server, struct sockaddr_in *a)
{
    const char *colon = server ? strrchr(server, ':') : NULL;
    if (colon == NULL)
        lg_die("%s: expected IPv4:PORT", what);
    _cleanup_free_ char *ip = m87_xstrndup(server, (size_t)(colon - server));
    char *end;
    long port = strtol(colon + 1, &end, 10);
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, ip, &a->sin_addr) != 1 || *end || port <= 0 || port > 65535)
        lg_die("%s: expected IPv4:PORT, not %s", what, server);
}

void lg_init(const char *server, const char *admin_token)
{
    parse_addr("--server", server, &G.addr);
    G.host = server;
    G.admin = admin_token;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    signal(SIGPIPE, SIG_IGN);
    G.epfd = epoll_create1(EPOLL_CLOEXEC);
    srand48((long)getpid() ^ (long)(lg_now() * 1e6));
}

void lg_other_server(const char *option, const char *server)
{
    parse_addr(option, server, &G.other);
}

static int connect_to(bool blocking, const struct sockaddr_in *to)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK), 0);
    if (fd < 0)
        lg_die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0 && errno != EINPROGRESS)
        lg_die("connect: %s", strerror(errno));
    return fd;
}

static void build_request(struct m87_buf *out, const char *method, const char *path,
                          const char *token, const char *body)
{
    size_t len = body ? strlen(body) : 0;
    m87_buf_appendf(out, NULL,
                    "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                    method, path, G.host, token, len, body ? body : "");
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

int lg_admin_call(const char *method, const char *path, const char *body, char **resp)
{
    struct m87_buf out, in;
    m87_buf_init(&out, 0);
    m87_buf_init(&in, MAX_RESPONSE);
    build_request(&out, method, path, G.admin, body);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (G.admin_fd < 0)
            G.admin_fd = connect_to(true, &G.addr);
        if (write(G.admin_fd, out.data, out.len) != (ssize_t)out.len) {
            close(G.admin_fd);
            G.admin_fd = -1;
            continue;
        }
        int status = 0;
        size_t off = 0, len = 0;
        char chunk[65536];
        while (!parse_response(&in, &status, &off, &len)) {
            ssize_t n = read(G.admin_fd, chunk, sizeof(chunk));
            if (n <= 0)
                break;
            m87_buf_append(&in, chunk, (size_t)n, NULL);
        }
        if (status == 0) {
            close(G.admin_fd);
            G.admin_fd = -1;
            m87_buf_reset(&in);
            continue;
        }
        if (resp)
            *resp = m87_xstrndup(in.data + off, len);
        m87_buf_release(&out);
        m87_buf_release(&in);
        return status;
    }
    lg_die("%s %s: no answer", method, path);
}

char *lg_json_field(const char *body, const char *key)
{
    struct m87_json *doc = m87_json_parse(body, strlen(body), NULL);
    const char *v = m87_json_str(m87_json_get(doc, key), NULL);
    char *out = v ? m87_xstrdup(v) : NULL;
    m87_json_free(doc);
    return out;
}

void lg_conn_init(struct lg_conn *c, void *owner,
                  void (*done)(struct lg_conn *c, int status, const char *body, size_t len))
{
    c->fd = -1;
    c->owner = owner;
    c->to_other = false;
    c->failures = 0;
    c->retry_at = 0;
    c->done = done;
    m87_buf_init(&c->in, MAX_RESPONSE);
    m87_buf_init(&c->out, 0);
}

static void watch(struct lg_conn *c, bool add)
{
    struct epoll_event ev = {.events = EPOLLIN | (c->out.len > c->out_off ? EPOLLOUT : 0),
                             .data.ptr = c};
    epoll_ctl(G.epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev);
}

void lg_send(struct lg_conn *c, const char *method, const char *path, const char *token,
             const char *body)
{
    bool fresh = c->fd < 0;
    if (fresh)
        c->fd = connect_to(false, c->to_other ? &G.other : &G.addr);
    m87_buf_reset(&c->out);
    c->out_off = 0;
    build_request(&c->out, method, path, token, body);
    c->busy = true;
    c->sent = lg_now();
    watch(c, fresh);
}

static void conn_close(struct lg_conn *c)
{
    epoll_ctl(G.epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

/* c's connection failed with its request in flight: send it again later on a new one */
static void conn_failed(struct lg_conn *c)
{
    conn_close(c);
    m87_buf_reset(&c->in);
    c->out_off = 0;
    c->failures++;
    G.failures++;
    double cap = BACKOFF_BASE_S * (double)(1u << (c->failures < 7 ? c->failures - 1 : 6));
    c->retry_at = lg_now() + drand48() * (cap < BACKOFF_CAP_S ? cap : BACKOFF_CAP_S);
    if (G.n_retry == G.cap_retry) {
        G.cap_retry = G.cap_retry ? 2 * G.cap_retry : 256;
        G.retry = m87_xrealloc(G.retry, G.cap_retry * sizeof(*G.retry));
    }
    G.retry[G.n_retry++] = c;
}

static void retry_due(void)
{
    double now = lg_now();
    for (size_t i = 0; i < G.n_retry;) {
        struct lg_conn *c = G.retry[i];
        if (c->retry_at > now) {
            i++;
            continue;
        }
        G.retry[i] = G.retry[--G.n_retry];
        c->retry_at = 0;
        c->fd = connect_to(false, c->to_other ? &G.other : &G.addr);
        watch(c, true);
    }
}

unsigned long lg_failures(void)
{
    return G.failures;
}

static void on_readable(struct lg_conn *c)
{
    char chunk[16384];
    for (;;) {
        ssize_t n = read(c->fd, chunk, sizeof(chunk));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0) { /* closed: reconnect with the next request, or now for the one in flight */
            if (c->busy)
                conn_failed(c);
            else
                conn_close(c);
            return;
        }
        if (m87_buf_append(&c->in, chunk, (size_t)n, NULL) < 0)
            lg_die("response too large");
    }
    int status;
    size_t off, len;
    if (c->busy && parse_response(&c->in, &status, &off, &len)) {
        _cleanup_free_ char *body = m87_xstrndup(c->in.data + off, len);
        m87_buf_consume(&c->in, off + len);
        c->busy = false;
        c->failures = 0; /* as the agent: the backoff starts over after an answer */
        c->done(c, status, body, len);
    }
}

static void on_writable(struct lg_conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = write(c->fd, c->out.data + c->out_off, c->out.len - c->out_off);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n < 0) {
            conn_failed(c);
            return;
        }
        c->out_off += (size_t)n;
    }
    watch(c, false);
}

void lg_run(double seconds, void (*tick)(void))
{
    struct epoll_event evs[512];
    double end = lg_now() + seconds;
    while (lg_now() < end) {
        int n = epoll_wait(G.epfd, evs, 512, 5);
        retry_due();
        for (int i = 0; i < n; i++) {
            struct lg_conn *c = evs[i].data.ptr;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(c);
            if (c->fd >= 0 && (evs[i].events & EPOLLOUT))
                on_writable(c);
        }
        if (tick)
            tick();
    }
}

long lg_rss_kb(int pid)
{
    if (pid <= 0)
        return -1;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    _cleanup_free_ char *text = m87_read_file(path, 1 << 20, NULL, NULL);
    const char *p = text ? strstr(text, "VmRSS:") : NULL;
    return p ? strtol(p + 6, NULL, 10) : -1;
}

int lg_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double lg_quantile(const double *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    return sorted[(size_t)(p * (double)(n - 1) + 0.5)];
}
