/* Remote access, the process of one channel: the command runs in a process group of its own
 * (behind a pseudo-terminal with "tty"), its streams go through the server's channel (pump.h),
 * and its exit status is posted at the end. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pty.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent/agent-remote.h"
#include "agent/config.h"
#include "agent/daemon.h"
#include "agent/sync-http.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/log.h"
#include "m87/pump.h"
#include "m87/runner-journal.h"
#include "m87/time.h"
#include "m87/version.h"

static volatile sig_atomic_t remote_stop;

static void on_stop(int sig)
{
    (void)sig;
    remote_stop = 1;
}

struct remote_cmd {
    struct m87_strv argv;
    struct m87_strv env;
    const char *workdir;
    bool in, tty;
    struct winsize ws;
    pid_t pid;
    int fd_in, fd_out, fd_err; /* ours: the command's stdin, stdout, stderr (-1: none) */
};

static void child_setup(struct agent_daemon *d)
{
    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    setsid(); /* out of the daemon's process group: its stop does not reach the user's shell */
    close(d->sig_pipe[0]);
    close(d->sig_pipe[1]);
    close(d->lock_fd);
    if (d->child_fd >= 0)
        close(d->child_fd);
    agent_http_abandon(d->http); /* the connection stays the daemon's alone */
}

/* "shell": the login shell of the agent's user, as a login shell ("-sh"). */
static void login_shell(struct m87_strv *argv)
{
    struct passwd *pw = getpwuid(getuid());
    const char *shell = pw && pw->pw_shell && pw->pw_shell[0] ? pw->pw_shell : "/bin/sh";
    m87_strv_add(argv, shell);
    if (pw && pw->pw_dir)
        setenv("HOME", pw->pw_dir, 1);
}

static void parse_request(const struct m87_json *req, struct remote_cmd *c)
{
    m87_strv_init(&c->argv);
    m87_strv_init(&c->env);
    if (strcmp(m87_json_str(m87_json_get(req, "what"), ""), "shell") == 0)
        login_shell(&c->argv);
    else
        m87_json_to_strv(m87_json_get(req, "command"), &c->argv);
    m87_json_to_strv(m87_json_get(req, "env"), &c->env);
    c->workdir = m87_json_str(m87_json_get(req, "workdir"), NULL);
    c->in = m87_json_bool(m87_json_get(req, "stdin"), false);
    c->tty = m87_json_bool(m87_json_get(req, "tty"), false);
    c->ws.ws_row = (unsigned short)m87_json_int(m87_json_get(req, "rows"), 24);
    c->ws.ws_col = (unsigned short)m87_json_int(m87_json_get(req, "cols"), 80);
    c->fd_in = c->fd_out = c->fd_err = -1;
}

/* In the command's process: never returns. */
M87_NORETURN static void exec_command(const struct remote_cmd *c, bool shell)
{
    signal(SIGPIPE, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    for (size_t i = 0; i < c->env.len; i++)
        putenv(c->env.items[i]);
    if (c->tty && !getenv("TERM"))
        setenv("TERM", "xterm", 1);
    if (c->workdir && chdir(c->workdir) < 0) {
        fprintf(stderr, "m87-agent: workdir '%s': %s\n", c->workdir, strerror(errno));
        _exit(AGENT_REMOTE_EXEC_FAILED);
    }
    char **argv = m87_xcalloc(c->argv.len + 1, sizeof(char *));
    for (size_t i = 0; i < c->argv.len; i++)
        argv[i] = c->argv.items[i];
    const char *file = argv[0];
    if (shell) { /* a login shell: "-" before its name */
        const char *slash = strrchr(file, '/');
        argv[0] = m87_xasprintf("-%s", slash ? slash + 1 : file);
    }
    execvp(file, argv);
    fprintf(stderr, "m87-agent: exec '%s': %s\n", file, strerror(errno));
    _exit(errno == ENOENT ? AGENT_REMOTE_EXEC_FAILED : 126);
}

static int start_pipes(struct remote_cmd *c, bool shell, struct m87_error **err)
{
    int in[2] = {-1, -1}, out[2], errp[2];
    if ((c->in && pipe2(in, O_CLOEXEC) < 0) || pipe2(out, O_CLOEXEC) < 0 ||
        pipe2(errp, O_CLOEXEC) < 0)
        return m87_error_set(err, M87_E_IO, errno, "pipe");
    c->pid = fork();
    if (c->pid < 0)
        return m87_error_set(err, M87_E_IO, errno, "fork");
    if (c->pid == 0) {
        setpgid(0, 0);
        int null = c->in ? -1 : open("/dev/null", O_RDONLY);
        dup2(c->in ? in[0] : null, 0);
        dup2(out[1], 1);
        dup2(errp[1], 2);
        exec_command(c, shell);
    }
    if (c->in) {
        close(in[0]);
        c->fd_in = in[1];
    }
    close(out[1]);
    close(errp[1]);
    c->fd_out = out[0];
    c->fd_err = errp[0];
    return 0;
}

static int start_pty(struct remote_cmd *c, bool shell, struct m87_error **err)
{
    int master = -1;
    c->pid = forkpty(&master, NULL, NULL, &c->ws);
    if (c->pid < 0)
        return m87_error_set(err, M87_E_IO, errno, "forkpty");
    if (c->pid == 0)
        exec_command(c, shell); /* forkpty made it a session leader with the terminal */
    fcntl(master, F_SETFD, FD_CLOEXEC);
    c->fd_out = master;
    c->fd_in = c->in ? dup(master) : -1;
    return 0;
}

/* A forward: a TCP connection to host:port from the device, as the command's stdin and stdout
 * (the channel's stdin is what goes to it, its stdout what comes back). */
static int start_connect(struct remote_cmd *c, const char *host, int64_t port,
                         struct m87_error **err)
{
    char service[16];
    snprintf(service, sizeof(service), "%lld", (long long)port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0)
        return m87_error_set(err, M87_E_CONNECT, 0, "connect %s:%s: %s", host, service,
                             gai_strerror(rc));
    int fd = -1, e = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return m87_error_set(err, M87_E_CONNECT, e, "connect %s:%s on the device: %s", host,
                             service, strerror(e));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->pid = 0; /* nothing to wait for */
    c->fd_out = fd;
    c->fd_in = dup(fd);
    c->in = true;
    return 0;
}

/* Metrics: the text is written into a pipe the stdout stream reads (it fits a pipe's buffer). */
static int start_metrics(struct remote_cmd *c, const char *docker_host, struct m87_error **err)
{
    int p[2];
    _cleanup_free_ char *text = agent_remote_metrics(docker_host);
    if (pipe2(p, O_CLOEXEC) < 0)
        return m87_error_set(err, M87_E_IO, errno, "pipe");
    ssize_t n = write(p[1], text, strlen(text));
    close(p[1]);
    if (n != (ssize_t)strlen(text)) {
        close(p[0]);
        return m87_error_set(err, M87_E_IO, errno, "write the metrics");
    }
    c->pid = 0;
    c->fd_out = p[0];
    return 0;
}

struct remote_http {
    const struct agent_config *cfg;
    struct curl_slist *headers;
};

static CURL *stream_handle(struct remote_http *rh, const char *id, const char *stream)
{
    CURL *h = curl_easy_init();
    if (!h)
        m87_oom();
    _cleanup_free_ char *url =
        m87_xasprintf("%s/v1/agent/remote/%s/%s", agent_http_server(rh->cfg), id, stream);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, rh->headers);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, AGENT_CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "m87-agent/" M87_VERSION);
    if (rh->cfg->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, rh->cfg->ca_file);
    return h;
}

static int wait_command(pid_t pid, bool broken)
{
    int status = 0;
    if (pid == 0)
        return 0; /* a forward: its connection ended */
    if (broken) { /* nobody is there any more: hang up, then make sure */
        kill(-pid, SIGHUP);
        int64_t until = m87_mono_ms() + AGENT_REMOTE_KILL_GRACE_MS;
        while (waitpid(pid, &status, WNOHANG) == 0) {
            if (m87_mono_ms() > until) {
                kill(-pid, SIGKILL);
                waitpid(pid, &status, 0);
                break;
            }
            m87_sleep_ms(50);
        }
    } else {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The agent's own record of a remote action, in its report journal (kind "audit"). */
struct audit_rec {
    const char *id;
    const struct m87_json *request;
    const char *state; /* refused, exited, broken */
    int exit_code;     /* -1: none */
    const char *message;
    int64_t duration_ms; /* -1: none */
};

static void audit_fill(struct m87_jw *w, const void *ctx)
{
    const struct audit_rec *a = ctx;
    m87_jw_kstr(w, "kind", "audit");
    m87_jw_kstr(w, "state", a->state);
    if (a->exit_code >= 0)
        m87_jw_kint(w, "exit_code", a->exit_code);
    m87_jw_kstr_opt(w, "message", a->message);
    if (a->duration_ms >= 0)
        m87_jw_kint(w, "duration_ms", a->duration_ms);
    m87_jw_key(w, "remote");
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "id", a->id);
    m87_jw_kstr(w, "what", m87_json_str(m87_json_get(a->request, "what"), "?"));
    const struct m87_json *cmd = m87_json_get(a->request, "command");
    if (cmd) {
        m87_jw_key(w, "command");
        m87_jw_node(w, cmd);
    }
    m87_jw_kbool(w, "tty", m87_json_bool(m87_json_get(a->request, "tty"), false));
    m87_jw_obj_close(w);
}

static void journal_audit(const struct agent_config *cfg, const struct audit_rec *a)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *dir = m87_xasprintf("%s/reports", cfg->state_dir);
    _cleanup_(runner_journal_freep) struct runner_journal *j = runner_journal_open(dir, &err);
    if (!j || runner_journal_append(j, audit_fill, a, NULL, &err) < 0)
        m87_log(M87_LOG_ERR, "remote %s: journal the audit record: %s", a->id, err->msg);
}

static void post_end(const struct agent_config *cfg, const char *id, const char *key, int code,
                     const char *text)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    if (text)
        m87_jw_kstr(w, key, text);
    else
        m87_jw_kint(w, key, code);
    m87_jw_obj_close(w);
    _cleanup_free_ char *body = m87_jw_finish(w);
    _cleanup_free_ char *path = m87_xasprintf("/v1/agent/remote/%s", id);
    _cleanup_free_ char *answer = NULL;
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(agent_http_freep) struct agent_http *h = agent_http_new(cfg, NULL);
    if (agent_http_post(h, path, body, AGENT_REMOTE_POST_TIMEOUT_S, &answer, &err) < 0)
        m87_log(M87_LOG_WARN, "remote %s: post the end: %s", id, err->msg);
}

/* The terminal sizes the user's terminal took, a JSON object a line, applied as they come. */
struct resizer {
    int fd;   /* the read end of the pipe the resize stream writes */
    int term; /* the pseudo-terminal's master */
    char line[256];
    size_t len;
};

static void apply_size(struct resizer *r)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = m87_json_parse(r->line, r->len, NULL);
    int64_t rows = m87_json_int(m87_json_get(doc, "rows"), 0);
    int64_t cols = m87_json_int(m87_json_get(doc, "cols"), 0);
    if (r->term < 0 || rows < 1 || rows > 65535 || cols < 1 || cols > 65535)
        return; /* not a size: ignored, as a terminal ignores a bad escape */
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    ioctl(r->term, TIOCSWINSZ, &ws); /* the kernel sends SIGWINCH to its foreground group */
}

static void on_tick(void *ctx)
{
    struct resizer *r = ctx;
    char buf[256];
    ssize_t n;
    while ((n = read(r->fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                apply_size(r);
                r->len = 0;
            } else if (r->len < sizeof(r->line)) {
                r->line[r->len++] = buf[i];
            }
        }
    }
}

/* The streams of the command through the channel; its exit status, posted. */
static int run(const struct agent_config *cfg, const char *id, struct remote_cmd *c,
               char **broken_why)
{
    _cleanup_free_ char *auth = m87_xasprintf("Authorization: Bearer %s", cfg->token);
    struct remote_http rh = {.cfg = cfg};
    rh.headers = curl_slist_append(NULL, auth);
    rh.headers = curl_slist_append(rh.headers, "Expect:");
    rh.headers = curl_slist_append(rh.headers, "Content-Type: application/octet-stream");
    struct m87_pump *p = m87_pump_new();
    if (c->fd_in >= 0)
        m87_pump_add(p, stream_handle(&rh, id, "stdin"), c->fd_in, M87_PUMP_DOWNLOAD, false);
    m87_pump_add(p, stream_handle(&rh, id, "stdout"), c->fd_out, M87_PUMP_UPLOAD, true);
    if (c->fd_err >= 0)
        m87_pump_add(p, stream_handle(&rh, id, "stderr"), c->fd_err, M87_PUMP_UPLOAD, true);
    /* held always, with or without a terminal: when the channel breaks (its user vanished),
     * this read fails at once, and the command is stopped */
    int rz[2] = {-1, -1};
    struct resizer resizer = {.term = c->tty ? c->fd_out : -1};
    if (pipe2(rz, O_CLOEXEC | O_NONBLOCK) == 0) {
        resizer.fd = rz[0];
        m87_pump_add(p, stream_handle(&rh, id, "resize"), rz[1], M87_PUMP_DOWNLOAD, false);
        m87_pump_set_tick(p, on_tick, &resizer);
    }
    _cleanup_error_ struct m87_error *err = NULL;
    bool broken = m87_pump_run(p, &remote_stop, &err) < 0;
    if (broken)
        m87_log(M87_LOG_WARN, "remote %s: %s", id, err->msg);
    int code = wait_command(c->pid, broken);
    if (broken) {
        post_end(cfg, id, "error", 0, err->msg);
        *broken_why = m87_xstrdup(err->msg);
    } else
        post_end(cfg, id, "exit_code", code, NULL);
    m87_pump_free(p); /* the stdin stream ends after the end was posted */
    if (rz[0] >= 0)
        close(rz[0]);
    curl_slist_free_all(rh.headers);
    return code;
}

M87_NORETURN void agent_remote_child(struct agent_daemon *d, const char *id,
                                     const struct m87_json *request, const char *refused)
{
    child_setup(d);
    struct audit_rec audit = {.id = id, .request = request, .exit_code = -1, .duration_ms = -1};
    if (refused) {
        audit.state = "refused";
        audit.message = refused;
        journal_audit(d->cfg, &audit);
        post_end(d->cfg, id, "refused", 0, refused);
        _exit(0);
    }
    int64_t start = m87_mono_ms();
    struct remote_cmd c = {0};
    _cleanup_error_ struct m87_error *err = NULL;
    parse_request(request, &c);
    bool shell = strcmp(m87_json_str(m87_json_get(request, "what"), ""), "shell") == 0;
    _cleanup_free_ char *msg = NULL;
    const char *host = m87_json_str(m87_json_get(request, "host"), NULL);
    const char *what = m87_json_str(m87_json_get(request, "what"), "");
    if (strcmp(what, "metrics") == 0) {
        c.tty = false;
        if (start_metrics(&c, d->cfg->docker_host, &err) < 0)
            msg = m87_xstrdup(err->msg);
        else
            m87_strv_add(&c.argv, "metrics"); /* for the log line */
    } else if (strcmp(what, "forward") == 0) {
        c.tty = false;
        if (start_connect(&c, host ? host : "", m87_json_int(m87_json_get(request, "port"), 0),
                          &err) < 0)
            msg = m87_xstrdup(err->msg);
        else
            m87_strv_add(&c.argv, host); /* for the log line */
    } else if (c.argv.len == 0) {
        msg = m87_xstrdup("no command");
    } else if ((c.tty ? start_pty(&c, shell, &err) : start_pipes(&c, shell, &err)) < 0) {
        msg = m87_xasprintf("start the command: %s", err->msg);
    }
    if (msg) {
        audit.state = "broken";
        audit.message = msg;
        journal_audit(d->cfg, &audit);
        post_end(d->cfg, id, "error", 0, msg);
        _exit(0);
    }
    _cleanup_free_ char *broken = NULL;
    int code = run(d->cfg, id, &c, &broken);
    m87_log(M87_LOG_INFO, "remote %s: %s exited with %d", id, c.argv.items[0], code);
    audit.state = broken ? "broken" : "exited";
    audit.exit_code = code;
    audit.message = broken;
    audit.duration_ms = m87_mono_ms() - start;
    journal_audit(d->cfg, &audit);
    _exit(0);
}
