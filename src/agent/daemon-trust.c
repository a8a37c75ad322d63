/* Signed targets (docs/security.md): with trusted keys, a target is taken only when its
 * signature verifies with one of them and the spec received hashes to the signed revision hash,
 * so that neither a server nor a network between can make the device run something the holder of
 * a signing key did not sign. Bundles are covered through their digests in the job hashes and
 * checked when they are downloaded (agent_http_bundle). */
#include <string.h>

#include "agent/config.h"
#include "agent/daemon.h"
#include "agent/target.h"
#include "agent/trust.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/log.h"
#include "m87/runner-journal.h"
#include "m87/sign.h"
#include "m87/spec-revision.h"

/* Why t may not be applied; NULL when it may. *why_buf holds a message built here. */
static const char *verdict(const struct agent_config *c, const struct agent_target *t,
                           char **why_buf)
{
    if (t->stop)
        return "a target without a revision (stop everything) carries no signature";
    _cleanup_(m87_json_freep) struct m87_json *doc = m87_json_parse(t->text, strlen(t->text), NULL);
    const struct m87_json *sig = m87_json_get(doc, "signature");
    const char *key = m87_json_str(m87_json_get(sig, "key"), NULL);
    const char *text = m87_json_str(m87_json_get(sig, "sig"), NULL);
    if (!key || !text)
        return "unsigned";
    bool known = false, good = false;
    for (size_t i = 0; i < c->n_trust_keys && !good; i++) {
        char id[M87_SIGN_KEY_ID_LEN + 1];
        m87_sign_key_id(c->trust_keys[i], id);
        if (strcmp(id, key) != 0)
            continue;
        known = true;
        good = m87_sign_revision_verify(c->trust_keys[i], t->hash, text);
    }
    if (!known)
        return *why_buf = m87_xasprintf("signed with unknown key %.32s", key);
    if (!good)
        return *why_buf = m87_xasprintf("bad signature (key %s)", key);
    char hash[M87_SHA256_HEX_LEN + 1];
    spec_revision_hash(t->rs, hash);
    if (strcmp(hash, t->hash) != 0)
        return *why_buf = m87_xasprintf("spec does not match the signed revision hash: it hashes "
                                        "to %.12s, %.12s was signed",
                                        hash, t->hash);
    return NULL;
}

struct refusal {
    const struct agent_target *t;
    const char *message;
};

static void fill_refusal(struct m87_jw *w, const void *ctx)
{
    const struct refusal *r = ctx;

    m87_jw_kstr(w, "kind", "target");
    m87_jw_kstr(w, "revision", r->t->hash);
    m87_jw_kstr(w, "state", "refused");
    m87_jw_kstr(w, "message", r->message);
}

int agent_trust_check(struct agent_daemon *d, const struct agent_target *t)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *why_buf = NULL;
    char digest[M87_SHA256_HEX_LEN + 1];

    if (d->cfg->n_trust_keys == 0)
        return 0;
    /* the server sends a refused target on every sync: report it once, then only pace */
    m87_sha256_hex(t->text, strlen(t->text), digest);
    if (strcmp(digest, d->refused) == 0) {
        d->pace = true;
        return -1;
    }
    const char *why = verdict(d->cfg, t, &why_buf);
    if (!why)
        return 0;
    _cleanup_free_ char *what = agent_target_describe(t);
    _cleanup_free_ char *message = m87_xasprintf("target revision %s refused: %s", what, why);
    m87_log(M87_LOG_ERR, "%s; the applied revision keeps running", message);
    struct refusal r = {t, message};
    if (runner_journal_append(d->journal, fill_refusal, &r, NULL, &err) < 0)
        m87_log(M87_LOG_ERR, "journal: %s", err->msg);
    memcpy(d->refused, digest, sizeof(d->refused));
    return -1;
}
