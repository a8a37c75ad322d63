/* Ed25519 keys and signatures over GnuTLS's abstract key interface.
 *
 * GnuTLS rather than libcrypto: the agent's libcurl (the GnuTLS flavour) already loads and
 * initialises it, while libcrypto's first key would load OpenSSL's configuration and providers,
 * about 1.7 MB of resident pages that an agent with --trust would keep (docs/agent.md,
 * Footprint). The PEM forms are the same: PKCS#8 and SubjectPublicKeyInfo (RFC 8410). */
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <inttypes.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/base64.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/hash.h"
#include "m87/sign.h"

#define SIG_LEN 64
#define RAW_KEY_LEN 32
#define SIGN_ALGO GNUTLS_SIGN_EDDSA_ED25519

struct m87_sign_key {
    gnutls_pubkey_t pub;
    gnutls_privkey_t priv; /* NULL for a public key */
};

void m87_sign_key_free(struct m87_sign_key *k)
{
    if (k == NULL)
        return;
    gnutls_pubkey_deinit(k->pub);
    if (k->priv)
        gnutls_privkey_deinit(k->priv);
    free(k);
}

/* GnuTLS fails on memory only when it cannot allocate the handle itself */
static void gt_check(int rc)
{
    if (rc < 0)
        m87_oom();
}

static struct m87_sign_key *key_new(bool private)
{
    struct m87_sign_key *k = m87_xcalloc(1, sizeof(*k));
    gt_check(gnutls_pubkey_init(&k->pub));
    if (private)
        gt_check(gnutls_privkey_init(&k->priv));
    return k;
}

/* The public half of k->priv into k->pub. */
static int derive_public(struct m87_sign_key *k)
{
    return gnutls_pubkey_import_privkey(k->pub, k->priv, 0, 0);
}

struct m87_sign_key *m87_sign_key_generate(struct m87_error **err)
{
    struct m87_sign_key *k = key_new(true);
    if (gnutls_privkey_generate2(k->priv, GNUTLS_PK_EDDSA_ED25519, 256, 0, NULL, 0) < 0 ||
        derive_public(k) < 0) {
        m87_sign_key_free(k);
        m87_error_set(err, M87_E_INTERNAL, 0, "generate an ed25519 key: gnutls failed");
        return NULL;
    }
    return k;
}

/* A passphrase is never asked for (no PIN callback, no password): an encrypted key fails. */
static int import_pem(struct m87_sign_key *k, const char *pem, size_t len)
{
    const gnutls_datum_t data = {(unsigned char *)pem, (unsigned int)len};
    int rc = k->priv ? gnutls_privkey_import_x509_raw(k->priv, &data, GNUTLS_X509_FMT_PEM, NULL,
                                                      GNUTLS_PKCS_PLAIN)
                     : gnutls_pubkey_import(k->pub, &data, GNUTLS_X509_FMT_PEM);
    if (rc >= 0 && k->priv)
        rc = derive_public(k);
    if (rc >= 0 && gnutls_pubkey_get_pk_algorithm(k->pub, NULL) != GNUTLS_PK_EDDSA_ED25519)
        rc = -1;
    return rc;
}

struct m87_sign_key *m87_sign_key_from_pem(const char *pem, size_t len, bool private,
                                           const char *what, struct m87_error **err)
{
    if (len > INT32_MAX) {
        m87_error_set(err, M87_E_TOOBIG, 0, "%s: too large for a key", what);
        return NULL;
    }
    struct m87_sign_key *k = key_new(private);
    if (import_pem(k, pem, len) < 0) {
        m87_sign_key_free(k);
        m87_error_set(err, M87_E_PARSE, 0, "%s: not an Ed25519 %s key in PEM", what,
                      private ? "private" : "public");
        return NULL;
    }
    return k;
}

struct m87_sign_key *m87_sign_key_load(const char *path, bool private, struct m87_error **err)
{
    size_t len = 0;
    _cleanup_free_ char *pem = m87_read_file(path, M87_SIGN_MAX_PEM, &len, err);

    if (pem == NULL)
        return NULL;
    _cleanup_free_ char *what = m87_xasprintf("key '%s'", path);
    return m87_sign_key_from_pem(pem, len, private, what, err);
}

/* GnuTLS's datum as our string; the datum is freed. */
static char *datum_text(gnutls_datum_t *d, int rc)
{
    if (rc < 0) /* writing PEM to memory fails only when gnutls cannot allocate */
        m87_oom();
    char *text = m87_xstrndup((const char *)d->data, d->size);
    gnutls_free(d->data);
    return text;
}

char *m87_sign_key_private_pem(const struct m87_sign_key *k)
{
    if (k->priv == NULL)
        return NULL;
    gnutls_x509_privkey_t x509 = NULL;
    gnutls_datum_t out = {NULL, 0};
    gt_check(gnutls_privkey_export_x509(k->priv, &x509));
    int rc =
        gnutls_x509_privkey_export2_pkcs8(x509, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &out);
    gnutls_x509_privkey_deinit(x509);
    return datum_text(&out, rc);
}

char *m87_sign_key_public_pem(const struct m87_sign_key *k)
{
    gnutls_datum_t out = {NULL, 0};
    int rc = gnutls_pubkey_export2(k->pub, GNUTLS_X509_FMT_PEM, &out);
    return datum_text(&out, rc);
}

void m87_sign_key_id(const struct m87_sign_key *k, char out[M87_SIGN_KEY_ID_LEN + 1])
{
    gnutls_ecc_curve_t curve;
    gnutls_datum_t raw = {NULL, 0};
    char hex[M87_SHA256_HEX_LEN + 1];

    /* an Ed25519 key always has its raw form, x */
    if (gnutls_pubkey_export_ecc_raw2(k->pub, &curve, &raw, NULL, 0) < 0 || raw.size != RAW_KEY_LEN)
        m87_oom();
    m87_sha256_hex(raw.data, raw.size, hex);
    gnutls_free(raw.data);
    memcpy(out, hex, M87_SIGN_KEY_ID_LEN);
    out[M87_SIGN_KEY_ID_LEN] = '\0';
}

bool m87_sign_key_is_private(const struct m87_sign_key *k)
{
    return k->priv != NULL;
}

char *m87_sign(const struct m87_sign_key *k, const void *msg, size_t len, struct m87_error **err)
{
    if (k->priv == NULL) {
        m87_error_set(err, M87_E_INVAL, 0, "sign: a public key cannot sign");
        return NULL;
    }
    if (len > UINT32_MAX) {
        m87_error_set(err, M87_E_TOOBIG, 0, "sign: %zu bytes is too long", len);
        return NULL;
    }
    const gnutls_datum_t data = {(unsigned char *)msg, (unsigned int)len};
    gnutls_datum_t sig = {NULL, 0};
    int rc = gnutls_privkey_sign_data2(k->priv, SIGN_ALGO, 0, &data, &sig);
    if (rc < 0 || sig.size != SIG_LEN) {
        gnutls_free(sig.data);
        m87_error_set(err, M87_E_INTERNAL, 0, "sign: gnutls failed");
        return NULL;
    }
    char *text = m87_base64_encode(sig.data, sig.size);
    gnutls_free(sig.data);
    return text;
}

/* base64 of exactly SIG_LEN bytes ("...==") into sig; false for anything else. */
static bool decode_sig(const char *text, unsigned char sig[SIG_LEN])
{
    size_t n = 0;

    if (text == NULL || strlen(text) != M87_SIGN_SIG_TEXT_LEN)
        return false;
    _cleanup_free_ char *raw = m87_base64_decode(text, M87_SIGN_SIG_TEXT_LEN, &n, NULL);
    if (raw == NULL || n != SIG_LEN)
        return false;
    memcpy(sig, raw, SIG_LEN);
    return true;
}

bool m87_sign_verify(const struct m87_sign_key *k, const void *msg, size_t len, const char *sig)
{
    unsigned char raw[SIG_LEN];

    if (len > UINT32_MAX || !decode_sig(sig, raw))
        return false;
    const gnutls_datum_t data = {(unsigned char *)msg, (unsigned int)len};
    const gnutls_datum_t sd = {raw, SIG_LEN};
    return gnutls_pubkey_verify_data2(k->pub, SIGN_ALGO, 0, &data, &sd) >= 0;
}

char *m87_sign_revision_payload(const struct m87_sign_revision_fields *f)
{
    return m87_xasprintf("%sdevice %s\ndeployment %s\nrevision %" PRId64 "\nhash %s\nnow %d\n"
                         "time %" PRId64 "\n",
                         M87_SIGN_REVISION_PREFIX, f->device, f->deployment, f->revision, f->hash,
                         f->now ? 1 : 0, f->time);
}

char *m87_sign_revision(const struct m87_sign_key *k, const struct m87_sign_revision_fields *f,
                        struct m87_error **err)
{
    _cleanup_free_ char *msg = m87_sign_revision_payload(f);
    return m87_sign(k, msg, strlen(msg), err);
}

bool m87_sign_revision_verify(const struct m87_sign_key *k,
                              const struct m87_sign_revision_fields *f, const char *sig)
{
    _cleanup_free_ char *msg = m87_sign_revision_payload(f);
    return m87_sign_verify(k, msg, strlen(msg), sig);
}

char *m87_sign_release_payload(const struct m87_sign_release_fields *f)
{
    return m87_xasprintf("%sfleet %s\nrelease %" PRId64 "\nhash %s\ntime %" PRId64 "\n",
                         M87_SIGN_RELEASE_PREFIX, f->fleet, f->release, f->hash, f->time);
}

char *m87_sign_release(const struct m87_sign_key *k, const struct m87_sign_release_fields *f,
                       struct m87_error **err)
{
    _cleanup_free_ char *msg = m87_sign_release_payload(f);
    return m87_sign(k, msg, strlen(msg), err);
}

bool m87_sign_release_verify(const struct m87_sign_key *k, const struct m87_sign_release_fields *f,
                             const char *sig)
{
    _cleanup_free_ char *msg = m87_sign_release_payload(f);
    return m87_sign_verify(k, msg, strlen(msg), sig);
}
