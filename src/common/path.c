/* Path names as text. */
#include "m87/alloc.h"
#include "m87/path.h"

char *m87_absolute(const char *dir, const char *path)
{
    return path[0] == '/' ? m87_xstrdup(path) : m87_xasprintf("%s/%s", dir, path);
}
