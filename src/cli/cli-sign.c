/* Signing the revisions the CLI makes (docs/security.md): the revision hash the server will
 * make is computed here with the server's own functions (spec_runspec_merge, spec_revision_hash)
 * from the deployment's newest spec, signed with the configured key, and sent along. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/sign.h"
#include "m87/spec-revision.h"
#include "m87/spec-runspec.h"
#include "m87/spec-session.h"

/* 0 with *key (NULL: no key configured), else the exit status after printing why. */
static int load_key(struct m87_sign_key **key)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *path = cli_config_file("signing.key");
    struct stat st;

    *key = NULL;
    if (!path || stat(path, &st) < 0)
        return CLI_EXIT_OK;
    *key = m87_sign_key_load(path, true, &err);
    if (!*key) {
        fprintf(stderr, "m87: signing key: %s\n", err->msg);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

/* What the signature of a revision covers besides its jobs. */
struct target {
    const char *device;
    const char *deployment;
    int64_t revision;
    bool now;
};

/* The header for rs's revision hash as revision t->revision of t->deployment on t->device, signed
 * with key now. */
static int make_header(const struct m87_sign_key *key, const struct spec_runspec *rs,
                       const struct target *t, char **header)
{
    _cleanup_error_ struct m87_error *err = NULL;
    char hash[M87_SHA256_HEX_LEN + 1], id[M87_SIGN_KEY_ID_LEN + 1];

    spec_revision_hash(rs, hash);
    m87_sign_key_id(key, id);
    struct m87_sign_revision_fields f = {t->device, t->deployment, t->revision,
                                         hash,      t->now,        (int64_t)time(NULL)};
    _cleanup_free_ char *sig = m87_sign_revision(key, &f, &err);
    if (!sig) {
        fprintf(stderr, "m87: %s\n", err->msg);
        return CLI_EXIT_FAILED;
    }
    *header = m87_xasprintf("M87-Signature: v2 %s %lld %lld %d %s %s", hash, (long long)t->revision,
                            (long long)f.time, t->now ? 1 : 0, id, sig);
    fprintf(stderr, "signing revision %lld (%.12s) of %s on %s with key %s\n",
            (long long)t->revision, hash, t->deployment, t->device, id);
    return CLI_EXIT_OK;
}

/* Whether sig, made by key, is key's signature of revision number (hash) of deployment id on
 * device: a signature of format v1 (no "v": 2) is taken as it is, it cannot be checked here. */
static bool own_signature_holds(const struct m87_sign_key *key, const struct m87_json *sig,
                                const char *device, const char *id, long long number,
                                const char *hash)
{
    if (m87_json_int(m87_json_get(sig, "v"), 1) != 2)
        return true;
    struct m87_sign_revision_fields f = {device,
                                         id,
                                         number,
                                         hash,
                                         m87_json_bool(m87_json_get(sig, "now"), false),
                                         m87_json_int(m87_json_get(sig, "time"), 0)};
    return m87_sign_revision_verify(key, &f, m87_json_str(m87_json_get(sig, "sig"), ""));
}

/* Signing on top of a revision signs its jobs too: refuse one whose spec the server shows does
 * not hash to its hash (changed after it was made), or whose signature by this very key does not
 * verify. Other keys cannot be checked here; an unsigned revision is pointed out. */
static int check_base(const struct m87_sign_key *key, const struct m87_json *doc,
                      const struct spec_runspec *rs, const char *device, const char *id)
{
    char hash[M87_SHA256_HEX_LEN + 1], own[M87_SIGN_KEY_ID_LEN + 1];
    const char *stored = m87_json_str(m87_json_get(doc, "hash"), "");
    long long number = (long long)m87_json_int(m87_json_get(doc, "revision"), 0);
    const struct m87_json *sig = m87_json_get(doc, "signature");
    const char *sig_key = m87_json_str(m87_json_get(sig, "key"), NULL);

    spec_revision_hash(rs, hash);
    if (strcmp(hash, stored) != 0) {
        fprintf(stderr,
                "m87: deployment '%s': the spec of revision %lld hashes to %.12s, not to its hash "
                "%.12s: it was changed after it was made; nothing signed\n",
                id, number, hash, stored);
        return CLI_EXIT_FAILED;
    }
    m87_sign_key_id(key, own);
    if (!sig_key) {
        fprintf(stderr,
                "warning: revision %lld of %s is unsigned: your signature covers its jobs\n",
                number, id);
    } else if (strcmp(sig_key, own) == 0 &&
               !own_signature_holds(key, sig, device, id, number, hash)) {
        fprintf(stderr,
                "m87: deployment '%s': the signature of revision %lld by your key does not verify: "
                "it was changed after it was signed; nothing signed\n",
                id, number);
        return CLI_EXIT_FAILED;
    }
    return CLI_EXIT_OK;
}

/* The run spec of deployment id at revision rev (0: the newest), as the server stores it,
 * checked with check_base, and its number. */
static int fetch_spec(const struct cli_ctx *ctx, const struct m87_sign_key *key, const char *device,
                      const char *id, int64_t rev, struct spec_runspec **out, int64_t *number)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    _cleanup_free_ char *q = rev > 0 ? m87_xasprintf("?revision=%lld", (long long)rev) : NULL;
    _cleanup_free_ char *path = cli_deployment_path(device, id, q);

    if (cli_http_json(ctx, "GET", path, NULL, &doc, &err) < 0)
        return cli_report(err);
    const struct m87_json *spec = m87_json_get(doc, "spec");
    struct m87_jw *w = m87_jw_new();
    m87_jw_node(w, spec);
    _cleanup_free_ char *text = m87_jw_finish(w);
    *out = spec_runspec_parse_stored(text, strlen(text), "the server's spec", &err);
    if (!*out) {
        fprintf(stderr, "m87: deployment '%s': %s\n", id, err->msg);
        return CLI_EXIT_FAILED;
    }
    *number = m87_json_int(m87_json_get(doc, "revision"), 0);
    return check_base(key, doc, *out, device, id);
}

/* The signing key and the spec to sign over: deployment id's at revision rev (0: the newest),
 * with its number, or an empty one (number 0) for a NULL id. *key stays NULL when there is no
 * signing key: nothing to sign. */
static int key_and_base(const struct cli_ctx *ctx, const char *device, const char *id, int64_t rev,
                        struct m87_sign_key **key, struct spec_runspec **base, int64_t *number)
{
    int rc = load_key(key);

    *number = 0;
    if (rc != CLI_EXIT_OK || !*key)
        return rc;
    if (!id) {
        *base = m87_xcalloc(1, sizeof(**base));
        return CLI_EXIT_OK;
    }
    return fetch_spec(ctx, *key, device, id, rev, base, number);
}

int cli_sign_jobs(const struct cli_ctx *ctx, const char *device, const char *dep,
                  const struct spec_runspec *add, bool now, char **header)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_sign_key_freep) struct m87_sign_key *key = NULL;
    _cleanup_(spec_runspec_freep) struct spec_runspec *base = NULL;
    int64_t number = 0;
    int rc = key_and_base(ctx, device, dep, 0, &key, &base, &number);

    *header = NULL;
    if (rc != CLI_EXIT_OK || !key)
        return rc;
    /* what the server parses is the JSON sent, not the user's file: hash the same */
    _cleanup_free_ char *json = spec_runspec_dump(add, true);
    _cleanup_(spec_runspec_freep) struct spec_runspec *sent =
        spec_runspec_parse(json, strlen(json), "body", &err);
    if (!sent) {
        fprintf(stderr, "m87: %s\n", err->msg);
        return CLI_EXIT_FAILED;
    }
    spec_runspec_merge(base, sent);
    struct target t = {device, dep, number + 1, now};
    return make_header(key, base, &t, header);
}

int cli_sign_undeploy(const struct cli_ctx *ctx, const char *device, const char *dep,
                      const char *job, bool now, char **header)
{
    _cleanup_(m87_sign_key_freep) struct m87_sign_key *key = NULL;
    _cleanup_(spec_runspec_freep) struct spec_runspec *base = NULL;
    int64_t number = 0;
    int rc = key_and_base(ctx, device, dep, 0, &key, &base, &number);

    *header = NULL;
    if (rc != CLI_EXIT_OK || !key)
        return rc;
    if (!spec_runspec_remove(base, job))
        return CLI_EXIT_OK; /* the server says that there is no such job */
    struct target t = {device, dep, number + 1, now};
    return make_header(key, base, &t, header);
}

int cli_sign_copy(const struct cli_ctx *ctx, const char *device, const char *src, int64_t rev,
                  const char *new_id, bool now, char **header)
{
    _cleanup_(m87_sign_key_freep) struct m87_sign_key *key = NULL;
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = NULL;
    int64_t number = 0;
    int rc = key_and_base(ctx, device, src, rev, &key, &rs, &number);

    *header = NULL;
    if (rc != CLI_EXIT_OK || !key)
        return rc;
    struct target t = {device, new_id ? new_id : src, new_id ? 1 : number, now};
    return make_header(key, rs, &t, header);
}

typedef char *(*payload_fn)(const struct m87_json *request, const char *device, const char *nonce,
                            int64_t expires, struct m87_error **err);

/* body with "signature": {"key","sig","nonce","expires"} over what payload makes of it. */
static int sign_request(const char *device, const char *body, payload_fn payload_of,
                        const char *what, char **signed_body)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_sign_key_freep) struct m87_sign_key *key = NULL;
    unsigned char rnd[SPEC_SESSION_NONCE_LEN / 2];
    char nonce[SPEC_SESSION_NONCE_LEN + 1], id[M87_SIGN_KEY_ID_LEN + 1];
    int rc = load_key(&key);

    *signed_body = NULL;
    if (rc != CLI_EXIT_OK || !key)
        return rc;
    _cleanup_(m87_json_freep) struct m87_json *req = m87_json_parse(body, strlen(body), &err);
    if (!req || m87_random_bytes(rnd, sizeof(rnd), &err) < 0)
        return cli_report(err);
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(nonce + 2 * i, 3, "%02x", rnd[i]);
    int64_t expires = (int64_t)time(NULL) + SPEC_SESSION_TTL_S;
    _cleanup_free_ char *payload = payload_of(req, device, nonce, expires, &err);
    _cleanup_free_ char *sig = payload ? m87_sign(key, payload, strlen(payload), &err) : NULL;
    if (!sig)
        return cli_report(err);
    m87_sign_key_id(key, id);
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    for (size_t i = 0; i < m87_json_len(req); i++) {
        const char *k = NULL;
        const struct m87_json *v = m87_json_member(req, i, &k);
        m87_jw_key(w, k);
        m87_jw_node(w, v);
    }
    m87_jw_key(w, "signature");
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "key", id);
    m87_jw_kstr(w, "sig", sig);
    m87_jw_kstr(w, "nonce", nonce);
    m87_jw_kint(w, "expires", expires);
    m87_jw_obj_close(w);
    m87_jw_obj_close(w);
    *signed_body = m87_jw_finish(w);
    fprintf(stderr, "signing the %s with key %s\n", what, id);
    return CLI_EXIT_OK;
}

/* The number of the fleet's newest release (0: none yet): every release has its rollout. */
static int newest_release(const struct cli_ctx *ctx, const char *fleet, int64_t *number)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    _cleanup_free_ char *f = cli_escape(fleet);
    _cleanup_free_ char *path = m87_xasprintf("/v1/fleets/%s/rollouts", f);

    if (cli_http_json(ctx, "GET", path, NULL, &doc, &err) < 0)
        return cli_report(err);
    const struct m87_json *v = m87_json_get(doc, "rollouts");
    *number = 0;
    for (size_t i = 0; i < m87_json_len(v); i++) {
        int64_t n = m87_json_int(m87_json_get(m87_json_at(v, i), "release"), 0);
        if (n > *number)
            *number = n;
    }
    return CLI_EXIT_OK;
}

int cli_sign_release(const struct cli_ctx *ctx, const char *fleet, const struct spec_runspec *rs,
                     char **header)
{
    _cleanup_(m87_sign_key_freep) struct m87_sign_key *key = NULL;
    _cleanup_error_ struct m87_error *err = NULL;
    char hash[M87_SHA256_HEX_LEN + 1], id[M87_SIGN_KEY_ID_LEN + 1];
    int64_t newest = 0;
    int rc = load_key(&key);

    *header = NULL;
    if (rc != CLI_EXIT_OK || !key)
        return rc;
    if ((rc = newest_release(ctx, fleet, &newest)) != CLI_EXIT_OK)
        return rc;
    spec_revision_hash(rs, hash);
    m87_sign_key_id(key, id);
    struct m87_sign_release_fields f = {fleet, newest + 1, hash, (int64_t)time(NULL)};
    _cleanup_free_ char *sig = m87_sign_release(key, &f, &err);
    if (!sig) {
        fprintf(stderr, "m87: %s\n", err->msg);
        return CLI_EXIT_FAILED;
    }
    *header = m87_xasprintf("M87-Release-Signature: v1 %s %lld %lld %s %s", hash,
                            (long long)f.release, (long long)f.time, id, sig);
    fprintf(stderr, "signing release %lld (%.12s) of fleet %s with key %s\n", (long long)f.release,
            hash, fleet, id);
    return CLI_EXIT_OK;
}

int cli_sign_session(const char *device, const char *body, char **signed_body)
{
    return sign_request(device, body, spec_session_payload, "session", signed_body);
}

int cli_sign_remote(const char *device, const char *body, char **signed_body)
{
    return sign_request(device, body, spec_remote_payload, "remote request", signed_body);
}
