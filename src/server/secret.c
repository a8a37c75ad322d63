/* Secrets at rest: the key file and AES-256-GCM through OpenSSL's EVP interface. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "server/secret.h"

#define NONCE_LEN 12
#define TAG_LEN 16

/* 0 when made, 1 when another process made it first, -1 on failure. */
static int make_key(const char *path, struct srv_secret_key *key, struct m87_error **err)
{
    if (m87_random_bytes(key->bytes, sizeof(key->bytes), err) < 0)
        return -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return 1;
    if (fd < 0)
        return m87_error_set(err, M87_E_IO, errno, "create '%s'", path);
    ssize_t n = write(fd, key->bytes, sizeof(key->bytes));
    int e = n < 0 ? errno : EIO;
    if (n != (ssize_t)sizeof(key->bytes) || fsync(fd) < 0) {
        e = n == (ssize_t)sizeof(key->bytes) ? errno : e;
        close(fd);
        unlink(path);
        return m87_error_set(err, M87_E_IO, e, "write '%s'", path);
    }
    close(fd);
    key->loaded = true;
    return 0;
}

int srv_secret_key_load(const char *data_dir, bool create, struct srv_secret_key *key,
                        struct m87_error **err)
{
    _cleanup_free_ char *path = m87_xasprintf("%s/%s", data_dir, SRV_SECRET_KEY_FILE);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT && create) {
        int made = make_key(path, key, err);
        if (made <= 0)
            return made;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0)
        return m87_error_set(err, M87_E_IO, errno, "open '%s'", path);
    struct stat sb;
    int rc = 0;
    if (fstat(fd, &sb) < 0)
        rc = m87_error_set(err, M87_E_IO, errno, "stat '%s'", path);
    else if (sb.st_mode & 077)
        rc = m87_error_set(err, M87_E_INVAL, 0,
                           "'%s' is readable by others: chmod 600 it (it opens the secrets)", path);
    else if (sb.st_size != SRV_SECRET_KEY_LEN ||
             read(fd, key->bytes, sizeof(key->bytes)) != (ssize_t)sizeof(key->bytes))
        rc =
            m87_error_set(err, M87_E_INVAL, 0, "'%s': expected %d bytes", path, SRV_SECRET_KEY_LEN);
    close(fd);
    key->loaded = rc == 0;
    return rc;
}

void srv_secret_key_release(struct srv_secret_key *key)
{
    explicit_bzero(key->bytes, sizeof(key->bytes));
    key->loaded = false;
}

static char *to_hex(const unsigned char *b, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = m87_xmalloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[b[i] >> 4];
        s[2 * i + 1] = digits[b[i] & 15];
    }
    s[2 * n] = '\0';
    return s;
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The bytes of lower-case hex text, NULL when it is not. */
static unsigned char *from_hex(const char *s, size_t *n)
{
    size_t len = strlen(s);
    if (len % 2)
        return NULL;
    unsigned char *b = m87_xmalloc(len / 2 + 1);
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(b);
            return NULL;
        }
        b[i] = (unsigned char)(hi << 4 | lo);
    }
    *n = len / 2;
    return b;
}

static void ctx_freep(EVP_CIPHER_CTX **c)
{
    EVP_CIPHER_CTX_free(*c);
}

char *srv_secret_seal(const struct srv_secret_key *key, const char *plain, size_t len,
                      const char *aad, struct m87_error **err)
{
    if (!key->loaded)
        return m87_error_set(err, M87_E_INTERNAL, 0, "no secret key loaded"), NULL;
    _cleanup_(ctx_freep) EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    size_t cap = NONCE_LEN + len + TAG_LEN;
    _cleanup_free_ unsigned char *out = m87_xmalloc(cap);
    int n = 0, fin = 0;
    if (m87_random_bytes(out, NONCE_LEN, err) < 0)
        return NULL;
    if (c == NULL || EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(c, NULL, NULL, key->bytes, out) != 1 ||
        EVP_EncryptUpdate(c, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_EncryptUpdate(c, out + NONCE_LEN, &n, (const unsigned char *)plain, (int)len) != 1 ||
        EVP_EncryptFinal_ex(c, out + NONCE_LEN + n, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + NONCE_LEN + n + fin) != 1)
        return m87_error_set(err, M87_E_INTERNAL, 0, "seal a secret: openssl failed"), NULL;
    return to_hex(out, NONCE_LEN + (size_t)n + (size_t)fin + TAG_LEN);
}

char *srv_secret_open(const struct srv_secret_key *key, const char *sealed, const char *aad,
                      struct m87_error **err)
{
    size_t len = 0;
    _cleanup_free_ unsigned char *in = from_hex(sealed, &len);
    if (in == NULL || len < NONCE_LEN + TAG_LEN || len > NONCE_LEN + TAG_LEN + SRV_SECRET_MAX)
        return m87_error_set(err, M87_E_PARSE, 0, "a stored secret is not sealed text"), NULL;
    if (!key->loaded)
        return m87_error_set(err, M87_E_INTERNAL, 0, "no secret key loaded"), NULL;
    size_t clen = len - NONCE_LEN - TAG_LEN;
    char *plain = m87_xmalloc(clen + 1);
    _cleanup_(ctx_freep) EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    if (c == NULL || EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(c, NULL, NULL, key->bytes, in) != 1 ||
        EVP_DecryptUpdate(c, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)) != 1 ||
        EVP_DecryptUpdate(c, (unsigned char *)plain, &n, in + NONCE_LEN, (int)clen) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, in + NONCE_LEN + clen) != 1 ||
        EVP_DecryptFinal_ex(c, (unsigned char *)plain + n, &fin) != 1) {
        explicit_bzero(plain, clen + 1);
        free(plain);
        return m87_error_set(err, M87_E_INVAL, 0,
                             "a stored secret does not open with the key of the data directory"),
               NULL;
    }
    plain[n + fin] = '\0';
    return plain;
}
