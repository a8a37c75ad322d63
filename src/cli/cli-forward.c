/* `m87 DEVICE forward SPEC...` (docs/remote.md): listen on local TCP ports; each connection
 * accepted is a remote channel of its own ("what": "forward"), joined by a child process of ours
 * while the agent connects to the port on the device's side. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli-forward.h"
#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/pump.h"

#define FORWARD_MAX_SPECS 32
#define FORWARD_MAX_PEERS 256       /* UDP peers at once, over every /udp spec */
#define FORWARD_UDP_MAX 65535       /* a datagram's payload */
#define FORWARD_UDP_IDLE_MS 60000LL /* a UDP peer without a datagram either way is dropped */

static const char forward_help[] =
    "usage: m87 DEVICE forward SPEC...\n"
    "\n"
    "Forward local TCP and UDP ports to ports the device reaches, through the server (no port\n"
    "is opened on the device), until Ctrl-C. SPEC is\n"
    "[LOCALADDR:]LOCALPORT[:[HOST:]REMOTEPORT][/udp]:\n"
    "  8080                      local 127.0.0.1:8080 to the device's 127.0.0.1:8080\n"
    "  3000:8080                 local 3000 to the device's 8080\n"
    "  3000:192.168.1.5:80       local 3000 to 192.168.1.5:80 as the device reaches it\n"
    "  0.0.0.0:3000:8080         listen on every local address\n"
    "  5353/udp                  UDP: local 127.0.0.1:5353 to the device's 127.0.0.1:5353\n"
    "  3000:192.168.1.5:53/udp   UDP to a host the device reaches\n"
    "Each TCP connection is its own channel: many at once; a connection the device's side\n"
    "refuses closes the local one at once. Each UDP peer (address and port) is its own\n"
    "channel: the device sends its datagrams from a socket of its own and the replies come back\n"
    "to it; a peer without a datagram either way for 60 s is dropped. The device must allow it\n"
    "(`remote = forward`).\n"
    "\n"
    "Exit status: 0 after Ctrl-C; 2 when a spec is bad or a local port cannot be bound.\n";

struct forward_spec {
    struct cli_forward_spec s;
    int fd;
};

/* A local UDP peer (address and port) of a /udp spec: its datagrams go through a channel of its
 * own, served by a child of ours that gets them (and gives the replies) on a socketpair. */
struct udp_peer {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    size_t spec;
    int fd; /* ours of the socketpair */
    pid_t pid;
};

struct peers {
    struct udp_peer v[FORWARD_MAX_PEERS];
    size_t n;
};

static void spec_release(struct forward_spec *f)
{
    cli_forward_spec_release(&f->s);
    if (f->fd >= 0)
        close(f->fd);
}

/* A listening TCP socket, or a bound UDP one, on the spec's local address and port. */
static int spec_listen(struct forward_spec *f)
{
    int type = f->s.udp ? SOCK_DGRAM : SOCK_STREAM;
    struct addrinfo hints = {.ai_socktype = type, .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(f->s.local_addr, f->s.local_port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "m87: forward: local address '%s': %s\n", f->s.local_addr,
                gai_strerror(rc));
        return CLI_EXIT_USAGE;
    }
    int one = 1, e = 0;
    f->fd = socket(res->ai_family, type | SOCK_CLOEXEC, 0);
    if (f->fd < 0 || setsockopt(f->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(f->fd, res->ai_addr, res->ai_addrlen) < 0 || (!f->s.udp && listen(f->fd, 128) < 0))
        e = errno;
    freeaddrinfo(res);
    if (e) {
        fprintf(stderr, "m87: forward: %s %s:%s/%s: %s\n", f->s.udp ? "bind" : "listen on",
                f->s.local_addr, f->s.local_port, f->s.udp ? "udp" : "tcp", strerror(e));
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static volatile sig_atomic_t forward_stop;

static void on_stop(int sig)
{
    (void)sig;
    forward_stop = 1;
}

/* The child of one accepted connection, or of one UDP peer (conn is then our end of its
 * socketpair): a channel to the spec's host and port. Never returns. */
M87_NORETURN static void connection(const struct cli_ctx *ctx, const char *device,
                                    const struct cli_forward_spec *f, int conn)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "what", "forward");
    m87_jw_kstr(w, "host", f->host);
    m87_jw_kint(w, "port", strtol(f->port, NULL, 10));
    if (f->udp)
        m87_jw_kstr(w, "protocol", "udp");
    m87_jw_obj_close(w);
    _cleanup_free_ char *body = m87_jw_finish(w);
    _cleanup_free_ char *prefix = m87_xasprintf("forward %s to %s:%s%s: ", f->local_port, f->host,
                                                f->port, f->udp ? "/udp" : "");
    struct cli_channel ch = {0};
    if (cli_channel_open(&ch, ctx, device, body) != CLI_EXIT_OK)
        _exit(CLI_EXIT_FAILED);
    struct m87_pump *p = m87_pump_new();
    if (f->udp) {
        /* the stdin stream's end (after the idle time) is the channel's end on the device */
        m87_pump_add_datagrams(p, cli_channel_stream(&ch, "stdin"), dup(conn), M87_PUMP_UPLOAD,
                               false);
        m87_pump_add_datagrams(p, cli_channel_stream(&ch, "stdout"), conn, M87_PUMP_DOWNLOAD, true);
        m87_pump_set_idle_end(p, FORWARD_UDP_IDLE_MS);
    } else {
        m87_pump_add(p, cli_channel_stream(&ch, "stdin"), dup(conn), M87_PUMP_UPLOAD, false);
        m87_pump_add(p, cli_channel_stream(&ch, "stdout"), conn, M87_PUMP_DOWNLOAD, true);
    }
    _cleanup_error_ struct m87_error *err = NULL;
    int rc = m87_pump_run(p, &forward_stop, &err);
    /* the local connection ends now, whatever the channel's end says */
    m87_pump_free(p);
    if (rc == 0 || m87_error_code(err) != M87_E_CANCELLED)
        rc = cli_channel_end(&ch, prefix);
    cli_channel_release(&ch);
    _exit(rc == 0 ? 0 : CLI_EXIT_FAILED);
}

/* The connection children running: stopped with us. */
struct children {
    pid_t *pids;
    size_t n, cap;
};

static void child_add(struct children *kids, pid_t pid)
{
    if (kids->n == kids->cap) {
        kids->cap = kids->cap ? 2 * kids->cap : 64;
        kids->pids = m87_xrealloc(kids->pids, kids->cap * sizeof(pid_t));
    }
    kids->pids[kids->n++] = pid;
}

static void peer_drop(struct peers *peers, size_t i)
{
    close(peers->v[i].fd);
    peers->v[i] = peers->v[--peers->n];
}

/* Children that ended are forgotten, and so are their UDP peers (a next datagram gets a new
 * channel). */
static void reap(struct children *ch, struct peers *peers)
{
    pid_t pid;
    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
        for (size_t i = 0; i < ch->n; i++)
            if (ch->pids[i] == pid)
                ch->pids[i] = ch->pids[--ch->n];
        for (size_t i = 0; i < peers->n; i++)
            if (peers->v[i].pid == pid) {
                peer_drop(peers, i);
                break;
            }
    }
}

struct server {
    const struct cli_ctx *ctx;
    const char *device;
    struct forward_spec *specs;
    size_t n;
    struct children kids;
    struct peers peers;
    char dgram[FORWARD_UDP_MAX + 1];
};

/* A child for a connection or a peer: it keeps only its own descriptor. */
static pid_t spawn(struct server *sv, const struct cli_forward_spec *f, int conn)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        for (size_t k = 0; k < sv->n; k++)
            close(sv->specs[k].fd);
        for (size_t k = 0; k < sv->peers.n; k++)
            close(sv->peers.v[k].fd);
        connection(sv->ctx, sv->device, f, conn);
    }
    if (pid < 0)
        fprintf(stderr, "m87: forward: fork: %s\n", strerror(errno));
    if (pid > 0)
        child_add(&sv->kids, pid);
    return pid;
}

static void on_accept(struct server *sv, size_t i)
{
    int conn = accept4(sv->specs[i].fd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0)
        return;
    spawn(sv, &sv->specs[i].s, conn);
    close(conn);
}

static struct udp_peer *peer_new(struct server *sv, size_t spec,
                                 const struct sockaddr_storage *addr, socklen_t len)
{
    int pair[2];
    if (sv->peers.n == FORWARD_MAX_PEERS) {
        fprintf(stderr, "m87: forward: %d UDP peers at once already: a datagram dropped\n",
                FORWARD_MAX_PEERS);
        return NULL;
    }
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) < 0) {
        fprintf(stderr, "m87: forward: socketpair: %s\n", strerror(errno));
        return NULL;
    }
    pid_t pid = spawn(sv, &sv->specs[spec].s, pair[1]);
    close(pair[1]);
    if (pid < 0) {
        close(pair[0]);
        return NULL;
    }
    struct udp_peer *p = &sv->peers.v[sv->peers.n++];
    *p = (struct udp_peer){.addr = *addr, .addr_len = len, .spec = spec, .fd = pair[0], .pid = pid};
    return p;
}

/* A datagram from a local peer: to its channel's child, which is started for a new peer. One
 * the child cannot take at once is dropped, as a full socket buffer drops it. */
static void on_datagram(struct server *sv, size_t spec)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof(addr);
    ssize_t n = recvfrom(sv->specs[spec].fd, sv->dgram, FORWARD_UDP_MAX, MSG_DONTWAIT,
                         (struct sockaddr *)&addr, &len);
    if (n < 0)
        return;
    struct udp_peer *p = NULL;
    for (size_t i = 0; i < sv->peers.n && !p; i++)
        if (sv->peers.v[i].spec == spec && sv->peers.v[i].addr_len == len &&
            memcmp(&sv->peers.v[i].addr, &addr, len) == 0)
            p = &sv->peers.v[i];
    if (!p && (p = peer_new(sv, spec, &addr, len)) == NULL)
        return;
    if (send(p->fd, sv->dgram, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
        /* its child ended (idle) before we saw it: a new channel takes the datagram */
        peer_drop(&sv->peers, (size_t)(p - sv->peers.v));
        if ((p = peer_new(sv, spec, &addr, len)) != NULL)
            (void)send(p->fd, sv->dgram, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
}

/* A reply from the device, for peer i: sent from the spec's socket, as from the port it asked. */
static void on_reply(struct server *sv, size_t i)
{
    struct udp_peer *p = &sv->peers.v[i];
    ssize_t n = recv(p->fd, sv->dgram, FORWARD_UDP_MAX, MSG_DONTWAIT);
    if (n >= 0)
        (void)sendto(sv->specs[p->spec].fd, sv->dgram, (size_t)n, MSG_DONTWAIT,
                     (struct sockaddr *)&p->addr, p->addr_len);
}

static void serve_round(struct server *sv)
{
    struct pollfd pfd[FORWARD_MAX_SPECS + FORWARD_MAX_PEERS];
    size_t np = sv->peers.n;
    for (size_t i = 0; i < sv->n; i++)
        pfd[i] = (struct pollfd){.fd = sv->specs[i].fd, .events = POLLIN};
    for (size_t i = 0; i < np; i++)
        pfd[sv->n + i] = (struct pollfd){.fd = sv->peers.v[i].fd, .events = POLLIN};
    if (poll(pfd, sv->n + np, 500) <= 0)
        return;
    /* replies first: the peers' table changes with new datagrams */
    for (size_t i = 0; i < np; i++)
        if (pfd[sv->n + i].revents & POLLIN)
            on_reply(sv, i);
    for (size_t i = 0; i < sv->n; i++) {
        if (!(pfd[i].revents & POLLIN))
            continue;
        if (sv->specs[i].s.udp)
            on_datagram(sv, i);
        else
            on_accept(sv, i);
    }
}

static int serve(const struct cli_ctx *ctx, const char *device, struct forward_spec *specs,
                 size_t n)
{
    struct server *sv = m87_xcalloc(1, sizeof(*sv));
    *sv = (struct server){.ctx = ctx, .device = device, .specs = specs, .n = n};
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "forwarding %s:%s to %s:%s%s on %s\n", specs[i].s.local_addr,
                specs[i].s.local_port, specs[i].s.host, specs[i].s.port,
                specs[i].s.udp ? "/udp" : "", device);
    while (!forward_stop) {
        reap(&sv->kids, &sv->peers);
        serve_round(sv);
    }
    /* Ctrl-C reached our children too (one process group); a SIGTERM of ours did not */
    for (size_t i = 0; i < sv->kids.n; i++)
        kill(sv->kids.pids[i], SIGTERM);
    while (wait(NULL) > 0 || errno == EINTR)
        ;
    while (sv->peers.n > 0)
        peer_drop(&sv->peers, 0);
    free(sv->kids.pids);
    free(sv);
    return CLI_EXIT_OK;
}

static int forward(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    static const struct option opts[] = {{NULL, 0, NULL, 0}};
    struct forward_spec specs[FORWARD_MAX_SPECS];
    size_t n = 0;
    int c, rc = CLI_EXIT_OK;

    optind = 0;
    while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1)
        return cli_bad_option("forward", argv, c);
    if (optind >= argc)
        return cli_usage_error("forward", "missing SPEC (e.g. 8080 or 3000:8080)");
    if (argc - optind > FORWARD_MAX_SPECS)
        return cli_usage_error("forward", "at most %d specs", FORWARD_MAX_SPECS);
    for (int i = optind; i < argc && rc == CLI_EXIT_OK; i++) {
        _cleanup_error_ struct m87_error *err = NULL;
        specs[n].fd = -1;
        if (cli_forward_spec_parse(argv[i], &specs[n].s, &err) < 0)
            rc = cli_usage_error("forward", "%s", err->msg);
        else
            n++;
    }
    for (size_t i = 0; i < n && rc == CLI_EXIT_OK; i++)
        rc = spec_listen(&specs[i]);
    if (rc == CLI_EXIT_OK)
        rc = serve(ctx, device, specs, n);
    for (size_t i = 0; i < n; i++)
        spec_release(&specs[i]);
    return rc;
}

int cli_cmd_forward(const char *device, int argc, char **argv)
{
    static const struct cli_sub sub = {"forward", forward, forward_help};
    return cli_run(&sub, device, argc, argv);
}
