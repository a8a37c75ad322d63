/* Signed sessions and remote grants (docs/security.md, docs/remote.md, m87/spec-session.h): with
 * trusted keys, a session runs (a remote request is taken) only
 * when one of them signed its request for this device, it has not expired by the device's clock,
 * and its nonce was not seen before (STATE/session-nonces keeps each until it expires). Reading
 * commands (ps, logs) are covered too: their output leaves the device. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/config.h"
#include "agent/daemon.h"
#include "agent/trust.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json.h"
#include "m87/log.h"
#include "m87/sign.h"
#include "m87/spec-session.h"

#define MAX_NONCES_FILE (4u * 1024 * 1024)

/* Whether nonce is in the kept list; the list without the expired ones goes to *kept. */
static bool nonce_seen(const char *text, const char *nonce, int64_t now, struct m87_buf *kept)
{
    bool seen = false;
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        long long expires = 0;
        char n[SPEC_SESSION_NONCE_LEN + 2];
        if (len < 80 && sscanf(line, "%lld %33s", &expires, n) == 2 && expires >= now) {
            seen = seen || strcmp(n, nonce) == 0;
            m87_buf_append(kept, line, len, NULL);
            m87_buf_append(kept, "\n", 1, NULL);
        }
        line = end ? end + 1 : NULL;
    }
    return seen;
}

/* 0 when nonce was not seen, and it is kept now; -1 with *why. */
static int remember_nonce(struct agent_daemon *d, const char *nonce, int64_t expires, int64_t now,
                          char **why)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *path =
        m87_xasprintf("%s/%s", d->cfg->state_dir, AGENT_SESSION_NONCES_FILE);
    size_t len = 0;
    _cleanup_free_ char *text = m87_read_file(path, MAX_NONCES_FILE, &len, &err);
    if (!text && err->sys_errno != ENOENT) {
        *why = m87_xasprintf("the nonces seen cannot be read: %s", err->msg);
        return -1;
    }
    struct m87_buf kept;
    m87_buf_init(&kept, MAX_NONCES_FILE);
    if (nonce_seen(text, nonce, now, &kept)) {
        m87_buf_release(&kept);
        *why = m87_xasprintf("a replay: its nonce %s was seen before", nonce);
        return -1;
    }
    char line[64];
    snprintf(line, sizeof(line), "%" PRId64 " %s\n", expires, nonce);
    int rc = m87_buf_append(&kept, line, strlen(line), &err);
    if (rc == 0)
        rc = m87_write_file_atomic(path, kept.data, kept.len, 0600, &err);
    m87_buf_release(&kept);
    if (rc < 0)
        *why = m87_xasprintf("its nonce cannot be kept: %s", err->msg);
    return rc;
}

typedef char *(*payload_fn)(const struct m87_json *request, const char *device, const char *nonce,
                            int64_t expires, struct m87_error **err);

/* A signed request of a sync answer ({"id","request"}), what it is named in messages ("session",
 * "remote request"), payload_of what its signature covers. */
static int trust_request(struct agent_daemon *d, const struct m87_json *node, const char *what,
                         payload_fn payload_of, char **why)
{
    _cleanup_error_ struct m87_error *err = NULL;
    const struct m87_json *req = m87_json_get(node, "request");
    const struct m87_json *sig = m87_json_get(req, "signature");
    const char *key = m87_json_str(m87_json_get(sig, "key"), NULL);
    const char *text = m87_json_str(m87_json_get(sig, "sig"), NULL);
    const char *nonce = m87_json_str(m87_json_get(sig, "nonce"), NULL);
    int64_t expires = m87_json_int(m87_json_get(sig, "expires"), 0);
    int64_t now = (int64_t)time(NULL);
    const char *device = agent_trust_device_name(d);

    *why = NULL;
    if (d->cfg->n_trust_keys == 0)
        return 0;
    if (!key || !text || !nonce || strlen(nonce) != SPEC_SESSION_NONCE_LEN) {
        *why = m87_xasprintf("unsigned: this device runs only %ss a trusted key signed", what);
        return -1;
    }
    if (!device) {
        *why = m87_xstrdup("the server did not say the device's name, which signatures name");
        return -1;
    }
    if (expires < now || expires > now + SPEC_SESSION_MAX_TTL_S) {
        *why = m87_xasprintf("%s: it expires at %" PRId64 ", the device's clock says %" PRId64
                             " (a replay, or a clock that is wrong here or where it was signed)",
                             expires < now ? "expired" : "not valid yet", expires, now);
        return -1;
    }
    _cleanup_free_ char *payload = payload_of(req, device, nonce, expires, &err);
    if (!payload) {
        *why = m87_xasprintf("its job: %s", err->msg);
        return -1;
    }
    char *buf = NULL;
    if (agent_trust_key_verdict(d->cfg, key, payload, text,
                                "not signed for this device, or the request was changed", &buf)) {
        *why = buf;
        return -1;
    }
    return remember_nonce(d, nonce, expires, now, why);
}

int agent_trust_session(struct agent_daemon *d, const struct m87_json *node, char **why)
{
    return trust_request(d, node, "session", spec_session_payload, why);
}

int agent_trust_remote(struct agent_daemon *d, const struct m87_json *node, char **why)
{
    return trust_request(d, node, "remote request", spec_remote_payload, why);
}
