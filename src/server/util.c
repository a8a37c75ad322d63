/* Small helpers of the server: names, times, numbers, Range headers, JSON nesting (pure), and a
 * condition variable on the monotonic clock. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/util.h"

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_hex_lower(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool srv_valid_device_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || !is_lower_alnum(s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return false;
    return true;
}

bool srv_valid_deployment_id(const char *s)
{
    if (strlen(s) != 10 || s[0] != 'd' || s[1] != '-')
        return false;
    for (size_t i = 2; i < 10; i++)
        if (!is_hex_lower(s[i]))
            return false;
    return true;
}

bool srv_valid_hex64(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!is_hex_lower(s[i]))
            return false;
    return true;
}

bool srv_all_of(const char *s, size_t len, const char *set)
{
    return s && strlen(s) == len && strspn(s, set) == len;
}

void srv_time_format(int64_t t, char out[32])
{
    out[0] = '\0';
    if (t <= 0)
        return;
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        out[0] = '\0';
}

int64_t srv_now(void)
{
    return (int64_t)time(NULL);
}

void srv_cond_init_monotonic(pthread_cond_t *c)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
}

void srv_thread_stop(pthread_t thread, pthread_mutex_t *mu, pthread_cond_t *cond, bool *quit)
{
    pthread_mutex_lock(mu);
    *quit = true;
    pthread_cond_signal(cond);
    pthread_mutex_unlock(mu);
    pthread_join(thread, NULL);
    pthread_cond_destroy(cond);
}

int srv_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (s == NULL || *s == '\0' || (*s != '-' && (*s < '0' || *s > '9')))
        return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Digits only, no sign, no overflow. */
static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

int srv_parse_range(const char *header, uint64_t size, uint64_t *first, uint64_t *last)
{
    if (header == NULL || strncmp(header, "bytes=", 6) != 0)
        return 0;
    const char *spec = header + 6;
    const char *dash = strchr(spec, '-');
    if (dash == NULL || strchr(spec, ',') != NULL)
        return 0;
    uint64_t a = 0, b = 0;
    bool has_a = parse_u64(spec, (size_t)(dash - spec), &a);
    bool has_b = parse_u64(dash + 1, strlen(dash + 1), &b);
    if (!has_a && dash != spec)
        return 0;
    if (!has_b && dash[1] != '\0')
        return 0;
    if (!has_a) { /* a suffix: the last b bytes */
        if (!has_b)
            return 0;
        if (b == 0 || size == 0)
            return -1;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return 1;
    }
    if (has_b && b < a)
        return 0;
    if (a >= size)
        return -1;
    *first = a;
    *last = (!has_b || b >= size) ? size - 1 : b;
    return 1;
}
