/* Which backend of db.h a --db value names; shared by both backends and their callers, and
 * free of either library. */
#include <string.h>

#include "server/db.h"

/* A libpq URI, or a keyword/value string: it starts with a keyword and '=' ("host=...
 * dbname=..."), which a path of ours ("DIR/m87.db") does not. */
bool srv_db_url_is_pg(const char *url)
{
    if (!url)
        return false;
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
        return true;
    size_t i = strspn(url, " \t");
    size_t k = strspn(url + i, "abcdefghijklmnopqrstuvwxyz_");
    if (k == 0)
        return false;
    i += k;
    i += strspn(url + i, " \t");
    return url[i] == '=';
}
