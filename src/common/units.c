/* Sizes, durations and cpus as compose writes them, converted exactly: decimals stay digits and
 * are truncated at the last step, never routed through a float. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/units.h"

#define NS_PER_US INT64_C(1000)
#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S INT64_C(1000000000)

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* v = v * 10 + d, false when the result would pass limit. */
static bool push_digit(uint64_t *v, unsigned d, uint64_t limit)
{
    if (*v > (limit - d) / 10)
        return false;
    *v = *v * 10 + d;
    return true;
}

/* *v = a * b, false when the product would pass limit. */
static bool mul_limit(uint64_t a, uint64_t b, uint64_t limit, uint64_t *v)
{
    if (b != 0 && a > limit / b)
        return false;
    *v = a * b;
    return true;
}

/* floor(0.DIGITS * unit) for the n fraction digits at frac, exactly: Horner's scheme from the
 * last digit, where flooring at each step gives the same result as flooring once at the end.
 * unit must be below UINT64_MAX / 10. */
static uint64_t frac_times(const char *frac, size_t n, uint64_t unit)
{
    uint64_t t = 0;
    for (size_t i = n; i-- > 0;)
        t = ((uint64_t)(frac[i] - '0') * unit + t) / 10;
    return t;
}

/* ---- sizes ----------------------------------------------------------------------------------- */

static uint64_t size_unit(char c)
{
    switch (c | 0x20) {
    case 'k':
        return UINT64_C(1) << 10;
    case 'm':
        return UINT64_C(1) << 20;
    case 'g':
        return UINT64_C(1) << 30;
    case 't':
        return UINT64_C(1) << 40;
    case 'p':
        return UINT64_C(1) << 50;
    default:
        return 0;
    }
}

int m87_parse_bytes(const char *text, int64_t *out, struct m87_error **err)
{
    const char *p = text, *frac = NULL;
    size_t nfrac = 0;
    uint64_t whole = 0, mul = 1, limit = INT64_MAX;
    bool overflow = false;
    if (!is_digit(*p))
        return m87_error_set(err, M87_E_INVAL, 0, "invalid size '%s'", text);
    for (; is_digit(*p); p++)
        overflow |= !push_digit(&whole, (unsigned)(*p - '0'), limit);
    if (*p == '.') {
        frac = ++p;
        nfrac = strspn(p, "0123456789");
        if (nfrac == 0)
            return m87_error_set(err, M87_E_INVAL, 0, "invalid size '%s'", text);
        p += nfrac;
    }
    if (*p == ' ')
        p++;
    if (size_unit(*p))
        mul = size_unit(*p++);
    if ((*p | 0x20) == 'i')
        p++;
    if ((*p | 0x20) == 'b')
        p++;
    if (*p != '\0')
        return m87_error_set(err, M87_E_INVAL, 0, "invalid size '%s'", text);
    uint64_t v;
    if (overflow || !mul_limit(whole, mul, limit, &v) || frac_times(frac, nfrac, mul) > limit - v)
        return m87_error_set(err, M87_E_INVAL, 0, "size '%s' is out of range", text);
    *out = (int64_t)(v + frac_times(frac, nfrac, mul));
    return 0;
}

/* ---- durations ------------------------------------------------------------------------------- */

struct duration_unit {
    const char *name;
    uint64_t ns;
};

static const struct duration_unit duration_units[] = {
    {"ns", 1},
    {"us", NS_PER_US},
    {"\xc2\xb5s", NS_PER_US}, /* U+00B5 MICRO SIGN */
    {"\xce\xbcs", NS_PER_US}, /* U+03BC GREEK SMALL LETTER MU */
    {"ms", NS_PER_MS},
    {"s", NS_PER_S},
    {"m", 60 * NS_PER_S},
    {"h", 3600 * NS_PER_S},
    {"d", 86400 * NS_PER_S},
    {"w", 7 * 86400 * NS_PER_S},
};

enum duration_fault {
    DURATION_INVALID,
    DURATION_NO_UNIT,
    DURATION_BAD_UNIT,
    DURATION_RANGE,
};

/* One number+unit pair at *pp, added to *total; -1 with the fault in *why. */
static int duration_term(const char **pp, uint64_t limit, uint64_t *total, enum duration_fault *why)
{
    const char *p = *pp, *frac = NULL;
    uint64_t whole = 0;
    bool overflow = false;
    size_t nwhole = 0, nfrac = 0;
    for (; is_digit(*p); p++, nwhole++)
        overflow |= !push_digit(&whole, (unsigned)(*p - '0'), limit);
    if (*p == '.') {
        frac = ++p;
        nfrac = strspn(p, "0123456789");
        p += nfrac;
    }
    if (nwhole + nfrac == 0)
        return *why = DURATION_INVALID, -1;
    size_t ulen = strcspn(p, ".0123456789");
    if (ulen == 0)
        return *why = DURATION_NO_UNIT, -1;
    const struct duration_unit *unit = NULL;
    for (size_t i = 0; i < M87_ARRAY_LEN(duration_units); i++)
        if (strlen(duration_units[i].name) == ulen && memcmp(p, duration_units[i].name, ulen) == 0)
            unit = &duration_units[i];
    if (unit == NULL)
        return *why = DURATION_BAD_UNIT, -1;
    uint64_t v;
    if (overflow || !mul_limit(whole, unit->ns, limit, &v) ||
        frac_times(frac, nfrac, unit->ns) > limit - v)
        return *why = DURATION_RANGE, -1;
    v += frac_times(frac, nfrac, unit->ns);
    if (v > limit - *total)
        return *why = DURATION_RANGE, -1;
    *total += v;
    *pp = p + ulen;
    return 0;
}

static int duration_error(struct m87_error **err, enum duration_fault why, const char *text)
{
    switch (why) {
    case DURATION_NO_UNIT:
        return m87_error_set(err, M87_E_INVAL, 0, "missing unit in duration '%s'", text);
    case DURATION_BAD_UNIT:
        return m87_error_set(err, M87_E_INVAL, 0, "unknown unit in duration '%s'", text);
    case DURATION_RANGE:
        return m87_error_set(err, M87_E_INVAL, 0, "duration '%s' is out of range", text);
    default:
        return m87_error_set(err, M87_E_INVAL, 0, "invalid duration '%s'", text);
    }
}

int m87_parse_duration(const char *text, int64_t *ns, struct m87_error **err)
{
    const char *p = text;
    enum duration_fault why = DURATION_INVALID;
    bool negative = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    if (strcmp(p, "0") == 0) {
        *ns = 0;
        return 0;
    }
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, total = 0;
    if (*p == '\0')
        return duration_error(err, DURATION_INVALID, text);
    while (*p)
        if (duration_term(&p, limit, &total, &why) < 0)
            return duration_error(err, why, text);
    *ns = negative ? (int64_t)(0 - total) : (int64_t)total;
    return 0;
}

/* Write v's digits after the point, prec of them with trailing zeros dropped (none and no point
 * when they are all zero), at the end of buf; returns v / 10^prec. */
static uint64_t fmt_frac(char *buf, size_t *len, uint64_t v, int prec)
{
    char digits[16];
    bool any = false;
    for (int i = prec - 1; i >= 0; i--) {
        unsigned d = (unsigned)(v % 10);
        any |= d != 0;
        digits[i] = any ? (char)('0' + d) : '\0';
        v /= 10;
    }
    if (any) {
        buf[(*len)++] = '.';
        for (int i = 0; i < prec && digits[i]; i++)
            buf[(*len)++] = digits[i];
    }
    buf[*len] = '\0';
    return v;
}

char *m87_format_duration(int64_t ns)
{
    uint64_t u = ns < 0 ? 0 - (uint64_t)ns : (uint64_t)ns;
    const char *sign = ns < 0 ? "-" : "";
    char frac[24] = "";
    size_t flen = 0;
    if (u == 0)
        return m87_xstrdup("0s");
    if (u < (uint64_t)NS_PER_US)
        return m87_xasprintf("%s%lluns", sign, (unsigned long long)u);
    if (u < (uint64_t)NS_PER_MS) {
        u = fmt_frac(frac, &flen, u, 3);
        return m87_xasprintf("%s%llu%s\xc2\xb5s", sign, (unsigned long long)u, frac);
    }
    if (u < (uint64_t)NS_PER_S) {
        u = fmt_frac(frac, &flen, u, 6);
        return m87_xasprintf("%s%llu%sms", sign, (unsigned long long)u, frac);
    }
    u = fmt_frac(frac, &flen, u, 9);
    unsigned long long s = u % 60, m = (u / 60) % 60, h = u / 3600;
    if (h)
        return m87_xasprintf("%s%lluh%llum%llu%ss", sign, h, m, s, frac);
    if (m)
        return m87_xasprintf("%s%llum%llu%ss", sign, m, s, frac);
    return m87_xasprintf("%s%llu%ss", sign, s, frac);
}

/* ---- cpus ------------------------------------------------------------------------------------ */

/* The decimal exponent after [eE] at *pp; false when it is malformed or absurd. */
static bool cpus_exponent(const char **pp, long *exp)
{
    const char *p = *pp;
    bool negative = *p == '-';
    if (*p == '+' || *p == '-')
        p++;
    size_t n = strspn(p, "0123456789");
    if (n == 0 || n > 3)
        return false;
    long v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (p[i] - '0');
    *exp = negative ? -v : v;
    *pp = p + n;
    return true;
}

/* The i-th digit of the number written as whole digits then fraction digits. */
static char cpus_digit(const char *whole, size_t nwhole, const char *frac, size_t i)
{
    return i < nwhole ? whole[i] : frac[i - nwhole];
}

int m87_parse_cpus(const char *text, int64_t *nano, struct m87_error **err)
{
    const char *p = text;
    if (*p == '-')
        return m87_error_set(err, M87_E_INVAL, 0, "cpus value '%s' must not be negative", text);
    if (*p == '+')
        p++;
    const char *whole = p;
    size_t nwhole = strspn(p, "0123456789"), nfrac = 0;
    p += nwhole;
    const char *frac = p;
    if (*p == '.') {
        frac = ++p;
        nfrac = strspn(p, "0123456789");
        p += nfrac;
    }
    long exp = 0;
    if (nwhole + nfrac == 0 || ((*p | 0x20) == 'e' && (++p, !cpus_exponent(&p, &exp))) || *p)
        return m87_error_set(err, M87_E_INVAL, 0, "invalid cpus value '%s'", text);
    /* the digits whole+frac times 10^shift is the answer in nanocpus */
    long shift = exp - (long)nfrac + 9;
    size_t ndigits = nwhole + nfrac;
    for (; shift < 0 && ndigits > 0; shift++, ndigits--)
        if (cpus_digit(whole, nwhole, frac, ndigits - 1) != '0')
            return m87_error_set(err, M87_E_INVAL, 0, "cpus value '%s' has more than 9 decimals",
                                 text);
    uint64_t v = 0;
    bool ok = true;
    for (size_t i = 0; i < ndigits && ok; i++)
        ok = push_digit(&v, (unsigned)(cpus_digit(whole, nwhole, frac, i) - '0'), INT64_MAX);
    for (; shift > 0 && ok && v != 0; shift--)
        ok = push_digit(&v, 0, INT64_MAX);
    if (!ok)
        return m87_error_set(err, M87_E_INVAL, 0, "cpus value '%s' is out of range", text);
    *nano = (int64_t)v;
    return 0;
}
