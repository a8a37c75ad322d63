/* Unit tests of the m87 CLI's pure logic: operands and options, clone references, tables,
 * durations and times for people, compose-vs-run-spec detection. */
#include <getopt.h>
#include <string.h>

#include "cli/cli.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "unit-util.h"

static void test_clone_ref(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    char *id = NULL;
    int64_t rev = -1;

    assert_ok(cli_parse_clone_ref("d-1234abcd", &id, &rev, &err), &err);
    assert_string_equal(id, "d-1234abcd");
    assert_int_equal(rev, 0);
    free(id);
    assert_ok(cli_parse_clone_ref("d-1234abcd@17", &id, &rev, &err), &err);
    assert_string_equal(id, "d-1234abcd");
    assert_int_equal(rev, 17);
    free(id);

    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"@3", "'@3': missing deployment id"},
        {"", "'': missing deployment id"},
        {"d-1@", "'d-1@': revision '' is not a positive integer"},
        {"d-1@0", "'d-1@0': revision '0' is not a positive integer"},
        {"d-1@-2", "'d-1@-2': revision '-2' is not a positive integer"},
        {"d-1@3x", "'d-1@3x': revision '3x' is not a positive integer"},
        {"d-1@ 3", "'d-1@ 3': revision ' 3' is not a positive integer"},
        {"d-1@99999999999999999999", "'d-1@99999999999999999999': revision "
                                     "'99999999999999999999' is not a positive integer"},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(bad); i++) {
        id = NULL;
        assert_int_equal(cli_parse_clone_ref(bad[i].text, &id, &rev, &err), -1);
        assert_null(id);
        assert_int_equal(err->code, M87_E_INVAL);
        assert_string_equal(err->msg, bad[i].msg);
        m87_error_clear(&err);
    }
}

static void test_positive(void **state)
{
    (void)state;
    int64_t v = 0;

    assert_int_equal(cli_parse_positive("1", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(cli_parse_positive("9223372036854775807", &v), 0);
    assert_int_equal(v, INT64_MAX);
    assert_int_equal(cli_parse_positive("0", &v), -1);
    assert_int_equal(cli_parse_positive("+1", &v), -1);
    assert_int_equal(cli_parse_positive("1.5", &v), -1);
    assert_int_equal(cli_parse_positive(NULL, &v), -1);
}

/* argv as the command gets it, argv[0] the subcommand's name. */
static int simple(bool *json, int min, int max, int argc, ...)
{
    char *argv[8] = {0};
    va_list ap;

    va_start(ap, argc);
    for (int i = 0; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    return cli_parse_simple("test", "usage: test\n", argc, argv, json, min, max);
}

static void test_parse_simple(void **state)
{
    (void)state;
    bool json = false;

    assert_int_equal(simple(&json, 0, 0, 1, "list"), 0);
    assert_false(json);
    assert_int_equal(simple(&json, 0, 0, 2, "list", "--json"), 0);
    assert_true(json);
    /* options may follow or precede the operand */
    json = false;
    assert_int_equal(simple(&json, 1, 1, 3, "add", "--json", "gw-1"), 0);
    assert_true(json);
    assert_int_equal(optind, 2);
    json = false;
    assert_int_equal(simple(&json, 1, 1, 3, "add", "gw-1", "--json"), 0);
    assert_true(json);
    assert_int_equal(simple(&json, 1, 1, 1, "add"), CLI_EXIT_USAGE);
    assert_int_equal(simple(&json, 1, 1, 3, "add", "a", "b"), CLI_EXIT_USAGE);
    assert_int_equal(simple(&json, 0, 0, 2, "list", "--wat"), CLI_EXIT_USAGE);
    assert_int_equal(simple(NULL, 1, 1, 3, "rm", "a", "--json"), CLI_EXIT_USAGE);
    assert_int_equal(simple(&json, 0, 0, 2, "list", "-h"), 1);
    /* "--" ends the options: a name that looks like one is an operand */
    assert_int_equal(simple(&json, 1, 1, 3, "add", "--", "--json"), 0);
}

/* The options of a command like `deployment status`, parsed from argv (argv[0] the command). */
struct parsed {
    const char *id;
    bool follow;
    int64_t timeout_ns;
    int64_t revision;
};

static int options(struct parsed *p, bool refuse_id, int argc, ...)
{
    char *argv[8] = {0};
    const struct cli_option opts[] = {
        {"deployment-id", CLI_OPT_STRING, refuse_id ? NULL : &p->id, 0},
        {"follow", CLI_OPT_FLAG, &p->follow, 'f'},
        {"timeout", CLI_OPT_DURATION, &p->timeout_ns, 0},
        {"revision", CLI_OPT_POSITIVE, &p->revision, 0},
    };
    va_list ap;

    va_start(ap, argc);
    for (int i = 0; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    *p = (struct parsed){0};
    return cli_parse_options("test", "usage: test\n", argc, argv, opts, M87_ARRAY_LEN(opts));
}

static void test_parse_options(void **state)
{
    (void)state;
    struct parsed p;

    assert_int_equal(
        options(&p, false, 6, "status", "--deployment-id", "d-1", "-f", "--timeout", "5m"), 0);
    assert_string_equal(p.id, "d-1");
    assert_true(p.follow);
    assert_int_equal(p.timeout_ns, 300LL * 1000000000);
    assert_int_equal(options(&p, false, 4, "status", "--deployment-id=d-2", "x", "--follow"), 0);
    assert_string_equal(p.id, "d-2");
    assert_true(p.follow);
    assert_int_equal(optind, 3); /* the operand moved behind the options */
    assert_int_equal(options(&p, false, 3, "status", "--revision", "7"), 0);
    assert_int_equal(p.revision, 7);
    /* abbreviations of long options, as getopt_long takes them */
    assert_int_equal(options(&p, false, 3, "status", "--dep", "d-3"), 0);
    assert_string_equal(p.id, "d-3");
    assert_int_equal(options(&p, false, 2, "status", "-h"), 1);
    assert_int_equal(options(&p, false, 2, "status", "--help"), 1);
    assert_int_equal(options(&p, false, 3, "status", "--revision", "0"), CLI_EXIT_USAGE);
    assert_int_equal(options(&p, false, 3, "status", "--timeout", "0s"), CLI_EXIT_USAGE);
    assert_int_equal(options(&p, false, 3, "status", "--timeout", "soon"), CLI_EXIT_USAGE);
    assert_int_equal(options(&p, false, 2, "status", "--deployment-id"), CLI_EXIT_USAGE);
    assert_int_equal(options(&p, false, 2, "status", "-x"), CLI_EXIT_USAGE);
    assert_int_equal(options(&p, false, 2, "status", "--wat"), CLI_EXIT_USAGE);
    /* a refused option is unknown, and still takes its value */
    assert_int_equal(options(&p, true, 3, "status", "--deployment-id", "d-1"), CLI_EXIT_USAGE);
    assert_null(p.id);
}

/* --label is repeatable; labels are written as "k=v,..." and checked before a body is made */
static void test_labels(void **state)
{
    (void)state;
    struct m87_strv v = {0};
    const struct cli_option opts[] = {{"label", CLI_OPT_STRINGS, &v, 0}};
    char *argv[] = {"add", "--label", "a=1", "gw", "--label=b=", NULL};
    assert_int_equal(cli_parse_options("add", "usage\n", 5, argv, opts, 1), 0);
    assert_int_equal(v.len, 2);
    assert_string_equal(v.items[0], "a=1");
    assert_string_equal(v.items[1], "b=");

    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    assert_int_equal(cli_labels_write("add", "--label", &v, false, w), 0);
    m87_jw_obj_close(w);
    char *body = m87_jw_finish(w);
    assert_string_equal(body, "{\"labels\":{\"a\":\"1\",\"b\":\"\"}}");
    struct m87_json *doc = m87_json_parse(body, strlen(body), NULL);
    char *text = cli_labels_text(m87_json_get(doc, "labels"));
    assert_string_equal(text, "a=1,b=");
    free(text);
    m87_json_free(doc);
    free(body);
    assert_null(cli_labels_text(NULL));

    m87_strv_add(&v, "c-");
    w = m87_jw_new();
    m87_jw_obj_open(w);
    assert_int_equal(cli_labels_write("label", NULL, &v, true, w), 0);
    m87_jw_obj_close(w);
    body = m87_jw_finish(w);
    assert_string_equal(body, "{\"labels\":{\"a\":\"1\",\"b\":\"\",\"c\":null}}");
    free(body);
    w = m87_jw_new();
    m87_jw_obj_open(w);
    assert_int_equal(cli_labels_write("add", "--label", &v, false, w), CLI_EXIT_USAGE);
    m87_jw_obj_close(w);
    free(m87_jw_finish(w));
    m87_strv_release(&v);
}

static void test_wants_help(void **state)
{
    (void)state;
    char *a[] = {"add", "x", "--help", NULL};
    char *b[] = {"add", "x", NULL};
    char *c[] = {"--help", "x", NULL}; /* argv[0] is the command itself */

    assert_true(cli_wants_help(3, a));
    assert_false(cli_wants_help(2, b));
    assert_false(cli_wants_help(2, c));
}

static void test_table(void **state)
{
    (void)state;
    static const char *const header[] = {"NAME", "ONLINE", "MESSAGE"};
    static const char *const r1[] = {"gw-1", "yes", ""};
    static const char *const r2[] = {"a-much-longer-name", NULL, "last"};
    static const char *const r3[] = {"", "", ""};
    struct cli_table t;

    cli_table_init(&t, 3, header);
    cli_table_add(&t, r1);
    cli_table_add(&t, r2);
    cli_table_add(&t, r3);
    char *text = cli_table_render(&t);
    assert_string_equal(text, "NAME                ONLINE  MESSAGE\n"
                              "gw-1                yes\n"
                              "a-much-longer-name  -       last\n"
                              "\n");
    free(text);
    cli_table_release(&t);

    /* widths count characters, not bytes */
    static const char *const h2[] = {"A", "B"};
    static const char *const u[] = {"\xc3\xa9t\xc3\xa9", "x"};
    cli_table_init(&t, 2, h2);
    cli_table_add(&t, u);
    text = cli_table_render(&t);
    assert_string_equal(text, "A    B\n"
                              "\xc3\xa9t\xc3\xa9  x\n");
    free(text);
    cli_table_release(&t);
}

static void test_format_ms(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {
        {0, "0ms"},        {999, "999ms"},    {1000, "1.0s"},   {5120, "5.1s"},
        {59999, "59.9s"},  {60000, "1m0s"},   {123000, "2m3s"}, {3599999, "59m59s"},
        {3600000, "1h0m"}, {3723000, "1h2m"}, {-1, "-"},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(cases); i++) {
        char *s = cli_format_ms(cases[i].ms);
        assert_string_equal(s, cases[i].want);
        free(s);
    }
}

static void test_times(void **state)
{
    (void)state;
    time_t t = 0, now;

    assert_int_equal(cli_parse_time("2026-11-23T12:30:00Z", &now), 0);
    assert_int_equal(cli_parse_time("1970-01-01T00:01:00Z", &t), 0);
    assert_int_equal(t, 60);
    assert_int_equal(cli_parse_time("2026-11-23T12:30:00", &t), -1);
    assert_int_equal(cli_parse_time("2026-11-23T12:30:00+01:00", &t), -1);
    assert_int_equal(cli_parse_time("yesterday", &t), -1);

    static const struct {
        const char *text, *want;
    } cases[] = {
        {"2026-11-23T12:30:00Z", "0s ago"},
        {"2026-11-23T12:29:01Z", "59s ago"},
        {"2026-11-23T12:29:00Z", "1m ago"},
        {"2026-11-23T11:30:01Z", "59m ago"},
        {"2026-11-23T11:30:00Z", "1h ago"},
        {"2026-11-21T12:30:00Z", "2d ago"},
        {"2026-11-23T12:31:00Z", "0s ago"}, /* a clock ahead of ours */
        {NULL, "never"},
        {"garbage", "garbage"},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(cases); i++) {
        char *s = cli_format_ago(cases[i].text, now);
        assert_string_equal(s, cases[i].want);
        free(s);
    }
}

static void kind_of(const char *text, enum cli_file_kind want)
{
    struct m87_error *err = NULL;
    enum cli_file_kind kind = want == CLI_FILE_COMPOSE ? CLI_FILE_RUNSPEC : CLI_FILE_COMPOSE;

    if (cli_file_kind(text, strlen(text), "f.yml", &kind, &err) < 0)
        fail_msg("'%s': %s", text, err->msg);
    if (kind != want)
        fail_msg("'%s': wrong kind", text);
}

static void test_file_kind(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    enum cli_file_kind kind;

    kind_of("services:\n  web: {image: x}\n", CLI_FILE_COMPOSE);
    kind_of("name: p\nservices: {}\nvolumes: {}\n", CLI_FILE_COMPOSE);
    kind_of("{\"services\": {\"web\": {\"image\": \"x\"}}}", CLI_FILE_COMPOSE);
    kind_of("jobs: []\n", CLI_FILE_RUNSPEC);
    /* both: the run-spec parser names the unknown field */
    kind_of("jobs: []\nservices: {}\n", CLI_FILE_RUNSPEC);
    kind_of("", CLI_FILE_RUNSPEC);
    kind_of("- services\n", CLI_FILE_RUNSPEC);
    kind_of("x: 1\n", CLI_FILE_RUNSPEC);
    /* a key that only looks like it */
    kind_of("service: {}\n", CLI_FILE_RUNSPEC);

    assert_int_equal(cli_file_kind("services: [\n", 12, "f.yml", &kind, &err), -1);
    assert_int_equal(err->code, M87_E_PARSE);
    assert_true(strncmp(err->msg, "f.yml:", 6) == 0);
    m87_error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clone_ref),    cmocka_unit_test(test_positive),
        cmocka_unit_test(test_parse_simple), cmocka_unit_test(test_parse_options),
        cmocka_unit_test(test_wants_help),   cmocka_unit_test(test_table),
        cmocka_unit_test(test_format_ms),    cmocka_unit_test(test_times),
        cmocka_unit_test(test_file_kind),    cmocka_unit_test(test_labels),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
