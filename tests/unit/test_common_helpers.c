/* Unit tests of the small common helpers: the monotonic clock and sleep (src/common/time.c), IP
 * address checks (net.c), absolute paths (path.c), write_all (io.c) and the sorted set of
 * strings (sort.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "m87/io.h"
#include "m87/net.h"
#include "m87/path.h"
#include "m87/sort.h"
#include "m87/time.h"
#include "unit-util.h"

/* ---- time ---------------------------------------------------------------------------------- */

static void on_alarm(int sig)
{
    (void)sig;
}

static void test_mono_and_sleep(void **state)
{
    (void)state;
    int64_t t0 = m87_mono_ms();
    assert_true(t0 >= 0);
    m87_sleep_ms(0);
    m87_sleep_ms(-5);
    assert_true(m87_mono_ms() - t0 < 20);

    t0 = m87_mono_ms();
    m87_sleep_ms(30);
    int64_t t1 = m87_mono_ms();
    assert_true(t1 - t0 >= 30);
    assert_true(t1 >= t0);

    /* a signal every 5 ms, without SA_RESTART: the sleep goes on to its end */
    struct sigaction sa = {.sa_handler = on_alarm}, old;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    struct itimerval it = {.it_interval = {0, 5000}, .it_value = {0, 5000}}, off = {0};
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    t0 = m87_mono_ms();
    m87_sleep_ms(60);
    t1 = m87_mono_ms();
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &old, NULL);
    assert_true(t1 - t0 >= 60);
}

/* ---- addresses and paths ------------------------------------------------------------------- */

static void test_valid_ip(void **state)
{
    (void)state;
    static const char *const v4[] = {"10.0.0.1", "0.0.0.0", "255.255.255.255", "127.0.0.1"};
    static const char *const v6[] = {"::1", "::", "fe80::1", "2001:db8::8:800:200c:417a",
                                     "::ffff:10.0.0.1"};
    static const char *const neither[] = {"",         "10.0.0",     "10.0.0.256", "10.0.0.1/24",
                                          "[::1]",    "fe80::1%0",  "::1/128",    "localhost",
                                          " 1.2.3.4", "1.2.3.4:80", "1::2::3"};
    for (size_t i = 0; i < M87_ARRAY_LEN(v4); i++) {
        assert_true(m87_valid_ip(v4[i], AF_INET));
        assert_true(m87_valid_ip(v4[i], AF_UNSPEC));
        assert_false(m87_valid_ip(v4[i], AF_INET6));
    }
    for (size_t i = 0; i < M87_ARRAY_LEN(v6); i++) {
        assert_true(m87_valid_ip(v6[i], AF_INET6));
        assert_true(m87_valid_ip(v6[i], AF_UNSPEC));
        assert_false(m87_valid_ip(v6[i], AF_INET));
    }
    for (size_t i = 0; i < M87_ARRAY_LEN(neither); i++) {
        if (m87_valid_ip(neither[i], AF_UNSPEC))
            fail_msg("'%s' taken as an address", neither[i]);
        assert_false(m87_valid_ip(neither[i], AF_INET));
        assert_false(m87_valid_ip(neither[i], AF_INET6));
    }
}

static void test_absolute(void **state)
{
    (void)state;
    struct {
        const char *dir, *path, *want;
    } cases[] = {
        {"/work", "compose.yml", "/work/compose.yml"},
        {"/work", "/etc/x.yml", "/etc/x.yml"},
        {"/work", "./a/../b", "/work/./a/../b"},
        {"/work/", "a", "/work//a"},
        {"rel", "a", "rel/a"},
        {"/work", "/", "/"},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(cases); i++) {
        char *got = m87_absolute(cases[i].dir, cases[i].path);
        assert_string_equal(got, cases[i].want);
        if (cases[i].path[0] == '/')
            assert_ptr_not_equal(got, cases[i].path);
        free(got);
    }
}

/* ---- write_all ----------------------------------------------------------------------------- */

static void test_write_all(void **state)
{
    (void)state;
    /* more than a pipe holds, read by a child while written: short writes happen */
    size_t len = 1024 * 1024;
    char *data = malloc(len);
    assert_non_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (char)(i * 7 + i / 4096);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[1]);
        size_t got = 0;
        char buf[4096];
        ssize_t n;
        bool same = true;
        while ((n = read(p[0], buf, sizeof(buf))) > 0) {
            same = same && got + (size_t)n <= len && memcmp(buf, data + got, (size_t)n) == 0;
            got += (size_t)n;
            usleep(50);
        }
        _exit(same && got == len ? 0 : 1);
    }
    close(p[0]);
    assert_int_equal(m87_write_all(p[1], data, len), 0);
    close(p[1]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    assert_int_equal(m87_write_all(p[1], "x", 1), -1);
    assert_int_equal(errno, EBADF);
    assert_int_equal(m87_write_all(-1, "", 0), 0); /* nothing to write: no call */
    free(data);
}

/* ---- strv_sort_unique ---------------------------------------------------------------------- */

static void check_sorted(const char *const *in, const char *want)
{
    struct m87_strv v;
    m87_strv_init(&v);
    for (size_t i = 0; in[i]; i++)
        m87_strv_add(&v, in[i]);
    m87_strv_sort_unique(&v);
    char *got = m87_xstrdup("");
    for (size_t i = 0; i < v.len; i++) {
        char *next = m87_xasprintf("%s%s%s", got, i ? " " : "", v.items[i]);
        free(got);
        got = next;
    }
    assert_string_equal(got, want);
    free(got);
    m87_strv_release(&v);
}

static void test_strv_sort_unique(void **state)
{
    (void)state;
    check_sorted((const char *const[]){NULL}, "");
    check_sorted((const char *const[]){"one", NULL}, "one");
    check_sorted((const char *const[]){"b", "a", "b", "c", "a", "a", NULL}, "a b c");
    check_sorted((const char *const[]){"a/x", "a", "a-b", "B", "a/x", NULL}, "B a a-b a/x");
    check_sorted((const char *const[]){"80/tcp", "443/tcp", "80/tcp", "53/udp", NULL},
                 "443/tcp 53/udp 80/tcp");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mono_and_sleep),
        cmocka_unit_test(test_valid_ip),
        cmocka_unit_test(test_absolute),
        cmocka_unit_test(test_write_all),
        cmocka_unit_test(test_strv_sort_unique),
    };
    return cmocka_run_group_tests_name("common helpers", tests, NULL, NULL);
}
