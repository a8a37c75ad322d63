/* One attempt of one command: a child in its own process group, its output through a pipe,
 * a timeout that takes the whole group down. Native compose commands run in the child through
 * the front end the runner was given (`m87-agent compose`'s), so no docker binary is needed. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/runner-text.h"
#include "m87/runner.h"
#include "m87/spec-runspec.h"
#include "m87/time.h"

#define DRAIN_MS 500 /* after the command ended: how long leftovers' output is still read */

void runner_outcome_release(struct runner_outcome *o)
{
    free(o->output);
    o->output = NULL;
}

M87_NORETURN static void child_fail(const char *what, const char *subject)
{
    dprintf(STDERR_FILENO, "m87-agent: %s '%s': %s\n", what, subject, strerror(errno));
    _exit(127);
}

M87_NORETURN static void child(const struct runner *r, const struct runner_exec *x,
                               const struct spec_run *run, struct m87_strv *native, int wfd,
                               pid_t parent)
{
    sigset_t none;

    setpgid(0, 0);
    /* a runner killed mid-step takes the step's main process with it; the rerun starts over */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(wfd, STDOUT_FILENO) < 0 ||
        dup2(wfd, STDERR_FILENO) < 0)
        _exit(127);
    if (r->lock_fd >= 0)
        close(r->lock_fd); /* the lock must not outlive the runner in a native child */
    if (chdir(x->workdir) < 0)
        child_fail("change to directory", x->workdir);
    environ = (char **)x->envp;
    if (native->len) {
        if (!r->native) {
            dprintf(STDERR_FILENO, "m87-agent: no native compose executor in this runner\n");
            _exit(127);
        }
        optind = 0; /* glibc: a fresh getopt for the compose front end */
        int rc = r->native((int)native->len, native->items);
        fflush(NULL);
        _exit(rc);
    }
    if (run->shell) {
        char *argv[] = {"sh", "-c", run->text, NULL};
        execve("/bin/sh", argv, x->envp);
        child_fail("run", "/bin/sh");
    }
    execvpe(run->argv.items[0], run->argv.items, x->envp);
    child_fail("run", run->argv.items[0]);
}

struct reader {
    FILE *log;
    char *prefix;
    bool at_line_start;
    struct runner_tail tail;
};

static void stream_out(struct reader *rd, const char *data, size_t len)
{
    runner_tail_add(&rd->tail, data, len);
    while (len > 0) {
        if (rd->at_line_start)
            fputs(rd->prefix, rd->log);
        const char *nl = memchr(data, '\n', len);
        size_t n = nl ? (size_t)(nl - data) + 1 : len;
        fwrite(data, 1, n, rd->log);
        rd->at_line_start = nl != NULL;
        data += n;
        len -= n;
    }
    fflush(rd->log);
}

/* Read what is there; false at end of file or on an error. */
static bool read_some(int fd, struct reader *rd)
{
    char buf[8192];
    ssize_t n = read(fd, buf, sizeof(buf));

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    stream_out(rd, buf, (size_t)n);
    return true;
}

/* Without a pidfd (kernels before 5.3), the child's end is looked for this often. */
#define NO_PIDFD_POLL_MS 50

struct watch {
    pid_t pid;
    int pidfd; /* -1: none, waitpid is asked every NO_PIDFD_POLL_MS */
    int rfd;   /* -1 once at end of file */
    int64_t deadline;
    int64_t kill_at; /* -1: no SIGKILL pending */
    long grace_ms;
    bool timed_out;
    int status;
};

/* Wait for the child's exit, reading its output and enforcing the timeout. */
static int watch_child(struct watch *w, struct reader *rd, struct m87_error **err)
{
    for (;;) {
        int64_t now = m87_mono_ms();
        if (!w->timed_out && now >= w->deadline) {
            kill(-w->pid, SIGTERM);
            w->timed_out = true;
            w->kill_at = now + w->grace_ms;
        } else if (w->kill_at >= 0 && now >= w->kill_at) {
            kill(-w->pid, SIGKILL);
            w->kill_at = -1;
        }
        int64_t until = w->kill_at >= 0 ? w->kill_at : w->timed_out ? -1 : w->deadline;
        int timeout = until < 0 ? -1 : (int)(until - now > 60000 ? 60000 : until - now);
        if (w->pidfd < 0 && (timeout < 0 || timeout > NO_PIDFD_POLL_MS))
            timeout = NO_PIDFD_POLL_MS;
        struct pollfd fds[2] = {{.fd = w->pidfd, .events = POLLIN},
                                {.fd = w->rfd, .events = POLLIN}};
        int rc = poll(fds, 2, timeout); /* a negative fd is not watched */
        if (rc < 0 && errno != EINTR)
            return m87_error_set(err, M87_E_IO, errno, "wait for the step");
        if (rc > 0 && w->rfd >= 0 && fds[1].revents && !read_some(w->rfd, rd)) {
            close(w->rfd);
            w->rfd = -1;
        }
        if ((rc > 0 && fds[0].revents) || w->pidfd < 0) {
            pid_t done = waitpid(w->pid, &w->status, WNOHANG);
            if (done == w->pid)
                return 0;
            if (done < 0 && errno == ECHILD) /* reaped behind our back: status unknown */
                return m87_error_set(err, M87_E_INTERNAL, ECHILD, "wait for process %ld",
                                     (long)w->pid);
        }
    }
}

/* The command ended: read what its leftovers still have to say, then kill them. */
static void finish_group(struct watch *w, struct reader *rd)
{
    if (w->rfd >= 0) {
        fcntl(w->rfd, F_SETFL, O_NONBLOCK);
        while (read_some(w->rfd, rd)) {
            struct pollfd p = {.fd = w->rfd, .events = POLLIN};
            if (poll(&p, 1, 0) <= 0)
                break;
        }
    }
    kill(-w->pid, SIGKILL);
    int64_t end = m87_mono_ms() + DRAIN_MS;
    while (w->rfd >= 0 && m87_mono_ms() < end) {
        struct pollfd p = {.fd = w->rfd, .events = POLLIN};
        if (poll(&p, 1, (int)(end - m87_mono_ms())) <= 0 || !read_some(w->rfd, rd))
            break;
    }
    if (w->rfd >= 0)
        close(w->rfd);
    w->rfd = -1;
}

static int exit_code_of(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 127;
}

int runner_exec(struct runner *r, const struct runner_exec *x, const struct spec_run *run,
                struct runner_outcome *out, struct m87_error **err)
{
    struct m87_strv native;
    int p[2];

    m87_strv_init(&native);
    runner_native_compose(run, &native);
    if (pipe2(p, O_CLOEXEC) < 0)
        return m87_error_set(err, M87_E_IO, errno, "create a pipe");
    fflush(NULL);
    pid_t parent = getpid();
    int64_t t0 = m87_mono_ms();
    pid_t pid = fork();
    if (pid == 0)
        child(r, x, run, &native, p[1], parent);
    int fork_errno = errno;
    m87_strv_release(&native);
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        return m87_error_set(err, M87_E_IO, fork_errno, "fork");
    }
    setpgid(pid, pid); /* also in the child: whichever runs first */
    struct watch w = {.pid = pid, .rfd = p[0], .kill_at = -1, .grace_ms = r->kill_grace_ms};
    int64_t timeout_ms = x->timeout_ns / 1000000;
    w.deadline = t0 + (timeout_ms > 0 ? timeout_ms : 1);
    struct reader rd = {.log = r->log, .at_line_start = true};
    rd.prefix = m87_xasprintf("[%s/%s] ", x->job, x->step);
    w.pidfd = pidfd_open(pid, 0); /* -1 (ENOSYS) on kernels before 5.3: watch_child polls */
    int rc = watch_child(&w, &rd, err);
    if (w.pidfd >= 0)
        close(w.pidfd);
    if (rc < 0) {
        kill(-pid, SIGKILL);
        waitpid(pid, &w.status, 0);
    }
    finish_group(&w, &rd);
    if (!rd.at_line_start)
        fputc('\n', rd.log);
    free(rd.prefix);
    if (rc < 0)
        return -1;
    *out = (struct runner_outcome){
        .exit_code = exit_code_of(w.status),
        .timed_out = w.timed_out,
        .duration_ms = m87_mono_ms() - t0,
        .output = runner_tail_text(&rd.tail),
    };
    return 0;
}
