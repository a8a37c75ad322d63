/* What a revision is made of: the stored run spec, its hash, its job list and the bundles it
 * references; and the edits that make the next revision (merge, remove). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "m87/list.h"
#include "m87/sign.h"
#include "m87/spec-revision.h"
#include "m87/spec-runspec.h"
#include "server/http.h"
#include "server/request.h"
#include "server/revision.h"
#include "server/store-deployments.h"
#include "server/util.h"

#define SIGNATURE_HEADER "M87-Signature"

void srv_rev_content_release(struct srv_rev_content *c)
{
    free(c->spec);
    free(c->jobs);
    m87_strv_release(&c->bundles);
    free(c->sig_key);
    free(c->sig);
    memset(c, 0, sizeof(*c));
}

void srv_rev_hash(const struct spec_runspec *rs, char out[M87_SHA256_HEX_LEN + 1])
{
    spec_revision_hash(rs, out);
}

void srv_rev_content_from(const struct spec_runspec *rs, struct srv_rev_content *c)
{
    memset(c, 0, sizeof(*c));
    c->spec = spec_runspec_dump(rs, true);
    srv_rev_hash(rs, c->hash);
    struct m87_jw *w = m87_jw_new();
    m87_jw_arr_open(w);
    for (size_t i = 0; i < rs->n_jobs; i++) {
        m87_jw_str(w, rs->jobs[i].id);
        if (rs->jobs[i].bundle)
            m87_strv_add(&c->bundles, rs->jobs[i].bundle);
    }
    m87_jw_arr_close(w);
    c->jobs = m87_jw_finish(w);
}

struct spec_runspec *srv_rev_parse_stored(const char *spec, struct m87_error **err)
{
    struct m87_error *e = NULL;
    struct spec_runspec *rs = spec_runspec_parse_stored(spec, strlen(spec), "stored spec", &e);
    if (rs == NULL) {
        m87_error_set(err, M87_E_INTERNAL, 0, "%s", e ? e->msg : "stored spec does not parse");
        m87_error_free(e);
    }
    return rs;
}

void srv_rev_merge(struct spec_runspec *base, struct spec_runspec *add)
{
    spec_runspec_merge(base, add);
}

bool srv_rev_remove(struct spec_runspec *rs, const char *id)
{
    return spec_runspec_remove(rs, id);
}

/* A decimal integer of 1 to 18 digits, no sign, no leading zero. */
static bool parse_count(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 18 || strspn(s, "0123456789") != n || (s[0] == '0' && n > 1))
        return false;
    *out = strtoll(s, NULL, 10);
    return true;
}

int srv_req_signature(struct srv_req *r, struct srv_signature *s, struct m87_error **err)
{
    static const char hex[] = "0123456789abcdef";
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    const char *text = srv_req_header(r, SIGNATURE_HEADER);
    char v[8], hash[80], rev[24], time[24], now[4], key[40], sig[120], extra[2];

    memset(s, 0, sizeof(*s));
    if (text == NULL)
        return 0;
    /* the widths bound every field; a valid one is shorter, checked below */
    if (strlen(text) > 300 ||
        sscanf(text, "%7s %79s %23s %23s %3s %39s %119s %1s", v, hash, rev, time, now, key, sig,
               extra) != 7 ||
        strcmp(v, "v2") != 0 || !srv_all_of(hash, M87_SHA256_HEX_LEN, hex) ||
        !parse_count(rev, &s->revision) || s->revision < 1 || !parse_count(time, &s->time) ||
        s->time < 1 || (strcmp(now, "0") != 0 && strcmp(now, "1") != 0) ||
        !srv_all_of(key, M87_SIGN_KEY_ID_LEN, hex) || !srv_all_of(sig, M87_SIGN_SIG_TEXT_LEN, b64))
        return m87_error_set(err, M87_E_INVAL, 0,
                             SIGNATURE_HEADER ": expected 'v2 HASH REVISION TIME NOW KEYID "
                                              "SIGNATURE' (64 hex digits, a revision number, Unix "
                                              "seconds, 0 or 1, %d hex digits, base64 of 64 "
                                              "bytes); an m87 older than the server sends v1: "
                                              "upgrade it",
                             M87_SIGN_KEY_ID_LEN);
    memcpy(s->hash, hash, sizeof(s->hash));
    memcpy(s->key, key, M87_SIGN_KEY_ID_LEN + 1);
    memcpy(s->sig, sig, M87_SIGN_SIG_TEXT_LEN + 1);
    s->now = now[0] == '1';
    s->present = true;
    return 0;
}

int srv_signature_apply(const struct srv_signature *s, int64_t number, struct srv_rev_content *c,
                        struct m87_error **err)
{
    if (!s->present)
        return 0;
    if (strcmp(s->hash, c->hash) != 0 || s->revision != number)
        return m87_error_set(err, M87_E_CONFLICT, 0,
                             "signature: made for revision %lld with hash %.12s, the change makes "
                             "revision %lld with %.12s (the deployment changed meanwhile): run the "
                             "command again",
                             (long long)s->revision, s->hash, (long long)number, c->hash);
    free(c->sig_key);
    free(c->sig);
    c->sig_key = m87_xstrdup(s->key);
    c->sig = m87_xstrdup(s->sig);
    c->sig_time = s->time;
    c->sig_now = s->now;
    return 0;
}

void srv_jw_signature(struct m87_jw *w, const struct srv_revision *rev)
{
    m87_jw_key(w, "signature");
    if (rev->sig_key == NULL) {
        m87_jw_null(w);
        return;
    }
    m87_jw_obj_open(w);
    if (rev->sig_time > 0)
        m87_jw_kint(w, "v", 2);
    m87_jw_kstr(w, "key", rev->sig_key);
    m87_jw_kstr(w, "sig", rev->sig);
    if (rev->sig_time > 0) {
        m87_jw_kint(w, "time", rev->sig_time);
        m87_jw_kbool(w, "now", rev->sig_now);
    }
    m87_jw_obj_close(w);
}
