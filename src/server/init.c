/* `m87-server init`: the data directory, the database, the admin token. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/hash.h"
#include "server/auth.h"
#include "server/limits.h"
#include "server/secret.h"
#include "server/serve.h"
#include "server/store.h"

int srv_init(const char *dir, const char *db_url, char **token, struct m87_error **err)
{
    if (m87_mkdir_p(dir, 0700, err) < 0)
        return -1;
    if (chmod(dir, 0700) < 0)
        return m87_error_set(err, M87_E_IO, errno, "chmod '%s'", dir);
    _cleanup_free_ char *bundles = m87_xasprintf("%s/%s", dir, SRV_BUNDLE_DIR);
    struct srv_store *st = NULL;
    if (srv_store_open_db(dir, db_url, true, &st, err) < 0)
        return -1;
    char hash[M87_SHA256_HEX_LEN + 1];
    _cleanup_free_ char *t = NULL;
    struct srv_secret_key key = {0};
    int rc = m87_mkdir_p(bundles, 0700, err);
    if (rc == 0)
        rc = srv_secret_key_load(dir, true, &key, err);
    srv_secret_key_release(&key);
    if (rc == 0)
        rc = srv_token_new(SRV_ROLE_ADMIN, &t, hash, err);
    if (rc == 0 && (rc = srv_store_begin(st, err)) == 0) {
        rc = srv_token_add(st, hash, SRV_ROLE_ADMIN, 0, err);
        if (rc == 0)
            rc = srv_store_commit(st, err);
        else
            srv_store_rollback(st);
    }
    srv_store_free(st);
    if (rc < 0)
        return -1;
    *token = M87_STEAL(t);
    return 0;
}
