/* Registry credentials, the part with I/O: reading config.json and running credential helpers
 * (docker-credential-NAME get, the registry's config key on stdin, the answer on stdout).
 *
 * The helper's stdin is filled before the fork (an address is far below a pipe's buffer), so a
 * helper that exits without reading cannot raise SIGPIPE in us; a third pipe, closed on exec,
 * tells "not on PATH" apart from a helper that failed. The helper's stderr goes to /dev/null:
 * the protocol puts its error messages on stdout. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/engine-creds.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/io.h"
#include "m87/time.h"

/* The answer of a helper that has no credentials for the address (docker-credential-helpers'
 * errCredentialsNotFound). */
#define HELPER_NOT_FOUND "credentials not found"

static char *config_dir(void)
{
    const char *dir = getenv("DOCKER_CONFIG");
    if (dir != NULL && dir[0] != '\0')
        return m87_xstrdup(dir);
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0') {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    return home ? m87_xasprintf("%s/.docker", home) : NULL;
}

struct engine_creds *engine_creds_load(const char *dir, struct m87_error **err)
{
    _cleanup_free_ char *found = dir ? m87_xstrdup(dir) : config_dir();
    _cleanup_free_ char *path = m87_xasprintf("%s/config.json", found ? found : "");
    if (found == NULL || (access(path, F_OK) < 0 && errno == ENOENT))
        return engine_creds_parse("{}", 2, path, err);
    size_t len = 0;
    _cleanup_free_ char *text = m87_read_file(path, ENGINE_CREDS_CONFIG_MAX, &len, err);
    if (text == NULL)
        return NULL;
    struct engine_creds *c = engine_creds_parse(text, len, path, err);
    explicit_bzero(text, len);
    return c;
}

int engine_creds_add_server(struct engine_creds *c, const char *path, struct m87_error **err)
{
    if (access(path, F_OK) < 0 && errno == ENOENT)
        return 0;
    size_t len = 0;
    _cleanup_free_ char *text = m87_read_file(path, ENGINE_CREDS_CONFIG_MAX, &len, err);
    if (text == NULL)
        return -1;
    int rc = engine_creds_parse_server(c, text, len, path, err);
    explicit_bzero(text, len);
    return rc;
}

struct helper_run {
    const char *name;
    const char *server;
    pid_t pid;
    struct m87_buf out;
    int status; /* of waitpid */
};

static void close_pair(int p[2])
{
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
}

static void helper_child(const char *prog, int in, int out, int report)
{
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || (null >= 0 && dup2(null, 2) < 0))
        _exit(127);
    char *const argv[] = {(char *)prog, (char *)"get", NULL};
    execvp(prog, argv);
    int e = errno;
    (void)m87_write_all(report, &e, sizeof(e));
    _exit(127);
}

/* Read the helper's stdout to its end, within the time bound and the cap. */
static int helper_read(struct helper_run *h, int fd, struct m87_error **err)
{
    int64_t deadline = m87_mono_ms() + ENGINE_CREDS_HELPER_TIMEOUT_MS;
    char chunk[4096];
    for (;;) {
        int64_t left = deadline - m87_mono_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return m87_error_set(err, M87_E_IO, errno, "poll");
        if (r == 0)
            return m87_error_set(err, M87_E_TIMEOUT, 0, "no answer within %ld ms",
                                 ENGINE_CREDS_HELPER_TIMEOUT_MS);
        ssize_t n = m87_read_some(fd, chunk, sizeof(chunk));
        if (n < 0)
            return m87_error_set(err, M87_E_IO, errno, "read its answer");
        if (n == 0)
            return 0;
        if (m87_buf_append(&h->out, chunk, (size_t)n, err) < 0)
            return -1;
    }
}

static int helper_spawn(struct helper_run *h, int in[2], int out[2], int report[2],
                        struct m87_error **err)
{
    size_t len = strlen(h->server);
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0)
        return m87_error_set(err, M87_E_IO, errno, "pipe");
    /* below PIPE_BUF, the write cannot block before the helper reads */
    if (len >= PIPE_BUF)
        return m87_error_set(err, M87_E_INVAL, 0, "the address is %zu bytes long", len);
    if (m87_write_all(in[1], h->server, len) < 0)
        return m87_error_set(err, M87_E_IO, errno, "write the address");
    close(in[1]);
    in[1] = -1;
    _cleanup_free_ char *prog = m87_xasprintf("docker-credential-%s", h->name);
    h->pid = fork();
    if (h->pid < 0)
        return m87_error_set(err, M87_E_IO, errno, "fork");
    if (h->pid == 0)
        helper_child(prog, in[0], out[1], report[1]);
    close(out[1]);
    out[1] = -1;
    close(report[1]);
    report[1] = -1;
    return 0;
}

/* Run the helper; 0 with h->out and h->status filled, or -1. */
static int helper_exec(struct helper_run *h, struct m87_error **err)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, report[2] = {-1, -1};
    int rc = helper_spawn(h, in, out, report, err);
    if (rc == 0)
        rc = helper_read(h, out[0], err);
    if (rc < 0 && h->pid > 0)
        kill(h->pid, SIGKILL);
    int exec_errno = 0;
    if (h->pid > 0 && m87_read_some(report[0], &exec_errno, sizeof(exec_errno)) > 0 && rc == 0)
        rc = m87_error_set(err, M87_E_IO, exec_errno, "run it (is docker-credential-%s on PATH?)",
                           h->name);
    pid_t w = 0;
    while (h->pid > 0 && (w = waitpid(h->pid, &h->status, 0)) < 0 && errno == EINTR)
        ;
    if (w < 0 && rc == 0) /* never read a status we did not get as success */
        rc = m87_error_set(err, M87_E_IO, errno, "wait for it");
    close_pair(in);
    close_pair(out);
    close_pair(report);
    return rc;
}

/* The helper's answer; a failure quotes its message (an error text, never credentials). */
static int helper_get(const char *name, const char *server, struct engine_registry_auth *out,
                      struct m87_error **err)
{
    if (strchr(name, '/') != NULL || name[0] == '.')
        return m87_error_set(err, M87_E_INVAL, 0, "credential helper name '%s' is not a name",
                             name);
    struct helper_run h = {.name = name, .server = server};
    m87_buf_init(&h.out, ENGINE_CREDS_HELPER_MAX);
    int rc = helper_exec(&h, err);
    size_t len = h.out.len;
    char *text = len ? h.out.data : (char *)"";
    if (rc == 0 && WIFEXITED(h.status) && WEXITSTATUS(h.status) == 0)
        rc = engine_creds_helper_answer(text, len, name, server, out, err);
    else if (rc == 0 && memmem(text, len, HELPER_NOT_FOUND, strlen(HELPER_NOT_FOUND)) != NULL)
        rc = 0; /* no credentials: an anonymous pull */
    else if (rc == 0) {
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
            len--;
        _cleanup_free_ char *msg = m87_xstrndup(text, len);
        _cleanup_free_ char *quoted = m87_quote_excerpt(msg, 200);
        rc = m87_error_set(err, M87_E_INVAL, 0, "it failed (%s %d): %s",
                           WIFEXITED(h.status) ? "exit status" : "signal",
                           WIFEXITED(h.status) ? WEXITSTATUS(h.status) : WTERMSIG(h.status),
                           len ? quoted : "no message");
    }
    if (h.out.data)
        explicit_bzero(h.out.data, h.out.len);
    m87_buf_release(&h.out);
    return rc < 0 ? m87_error_wrap(err, "credential helper docker-credential-%s", name) : 0;
}

int engine_creds_lookup(const struct engine_creds *c, const char *ref,
                        struct engine_registry_auth *out, struct m87_error **err)
{
    *out = (struct engine_registry_auth){.registry = engine_ref_registry(ref)};
    struct engine_creds_choice ch;
    engine_creds_choose(c, out->registry, &ch);
    int rc = 0;
    if (ch.source == ENGINE_CREDS_SERVER)
        engine_creds_server_entry(c, ch.key, out);
    else if (ch.source == ENGINE_CREDS_AUTHS)
        rc = engine_creds_auths_entry(c, ch.key, out, err);
    else if (ch.source == ENGINE_CREDS_HELPER)
        rc = helper_get(ch.helper,
                        strcmp(out->registry, "docker.io") == 0 ? ENGINE_CREDS_HUB_KEY
                                                                : out->registry,
                        out, err);
    return rc < 0 ? m87_error_wrap(err, "credentials of registry '%s'", out->registry) : 0;
}
