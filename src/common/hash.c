/* SHA-256 over nettle, CSPRNG bytes and constant-time comparison.
 *
 * nettle rather than libcrypto: the agent's libcurl (the GnuTLS flavour) already maps and
 * initialises nettle, while libcrypto's first digest loads its configuration and providers, about
 * 1.7 MB of resident pages the idle agent would keep (docs/agent.md, Footprint). */
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <sys/random.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/hash.h"
#include "m87/io.h"

struct m87_sha256 {
    struct sha256_ctx ctx;
};

struct m87_sha256 *m87_sha256_new(void)
{
    struct m87_sha256 *h = m87_xmalloc(sizeof(*h));
    sha256_init(&h->ctx);
    return h;
}

void m87_sha256_update(struct m87_sha256 *h, const void *data, size_t len)
{
    sha256_update(&h->ctx, len, data);
}

void m87_sha256_abort(struct m87_sha256 *h)
{
    free(h);
}

void m87_sha256_final(struct m87_sha256 *h, char out[M87_SHA256_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t md[SHA256_DIGEST_SIZE];
    sha256_digest(&h->ctx, sizeof(md), md);
    m87_sha256_abort(h);
    for (unsigned int i = 0; i < SHA256_DIGEST_SIZE; i++) {
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
