/* The check of a target's fleet releases under trusted keys (fleet-trust.h). */
#include <inttypes.h>
#include <string.h>

#include "agent/fleet-trust.h"
#include "m87/alloc.h"
#include "m87/hash.h"
#include "m87/json.h"
#include "m87/sign.h"
#include "m87/spec-revision.h"
#include "m87/spec-runspec.h"

static const struct spec_job *find_job(const struct spec_runspec *rs, const char *id)
{
    for (size_t i = 0; rs && i < rs->n_jobs; i++)
        if (strcmp(rs->jobs[i].id, id) == 0)
            return &rs->jobs[i];
    return NULL;
}

static bool hex64(const char *s)
{
    if (!s || strlen(s) != M87_SHA256_HEX_LEN)
        return false;
    return strspn(s, "0123456789abcdef") == M87_SHA256_HEX_LEN;
}

/* Why the signature of release f does not verify; NULL when a trusted key signed it. */
static char *signature_verdict(const struct agent_fleet_check *c,
                               const struct m87_sign_release_fields *f, const struct m87_json *sig)
{
    const char *key = m87_json_str(m87_json_get(sig, "key"), NULL);
    const char *text = m87_json_str(m87_json_get(sig, "sig"), NULL);
    bool known = false;

    if (!sig || m87_json_type(sig) == M87_JSON_NULL || !key || !text)
        return m87_xasprintf("release %" PRId64 " of fleet %s is unsigned", f->release, f->fleet);
    if (m87_json_int(m87_json_get(sig, "v"), 0) != 1)
        return m87_xasprintf("release %" PRId64 " of fleet %s: signature format %" PRId64
                             " unknown (1 expected)",
                             f->release, f->fleet, m87_json_int(m87_json_get(sig, "v"), 0));
    for (size_t i = 0; i < c->n_keys; i++) {
        char id[M87_SIGN_KEY_ID_LEN + 1];
        m87_sign_key_id(c->keys[i], id);
        if (strcmp(id, key) != 0)
            continue;
        known = true;
        if (m87_sign_release_verify(c->keys[i], f, text))
            return NULL;
    }
    if (!known)
        return m87_xasprintf("release %" PRId64 " of fleet %s: signed with unknown key %.32s",
                             f->release, f->fleet, key);
    return m87_xasprintf("release %" PRId64 " of fleet %s: bad signature (key %s): not signed for "
                         "this fleet, release number and jobs, or changed",
                         f->release, f->fleet, key);
}

/* The jobs entry names, as rs has them: their hash in *hash; why not, when one is missing or
 * already named (marks: a flag per job of rs). */
static char *release_jobs(const struct agent_fleet_check *c, const char *fleet,
                          const struct m87_json *jobs, bool *marks,
                          char hash[M87_SHA256_HEX_LEN + 1])
{
    size_t n = m87_json_len(jobs);
    struct spec_runspec sub = {m87_xcalloc(n ? n : 1, sizeof(struct spec_job)), 0};
    char *why = NULL;

    if (m87_json_type(jobs) != M87_JSON_ARRAY || n == 0)
        why = m87_xasprintf("fleet %s: jobs: expected a list of job ids", fleet);
    for (size_t i = 0; !why && i < n; i++) {
        const char *id = m87_json_str(m87_json_at(jobs, i), NULL);
        const struct spec_job *job = id ? find_job(c->rs, id) : NULL;
        if (!id)
            why = m87_xasprintf("fleet %s: jobs[%zu]: expected a job id", fleet, i);
        else if (!job)
            why = m87_xasprintf("fleet %s: job '%.64s' is not in the revision", fleet, id);
        else if (marks[job->index])
            why = m87_xasprintf("fleet %s: job '%s' is named by two fleet releases", fleet, id);
        else {
            marks[job->index] = true;
            sub.jobs[sub.n_jobs++] = *job; /* a shallow copy: only hashed */
        }
    }
    if (!why)
        spec_revision_hash(&sub, hash);
    free(sub.jobs);
    return why;
}

static char *entry_verdict(const struct agent_fleet_check *c, const struct m87_json *e, size_t i,
                           bool *marks)
{
    const char *fleet = m87_json_str(m87_json_get(e, "fleet"), NULL);
    const struct m87_json *rel = m87_json_get(e, "release");
    const char *hash = m87_json_str(m87_json_get(e, "hash"), NULL);
    const struct m87_json *sig = m87_json_get(e, "signature");
    char got[M87_SHA256_HEX_LEN + 1];

    if (m87_json_type(e) != M87_JSON_OBJECT || !fleet || !*fleet)
        return m87_xasprintf("fleets[%zu]: expected an object with a fleet name", i);
    int64_t release = m87_json_type(rel) == M87_JSON_NUMBER ? m87_json_int(rel, -1) : -1;
    if (release < 0)
        return m87_xasprintf("fleet %.64s: release: expected an integer >= 0", fleet);
    if (!hex64(hash))
        return m87_xasprintf("fleet %.64s: hash: expected 64 hex digits", fleet);
    for (size_t k = 0; k < i; k++)
        if (strcmp(m87_json_str(m87_json_get(m87_json_at(c->fleets, k), "fleet"), ""), fleet) == 0)
            return m87_xasprintf("fleet %.64s is named twice", fleet);
    char *why = release_jobs(c, fleet, m87_json_get(e, "jobs"), marks, got);
    if (why)
        return why;
    if (strcmp(got, hash) != 0)
        return m87_xasprintf("release %" PRId64 " of fleet %s: its jobs hash to %.12s, %.12s was "
                             "signed",
                             release, fleet, got, hash);
    struct m87_sign_release_fields f = {fleet, release, hash,
                                        m87_json_int(m87_json_get(sig, "time"), 0)};
    why = signature_verdict(c, &f, sig);
    if (why)
        return why;
    const struct m87_json *last = m87_json_get(c->seen, fleet);
    if (last && release < m87_json_int(last, 0))
        return m87_xasprintf("release %" PRId64 " of fleet %s is older than release %" PRId64
                             ", which this device took already (a replay)",
                             release, fleet, m87_json_int(last, 0));
    return NULL;
}

char *agent_fleet_verdict(const struct agent_fleet_check *c)
{
    size_t n = m87_json_len(c->fleets);
    char *why = NULL;

    if (m87_json_type(c->fleets) != M87_JSON_ARRAY || n == 0)
        return m87_xstrdup("no fleet releases");
    if (n > AGENT_FLEET_MAX_ENTRIES)
        return m87_xasprintf("more than %d fleet releases", AGENT_FLEET_MAX_ENTRIES);
    _cleanup_free_ bool *marks = m87_xcalloc(c->rs->n_jobs ? c->rs->n_jobs : 1, sizeof(bool));
    for (size_t i = 0; !why && i < n; i++)
        why = entry_verdict(c, m87_json_at(c->fleets, i), i, marks);
    for (size_t i = 0; !why && i < c->rs->n_jobs; i++) {
        const struct spec_job *job = &c->rs->jobs[i];
        const struct spec_job *had = marks[i] ? NULL : find_job(c->stored, job->id);
        if (marks[i] || (had && strcmp(had->hash, job->hash) == 0 && had->enabled == job->enabled))
            continue;
        why = m87_xasprintf("job '%s' is in no fleet release and %s the device's verified "
                            "target: a job of the device alone needs the device's signature",
                            job->id, had ? "differs from the one in" : "is not in");
    }
    return why;
}
