/* m87-server private: the admin tokens in the store (store-tokens.c), for `m87-server token`
 * (docs/operations.md, "Admin tokens"): each has an id, an optional name, the fingerprint the
 * audit trail shows for it and its creation time; the secret itself is never kept, only its
 * SHA-256. */
#ifndef M87_SERVER_STORE_TOKENS_H
#define M87_SERVER_STORE_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "server/store-audit.h"
#include "server/store.h"

#define SRV_TOKEN_MAX_NAME 64 /* bytes of an admin token's name */

struct srv_admin_token {
    int64_t id;
    char *name;                                   /* NULL: none (the token of `init`) */
    char fingerprint[SRV_AUDIT_TOKEN_ID_LEN + 1]; /* the "token" of its audit rows */
    int64_t created;                              /* unix seconds */
};

/* Store a new admin token by its hash (srv_token_new), named name (NULL: none); *id its id. */
int srv_admin_token_add(struct srv_store *st, const char *hash, const char *name, int64_t *id,
                        struct m87_error **err);
/* Every admin token, oldest first; *out is the caller's (srv_admin_tokens_free). */
int srv_admin_token_list(struct srv_store *st, struct srv_admin_token **out, size_t *n,
                         struct m87_error **err);
void srv_admin_tokens_free(struct srv_admin_token *v, size_t n);
/* Delete the admin token with id (> 0), or else the one whose fingerprint is fingerprint, and
 * fill *gone with it (the caller releases its name). M87_E_NOTFOUND when no admin token matches,
 * M87_E_CONFLICT when it is the last admin token or the fingerprint names more than one; nothing
 * is deleted then. Takes the store's transaction itself. */
int srv_admin_token_revoke(struct srv_store *st, int64_t id, const char *fingerprint,
                           struct srv_admin_token *gone, struct m87_error **err);

#endif
