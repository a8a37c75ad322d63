/* `m87 cp` (docs/remote.md): a file or a tree to or from a device, as a tar stream (tar-copy.h)
 * through a remote channel: the upload is the channel's stdin, the download its stdout. Our
 * side of the tar runs in a child process (it blocks on its pipe while we pump the streams),
 * which draws the progress on a terminal. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/io.h"
#include "m87/json-write.h"
#include "m87/pump.h"
#include "m87/tar-copy.h"
#include "m87/time.h"

#define CP_PROGRESS_MS 200 /* between two redraws of the progress line */
#define CP_MAX_MESSAGE 4096

static const char cp_help[] =
    "usage: m87 cp [-r] SRC DEVICE:DST\n"
    "       m87 cp [-r] DEVICE:SRC DST\n"
    "\n"
    "Copy a file or, with -r, a directory tree to or from a device, through the server: no\n"
    "port is opened on the device. Modes and modification times are kept, symbolic links\n"
    "within a tree are copied as links (one pointing out of the tree is refused). When DST\n"
    "is an existing directory the copy goes inside it, under SRC's name; else DST is its new\n"
    "name, in a directory that must exist. The copy is written under a temporary name beside\n"
    "DST and renamed into place once complete: an interrupted copy leaves nothing at DST.\n"
    "A relative path on the device is its agent user's home directory's. The device must\n"
    "allow it (`remote = cp` in its agent config). Progress is shown on a terminal.\n"
    "\n"
    "options:\n"
    "  -r, --recursive  copy directories\n"
    "  -h, --help       show this help\n"
    "\n"
    "Exit status: 0 when copied; 1 when the copy failed (on the device: its message), or the\n"
    "channel broke; 2 when the device is offline, does not allow it, or the input is bad;\n"
    "130 after Ctrl-C.\n";

struct cp_opts {
    bool recursive;
    const char *device; /* the remote side's */
    const char *remote; /* its path */
    const char *local;
    bool upload;
};

/* "DEVICE:PATH" when what comes before the first ':' has no '/' (./a:b is a local name). */
static bool split_remote(char *arg, const char **device, const char **path)
{
    char *colon = strchr(arg, ':');
    if (!colon || colon == arg || memchr(arg, '/', (size_t)(colon - arg)))
        return false;
    *colon = '\0';
    *device = arg;
    *path = colon + 1;
    return true;
}

static int parse_cp(int argc, char **argv, struct cp_opts *o)
{
    static const struct option opts[] = {
        {"recursive", no_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "+:r", opts, NULL)) != -1) {
        if (c != 'r')
            return cli_bad_option("cp", argv, c);
        o->recursive = true;
    }
    if (argc - optind != 2)
        return cli_usage_error("cp", "expected SRC and DST, one of them DEVICE:PATH");
    const char *dev_src = NULL, *dev_dst = NULL, *src = argv[optind], *dst = argv[optind + 1];
    bool from = split_remote(argv[optind], &dev_src, &src);
    bool to = split_remote(argv[optind + 1], &dev_dst, &dst);
    if (from && to)
        return cli_usage_error("cp", "a copy from a device to a device is not supported");
    if (!from && !to)
        return cli_usage_error("cp", "one of SRC and DST must be DEVICE:PATH");
    if (!(from ? dst : src)[0])
        return cli_usage_error("cp", "the local path is empty");
    o->upload = to;
    o->device = to ? dev_dst : dev_src;
    o->remote = to ? dst : src;
    o->local = to ? src : dst;
    return 0;
}

static char *request_body(const struct cp_opts *o)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "what", "cp");
    m87_jw_key(w, "command");
    m87_jw_arr_open(w);
    m87_jw_str(w, o->upload ? "upload" : "download");
    if (!o->upload && o->recursive)
        m87_jw_str(w, "-r");
    m87_jw_str(w, o->remote);
    m87_jw_arr_close(w);
    m87_jw_kbool(w, "stdin", o->upload);
    m87_jw_obj_close(w);
    return m87_jw_finish(w);
}

/* ---- the progress line, drawn by the child on a terminal ------------------------------------- */

struct progress {
    const char *name;
    int64_t start_ms, last_ms;
};

static void human(char *out, size_t n, double v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    snprintf(out, n, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void on_progress(void *ctx, int64_t bytes, bool done)
{
    struct progress *pr = ctx;
    int64_t now = m87_mono_ms();
    if (!done && now - pr->last_ms < CP_PROGRESS_MS)
        return;
    pr->last_ms = now;
    double secs = (double)(now - pr->start_ms) / 1000.0;
    char size[32], rate[32];
    human(size, sizeof(size), (double)bytes);
    human(rate, sizeof(rate), secs > 0 ? (double)bytes / secs : 0);
    fprintf(stderr, "\r\033[K%s  %s  %s/s%s", pr->name, size, rate, done ? "\n" : "");
}

/* ---- our side of the tar -----------------------------------------------------------------------
 */

static volatile sig_atomic_t cp_stop;

static void on_signal(int sig)
{
    (void)sig;
    cp_stop = 1;
}

/* The child: pack the local source into fd, or unpack fd at the local destination; a failure's
 * message goes to msg_fd. Never returns. */
M87_NORETURN static void tar_child(const struct cp_opts *o, int fd, int msg_fd)
{
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: a waiting read stops */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct progress pr = {.name = o->upload ? o->local : o->remote, .start_ms = m87_mono_ms()};
    bool tty = isatty(STDERR_FILENO);
    _cleanup_error_ struct m87_error *err = NULL;
    int rc =
        o->upload
            ? m87_tar_pack(o->local, o->recursive, fd, tty ? on_progress : NULL, &pr, &err)
            : m87_tar_unpack(fd, o->local, &cp_stop, tty ? on_progress : NULL, &pr, NULL, &err);
    if (rc < 0) {
        if (tty && pr.last_ms)
            fputc('\n', stderr);
        /* a stream whose reader went away (the device ended the copy) is no news: it says why */
        if (!(o->upload && err->sys_errno == EPIPE))
            (void)m87_write_all(msg_fd, err->msg, strlen(err->msg));
        _exit(1);
    }
    _exit(0);
}

struct cp_child {
    pid_t pid;
    int msg; /* the read end of its message pipe */
};

/* Start the child; *ours is our end of its tar pipe (what the pump sends or fills). */
static int start_child(const struct cp_opts *o, struct cp_child *child, int *ours)
{
    int tar[2], msg[2];
    if (pipe2(tar, O_CLOEXEC) < 0 || pipe2(msg, O_CLOEXEC) < 0) {
        fprintf(stderr, "m87: cp: pipe: %s\n", strerror(errno));
        return CLI_EXIT_FAILED;
    }
    fflush(NULL);
    child->pid = fork();
    if (child->pid < 0) {
        fprintf(stderr, "m87: cp: fork: %s\n", strerror(errno));
        return CLI_EXIT_FAILED;
    }
    if (child->pid == 0) {
        close(msg[0]);
        close(o->upload ? tar[0] : tar[1]);
        tar_child(o, o->upload ? tar[1] : tar[0], msg[1]);
    }
    close(msg[1]);
    close(o->upload ? tar[1] : tar[0]);
    child->msg = msg[0];
    *ours = o->upload ? tar[0] : tar[1];
    return CLI_EXIT_OK;
}

/* Wait for the child: 0 when it succeeded, else 1 with its message in msg. */
static int wait_child(struct cp_child *child, char *msg, size_t n)
{
    int status = 0;
    while (waitpid(child->pid, &status, 0) < 0 && errno == EINTR)
        ;
    ssize_t got = m87_read_some(child->msg, msg, n - 1);
    msg[got > 0 ? got : 0] = '\0';
    close(child->msg);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (!msg[0] && WIFSIGNALED(status))
        snprintf(msg, n, "the copy stopped (signal %d)", WTERMSIG(status));
    return 1;
}

static int run_streams(struct cli_channel *ch, const struct cp_opts *o)
{
    struct cp_child child = {0};
    int fd = -1;
    int rc = start_child(o, &child, &fd);
    if (rc != CLI_EXIT_OK)
        return rc;
    struct m87_pump *p = m87_pump_new();
    if (o->upload) {
        m87_pump_add(p, cli_channel_stream(ch, "stdin"), fd, M87_PUMP_UPLOAD, false);
        m87_pump_add(p, cli_channel_stream(ch, "stdout"), dup(STDOUT_FILENO), M87_PUMP_DOWNLOAD,
                     true);
    } else {
        m87_pump_add(p, cli_channel_stream(ch, "stdout"), fd, M87_PUMP_DOWNLOAD, true);
    }
    m87_pump_add(p, cli_channel_stream(ch, "stderr"), dup(STDERR_FILENO), M87_PUMP_DOWNLOAD, true);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    _cleanup_error_ struct m87_error *err = NULL;
    int pumped = m87_pump_run(p, &cp_stop, &err);
    int code;
    if (pumped < 0 && m87_error_code(err) == M87_E_CANCELLED) {
        kill(child.pid, SIGTERM); /* it removes what it wrote */
        code = 130;
    } else {
        code = cli_channel_end(ch, "cp: "); /* also when a stream failed: it says why */
    }
    m87_pump_free(p); /* closes our end of the tar: the child sees the end of a cut stream */
    char msg[CP_MAX_MESSAGE];
    int failed = wait_child(&child, msg, sizeof(msg));
    if (code == 130)
        fprintf(stderr, "m87: cp: interrupted\n");
    else if (failed && msg[0] && (code == CLI_EXIT_OK || o->upload)) /* else the device said */
        fprintf(stderr, "m87: cp: %s\n", msg);
    return code == CLI_EXIT_OK && failed ? CLI_EXIT_FAILED : code;
}

/* What can be told before the device is asked: the source here, the destination's directory. */
static int check_local(const struct cp_opts *o)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct stat st;
    if (o->upload && stat(o->local, &st) < 0)
        m87_error_set(&err, M87_E_IO, errno, "'%s'", o->local);
    else if (o->upload && S_ISDIR(st.st_mode) && !o->recursive)
        m87_error_set(&err, M87_E_INVAL, 0, "'%s' is a directory (use -r)", o->local);
    else if (!o->upload)
        m87_tar_dest_check(o->local, &err);
    if (!err)
        return CLI_EXIT_OK;
    fprintf(stderr, "m87: cp: %s\n", err->msg);
    return CLI_EXIT_FAILED;
}

static int cp_cmd(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    (void)device;
    struct cp_opts o = {0};
    int rc = parse_cp(argc, argv, &o);
    if (rc == 0)
        rc = check_local(&o);
    if (rc != 0)
        return rc;
    _cleanup_free_ char *body = request_body(&o);
    struct cli_channel ch = {0};
    rc = cli_channel_open(&ch, ctx, o.device, body);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = run_streams(&ch, &o);
    cli_channel_release(&ch);
    return rc;
}

int cli_cmd_cp(int argc, char **argv)
{
    static const struct cli_sub sub = {"cp", cp_cmd, cp_help};
    return cli_run(&sub, NULL, argc, argv);
}
