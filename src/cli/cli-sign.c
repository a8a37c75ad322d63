/* Signing the revisions the CLI makes (docs/security.md): the revision hash the server will
 * make is computed here with the server's own functions (spec_runspec_merge, spec_revision_hash)
 * from the deployment's newest spec, signed with the configured key, and sent along. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/sign.h"
#include "m87/spec-revision.h"
#include "m87/spec-runspec.h"

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

/* The header for rs's revision hash, signed with key. */
static int make_header(const struct m87_sign_key *key, const struct spec_runspec *rs, char **header)
{
    _cleanup_error_ struct m87_error *err = NULL;
    char hash[M87_SHA256_HEX_LEN + 1], id[M87_SIGN_KEY_ID_LEN + 1];

    spec_revision_hash(rs, hash);
    m87_sign_key_id(key, id);
    _cleanup_free_ char *sig = m87_sign_revision(key, hash, &err);
    if (!sig) {
        fprintf(stderr, "m87: %s\n", err->msg);
        return CLI_EXIT_FAILED;
    }
    *header = m87_xasprintf("M87-Signature: %s %s %s", hash, id, sig);
    fprintf(stderr, "signing revision %.12s with key %s\n", hash, id);
    return CLI_EXIT_OK;
}

/* Signing on top of a revision signs its jobs too: refuse one whose spec the server shows does
 * not hash to its hash (changed after it was made), or whose signature by this very key does not
 * verify. Other keys cannot be checked here; an unsigned revision is pointed out. */
static int check_base(const struct m87_sign_key *key, const struct m87_json *doc,
                      const struct spec_runspec *rs, const char *id)
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
               !m87_sign_revision_verify(key, hash, m87_json_str(m87_json_get(sig, "sig"), ""))) {
        fprintf(stderr,
                "m87: deployment '%s': the signature of revision %lld by your key does not verify: "
                "it was changed after it was signed; nothing signed\n",
                id, number);
        return CLI_EXIT_FAILED;
    }
    return CLI_EXIT_OK;
}

/* The run spec of deployment id at revision rev (0: the newest), as the server stores it,
 * checked with check_base. */
static int fetch_spec(const struct cli_ctx *ctx, const struct m87_sign_key *key, const char *device,
                      const char *id, int64_t rev, struct spec_runspec **out)
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
    return check_base(key, doc, *out, id);
}

/* The signing key and the spec to sign over: deployment id's at revision rev (0: the newest), or
 * an empty one for a NULL id. *key stays NULL when there is no signing key: nothing to sign. */
static int key_and_base(const struct cli_ctx *ctx, const char *device, const char *id, int64_t rev,
                        struct m87_sign_key **key, struct spec_runspec **base)
{
    int rc = load_key(key);

    if (rc != CLI_EXIT_OK || !*key)
        return rc;
    if (!id) {
        *base = m87_xcalloc(1, sizeof(**base));
        return CLI_EXIT_OK;
    }
    return fetch_spec(ctx, *key, device, id, rev, base);
}

int cli_sign_jobs(const struct cli_ctx *ctx, const char *device, const char *dep,
                  const struct spec_runspec *add, char **header)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_sign_key_freep) struct m87_sign_key *key = NULL;
    _cleanup_(spec_runspec_freep) struct spec_runspec *base = NULL;
    int rc = key_and_base(ctx, device, dep, 0, &key, &base);

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
    return make_header(key, base, header);
}

int cli_sign_undeploy(const struct cli_ctx *ctx, const char *device, const char *dep,
                      const char *job, char **header)
{
    _cleanup_(m87_sign_key_freep) struct m87_sign_key *key = NULL;
    _cleanup_(spec_runspec_freep) struct spec_runspec *base = NULL;
    int rc = key_and_base(ctx, device, dep, 0, &key, &base);

    *header = NULL;
    if (rc != CLI_EXIT_OK || !key)
        return rc;
    if (!spec_runspec_remove(base, job))
        return CLI_EXIT_OK; /* the server says that there is no such job */
    return make_header(key, base, header);
}

int cli_sign_copy(const struct cli_ctx *ctx, const char *device, const char *src, int64_t rev,
                  char **header)
{
    _cleanup_(m87_sign_key_freep) struct m87_sign_key *key = NULL;
    _cleanup_(spec_runspec_freep) struct spec_runspec *rs = NULL;
    int rc = key_and_base(ctx, device, src, rev, &key, &rs);

    *header = NULL;
    if (rc != CLI_EXIT_OK || !key)
        return rc;
    return make_header(key, rs, header);
}
