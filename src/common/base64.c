/* Base64 through OpenSSL's encoder and decoder, pure functions that leave the library
 * uninitialised: standard and URL-safe padded encoding, standard padded decoding. */
#include <limits.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>

#include "m87/alloc.h"
#include "m87/base64.h"

char *m87_base64_encode(const void *data, size_t len)
{
    size_t out_len = 4 * ((len + 2) / 3);
    char *out = m87_xmalloc(out_len + 1);
    /* EVP_EncodeBlock takes an int length: callers encode small auth blobs and signatures only */
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    if (n < 0)
        m87_oom();
    out[n] = '\0';
    return out;
}

char *m87_base64url_encode(const void *data, size_t len)
{
    char *out = m87_base64_encode(data, len);
    for (char *p = out; *p; p++) {
        if (*p == '+')
            *p = '-';
        else if (*p == '/')
            *p = '_';
    }
    return out;
}

static bool b64_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '+' || ch == '/';
}

/* The count of '=' at the end, or -1 when the text is not well formed base64. */
static int b64_padding(const char *text, size_t len)
{
    if (len % 4 != 0)
        return -1;
    int pad = 0;
    while (pad < 2 && len > (size_t)pad && text[len - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < len - (size_t)pad; i++)
        if (!b64_char(text[i]))
            return -1;
    return pad;
}

char *m87_base64_decode(const char *text, size_t len, size_t *out_len, struct m87_error **err)
{
    int pad = b64_padding(text, len);
    if (pad < 0) {
        m87_error_set(err, M87_E_PARSE, 0, "bad base64: not padded text of the standard alphabet");
        return NULL;
    }
    /* EVP_DecodeBlock takes an int length: callers decode small config entries only */
    if (len > (size_t)INT_MAX / 2) {
        m87_error_set(err, M87_E_TOOBIG, 0, "bad base64: %zu bytes is too long", len);
        return NULL;
    }
    char *out = m87_xmalloc(len / 4 * 3 + 1);
    int n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)text, (int)len);
    if (n < 0) {
        free(out);
        m87_error_set(err, M87_E_PARSE, 0, "bad base64: undecodable text");
        return NULL;
    }
    /* the decoder counts the padding as zero bytes */
    n -= pad;
    out[n] = '\0';
    if (out_len)
        *out_len = (size_t)n;
    return out;
}
