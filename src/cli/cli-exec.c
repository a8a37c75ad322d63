/* `m87 DEVICE exec` and `m87 DEVICE shell` (docs/remote.md): open a remote channel, join its
 * streams (pump.h), take the command's exit status as ours. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/pump.h"
#include "m87/time.h"
#include "m87/version.h"

static const char exec_help[] =
    "usage: m87 DEVICE exec [-i] [-t] [-e KEY=VALUE]... [-w DIR] [--] CMD [ARGS...]\n"
    "\n"
    "Run a command on the device's host now, through the server: no port is opened on the\n"
    "device. Its output comes as it is written, stdout and stderr apart; the exit status is\n"
    "the command's. The device must allow it (`remote = exec` in its agent config).\n"
    "\n"
    "options:\n"
    "  -i, --interactive  send our stdin to the command (until its end)\n"
    "  -t, --tty          run it behind a pseudo-terminal of our terminal's size (stdout and\n"
    "                     stderr are one stream then; with -i, keys go as typed: Ctrl-C and\n"
    "                     Ctrl-D reach the command as over ssh)\n"
    "  -e, --env KEY=VALUE  set an environment variable (repeatable)\n"
    "  -w, --workdir DIR  run it in DIR (absolute)\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: the command's (127: it was not found); 2 when the device is offline, does\n"
    "not allow it, or the input is bad; 1 when the channel broke.\n";

static const char shell_help[] =
    "usage: m87 DEVICE shell\n"
    "\n"
    "A login shell on the device's host behind a pseudo-terminal: `exec -it` of the agent's\n"
    "user's shell. The device must allow it (`remote = shell` in its agent config).\n"
    "\n"
    "Exit status: the shell's; 2 when the device is offline or does not allow it.\n";

struct exec_opts {
    bool in, tty, shell;
    struct m87_strv env;
    const char *workdir;
    char **argv;
    int argc;
};

static int parse_exec(int argc, char **argv, struct exec_opts *o)
{
    static const struct option opts[] = {
        {"interactive", no_argument, NULL, 'i'},
        {"tty", no_argument, NULL, 't'},
        {"env", required_argument, NULL, 'e'},
        {"workdir", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "+:ite:w:", opts, NULL)) != -1) {
        if (c == 'i') {
            o->in = true;
        } else if (c == 't') {
            o->tty = true;
        } else if (c == 'e') {
            if (!strchr(optarg, '=') || optarg[0] == '=')
                return cli_usage_error("exec", "--env: expected KEY=VALUE, not '%s'", optarg);
            m87_strv_add(&o->env, optarg);
        } else if (c == 'w') {
            if (optarg[0] != '/')
                return cli_usage_error("exec", "--workdir: expected an absolute path, not '%s'",
                                       optarg);
            o->workdir = optarg;
        } else {
            return cli_bad_option("exec", argv, c);
        }
    }
    if (optind >= argc)
        return cli_usage_error("exec", "missing command");
    o->argv = argv + optind;
    o->argc = argc - optind;
    return 0;
}

static char *request_body(const struct exec_opts *o)
{
    struct m87_jw *w = m87_jw_new();
    struct winsize ws = {0};
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "what", o->shell ? "shell" : "exec");
    if (!o->shell) {
        m87_jw_key(w, "command");
        m87_jw_arr_open(w);
        for (int i = 0; i < o->argc; i++)
            m87_jw_str(w, o->argv[i]);
        m87_jw_arr_close(w);
    }
    if (o->env.len) {
        m87_jw_key(w, "env");
        m87_jw_arr_open(w);
        for (size_t i = 0; i < o->env.len; i++)
            m87_jw_str(w, o->env.items[i]);
        m87_jw_arr_close(w);
    }
    if (o->workdir)
        m87_jw_kstr(w, "workdir", o->workdir);
    m87_jw_kbool(w, "stdin", o->in);
    m87_jw_kbool(w, "tty", o->tty);
    if (o->tty &&
        (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) &&
        ws.ws_row > 0 && ws.ws_col > 0) {
        m87_jw_kint(w, "rows", ws.ws_row);
        m87_jw_kint(w, "cols", ws.ws_col);
    }
    m87_jw_obj_close(w);
    return m87_jw_finish(w);
}

struct exec_run {
    struct cli_channel ch;
    struct termios saved;
    bool raw;
};

/* Raw mode on our terminal while a pseudo-terminal's keys go through, as ssh does. */
static void raw_on(struct exec_run *x)
{
    struct termios t;
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &x->saved) < 0)
        return;
    t = x->saved;
    cfmakeraw(&t);
    x->raw = tcsetattr(STDIN_FILENO, TCSADRAIN, &t) == 0;
}

static void raw_off(struct exec_run *x)
{
    if (x->raw)
        tcsetattr(STDIN_FILENO, TCSADRAIN, &x->saved);
    x->raw = false;
}

static volatile sig_atomic_t exec_stop, exec_winch;

static void on_signal(int sig)
{
    if (sig == SIGWINCH)
        exec_winch = 1;
    else
        exec_stop = 1;
}

/* Our terminal's new size as a line of the resize stream (cli_exec's pipe into it). */
static void on_tick(void *ctx)
{
    int *fd = ctx;
    struct winsize ws = {0};
    if (!exec_winch)
        return;
    exec_winch = 0;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
        return;
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kint(w, "rows", ws.ws_row);
    m87_jw_kint(w, "cols", ws.ws_col);
    m87_jw_obj_close(w);
    _cleanup_free_ char *json = m87_jw_finish(w);
    _cleanup_free_ char *line = m87_xasprintf("%s\n", json);
    if (write(*fd, line, strlen(line)) < 0) {
        /* a full pipe: the next change sends the size again */
    }
}

static int run_streams(struct exec_run *x, const struct exec_opts *o)
{
    struct m87_pump *p = m87_pump_new();
    if (o->in)
        m87_pump_add(p, cli_channel_stream(&x->ch, "stdin"), dup(STDIN_FILENO), M87_PUMP_UPLOAD,
                     false);
    m87_pump_add(p, cli_channel_stream(&x->ch, "stdout"), dup(STDOUT_FILENO), M87_PUMP_DOWNLOAD,
                 true);
    if (!o->tty)
        m87_pump_add(p, cli_channel_stream(&x->ch, "stderr"), dup(STDERR_FILENO), M87_PUMP_DOWNLOAD,
                     true);
    int rz[2] = {-1, -1};
    if (o->tty && pipe2(rz, O_CLOEXEC | O_NONBLOCK) == 0) {
        m87_pump_add(p, cli_channel_stream(&x->ch, "resize"), rz[0], M87_PUMP_UPLOAD, false);
        m87_pump_set_tick(p, on_tick, &rz[1]);
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    if (o->tty)
        sigaction(SIGWINCH, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    if (!o->tty) /* with a terminal, Ctrl-C is a key for the command */
        sigaction(SIGINT, &sa, NULL);
    if (o->tty && o->in)
        raw_on(x);
    _cleanup_error_ struct m87_error *err = NULL;
    int rc = m87_pump_run(p, &exec_stop, &err);
    raw_off(x);
    int code;
    if (rc < 0 && m87_error_code(err) == M87_E_CANCELLED) {
        fprintf(stderr, "m87: interrupted\n");
        code = 130;
    } else {
        code = cli_channel_end(&x->ch, ""); /* also when a stream failed: it says why */
    }
    m87_pump_free(p); /* our stdin stream ends after the channel did */
    if (rz[1] >= 0)
        close(rz[1]);
    return code;
}

static int exec_run(const struct cli_ctx *ctx, const char *device, const struct exec_opts *o)
{
    _cleanup_free_ char *body = request_body(o);
    struct exec_run x = {0};
    int rc = cli_channel_open(&x.ch, ctx, device, body);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = run_streams(&x, o);
    cli_channel_release(&x.ch);
    return rc;
}

static int exec_cmd(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    struct exec_opts o = {0};
    m87_strv_init(&o.env);
    int rc = parse_exec(argc, argv, &o);
    if (rc == 0)
        rc = exec_run(ctx, device, &o);
    m87_strv_release(&o.env);
    return rc;
}

static int shell_cmd(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    int rc = cli_parse_simple("shell", shell_help, argc, argv, NULL, 0, 0);
    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    struct exec_opts o = {.in = true, .tty = true, .shell = true};
    m87_strv_init(&o.env);
    return exec_run(ctx, device, &o);
}

int cli_cmd_exec(const char *device, int argc, char **argv)
{
    static const struct cli_sub sub = {"exec", exec_cmd, exec_help};
    return cli_run(&sub, device, argc, argv);
}

int cli_cmd_shell(const char *device, int argc, char **argv)
{
    static const struct cli_sub sub = {"shell", shell_cmd, shell_help};
    return cli_run(&sub, device, argc, argv);
}
