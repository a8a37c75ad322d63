/* Signed targets (docs/security.md): with trusted keys, a target is taken only when its
 * signature (format v2) verifies with one of them for this device, its deployment and its
 * revision number, the spec received hashes to the signed revision hash, and it is not older than
 * what the device took, so that neither a server nor a network between can make the device run
 * something the holder of a signing key did not sign, or go back to something older. Bundles are
 * covered through their digests in the job hashes and checked when they are downloaded
 * (agent_http_bundle). */
#include <string.h>

#include "agent/config.h"
#include "agent/daemon.h"
#include "agent/fleet-trust.h"
#include "agent/rollout.h"
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

/* The fields of t's signature; NULL when it verifies with a trusted key, else why not (a static
 * text or *why_buf). */
static const char *signature_verdict(struct agent_daemon *d, const struct agent_target *t,
                                     const struct m87_json *sig, char **why_buf)
{
    const struct agent_config *c = d->cfg;
    const char *key = m87_json_str(m87_json_get(sig, "key"), NULL);
    const char *text = m87_json_str(m87_json_get(sig, "sig"), NULL);
    const char *device = agent_trust_device_name(d);

    if (!key || !text)
        return "unsigned";
    if (m87_json_int(m87_json_get(sig, "v"), 1) != 2)
        return "signed in format v1, which names no device, deployment or revision number: "
               "sign it again with `m87 DEVICE deployment activate ID`";
    if (!device)
        return "the server did not say the device's name, which signatures name";
    struct m87_sign_revision_fields f = {device,
                                         t->deployment,
                                         t->revision,
                                         t->hash,
                                         m87_json_bool(m87_json_get(sig, "now"), false),
                                         m87_json_int(m87_json_get(sig, "time"), 0)};
    _cleanup_free_ char *payload = m87_sign_revision_payload(&f);
    _cleanup_free_ char *bad = m87_xasprintf("not signed for this device (%s), this deployment "
                                             "and revision number, or changed",
                                             device);
    return agent_trust_key_verdict(c, key, payload, text, bad, why_buf);
}

const char *agent_trust_key_verdict(const struct agent_config *c, const char *key,
                                    const char *payload, const char *sig, const char *bad,
                                    char **buf)
{
    bool known = false;
    for (size_t i = 0; i < c->n_trust_keys; i++) {
        char id[M87_SIGN_KEY_ID_LEN + 1];
        m87_sign_key_id(c->trust_keys[i], id);
        if (strcmp(id, key) != 0)
            continue;
        known = true;
        if (m87_sign_verify(c->trust_keys[i], payload, strlen(payload), sig))
            return NULL;
    }
    if (!known)
        return *buf = m87_xasprintf("signed with unknown key %.32s", key);
    return *buf = m87_xasprintf("bad signature (key %s): %s", key, bad);
}

/* Why t may not be applied; NULL when it may. *why_buf holds a message built here. */
static const char *verdict(struct agent_daemon *d, const struct agent_target *t,
                           const struct m87_json *sig, char **why_buf)
{
    if (t->stop)
        return "a target without a revision (stop everything) carries no signature";
    const char *why = signature_verdict(d, t, sig, why_buf);
    if (why)
        return why;
    char hash[M87_SHA256_HEX_LEN + 1];
    spec_revision_hash(t->rs, hash);
    if (strcmp(hash, t->hash) != 0)
        return *why_buf = m87_xasprintf("spec does not match the signed revision hash: it hashes "
                                        "to %.12s, %.12s was signed",
                                        hash, t->hash);
    int64_t time = m87_json_int(m87_json_get(sig, "time"), 0);
    if (agent_trust_seen_check(d, t->deployment, t->revision, t->hash, time, why_buf) < 0)
        return *why_buf;
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

/* A rollout's way back (docs/security.md): a target whose revision is the one the device kept to
 * go back to was verified when it came; the kept copy is taken in place of the server's. */
static int take_previous(struct agent_daemon *d, struct agent_target *t)
{
    const struct agent_target *prev = agent_rollout_previous(d);
    struct agent_target copy;

    if (!prev || prev->stop || t->stop || !agent_target_same_revision(prev, t))
        return -1;
    _cleanup_(m87_json_freep) struct m87_json *doc =
        m87_json_parse(prev->text, strlen(prev->text), NULL);
    if (!doc || agent_target_from_json(doc, &copy, NULL) < 0)
        return -1;
    m87_log(M87_LOG_INFO,
            "target revision %.12s is the revision this device kept to go back to: "
            "taken as it was verified",
            t->hash);
    agent_target_release(t);
    *t = copy;
    return 0;
}

/* Rule (b) of fleet releases (fleet-trust.h): NULL when they cover t, else why not. */
static char *fleet_verdict(struct agent_daemon *d, const struct agent_target *t,
                           const struct m87_json *fleets)
{
    char hash[M87_SHA256_HEX_LEN + 1];

    spec_revision_hash(t->rs, hash);
    if (strcmp(hash, t->hash) != 0)
        return m87_xasprintf("spec does not match its revision hash: it hashes to %.12s", hash);
    _cleanup_(m87_json_freep) struct m87_json *seen = agent_trust_seen_load(d);
    struct agent_fleet_check c = {d->cfg->trust_keys,
                                  d->cfg->n_trust_keys,
                                  t->rs,
                                  fleets,
                                  m87_json_get(seen, "fleets"),
                                  d->has_target && !d->target.stop ? d->target.rs : NULL};
    return agent_fleet_verdict(&c);
}

int agent_trust_check(struct agent_daemon *d, struct agent_target *t)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *why_buf = NULL;
    char digest[M87_SHA256_HEX_LEN + 1];

    if (d->cfg->n_trust_keys == 0)
        return 0;
    if (take_previous(d, t) == 0)
        return 0;
    /* the server sends a refused target on every sync: report it once, then only pace */
    m87_sha256_hex(t->text, strlen(t->text), digest);
    if (strcmp(digest, d->refused) == 0) {
        d->pace = true;
        return -1;
    }
    _cleanup_(m87_json_freep) struct m87_json *doc = m87_json_parse(t->text, strlen(t->text), NULL);
    const struct m87_json *sig = m87_json_get(doc, "signature");
    const char *why = verdict(d, t, sig, &why_buf);
    if (!why && agent_target_set_now(t, m87_json_bool(m87_json_get(sig, "now"), false), &err) < 0)
        why = why_buf = m87_xasprintf("its policy: %s", err->msg);
    if (!why) {
        agent_trust_seen_add(d, t->deployment, t->revision, t->hash,
                             m87_json_int(m87_json_get(sig, "time"), 0));
        return 0;
    }
    const struct m87_json *fleets = m87_json_get(doc, "fleets");
    _cleanup_free_ char *fleet_why = NULL;
    if (m87_json_len(fleets) > 0 && !t->stop) {
        fleet_why = fleet_verdict(d, t, fleets);
        if (!fleet_why && agent_target_set_now(t, false, &err) < 0)
            fleet_why = m87_xasprintf("its policy: %s", err->msg);
        if (!fleet_why) {
            agent_trust_seen_add_fleets(d, fleets);
            m87_log(M87_LOG_INFO, "target revision %.12s taken: its fleet releases are signed",
                    t->hash);
            return 0;
        }
        _cleanup_free_ char *both =
            sig ? m87_xasprintf("%s; fleet releases: %s", why, fleet_why) : m87_xstrdup(fleet_why);
        free(why_buf);
        why = why_buf = both;
        both = NULL;
    }
    _cleanup_free_ char *what = agent_target_describe(t);
    _cleanup_free_ char *message = m87_xasprintf("target revision %s refused: %s", what, why);
    m87_log(M87_LOG_ERR, "%s; the applied revision keeps running", message);
    struct refusal r = {t, message};
    if (runner_journal_append(d->journal, fill_refusal, &r, NULL, &err) < 0)
        m87_log(M87_LOG_ERR, "journal: %s", err->msg);
    memcpy(d->refused, digest, sizeof(d->refused));
    return -1;
}
