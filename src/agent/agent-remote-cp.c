/* Remote access, "cp" (docs/remote.md, `m87 cp`): a process of the channel packs or unpacks a
 * tar stream (tar-copy.h) as the command of the channel would run: an upload is unpacked from
 * the channel's stdin, a download packed to its stdout, a failure said on its stderr and its
 * exit status (1). */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent-remote.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/path.h"
#include "m87/tar-copy.h"

static volatile sig_atomic_t cp_stop;

static void on_stop(int sig)
{
    (void)sig;
    cp_stop = 1;
}

/* A relative path is the agent user's home directory's, as scp takes it. */
static char *device_path(const char *path)
{
    if (path[0] == '/')
        return m87_xstrdup(path);
    struct passwd *pw = getpwuid(getuid());
    const char *home = pw && pw->pw_dir && pw->pw_dir[0] ? pw->pw_dir : "/";
    return path[0] ? m87_absolute(home, path) : m87_xstrdup(home);
}

/* In the process of the copy: never returns. */
M87_NORETURN static void copy(bool upload, bool recursive, const char *path)
{
    struct sigaction sa = {.sa_handler = on_stop}; /* no SA_RESTART: a waiting read stops */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *full = device_path(path);
    int rc = upload ? m87_tar_unpack(STDIN_FILENO, full, &cp_stop, NULL, NULL, NULL, &err)
                    : m87_tar_pack(full, recursive, STDOUT_FILENO, NULL, NULL, &err);
    if (rc < 0) {
        fprintf(stderr, "m87: cp on the device: %s\n", err->msg);
        _exit(1);
    }
    _exit(0);
}

int agent_remote_cp_start(const struct m87_json *request, pid_t *pid, int *fd_in, int *fd_out,
                          int *fd_err, struct m87_error **err)
{
    const struct m87_json *cmd = m87_json_get(request, "command");
    size_t n = m87_json_len(cmd);
    const char *dir = m87_json_str(m87_json_at(cmd, 0), "");
    bool upload = strcmp(dir, "upload") == 0;
    bool recursive = n == 3 && strcmp(m87_json_str(m87_json_at(cmd, 1), ""), "-r") == 0;
    const char *path = m87_json_str(m87_json_at(cmd, n - 1), NULL);
    if ((!upload && strcmp(dir, "download") != 0) || n < 2 || n > 3 || (n == 3 && !recursive) ||
        !path)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "cp: expected a command [upload|download, [-r,] PATH]");
    int in[2] = {-1, -1}, out[2], errp[2];
    if ((upload && pipe2(in, O_CLOEXEC) < 0) || pipe2(out, O_CLOEXEC) < 0 ||
        pipe2(errp, O_CLOEXEC) < 0)
        return m87_error_set(err, M87_E_IO, errno, "pipe");
    fflush(NULL);
    *pid = fork();
    if (*pid < 0)
        return m87_error_set(err, M87_E_IO, errno, "fork");
    if (*pid == 0) {
        setpgid(0, 0);
        int null = upload ? -1 : open("/dev/null", O_RDONLY);
        dup2(upload ? in[0] : null, 0);
        dup2(out[1], 1);
        dup2(errp[1], 2);
        /* no exec to close them: the ends of our side, whose copies would hold the pipes open */
        for (int i = 0; i < 2; i++) {
            if (in[i] >= 0)
                close(in[i]);
            close(out[i]);
            close(errp[i]);
        }
        if (null > 0)
            close(null);
        copy(upload, recursive, path);
    }
    if (upload) {
        close(in[0]);
        *fd_in = in[1];
    }
    close(out[1]);
    close(errp[1]);
    *fd_out = out[0];
    *fd_err = errp[0];
    return 0;
}
