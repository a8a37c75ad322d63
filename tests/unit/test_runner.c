/* Unit tests of the runner's pure parts (src/runner/runner-text.c, the report record shape of
 * runner-report.c, the seq reader of runner-journal.c). Processes, files and dockerd are the
 * end-to-end tests' business (tests/e2e/test_runner_*.py). */
#include <string.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/json-write.h"
#include "m87/list.h"
#include "m87/runner-journal.h"
#include "m87/runner-text.h"
#include "m87/runner.h"
#include "m87/spec-runspec.h"
#include "unit-util.h"

/* ---- output tail ------------------------------------------------------------------------------
 */

static void assert_tail(const struct runner_tail *t, const char *want)
{
    _cleanup_free_ char *got = runner_tail_text(t);
    assert_string_equal(got, want);
}

static void test_tail_small(void **state)
{
    (void)state;
    struct runner_tail t = {0};
    assert_tail(&t, "");
    runner_tail_add(&t, "hello ", 6);
    runner_tail_add(&t, "world\n", 6);
    assert_tail(&t, "hello world\n");
    assert_false(t.cut);
}

static void test_tail_keeps_the_end(void **state)
{
    (void)state;
    struct runner_tail t = {0};
    char line[100];

    /* lines "000\n" .. "9999\n" in small writes: the ring must keep exactly the last bytes */
    struct m87_buf all;
    m87_buf_init(&all, 0);
    for (int i = 0; i < 3000; i++) {
        int n = snprintf(line, sizeof(line), "%d\n", i);
        runner_tail_add(&t, line, (size_t)n);
        m87_buf_append(&all, line, (size_t)n, NULL);
    }
    assert_true(t.cut);
    _cleanup_free_ char *got = runner_tail_text(&t);
    assert_int_equal(strlen(got), RUNNER_OUTPUT_TAIL);
    assert_string_equal(got, all.data + all.len - RUNNER_OUTPUT_TAIL);
    /* one write larger than the ring */
    struct runner_tail big = {0};
    runner_tail_add(&big, "x", 1);
    runner_tail_add(&big, all.data, all.len);
    _cleanup_free_ char *got2 = runner_tail_text(&big);
    assert_string_equal(got2, all.data + all.len - RUNNER_OUTPUT_TAIL);
    m87_buf_release(&all);
}

static void test_tail_cut_character(void **state)
{
    (void)state;
    struct runner_tail t = {0};
    _cleanup_free_ char *fill = m87_xmalloc(RUNNER_OUTPUT_TAIL);

    memset(fill, 'a', RUNNER_OUTPUT_TAIL);
    /* "é" (2 bytes) followed by exactly cap-1 bytes: only its second byte stays in the ring */
    runner_tail_add(&t, "\xc3\xa9", 2);
    runner_tail_add(&t, fill, RUNNER_OUTPUT_TAIL - 1);
    _cleanup_free_ char *got = runner_tail_text(&t);
    assert_int_equal(strlen(got), RUNNER_OUTPUT_TAIL - 1);
    assert_int_equal(got[0], 'a');
}

static void test_utf8_clean(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        {"plain", 5, "plain"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
         "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"a\0b", 3, "a?b"},
        {"\xff\xfe", 2, "??"},
        {"\xc0\xaf", 2, "??"},           /* overlong '/' */
        {"\xed\xa0\x80", 3, "???"},      /* a surrogate */
        {"\xe2\x82", 2, "??"},           /* truncated */
        {"\xf4\x90\x80\x80", 4, "????"}, /* past U+10FFFF */
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(cases); i++) {
        _cleanup_free_ char *got = runner_utf8_clean(cases[i].in, cases[i].len);
        assert_string_equal(got, cases[i].want);
    }
}

/* ---- native compose commands ------------------------------------------------------------------
 */

static struct spec_run shell(const char *text)
{
    struct spec_run r = {.shell = true, .text = (char *)text};
    return r;
}

/* The native argv joined by '|', or NULL when not native. */
static char *native(const struct spec_run *run)
{
    struct m87_strv argv;
    m87_strv_init(&argv);
    if (!runner_native_compose(run, &argv))
        return NULL;
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (size_t i = 0; i < argv.len; i++)
        m87_buf_appendf(&b, NULL, "%s%s", i ? "|" : "", argv.items[i]);
    m87_strv_release(&argv);
    return m87_buf_steal(&b);
}

static void test_native_shell(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *want; /* NULL: not native */
    } cases[] = {
        {"docker compose pull", "compose|pull"},
        {"docker compose up -d --remove-orphans", "compose|up|-d|--remove-orphans"},
        {"  docker\tcompose   down  ", "compose|down"},
        {"docker-compose -f a.yml -p proj up -d", "compose|-f|a.yml|-p|proj|up|-d"},
        {"docker compose --project-name=x --progress plain ps", "compose|--project-name=x|"
                                                                "--progress|plain|ps"},
        {"docker compose -f up.yml config", "compose|-f|up.yml|config"},
        {"docker compose logs", "compose|logs"},
        {"docker compose restart web", "compose|restart|web"},
        {"docker compose exec web sh", NULL}, /* no native exec */
        {"docker compose -f build", NULL},    /* -f takes "build" as its file */
        {"docker compose", NULL},
        {"docker ps", NULL},
        {"docker compose up -d && echo ok", NULL},
        {"docker compose up -d; echo ok", NULL},
        {"docker compose pull\ndocker compose up -d", NULL},
        {"docker compose -f \"my file.yml\" up", NULL},
        {"docker compose -p $NAME up", NULL},
        {"FOO=1 docker compose up", NULL},
        {"sudo docker compose up", NULL},
        {"/usr/bin/docker compose up", NULL},
        {"docker-compose", NULL},
        /* the spellings `m87-agent compose` reads (spec_compose_args_parse), no other */
        {"docker compose -pproj -fa.yml up", "compose|-pproj|-fa.yml|up"},
        {"docker compose --project-n proj up", "compose|--project-n|proj|up"},
        {"docker compose --env-file=.env --profile web up", "compose|--env-file=.env|--profile|web|"
                                                            "up"},
        {"docker compose -- up", "compose|--|up"},
        {"docker compose --dry-run up", NULL}, /* an option the native front end does not have */
        {"docker compose --progress loud up", NULL},
        {"docker compose --help up", NULL},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(cases); i++) {
        struct spec_run r = shell(cases[i].text);
        _cleanup_free_ char *got = native(&r);
        if ((got == NULL) != (cases[i].want == NULL) || (got && strcmp(got, cases[i].want) != 0))
            fail_msg("'%s': got %s, want %s", cases[i].text, got ? got : "(not native)",
                     cases[i].want ? cases[i].want : "(not native)");
    }
}

static void test_native_argv(void **state)
{
    (void)state;
    struct spec_run r = {.shell = false};
    m87_strv_init(&r.argv);
    m87_strv_add(&r.argv, "docker");
    m87_strv_add(&r.argv, "compose");
    m87_strv_add(&r.argv, "-f");
    m87_strv_add(&r.argv, "my file.yml");
    m87_strv_add(&r.argv, "up");
    m87_strv_add(&r.argv, "a && b");
    _cleanup_free_ char *got = native(&r);
    assert_non_null(got);
    assert_string_equal(got, "compose|-f|my file.yml|up|a && b");
    m87_strv_release(&r.argv);
    m87_strv_add(&r.argv, "docker-compose");
    m87_strv_add(&r.argv, "build");
    assert_null(native(&r));
    m87_strv_release(&r.argv);
}

/* ---- retries ----------------------------------------------------------------------------------
 */

static void test_retry_decision(void **state)
{
    (void)state;
    int codes[] = {3, 7};
    struct spec_retry any = {.attempts = 3, .backoff_ns = 1000};
    struct spec_retry listed = {.attempts = 3, .on_exit_codes = codes, .n_on_exit_codes = 2};

    assert_false(runner_should_retry(&any, 1, 0));
    assert_true(runner_should_retry(&any, 1, 1));
    assert_true(runner_should_retry(&any, 2, 143));
    assert_false(runner_should_retry(&any, 3, 1)); /* attempts are the total */
    assert_true(runner_should_retry(&listed, 1, 3));
    assert_true(runner_should_retry(&listed, 2, 7));
    assert_false(runner_should_retry(&listed, 1, 4));
    assert_false(runner_should_retry(&listed, 3, 3));
    struct spec_retry once = {.attempts = 1};
    assert_false(runner_should_retry(&once, 1, 1));
}

static void test_backoff(void **state)
{
    (void)state;
    struct spec_retry r = {.attempts = 100, .backoff_ns = INT64_C(15000000000)};

    assert_int_equal(runner_backoff_ns(&r, 2), INT64_C(15000000000));
    assert_int_equal(runner_backoff_ns(&r, 3), INT64_C(30000000000));
    assert_int_equal(runner_backoff_ns(&r, 5), INT64_C(120000000000));
    assert_int_equal(runner_backoff_ns(&r, 100), SPEC_RUNSPEC_MAX_DURATION); /* no overflow */
    struct spec_retry zero = {.attempts = 5, .backoff_ns = 0};
    assert_int_equal(runner_backoff_ns(&zero, 4), 0);
}

/* ---- report records ---------------------------------------------------------------------------
 */

static char *fill(const struct runner_report *rep)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    runner_report_fill(w, rep);
    m87_jw_obj_close(w);
    return m87_jw_finish(w);
}

static void test_report_shape(void **state)
{
    (void)state;
    struct runner_report step = {
        .kind = "step",
        .job = "app",
        .job_hash = "h",
        .phase = "steps",
        .step = "up",
        .attempt = 2,
        .state = "failed",
        .exit_code = 3,
        .has_exit = true,
        .duration_ms = 12,
        .output = "x\n",
    };
    _cleanup_free_ char *a = fill(&step);
    assert_string_equal(a,
                        "{\"kind\":\"step\",\"revision\":null,\"job\":\"app\",\"job_hash\":\"h\","
                        "\"phase\":\"steps\",\"step\":\"up\",\"attempt\":2,\"state\":\"failed\","
                        "\"exit_code\":3,\"duration_ms\":12,\"output\":\"x\\n\"}");
    struct runner_report start = {.kind = "step",
                                  .job = "app",
                                  .job_hash = "h",
                                  .phase = "undo",
                                  .step = "up",
                                  .attempt = 1,
                                  .state = "running",
                                  .duration_ms = -1,
                                  .revision = "rev"};
    _cleanup_free_ char *b = fill(&start);
    assert_string_equal(b, "{\"kind\":\"step\",\"revision\":\"rev\",\"job\":\"app\",\"job_hash\":"
                           "\"h\",\"phase\":\"undo\",\"step\":\"up\",\"attempt\":1,\"state\":"
                           "\"running\"}");
    struct runner_report job = {.kind = "job",
                                .job = "app",
                                .job_hash = "h",
                                .step = "up",
                                .attempt = 3,
                                .state = "failed",
                                .exit_code = 1,
                                .has_exit = true,
                                .duration_ms = -1,
                                .message = "m"};
    _cleanup_free_ char *c = fill(&job);
    assert_string_equal(c, "{\"kind\":\"job\",\"revision\":null,\"job\":\"app\",\"job_hash\":\"h\","
                           "\"step\":\"up\",\"attempts\":3,\"state\":\"failed\",\"exit_code\":1,"
                           "\"message\":\"m\"}");
}

static void test_record_seq(void **state)
{
    (void)state;
    const char *ok = "{\"seq\":42,\"time\":\"t\",\"kind\":\"job\"}";
    assert_int_equal(runner_record_seq(ok, strlen(ok)), 42);
    assert_int_equal(runner_record_seq("{\"seq\":\"42\"}", 12), -1);
    assert_int_equal(runner_record_seq("{\"seq\":4", 8), -1); /* torn */
    assert_int_equal(runner_record_seq("", 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tail_small),         cmocka_unit_test(test_tail_keeps_the_end),
        cmocka_unit_test(test_tail_cut_character), cmocka_unit_test(test_utf8_clean),
        cmocka_unit_test(test_native_shell),       cmocka_unit_test(test_native_argv),
        cmocka_unit_test(test_retry_decision),     cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_report_shape),       cmocka_unit_test(test_record_seq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
