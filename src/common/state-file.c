/* State files: read a JSON file that may not exist yet, and fsync the directory of a file. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json.h"
#include "m87/state-file.h"

int m87_state_read_json(const char *path, size_t max, struct m87_json **doc, struct m87_error **err)
{
    _cleanup_error_ struct m87_error *e = NULL;
    size_t len = 0;
    _cleanup_free_ char *text = m87_read_file(path, max, &len, &e);

    if (!text) {
        if (e->sys_errno == ENOENT)
            return 0;
        if (err)
            *err = M87_STEAL(e);
        return -1;
    }
    struct m87_json *parsed = m87_json_parse(text, len, err);
    if (!parsed)
        return m87_error_wrap(err, "read '%s'", path);
    *doc = parsed;
    return 1;
}

int m87_state_sync_dir(const char *path, struct m87_error **err)
{
    const char *slash = strrchr(path, '/');
    _cleanup_free_ char *dir = !slash          ? m87_xstrdup(".")
                               : slash == path ? m87_xstrdup("/")
                                               : m87_xstrndup(path, (size_t)(slash - path));
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        return m87_error_set(err, M87_E_IO, errno, "sync directory '%s'", dir);
    return 0;
}
