/* Unit tests of the failed-authentication limit: the burst, the refill, sources kept apart, an
 * IPv6 /64 counted as one source, addresses that are not limited, and a flood from many sources
 * that fits in the fixed table. Time is passed in. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "server/ratelimit.h"
#include "unit-util.h"

static struct sockaddr_in v4(const char *text)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, text, &a.sin_addr), 1);
    return a;
}

static struct sockaddr_in6 v6(const char *text)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, text, &a.sin6_addr), 1);
    return a;
}

#define SA(a) ((const struct sockaddr *)&(a))

static void test_burst_then_refill(void **state)
{
    (void)state;
    struct srv_ratelimit *rl = srv_ratelimit_new(6); /* 6 in a row, then one per 10 s */
    struct sockaddr_in a = v4("192.0.2.1");
    int64_t t = 1000;

    for (int i = 0; i < 6; i++) {
        assert_int_equal(srv_ratelimit_wait(rl, SA(a), t), 0);
        srv_ratelimit_failed(rl, SA(a), t);
    }
    int64_t wait = srv_ratelimit_wait(rl, SA(a), t);
    assert_true(wait > 9000 && wait <= 10001);
    assert_true(srv_ratelimit_wait(rl, SA(a), t + 5000) > 0);
    assert_int_equal(srv_ratelimit_wait(rl, SA(a), t + 10001), 0);
    /* one more failure spends the refilled one */
    srv_ratelimit_failed(rl, SA(a), t + 10001);
    assert_true(srv_ratelimit_wait(rl, SA(a), t + 10001) > 0);
    /* a long quiet spell refills the bucket up to the burst, not beyond */
    t += 3600 * 1000;
    for (int i = 0; i < 6; i++) {
        assert_int_equal(srv_ratelimit_wait(rl, SA(a), t), 0);
        srv_ratelimit_failed(rl, SA(a), t);
    }
    assert_true(srv_ratelimit_wait(rl, SA(a), t) > 0);
    srv_ratelimit_free(rl);
}

static void test_sources_apart(void **state)
{
    (void)state;
    struct srv_ratelimit *rl = srv_ratelimit_new(2);
    struct sockaddr_in a = v4("192.0.2.1"), b = v4("192.0.2.2");
    struct sockaddr_in6 c = v6("2001:db8:1:2::1"), c2 = v6("2001:db8:1:2:ffff::9"),
                        d = v6("2001:db8:1:3::1");
    struct sockaddr_un u = {.sun_family = AF_UNIX};

    srv_ratelimit_failed(rl, SA(a), 0);
    srv_ratelimit_failed(rl, SA(a), 0);
    assert_true(srv_ratelimit_wait(rl, SA(a), 0) > 0);
    assert_int_equal(srv_ratelimit_wait(rl, SA(b), 0), 0);
    /* the same /64 is one source; the next /64 is another */
    srv_ratelimit_failed(rl, SA(c), 0);
    srv_ratelimit_failed(rl, SA(c2), 0);
    assert_true(srv_ratelimit_wait(rl, SA(c), 0) > 0);
    assert_true(srv_ratelimit_wait(rl, SA(c2), 0) > 0);
    assert_int_equal(srv_ratelimit_wait(rl, SA(d), 0), 0);
    /* a family without addresses, or none at all, is not limited */
    for (int i = 0; i < 10; i++) {
        srv_ratelimit_failed(rl, SA(u), 0);
        srv_ratelimit_failed(rl, NULL, 0);
    }
    assert_int_equal(srv_ratelimit_wait(rl, SA(u), 0), 0);
    assert_int_equal(srv_ratelimit_wait(rl, NULL, 0), 0);
    srv_ratelimit_free(rl);
}

static void test_off_and_flood(void **state)
{
    (void)state;
    struct sockaddr_in a = v4("192.0.2.1");

    /* 0: no limit at all */
    struct srv_ratelimit *off = srv_ratelimit_new(0);
    assert_null(off);
    srv_ratelimit_failed(off, SA(a), 0);
    assert_int_equal(srv_ratelimit_wait(off, SA(a), 0), 0);

    /* a flood from 100,000 addresses: the table forgets the least suspicious first, so a source
     * that failed many times stays limited while sources that failed once come and go */
    struct srv_ratelimit *rl = srv_ratelimit_new(3);
    for (int i = 0; i < 3; i++)
        srv_ratelimit_failed(rl, SA(a), 0);
    for (uint32_t i = 0; i < 100000; i++) {
        struct sockaddr_in x = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a000000u + i)};
        srv_ratelimit_failed(rl, SA(x), 0);
    }
    assert_true(srv_ratelimit_wait(rl, SA(a), 0) > 0);
    srv_ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refill),
        cmocka_unit_test(test_sources_apart),
        cmocka_unit_test(test_off_and_flood),
    };
    return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
