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

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/pump.h"

#define FORWARD_MAX_SPECS 32

static const char forward_help[] =
    "usage: m87 DEVICE forward SPEC...\n"
    "\n"
    "Forward local TCP ports to ports the device reaches, through the server (no port is\n"
    "opened on the device), until Ctrl-C. SPEC is [LOCALADDR:]LOCALPORT[:[HOST:]REMOTEPORT]:\n"
    "  8080                  local 127.0.0.1:8080 to the device's 127.0.0.1:8080\n"
    "  3000:8080             local 3000 to the device's 8080\n"
    "  3000:192.168.1.5:80   local 3000 to 192.168.1.5:80 as the device reaches it\n"
    "  0.0.0.0:3000:8080     listen on every local address\n"
    "Each connection is its own channel: many at once; a connection the device's side refuses\n"
    "closes the local one at once. The device must allow it (`remote = forward`).\n"
    "UDP (/udp) is not supported yet.\n"
    "\n"
    "Exit status: 0 after Ctrl-C; 2 when a spec is bad or a local port cannot be bound.\n";

struct forward_spec {
    char *local_addr;
    char *local_port;
    char *host;
    char *port;
    int fd;
};

static bool is_port(const char *s)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    return *s && !*end && v >= 1 && v <= 65535;
}

static void spec_release(struct forward_spec *f)
{
    free(f->local_addr);
    free(f->local_port);
    free(f->host);
    free(f->port);
    if (f->fd >= 0)
        close(f->fd);
}

/* [LOCALADDR:]LOCALPORT[:[HOST:]REMOTEPORT]; three parts are LOCALPORT:HOST:REMOTEPORT when the
 * first is a number, else LOCALADDR:LOCALPORT:REMOTEPORT. 0, or the exit status after printing
 * why. */
static int spec_parse(const char *text, struct forward_spec *f)
{
    _cleanup_free_ char *copy = m87_xstrdup(text);
    char *parts[5];
    size_t n = 0;
    *f = (struct forward_spec){.fd = -1};
    if (strstr(text, "/udp"))
        return cli_usage_error("forward", "'%s': UDP is not supported yet", text);
    for (char *p = copy, *colon; n < 5; p = colon + 1) {
        parts[n++] = p;
        if ((colon = strchr(p, ':')) == NULL)
            break;
        *colon = '\0';
    }
    const char *laddr = "127.0.0.1", *lport = NULL, *host = "127.0.0.1", *rport = NULL;
    if (n == 1) {
        lport = rport = parts[0];
    } else if (n == 2) {
        lport = parts[0], rport = parts[1];
    } else if (n == 3 && is_port(parts[0])) {
        lport = parts[0], host = parts[1], rport = parts[2];
    } else if (n == 3) {
        laddr = parts[0], lport = parts[1], rport = parts[2];
    } else if (n == 4) {
        laddr = parts[0], lport = parts[1], host = parts[2], rport = parts[3];
    } else {
        return cli_usage_error("forward", "'%s': expected [LOCALADDR:]LOCALPORT[:[HOST:]PORT]",
                               text);
    }
    if (!is_port(lport) || !is_port(rport) || !*laddr || !*host)
        return cli_usage_error("forward",
                               "'%s': expected [LOCALADDR:]LOCALPORT[:[HOST:]PORT] with ports "
                               "from 1 to 65535",
                               text);
    f->local_addr = m87_xstrdup(laddr);
    f->local_port = m87_xstrdup(lport);
    f->host = m87_xstrdup(host);
    f->port = m87_xstrdup(rport);
    return 0;
}

static int spec_listen(struct forward_spec *f)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(f->local_addr, f->local_port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "m87: forward: local address '%s': %s\n", f->local_addr, gai_strerror(rc));
        return CLI_EXIT_USAGE;
    }
    int one = 1, e = 0;
    f->fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f->fd < 0 || setsockopt(f->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(f->fd, res->ai_addr, res->ai_addrlen) < 0 || listen(f->fd, 128) < 0)
        e = errno;
    freeaddrinfo(res);
    if (e) {
        fprintf(stderr, "m87: forward: listen on %s:%s: %s\n", f->local_addr, f->local_port,
                strerror(e));
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

/* The child of one accepted connection: a channel to the spec's host and port. Never returns. */
M87_NORETURN static void connection(const struct cli_ctx *ctx, const char *device,
                                    const struct forward_spec *f, int conn)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "what", "forward");
    m87_jw_kstr(w, "host", f->host);
    m87_jw_kint(w, "port", strtol(f->port, NULL, 10));
    m87_jw_obj_close(w);
    _cleanup_free_ char *body = m87_jw_finish(w);
    _cleanup_free_ char *prefix =
        m87_xasprintf("forward %s to %s:%s: ", f->local_port, f->host, f->port);
    struct cli_channel ch = {0};
    if (cli_channel_open(&ch, ctx, device, body) != CLI_EXIT_OK)
        _exit(CLI_EXIT_FAILED);
    struct m87_pump *p = m87_pump_new();
    m87_pump_add(p, cli_channel_stream(&ch, "stdin"), dup(conn), M87_PUMP_UPLOAD, false);
    m87_pump_add(p, cli_channel_stream(&ch, "stdout"), conn, M87_PUMP_DOWNLOAD, true);
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

static void reap(struct children *ch)
{
    pid_t pid;
    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
        for (size_t i = 0; i < ch->n; i++)
            if (ch->pids[i] == pid)
                ch->pids[i] = ch->pids[--ch->n];
}

static int serve(const struct cli_ctx *ctx, const char *device, struct forward_spec *specs,
                 size_t n)
{
    struct pollfd pfd[FORWARD_MAX_SPECS];
    struct children kids = {0};
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (size_t i = 0; i < n; i++) {
        pfd[i] = (struct pollfd){.fd = specs[i].fd, .events = POLLIN};
        fprintf(stderr, "forwarding %s:%s to %s:%s on %s\n", specs[i].local_addr,
                specs[i].local_port, specs[i].host, specs[i].port, device);
    }
    while (!forward_stop) {
        reap(&kids);
        if (poll(pfd, n, 500) <= 0)
            continue;
        for (size_t i = 0; i < n; i++) {
            if (!(pfd[i].revents & POLLIN))
                continue;
            int conn = accept4(specs[i].fd, NULL, NULL, SOCK_CLOEXEC);
            if (conn < 0)
                continue;
            fflush(NULL);
            pid_t pid = fork();
            if (pid == 0) {
                for (size_t k = 0; k < n; k++)
                    close(specs[k].fd);
                connection(ctx, device, &specs[i], conn);
            }
            if (pid < 0)
                fprintf(stderr, "m87: forward: fork: %s\n", strerror(errno));
            if (pid > 0) {
                if (kids.n == kids.cap) {
                    kids.cap = kids.cap ? 2 * kids.cap : 64;
                    kids.pids = m87_xrealloc(kids.pids, kids.cap * sizeof(pid_t));
                }
                kids.pids[kids.n++] = pid;
            }
            close(conn);
        }
    }
    /* Ctrl-C reached our children too (one process group); a SIGTERM of ours did not */
    for (size_t i = 0; i < kids.n; i++)
        kill(kids.pids[i], SIGTERM);
    while (wait(NULL) > 0 || errno == EINTR)
        ;
    free(kids.pids);
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
        rc = spec_parse(argv[i], &specs[n]);
        if (rc == CLI_EXIT_OK)
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
