/* Ed25519 keys and signatures over libcrypto's EVP interface. */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <inttypes.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/hash.h"
#include "m87/sign.h"

#define SIG_LEN 64
#define RAW_KEY_LEN 32

struct m87_sign_key {
    EVP_PKEY *pkey;
    bool private;
};

void m87_sign_key_free(struct m87_sign_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

static struct m87_sign_key *wrap(EVP_PKEY *pkey, bool private)
{
    struct m87_sign_key *k = m87_xcalloc(1, sizeof(*k));
    k->pkey = pkey;
    k->private = private;
    return k;
}

struct m87_sign_key *m87_sign_key_generate(struct m87_error **err)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);

    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_keygen(ctx, &pkey) <= 0) {
        EVP_PKEY_CTX_free(ctx);
        ERR_clear_error();
        m87_error_set(err, M87_E_INTERNAL, 0, "generate an ed25519 key: libcrypto failed");
        return NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return wrap(pkey, true);
}

/* A passphrase is never asked for: an encrypted key fails to load. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0;
}

struct m87_sign_key *m87_sign_key_from_pem(const char *pem, size_t len, bool private,
                                           const char *what, struct m87_error **err)
{
    if (len > INT32_MAX) {
        m87_error_set(err, M87_E_TOOBIG, 0, "%s: too large for a key", what);
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        m87_oom();
    EVP_PKEY *pkey = private ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL)
                             : PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    ERR_clear_error();
    if (pkey == NULL || EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(pkey);
        m87_error_set(err, M87_E_PARSE, 0, "%s: not an Ed25519 %s key in PEM", what,
                      private ? "private" : "public");
        return NULL;
    }
    return wrap(pkey, private);
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

static char *bio_text(BIO *bio, int ok)
{
    char *data = NULL;
    long n = ok ? BIO_get_mem_data(bio, &data) : -1;
    char *text = n > 0 ? m87_xstrndup(data, (size_t)n) : NULL;

    BIO_free(bio);
    if (text == NULL) /* writing PEM to memory fails only when libcrypto cannot allocate */
        m87_oom();
    return text;
}

char *m87_sign_key_private_pem(const struct m87_sign_key *k)
{
    if (!k->private)
        return NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL)
        m87_oom();
    int ok = PEM_write_bio_PKCS8PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL);
    return bio_text(bio, ok);
}

char *m87_sign_key_public_pem(const struct m87_sign_key *k)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL)
        m87_oom();
    int ok = PEM_write_bio_PUBKEY(bio, k->pkey);
    return bio_text(bio, ok);
}

void m87_sign_key_id(const struct m87_sign_key *k, char out[M87_SIGN_KEY_ID_LEN + 1])
{
    unsigned char raw[RAW_KEY_LEN];
    size_t len = sizeof(raw);
    char hex[M87_SHA256_HEX_LEN + 1];

    if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &len) <= 0)
        m87_oom(); /* an Ed25519 key always has its raw form */
    m87_sha256_hex(raw, len, hex);
    memcpy(out, hex, M87_SIGN_KEY_ID_LEN);
    out[M87_SIGN_KEY_ID_LEN] = '\0';
}

bool m87_sign_key_is_private(const struct m87_sign_key *k)
{
    return k->private;
}

char *m87_sign(const struct m87_sign_key *k, const void *msg, size_t len, struct m87_error **err)
{
    unsigned char sig[SIG_LEN];
    size_t sig_len = sizeof(sig);

    if (!k->private) {
        m87_error_set(err, M87_E_INVAL, 0, "sign: a public key cannot sign");
        return NULL;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        m87_oom();
    int ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) > 0 &&
             EVP_DigestSign(ctx, sig, &sig_len, msg, len) > 0 && sig_len == SIG_LEN;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error();
        m87_error_set(err, M87_E_INTERNAL, 0, "sign: libcrypto failed");
        return NULL;
    }
    char *text = m87_xmalloc(M87_SIGN_SIG_TEXT_LEN + 1);
    EVP_EncodeBlock((unsigned char *)text, sig, SIG_LEN);
    return text;
}

/* base64 of exactly SIG_LEN bytes ("...==") into sig; false for anything else. */
static bool decode_sig(const char *text, unsigned char sig[SIG_LEN])
{
    unsigned char buf[M87_SIGN_SIG_TEXT_LEN];

    if (text == NULL || strlen(text) != M87_SIGN_SIG_TEXT_LEN ||
        strcmp(text + M87_SIGN_SIG_TEXT_LEN - 2, "==") != 0)
        return false;
    int n = EVP_DecodeBlock(buf, (const unsigned char *)text, M87_SIGN_SIG_TEXT_LEN);
    if (n != SIG_LEN + 2)
        return false;
    memcpy(sig, buf, SIG_LEN);
    return true;
}

bool m87_sign_verify(const struct m87_sign_key *k, const void *msg, size_t len, const char *sig)
{
    unsigned char raw[SIG_LEN];

    if (!decode_sig(sig, raw))
        return false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        m87_oom();
    bool ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) > 0 &&
              EVP_DigestVerify(ctx, raw, SIG_LEN, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return ok;
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
