/* Tokens: creation, and deciding who a request comes from and whether it may go on. */
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "m87/alloc.h"
#include "m87/base64.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "m87/time.h"
#include "server/auth.h"
#include "server/http.h"
#include "server/ratelimit.h"
#include "server/request.h"
#include "server/store.h"

int srv_token_new(enum srv_role role, char **token, char hash[M87_SHA256_HEX_LEN + 1],
                  struct m87_error **err)
{
    unsigned char rnd[32];
    if (m87_random_bytes(rnd, sizeof(rnd), err) < 0)
        return m87_error_wrap(err, "create token");
    _cleanup_free_ char *b64 = m87_base64url_encode(rnd, sizeof(rnd));
    b64[strcspn(b64, "=")] = '\0';
    const char *prefix = role == SRV_ROLE_ADMIN ? SRV_TOKEN_ADMIN_PREFIX : SRV_TOKEN_DEVICE_PREFIX;
    char *t = m87_xasprintf("%s%s", prefix, b64);
    m87_sha256_hex(t, strlen(t), hash);
    *token = t;
    return 0;
}

/* The token of "Authorization: Bearer TOKEN", or NULL. */
static const char *bearer(const char *header)
{
    if (header == NULL || strncasecmp(header, "Bearer ", 7) != 0)
        return NULL;
    header += 7;
    while (*header == ' ')
        header++;
    return *header ? header : NULL;
}

/* Who is asking: fills r->role (NONE for a missing or unknown token). -1 on a store error. */
static int identify(struct srv_req *r, struct m87_error **err)
{
    const char *token = bearer(srv_req_header(r, "Authorization"));
    if (token == NULL)
        return 0;
    char hash[M87_SHA256_HEX_LEN + 1];
    m87_sha256_hex(token, strlen(token), hash);
    struct srv_store *st = r->srv->store;
    srv_store_lock(st);
    enum srv_role role = SRV_ROLE_NONE;
    int64_t device_id = 0;
    char *name = NULL;
    int rc = srv_token_lookup(st, hash, &role, &device_id, &name, err);
    srv_store_unlock(st);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        r->role = role;
        r->device_id = device_id;
        r->device_name = name;
    }
    return 0;
}

static const struct sockaddr *client_address(const struct srv_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci ? ci->client_addr : NULL;
}

/* A source past its failed-authentication limit gets 429 before its token is looked at. */
static bool throttled(struct srv_req *r)
{
    int64_t wait = srv_ratelimit_wait(r->srv->auth_limit, client_address(r), m87_mono_ms());
    if (wait <= 0)
        return false;
    char secs[24];
    snprintf(secs, sizeof(secs), "%lld", (long long)((wait + 999) / 1000));
    struct MHD_Response *resp = srv_error_response(
        "too_many_requests", "too many failed authentications from this address; try again later");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    srv_reply_response(r, 429, resp);
    atomic_fetch_add(&r->srv->metrics.auth_throttled, 1);
    return true;
}

int srv_auth_check(struct srv_req *r)
{
    enum srv_auth_rule rule = r->route->auth;
    if (rule == SRV_AUTH_NONE)
        return 0;
    if (throttled(r))
        return -1;
    _cleanup_error_ struct m87_error *err = NULL;
    if (identify(r, &err) < 0) {
        srv_reply_fail(r, err);
        return -1;
    }
    if (r->role == SRV_ROLE_NONE) {
        srv_ratelimit_failed(r->srv->auth_limit, client_address(r), m87_mono_ms());
        atomic_fetch_add(&r->srv->metrics.auth_failed, 1);
        srv_reply_error(r, 401, "unauthorized", "%s",
                        srv_req_header(r, "Authorization") ? "unknown token"
                                                           : "missing bearer token");
        return -1;
    }
    bool ok = (rule == SRV_AUTH_ADMIN && r->role == SRV_ROLE_ADMIN) ||
              (rule == SRV_AUTH_DEVICE && r->role == SRV_ROLE_DEVICE) || rule == SRV_AUTH_BUNDLE;
    if (!ok) {
        srv_reply_error(r, 403, "forbidden", "%s token may not %s %s",
                        r->role == SRV_ROLE_ADMIN ? "the admin" : "a device", r->method, r->path);
        return -1;
    }
    return 0;
}
