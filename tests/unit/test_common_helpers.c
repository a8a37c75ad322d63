/* Unit tests of the small common helpers: command tables and the bad-option message
 * (src/common/command.c), the monotonic clock and sleep (time.c), IP address checks (net.c),
 * absolute paths (path.c), write_all (io.c), the sorted set of strings (sort.c) and tokens read
 * from a pipe (token.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/command.h"
#include "m87/compiler.h"
#include "m87/io.h"
#include "m87/list.h"
#include "m87/net.h"
#include "m87/path.h"
#include "m87/sort.h"
#include "m87/time.h"
#include "m87/token.h"
#include "unit-util.h"

/* ---- command tables ------------------------------------------------------------------------ */

static int plain_calls, scoped_calls;
static const char *scope_seen;

static int cmd_plain(int argc, char **argv)
{
    (void)argv;
    plain_calls++;
    return argc;
}

static int cmd_scoped(const char *scope, int argc, char **argv)
{
    (void)argv;
    scoped_calls++;
    scope_seen = scope;
    return 100 + argc;
}

static const struct m87_command table[] = {
    {"init", cmd_plain, "create it", NULL},
    {"window", NULL, "maintenance windows", "add|list|rm", cmd_scoped},
    {"--prefetch", NULL, NULL, NULL, cmd_scoped},
    {"a-very-long-command-name", cmd_plain, "wraps", "WITH ARGS"},
};

static void test_command_find_and_run(void **state)
{
    (void)state;
    char *argv[] = {"window", "add", NULL};

    assert_ptr_equal(m87_command_find(table, M87_ARRAY_LEN(table), "init"), &table[0]);
    assert_ptr_equal(m87_command_find(table, M87_ARRAY_LEN(table), "--prefetch"), &table[2]);
    assert_null(m87_command_find(table, M87_ARRAY_LEN(table), "ini"));
    assert_null(m87_command_find(table, M87_ARRAY_LEN(table), NULL));
    assert_null(m87_command_find(table, 0, "init"));

    assert_int_equal(m87_command_run(&table[0], "ignored", 2, argv), 2);
    assert_int_equal(plain_calls, 1);
    assert_int_equal(m87_command_run(&table[1], "gw-1", 2, argv), 102);
    assert_int_equal(scoped_calls, 1);
    assert_string_equal(scope_seen, "gw-1");
}

static char *usage_text(const char *scope, int column)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    m87_command_usage(f, scope, table, M87_ARRAY_LEN(table), column);
    fclose(f);
    return text;
}

static void test_command_usage(void **state)
{
    (void)state;
    /* a name part one column short of the summary still gets its space; aliases not listed */
    char *text = usage_text(NULL, 21);
    assert_string_equal(text, "  init               create it\n"
                              "  window add|list|rm maintenance windows\n"
                              "  a-very-long-command-name WITH ARGS\n"
                              "                     wraps\n");
    free(text);
    /* one that reaches the column puts the summary on the next line */
    text = usage_text("DEVICE", 26);
    assert_string_equal(text, "  DEVICE init             create it\n"
                              "  DEVICE window add|list|rm\n"
                              "                          maintenance windows\n"
                              "  DEVICE a-very-long-command-name WITH ARGS\n"
                              "                          wraps\n");
    free(text);
}

static void test_command_names(void **state)
{
    (void)state;
    char *s = m87_command_names(table, M87_ARRAY_LEN(table));
    assert_string_equal(s, "init, window or a-very-long-command-name");
    free(s);
    s = m87_command_names(table, 2);
    assert_string_equal(s, "init or window");
    free(s);
    s = m87_command_names(table, 1);
    assert_string_equal(s, "init");
    free(s);
    s = m87_command_names(table, 0);
    assert_string_equal(s, "");
    free(s);
}

/* ---- bad options --------------------------------------------------------------------------- */

/* Run getopt_long over argv until it reports a problem, and return what m87_bad_option printed
 * on stderr (caller frees) and returned. */
static char *bad_option_text(char **argv, int *rc)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'},
        {"verbose", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    int argc = 0;
    while (argv[argc])
        argc++;
    char path[] = "/tmp/m87-unit-badopt-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0 && dup2(fd, STDERR_FILENO) >= 0);

    int c;
    *rc = -1;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":f:v", opts, NULL)) != -1)
        if (c == '?' || c == ':') {
            *rc = m87_bad_option("m87-test", "frob up", argv, c);
            break;
        }
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);

    char *text = calloc(1, 4096);
    assert_non_null(text);
    assert_true(pread(fd, text, 4095, 0) >= 0);
    close(fd);
    return text;
}

static void check_bad_option(const char *const *words, const char *want)
{
    char *argv[8] = {"frob"};
    for (size_t i = 0; words[i]; i++)
        argv[i + 1] = (char *)words[i];
    int rc;
    char *text = bad_option_text(argv, &rc);
    assert_int_equal(rc, M87_EXIT_USAGE);
    _cleanup_free_ char *full = m87_xasprintf("m87-test: frob up: %s\n"
                                              "Run 'm87-test frob up --help' for usage.\n",
                                              want);
    assert_string_equal(text, full);
    free(text);
}

static void test_bad_option(void **state)
{
    (void)state;
    check_bad_option((const char *const[]){"--bogus", NULL}, "unknown option '--bogus'");
    check_bad_option((const char *const[]){"--bogus=1", NULL}, "unknown option '--bogus=1'");
    check_bad_option((const char *const[]){"-x", NULL}, "unknown option '-x'");
    check_bad_option((const char *const[]){"--file", NULL}, "option '--file' needs a value");
    check_bad_option((const char *const[]){"-f", NULL}, "option '-f' needs a value");
    /* the short-option fix: the option alone, not the word it came in */
    check_bad_option((const char *const[]){"-vx", NULL}, "unknown option '-x'");
    check_bad_option((const char *const[]){"-xv", NULL}, "unknown option '-x'");
    check_bad_option((const char *const[]){"-v", "-f", NULL}, "option '-f' needs a value");
    check_bad_option((const char *const[]){"-vf", NULL}, "option '-f' needs a value");
}

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

/* ---- tokens -------------------------------------------------------------------------------- */

/* m87_token_read of text written into a pipe: the token, or NULL with the message in *msg. */
static char *token_of(const char *text, size_t len, char **msg)
{
    int p[2];
    struct m87_error *err = NULL;

    assert_int_equal(pipe(p), 0);
    assert_int_equal(m87_write_all(p[1], text, len), 0);
    close(p[1]);
    char *tok = m87_token_read(p[0], "stdin", &err);
    close(p[0]);
    *msg = err ? m87_xstrdup(err->msg) : NULL;
    m87_error_free(err);
    return tok;
}

static void test_token_read(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *want; /* the token, or the message */
    } cases[] = {
        {"m87a_x\n", "m87a_x"},
        {"m87a_x", "m87a_x"},
        {"m87a_x\r\n", "m87a_x"},
        {"", "stdin is empty"},
        {"\n", "stdin is empty"},
        {"a\nb", "stdin holds more than one line"},
        {"a\n\n", "stdin holds more than one line"},
        {"a b\n", "stdin holds a space or a control character"},
        {"a\tb", "stdin holds a space or a control character"},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(cases); i++) {
        _cleanup_free_ char *msg = NULL;
        _cleanup_free_ char *tok = token_of(cases[i].text, strlen(cases[i].text), &msg);
        assert_string_equal(tok ? tok : msg, cases[i].want);
    }
    _cleanup_free_ char *msg = NULL;
    assert_null(token_of("a\0b", 3, &msg));
    assert_string_equal(msg, "stdin holds a space or a control character");
    char big[M87_TOKEN_MAX + 1];
    memset(big, 'a', sizeof(big));
    _cleanup_free_ char *msg2 = NULL;
    _cleanup_free_ char *tok = token_of(big, sizeof(big) - 1, &msg2);
    assert_int_equal(strlen(tok), M87_TOKEN_MAX);
    _cleanup_free_ char *msg3 = NULL;
    assert_null(token_of(big, sizeof(big), &msg3));
    assert_string_equal(msg3, "stdin exceeds the limit of 4096 bytes");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_find_and_run),
        cmocka_unit_test(test_command_usage),
        cmocka_unit_test(test_command_names),
        cmocka_unit_test(test_bad_option),
        cmocka_unit_test(test_mono_and_sleep),
        cmocka_unit_test(test_valid_ip),
        cmocka_unit_test(test_absolute),
        cmocka_unit_test(test_write_all),
        cmocka_unit_test(test_strv_sort_unique),
        cmocka_unit_test(test_token_read),
    };
    return cmocka_run_group_tests_name("common helpers", tests, NULL, NULL);
}
