/* The lock a server holds on its data directory (serve.h): an flock on DATA/m87.lock with the
 * holder's pid in it, released by the kernel when the process ends, however it ends. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/io.h"
#include "server/limits.h"
#include "server/serve.h"

int srv_data_lock(const char *dir, const char *who, int *fd_out, struct m87_error **err)
{
    _cleanup_free_ char *path = m87_xasprintf("%s/%s", dir, SRV_LOCK_FILE);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return m87_error_set(err, M87_E_IO, errno, "open '%s'", path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        close(fd);
        if (e != EWOULDBLOCK)
            return m87_error_set(err, M87_E_IO, e, "lock '%s'", path);
        pid[n > 0 ? n : 0] = '\0';
        pid[strspn(pid, "0123456789")] = '\0';
        if (*pid == '\0')
            return m87_error_set(err, M87_E_CONFLICT, 0,
                                 "'%s' is in use by a running m87-server: stop it first", dir);
        return m87_error_set(err, M87_E_CONFLICT, 0,
                             "'%s' is in use by a running m87-server (pid %s): stop it first", dir,
                             pid);
    }
    char line[64];
    int len = snprintf(line, sizeof(line), "%ld %s\n", (long)getpid(), who);
    if (ftruncate(fd, 0) < 0 || pwrite(fd, line, (size_t)len, 0) != len) {
        int e = errno;
        close(fd);
        return m87_error_set(err, M87_E_IO, e, "write '%s'", path);
    }
    *fd_out = fd;
    return 0;
}
