/* The child of one session: it says to the server that it started, makes STATE/sessions/ID from
 * the session's job (bundle, then files), runs the command in a grandchild of its own process
 * group with stdout and stderr through pipes, and posts what they print in batches every 100 ms
 * (and at least every 2 s, which tells the server it is alive and tells it whether the session
 * was cancelled). At the end it posts the exit status. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "agent/agent-session.h"
#include "agent/config.h"
#include "agent/trust.h"
#include "agent/daemon.h"
#include "agent/sync-http.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/log.h"
#include "m87/runner-journal.h"
#include "m87/runner-text.h"
#include "m87/spec-bundle.h"
#include "m87/spec-runspec.h"
#include "m87/time.h"

static volatile sig_atomic_t child_stop;

static void on_stop(int sig)
{
    child_stop = sig;
}

struct pump {
    struct agent_http *http;
    const char *id;
    char *path;               /* /v1/agent/sessions/ID */
    struct m87_buf out[2];    /* stdout, stderr: read, not sent yet */
    bool cut[2];              /* output was dropped while the server was away */
    int fd[2];                /* -1 once at end of file */
    int64_t last_post;        /* monotonic ms */
    int64_t partial_since[2]; /* when a line without its newline started waiting; 0: none */
    bool cancel;
    pid_t pid;         /* the grandchild, its process group too */
    char *interactive; /* with the end: the project's interactive containers (JSON) */
    int64_t kill_at;
};

static const char *const stream_names[] = {"stdout", "stderr"};

/* How much of stream i goes in this post: whole lines, or everything when the rest of a line
 * has waited long enough (a prompt, a progress dot) or the command ended. */
static size_t ready(struct pump *p, int i, bool all)
{
    struct m87_buf *b = &p->out[i];
    size_t n = b->len;
    while (n > 0 && b->data[n - 1] != '\n')
        n--;
    int64_t now = m87_mono_ms();
    if (n < b->len && !p->partial_since[i])
        p->partial_since[i] = now;
    if (all || b->len - n > 4096 || (n < b->len && now - p->partial_since[i] >= 500))
        n = b->len;
    return n > AGENT_SESSION_BATCH ? AGENT_SESSION_BATCH : n;
}

static char *post_body(struct pump *p, bool all, size_t taken[2], int exit_code,
                       const char *message)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_key(w, "output");
    m87_jw_arr_open(w);
    for (int i = 0; i < 2; i++) {
        taken[i] = ready(p, i, all);
        if (taken[i] == 0 && !p->cut[i])
            continue;
        _cleanup_free_ char *text = runner_utf8_clean(p->out[i].data, taken[i]);
        _cleanup_free_ char *full =
            p->cut[i] ? m87_xasprintf("[m87: output dropped while the server was away]\n%s", text)
                      : NULL;
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "stream", stream_names[i]);
        m87_jw_kstr(w, "text", full ? full : text);
        m87_jw_obj_close(w);
    }
    m87_jw_arr_close(w);
    if (exit_code >= 0) {
        m87_jw_kint(w, "exit_code", exit_code);
        m87_jw_kstr(w, "message", message);
    }
    _cleanup_(m87_json_freep) struct m87_json *inter =
        exit_code >= 0 && p->interactive
            ? m87_json_parse(p->interactive, strlen(p->interactive), NULL)
            : NULL;
    if (inter) {
        m87_jw_key(w, "interactive");
        m87_jw_node(w, inter);
    }
    m87_jw_obj_close(w);
    return m87_jw_finish(w);
}

/* One post; what was sent leaves the buffers only when the server took it. */
static int post(struct pump *p, bool all, int exit_code, const char *message)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *answer = NULL;
    size_t taken[2];
    _cleanup_free_ char *body = post_body(p, all, taken, exit_code, message);

    p->last_post = m87_mono_ms();
    if (agent_http_post(p->http, p->path, body, AGENT_SESSION_POST_TIMEOUT_S, &answer, &err) < 0) {
        m87_log(M87_LOG_WARN, "session %s: %s", p->id, err->msg);
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        m87_buf_consume(&p->out[i], taken[i]);
        p->cut[i] = false;
        if (p->out[i].len == 0 || taken[i])
            p->partial_since[i] = 0;
    }
    _cleanup_(m87_json_freep) struct m87_json *doc = m87_json_parse(answer, strlen(answer), NULL);
    if (m87_json_bool(m87_json_get(doc, "cancel"), false))
        p->cancel = true;
    return 0;
}

/* ---- the directory -------------------------------------------------------------------------- */

static int write_files(const char *dir, const struct spec_job *job, struct m87_error **err)
{
    for (size_t i = 0; i < job->n_files; i++) {
        const struct spec_job_file *f = &job->files[i];
        _cleanup_free_ char *path = m87_xasprintf("%s/%s", dir, f->name);
        _cleanup_free_ char *parent = m87_xstrdup(path);
        *strrchr(parent, '/') = '\0';
        /* the directory is new and the bundle brings no symlink: nothing to follow here */
        if (m87_mkdir_p(parent, 0755, err) < 0 ||
            m87_write_file_atomic(path, f->content, strlen(f->content), 0644, err) < 0)
            return -1;
    }
    return 0;
}

static int prepare_dir(struct agent_daemon *d, struct pump *p, const struct agent_session_req *q,
                       const char *dir, struct m87_error **err)
{
    if (m87_remove_tree(dir, err) < 0 || m87_mkdir_p(dir, 0755, err) < 0)
        return -1;
    if (!q->rs)
        return 0;
    const struct spec_job *job = &q->rs->jobs[0];
    if (job->bundle) {
        char name[SPEC_BUNDLE_FILE_LEN + 1];
        int64_t gained = 0;
        spec_bundle_file_name(job->bundle, name);
        _cleanup_free_ char *file = m87_xasprintf("%s/%s", d->bundles_dir, name);
        if (spec_bundle_verify(file, job->bundle, NULL) < 0 &&
            agent_http_bundle(p->http, job->bundle, d->bundles_dir, &gained, err) < 0)
            return -1;
        if (spec_bundle_extract(file, dir, err) < 0)
            return -1;
    }
    return write_files(dir, job, err);
}

/* ---- the command ---------------------------------------------------------------------------- */

M87_NORETURN static void grandchild(const struct agent_session_req *q, const char *dir,
                                    int out[2][2], pid_t parent)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(out[0][1], STDOUT_FILENO) < 0 ||
        dup2(out[1][1], STDERR_FILENO) < 0)
        _exit(127);
    for (int i = 0; i < 2; i++) {
        close(out[i][0]);
        close(out[i][1]);
    }
    if (chdir(dir) < 0) {
        fprintf(stderr, "m87-agent: change to directory '%s': %s\n", dir, strerror(errno));
        _exit(1);
    }
    int rc = agent_session_command(q, dir);
    fflush(NULL);
    _exit(rc);
}

static int start_command(struct pump *p, const struct agent_session_req *q, const char *dir,
                         struct m87_error **err)
{
    int out[2][2] = {{-1, -1}, {-1, -1}};

    if (pipe2(out[0], O_CLOEXEC) < 0 || pipe2(out[1], O_CLOEXEC) < 0)
        return m87_error_set(err, M87_E_IO, errno, "create a pipe");
    fflush(NULL);
    pid_t parent = getpid();
    p->pid = fork();
    if (p->pid == 0)
        grandchild(q, dir, out, parent);
    for (int i = 0; i < 2; i++) {
        close(out[i][1]);
        p->fd[i] = out[i][0];
        fcntl(p->fd[i], F_SETFL, O_NONBLOCK);
    }
    if (p->pid < 0)
        return m87_error_set(err, M87_E_IO, errno, "fork");
    setpgid(p->pid, p->pid); /* both sides, so that a kill never misses the group */
    return 0;
}

static void read_pipe(struct pump *p, int i)
{
    char buf[16384];
    ssize_t n = read(p->fd[i], buf, sizeof(buf));

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        close(p->fd[i]);
        p->fd[i] = -1;
        return;
    }
    if (m87_buf_append(&p->out[i], buf, (size_t)n, NULL) < 0) {
        m87_buf_reset(&p->out[i]); /* the server stays away: keep the newest */
        p->cut[i] = true;
        m87_buf_append(&p->out[i], buf, (size_t)n, NULL);
    }
}

/* Stop the command once: SIGTERM to it, as Ctrl-C would reach it (an attached `up` then stops
 * its containers, which may take their stop timeout), SIGKILL to its group after the grace. */
static void stop_command(struct pump *p, int64_t now)
{
    if (p->kill_at == 0) {
        kill(p->pid, SIGTERM);
        p->kill_at = now + AGENT_SESSION_KILL_GRACE_MS;
    } else if (p->kill_at > 0 && now >= p->kill_at) {
        kill(-p->pid, SIGKILL);
        p->kill_at = -1;
    }
}

/* Pump output until the command ended and its pipes closed; its exit status. */
static int pump_run(struct pump *p)
{
    int status = 0;
    bool exited = false;

    while (!exited || p->fd[0] >= 0 || p->fd[1] >= 0) {
        int64_t now = m87_mono_ms();
        if (p->cancel || child_stop)
            stop_command(p, now);
        struct pollfd fds[2] = {{.fd = p->fd[0], .events = POLLIN},
                                {.fd = p->fd[1], .events = POLLIN}};
        if (poll(fds, 2, (int)AGENT_SESSION_POST_MS) > 0)
            for (int i = 0; i < 2; i++)
                if (fds[i].revents)
                    read_pipe(p, i);
        if (!exited && waitpid(p->pid, &status, WNOHANG) == p->pid)
            exited = true; /* children it left may hold the pipes: the group is ended below */
        if (exited && (p->fd[0] >= 0 || p->fd[1] >= 0))
            kill(-p->pid, SIGKILL);
        now = m87_mono_ms();
        bool due = now - p->last_post >= AGENT_SESSION_POST_MS;
        bool have = p->out[0].len || p->out[1].len;
        if ((due && have) || now - p->last_post >= AGENT_SESSION_HEARTBEAT_MS)
            post(p, false, -1, NULL);
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
}

/* The end, posted until the server takes it (it marks the session lost otherwise). */
static void post_end(struct pump *p, int code, const char *message)
{
    /* a daemon that stops waits for its session children: do not hold it up for long */
    int max = child_stop ? 2 : AGENT_SESSION_FINAL_TRIES;
    for (int tries = 0; tries < max; tries++) {
        if (post(p, true, code, message) == 0 && p->out[0].len == 0 && p->out[1].len == 0)
            return;
        if (p->out[0].len == 0 && p->out[1].len == 0)
            poll(NULL, 0, 1000);
    }
}

/* The device's own record of a session, in its report journal: kind "audit", as a remote
 * action's, with "session" where a remote action has "remote" (docs/api.md, "Report record"). */
struct session_rec {
    const struct agent_session_req *q;
    const char *state; /* refused, exited, cancelled */
    int exit_code;
    const char *message;
    int64_t duration_ms; /* -1: it did not run */
};

static void session_fill(struct m87_jw *w, const void *ctx)
{
    const struct session_rec *a = ctx;
    m87_jw_kstr(w, "kind", "audit");
    m87_jw_kstr(w, "state", a->state);
    m87_jw_kint(w, "exit_code", a->exit_code);
    m87_jw_kstr_opt(w, "message", a->message);
    if (a->duration_ms >= 0)
        m87_jw_kint(w, "duration_ms", a->duration_ms);
    m87_jw_key(w, "session");
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "id", a->q->id);
    m87_jw_kstr(w, "command", a->q->command ? a->q->command : "?");
    m87_jw_key(w, "args");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < a->q->args.len; i++)
        m87_jw_str(w, a->q->args.items[i]);
    m87_jw_arr_close(w);
    m87_jw_kstr_opt(w, "project", a->q->project);
    m87_jw_obj_close(w);
}

static void journal_session(const struct agent_config *cfg, const struct session_rec *a)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *dir = m87_xasprintf("%s/reports", cfg->state_dir);
    _cleanup_(runner_journal_freep) struct runner_journal *j = runner_journal_open(dir, &err);
    if (!j || runner_journal_append(j, session_fill, a, NULL, &err) < 0)
        m87_log(M87_LOG_ERR, "session %s: journal the audit record: %s", a->q->id, err->msg);
}

static void child_setup(struct agent_daemon *d, pid_t parent)
{
    struct sigaction sa = {.sa_handler = on_stop};

    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(1);
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    close(d->sig_pipe[0]);
    close(d->sig_pipe[1]);
    close(d->lock_fd);
    if (d->child_fd >= 0)
        close(d->child_fd);
    agent_http_abandon(d->http); /* the connection stays the daemon's alone */
    if (d->cfg->docker_host)
        setenv("DOCKER_HOST", d->cfg->docker_host, 1); /* for the command's engine client */
}

M87_NORETURN void agent_session_child(struct agent_daemon *d, const struct agent_session_req *q,
                                      pid_t parent)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct pump p = {.id = q->id, .fd = {-1, -1}};

    child_setup(d, parent);
    p.http = agent_http_new(d->cfg, NULL);
    p.path = m87_xasprintf("/v1/agent/sessions/%s", q->id);
    for (int i = 0; i < 2; i++)
        m87_buf_init(&p.out[i], AGENT_SESSION_MAX_PENDING);
    if (q->refused) { /* nothing runs: the end says why */
        m87_buf_appendf(&p.out[1], NULL, "m87-agent: %s\n", q->refused);
        post_end(&p, AGENT_SESSION_REFUSED_EXIT, q->refused);
        struct session_rec rec = {q, "refused", AGENT_SESSION_REFUSED_EXIT, q->refused, -1};
        journal_session(d->cfg, &rec);
        agent_http_free(p.http);
        _exit(0);
    }
    _cleanup_free_ char *dir = m87_xasprintf("%s/sessions/%s", d->cfg->state_dir, q->id);
    int code = 0;
    const char *message = NULL;
    int64_t start = m87_mono_ms();
    bool told = post(&p, false, -1, NULL) == 0;
    p.last_post = 0; /* the command's first output goes up at once, later output in batches */
    if (!told || p.cancel) {
        code = 130; /* cancelled before it started, or the server cannot be told anything */
        message = "cancelled before the command started";
    } else if (prepare_dir(d, &p, q, dir, &err) < 0 || start_command(&p, q, dir, &err) < 0) {
        m87_buf_appendf(&p.out[1], NULL, "m87-agent: session %s: %s\n", q->id, err->msg);
        code = 1;
    } else {
        code = pump_run(&p);
        message = p.cancel ? "cancelled" : child_stop ? "the agent on the device stopped" : NULL;
        if (q->project)
            p.interactive = agent_session_interactive(d->cfg->docker_host, q->project);
    }
    post_end(&p, code, message);
    struct session_rec rec = {q, p.cancel ? "cancelled" : "exited", code, message,
                              m87_mono_ms() - start};
    journal_session(d->cfg, &rec);
    agent_http_free(p.http);
    free(p.interactive);
    /* what `compose up` started works in the directory; anything else is done with it */
    bool up = q->project && q->args.len && strcmp(q->args.items[0], "up") == 0;
    _cleanup_error_ struct m87_error *rm_err = NULL;
    if (!up && m87_remove_tree(dir, &rm_err) < 0)
        m87_log(M87_LOG_WARN, "session %s: %s", q->id, rm_err->msg);
    agent_session_prune_dirs(d->cfg->state_dir, d->cfg->docker_host);
    _exit(0);
}
