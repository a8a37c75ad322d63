
#include "m87/error.h"
#include "m87/hash.h"
/* m87-server private: tokens and their roles (auth.c): creating one, and deciding who a request
 * comes from and whether it may go on. */
#ifndef M87_SERVER_AUTH_H
#define M87_SERVER_AUTH_H


enum srv_role {
    SRV_ROLE_NONE = 0,
    SRV_ROLE_ADMIN,
    SRV_ROLE_DEVICE,
};

#define SRV_TOKEN_ADMIN_PREFIX "m87a_"
#define SRV_TOKEN_DEVICE_PREFIX "m87d_"

/* A new random token for role and its hex SHA-256. *token is the caller's. */
int srv_token_new(enum srv_role role, char **token, char hash[M87_SHA256_HEX_LEN + 1],
                  struct m87_error **err);

struct srv_req;
/* 401/403 decided for r's route (429 for a source past its failed-authentication limit); -1
 * with a reply queued when the request may not go on. */
int srv_auth_check(struct srv_req *r);

#endif
