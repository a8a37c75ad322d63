/* SHA-256 over libcrypto, CSPRNG bytes and constant-time comparison. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/random.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "m87/io.h"

struct m87_sha256 {
    EVP_MD_CTX *ctx;
};

static void evp_check(int ok)
{
    /* SHA-256 over memory fails only when libcrypto cannot allocate */
    if (!ok)
        m87_oom();
}

struct m87_sha256 *m87_sha256_new(void)
{
    struct m87_sha256 *h = m87_xmalloc(sizeof(*h));
    h->ctx = EVP_MD_CTX_new();
    evp_check(h->ctx != NULL);
    evp_check(EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL));
    return h;
}

void m87_sha256_update(struct m87_sha256 *h, const void *data, size_t len)
{
    evp_check(EVP_DigestUpdate(h->ctx, data, len));
}

void m87_sha256_abort(struct m87_sha256 *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void m87_sha256_final(struct m87_sha256 *h, char out[M87_SHA256_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    evp_check(EVP_DigestFinal_ex(h->ctx, md, &md_len));
    m87_sha256_abort(h);
    for (unsigned int i = 0; i < 32 && i < md_len; i++) {
        out[i * 2] = hex[md[i] >> 4];
        out[i * 2 + 1] = hex[md[i] & 0xf];
    }
    out[M87_SHA256_HEX_LEN] = '\0';
}

void m87_sha256_hex(const void *data, size_t len, char out[M87_SHA256_HEX_LEN + 1])
{
    struct m87_sha256 *h = m87_sha256_new();
    m87_sha256_update(h, data, len);
    m87_sha256_final(h, out);
}

int m87_sha256_file(const char *path, char out[M87_SHA256_HEX_LEN + 1], struct m87_error **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return m87_error_set(err, M87_E_IO, errno, "open '%s'", path);
    struct m87_sha256 *h = m87_sha256_new();
    char buf[65536];
    for (;;) {
        ssize_t n = m87_read_some(fd, buf, sizeof(buf));
        if (n < 0) {
            m87_sha256_abort(h);
            return m87_error_set(err, M87_E_IO, errno, "read '%s'", path);
        }
        if (n == 0)
            break;
        m87_sha256_update(h, buf, (size_t)n);
    }
    m87_sha256_final(h, out);
    return 0;
}

int m87_random_bytes(void *buf, size_t len, struct m87_error **err)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return m87_error_set(err, M87_E_IO, errno, "read random bytes");
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int m87_memeq_ct(const void *a, const void *b, size_t len)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;
    for (size_t i = 0; i < len; i++)
        d |= x[i] ^ y[i];
    return d != 0;
}
