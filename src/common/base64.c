/* URL-safe padded base64 through OpenSSL's encoder. */
#include <openssl/evp.h>

#include "m87/alloc.h"
#include "m87/base64.h"

char *m87_base64url_encode(const void *data, size_t len)
{
    size_t out_len = 4 * ((len + 2) / 3);
    char *out = m87_xmalloc(out_len + 1);
    /* EVP_EncodeBlock takes an int length: callers encode small auth blobs only */
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    if (n < 0)
        m87_oom();
    out[n] = '\0';
    for (char *p = out; *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
    }
    return out;
}
