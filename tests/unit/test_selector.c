/* Unit tests of label keys and values (spec-label.h) and label selectors (spec-selector.h):
 * every operator parsed, matched and written back canonically, blanks, the exact message and
 * column of each kind of bad selector, and the caps. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-label.h"
#include "m87/spec-selector.h"
#include "unit-util.h"

static struct spec_selector sel(const char *text)
{
    struct spec_selector s;
    struct m87_error *err = NULL;
    if (spec_selector_parse(text, &s, &err) < 0)
        fail_msg("parse '%s': %s", text, err->msg);
    return s;
}

/* labels from "k=v k2=v2" (a bare "k=" is the empty value) */
static void labels_of(const char *text, struct m87_kvlist *l)
{
    m87_kvlist_init(l);
    _cleanup_free_ char *copy = m87_xstrdup(text);
    for (char *save = NULL, *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(w, '=');
        *eq = '\0';
        m87_kvlist_add(l, w, eq + 1);
    }
}

static bool matches(const char *selector, const char *labels)
{
    struct spec_selector s = sel(selector);
    struct m87_kvlist l;
    labels_of(labels, &l);
    bool m = spec_selector_match(&s, &l);
    m87_kvlist_release(&l);
    spec_selector_release(&s);
    return m;
}

static void test_keys_and_values(void **state)
{
    (void)state;
    static const char *const good_keys[] = {
        "a",
        "site",
        "A9",
        "hw.model",
        "a-b_c.d",
        "example.com/site",
        "m87.io/a",
        "a.b-c.d/x",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 63 */,
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(good_keys); i++) {
        struct m87_error *err = NULL;
        assert_ok(spec_label_check_key(good_keys[i], &err), &err);
    }
    static const char *const bad_keys[][2] = {
        {"", "label key '': must not be empty"},
        {"-a", "label key '-a': the name must be [A-Za-z0-9_.-], start and end with a letter or "
               "digit"},
        {"a-", NULL},
        {"a b", NULL},
        {"a=b", NULL},
        {"Example.com/a", "label key 'Example.com/a': the prefix before '/' must be a lower case "
                          "DNS name ([a-z0-9.-]) of at most 253 characters"},
        {"/a", NULL},
        {"a/", NULL},
        {"a..b/c", NULL},
        {"a/b/c", NULL},
        {"-a.com/b", NULL},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 64 */, NULL},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(bad_keys); i++) {
        struct m87_error *err = NULL;
        if (spec_label_check_key(bad_keys[i][0], &err) == 0)
            fail_msg("key '%s' accepted", bad_keys[i][0]);
        assert_int_equal(err->code, M87_E_INVAL);
        if (bad_keys[i][1])
            assert_string_equal(err->msg, bad_keys[i][1]);
        m87_error_clear(&err);
    }
    struct m87_error *err = NULL;
    assert_ok(spec_label_check_value("k", "", &err), &err);
    assert_ok(spec_label_check_value("k", "Pi4_b.2-x", &err), &err);
    assert_int_equal(spec_label_check_value("k", "a b", &err), -1);
    assert_string_equal(err->msg, "label 'k': value 'a b' must be empty or [A-Za-z0-9_.-], start "
                                  "and end with a letter or digit");
    m87_error_clear(&err);
    assert_int_equal(spec_label_check_value("k", "a/b", &err), -1);
    m87_error_clear(&err);
    char long_value[65];
    memset(long_value, 'v', 64);
    long_value[64] = '\0';
    assert_int_equal(spec_label_check_value("k", long_value, &err), -1);
    assert_non_null(strstr(err->msg, "must be at most 63 characters"));
    m87_error_clear(&err);
}

static void test_label_args(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    char *k = NULL, *v = NULL;
    assert_ok(spec_label_parse_arg("site=berlin", &k, &v, &err), &err);
    assert_string_equal(k, "site");
    assert_string_equal(v, "berlin");
    free(k);
    free(v);
    assert_ok(spec_label_parse_arg("hw-", &k, &v, &err), &err);
    assert_string_equal(k, "hw");
    assert_null(v);
    free(k);
    assert_ok(spec_label_parse_arg("empty=", &k, &v, &err), &err);
    assert_string_equal(v, "");
    free(k);
    free(v);
    static const char *const bad[][2] = {
        {"site", "'site': expected KEY=VALUE to set a label or KEY- to remove one"},
        {"-", "'-': expected KEY=VALUE to set a label or KEY- to remove one"},
        {"=v", "label key '': must not be empty"},
        {"a b=c", NULL},
        {"k=a=b", "label 'k': value 'a=b' must be empty or [A-Za-z0-9_.-], start and end with a "
                  "letter or digit"},
        {"k--", NULL},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(bad); i++) {
        if (spec_label_parse_arg(bad[i][0], &k, &v, &err) == 0)
            fail_msg("'%s' accepted", bad[i][0]);
        if (bad[i][1])
            assert_string_equal(err->msg, bad[i][1]);
        m87_error_clear(&err);
    }
}

static void test_canonical(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"", ""},
        {"   ", ""},
        {"a=b", "a=b"},
        {"a==b", "a=b"},
        {" a = b ", "a=b"},
        {"a!=b", "a!=b"},
        {"a != b", "a!=b"},
        {"a=", "a="},
        {"a!=", "a!="},
        {"a in (x)", "a in (x)"},
        {"a in(x,y)", "a in (x,y)"},
        {"a  in  ( x , y )", "a in (x,y)"},
        {"a notin (x,y)", "a notin (x,y)"},
        {"a", "a"},
        {"!a", "!a"},
        {" ! a ", "!a"},
        {"site=berlin,hw in (pi4,pi5),!retired,gpu,env!=dev",
         "site=berlin,hw in (pi4,pi5),!retired,gpu,env!=dev"},
        {"example.com/site=b", "example.com/site=b"},
        {"in=notin", "in=notin"},
        {"in in (in)", "in in (in)"},
        {"notin", "notin"},
        {"a\t=\tb\n", "a=b"},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(cases); i++) {
        struct spec_selector s = sel(cases[i][0]);
        _cleanup_free_ char *text = spec_selector_format(&s);
        if (strcmp(text, cases[i][1]) != 0)
            fail_msg("'%s': canonical '%s', want '%s'", cases[i][0], text, cases[i][1]);
        struct spec_selector again = sel(text);
        _cleanup_free_ char *text2 = spec_selector_format(&again);
        assert_string_equal(text, text2);
        spec_selector_release(&again);
        spec_selector_release(&s);
    }
    struct spec_selector s = sel("a in (x,y),!b");
    assert_int_equal(s.n, 2);
    assert_int_equal(s.terms[0].op, SPEC_SEL_IN);
    assert_string_equal(s.terms[0].key, "a");
    assert_int_equal(s.terms[0].values.len, 2);
    assert_string_equal(s.terms[0].values.items[1], "y");
    assert_int_equal(s.terms[1].op, SPEC_SEL_ABSENT);
    assert_int_equal(s.terms[1].values.len, 0);
    spec_selector_release(&s);
}

static void test_match(void **state)
{
    (void)state;
    const char *dev = "site=berlin hw=pi4 empty=";
    assert_true(matches("", dev));
    assert_true(matches("", ""));
    assert_true(matches("site=berlin", dev));
    assert_true(matches("site==berlin", dev));
    assert_false(matches("site=munich", dev));
    assert_false(matches("region=eu", dev));
    assert_true(matches("site!=munich", dev));
    assert_false(matches("site!=berlin", dev));
    assert_true(matches("region!=eu", dev)); /* absent: not equal */
    assert_true(matches("site in (munich,berlin)", dev));
    assert_false(matches("site in (munich,paris)", dev));
    assert_false(matches("region in (eu)", dev));
    assert_true(matches("site notin (munich)", dev));
    assert_false(matches("site notin (munich,berlin)", dev));
    assert_true(matches("region notin (eu)", dev)); /* absent: not in */
    assert_true(matches("site", dev));
    assert_false(matches("region", dev));
    assert_true(matches("!region", dev));
    assert_false(matches("!site", dev));
    /* the empty value is a value */
    assert_true(matches("empty", dev));
    assert_true(matches("empty=", dev));
    assert_false(matches("empty!=", dev));
    assert_false(matches("site=", dev));
    assert_true(matches("site!=", dev));
    /* comma is and */
    assert_true(matches("site=berlin,hw=pi4", dev));
    assert_false(matches("site=berlin,hw=pi5", dev));
    assert_true(matches("site in (berlin),hw notin (pi5),!gpu,empty", dev));
    assert_false(matches("site=berlin,!hw", dev));
    /* case matters */
    assert_false(matches("site=Berlin", dev));
    assert_false(matches("Site=berlin", dev));
}

static void expect_bad(const char *text, enum m87_errcode code, const char *msg)
{
    struct spec_selector s = {0};
    struct m87_error *err = NULL;
    if (spec_selector_parse(text, &s, &err) == 0)
        fail_msg("'%s' accepted", text);
    assert_int_equal(err->code, code);
    if (strcmp(err->msg, msg) != 0)
        fail_msg("'%s': got '%s', want '%s'", text, err->msg, msg);
    assert_null(s.terms);
    m87_error_clear(&err);
}

static void test_bad(void **state)
{
    (void)state;
    expect_bad("site in (a,b", M87_E_INVAL, "column 13: expected ')'");
    expect_bad("site in (a b)", M87_E_INVAL, "column 12: expected ')', found 'b'");
    expect_bad("site in a", M87_E_INVAL, "column 9: expected '(', found 'a'");
    expect_bad("site in", M87_E_INVAL, "column 8: expected '('");
    expect_bad("site in ()", M87_E_INVAL, "column 10: expected a value, found ')'");
    expect_bad("site in (a,)", M87_E_INVAL, "column 12: expected a value, found ')'");
    expect_bad("site notin (", M87_E_INVAL, "column 13: expected a value");
    expect_bad(",", M87_E_INVAL, "column 1: expected a label key, found ','");
    expect_bad("a,", M87_E_INVAL, "column 3: expected a label key");
    expect_bad("a,,b", M87_E_INVAL, "column 3: expected a label key, found ','");
    expect_bad("!", M87_E_INVAL, "column 2: expected a label key");
    expect_bad("=b", M87_E_INVAL, "column 1: expected a label key, found '='");
    expect_bad("!a=b", M87_E_INVAL, "column 3: expected ',' or the end, found '='");
    expect_bad("a b", M87_E_INVAL,
               "column 3: expected '=', '==', '!=', 'in', 'notin', ',' or the end, found 'b'");
    expect_bad("a>1", M87_E_INVAL,
               "column 2: expected '=', '==', '!=', 'in', 'notin', ',' or the end, found '>'");
    expect_bad("a=b c", M87_E_INVAL, "column 5: expected ',' or the end, found 'c'");
    expect_bad("a=b=c", M87_E_INVAL, "column 4: expected ',' or the end, found '='");
    expect_bad("a===b", M87_E_INVAL, "column 4: expected ',' or the end, found '='");
    expect_bad("a in (x) y", M87_E_INVAL, "column 10: expected ',' or the end, found 'y'");
    expect_bad("x, -a=b", M87_E_INVAL,
               "column 4: label key '-a': the name must be [A-Za-z0-9_.-], start and end with a "
               "letter or digit");
    expect_bad("a=b/c", M87_E_INVAL,
               "column 3: label 'a': value 'b/c' must be empty or [A-Za-z0-9_.-], start and end "
               "with a letter or digit");
    expect_bad("a in (ok, b&c)", M87_E_INVAL,
               "column 11: label 'a': value 'b&c' must be empty or [A-Za-z0-9_.-], start and end "
               "with a letter or digit");
    expect_bad("Bad.com/a", M87_E_INVAL,
               "column 1: label key 'Bad.com/a': the prefix before '/' must be a lower case DNS "
               "name ([a-z0-9.-]) of at most 253 characters");
}

static void test_caps(void **state)
{
    (void)state;
    /* SPEC_SELECTOR_MAX_TERMS requirements pass, one more does not */
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (int i = 0; i < SPEC_SELECTOR_MAX_TERMS; i++)
        m87_buf_appendf(&b, NULL, "%sk%d", i ? "," : "", i);
    struct spec_selector s = sel(b.data);
    assert_int_equal(s.n, SPEC_SELECTOR_MAX_TERMS);
    spec_selector_release(&s);
    size_t at = b.len + 2;
    m87_buf_appendf(&b, NULL, ",x");
    _cleanup_free_ char *msg = m87_xasprintf("column %zu: more than 64 requirements", at);
    expect_bad(b.data, M87_E_TOOBIG, msg);
    m87_buf_release(&b);

    m87_buf_init(&b, 0);
    m87_buf_appendf(&b, NULL, "k in (");
    for (int i = 0; i < SPEC_SELECTOR_MAX_VALUES; i++)
        m87_buf_appendf(&b, NULL, "%sv%d", i ? "," : "", i);
    m87_buf_appendf(&b, NULL, ")");
    s = sel(b.data);
    assert_int_equal(s.terms[0].values.len, SPEC_SELECTOR_MAX_VALUES);
    spec_selector_release(&s);
    b.data[--b.len] = '\0';
    at = b.len + 2;
    m87_buf_appendf(&b, NULL, ",w)");
    free(msg);
    msg = m87_xasprintf("column %zu: more than 64 values", at);
    expect_bad(b.data, M87_E_TOOBIG, msg);
    m87_buf_release(&b);

    char *big = m87_xmalloc(SPEC_SELECTOR_MAX_TEXT + 2);
    memset(big, ' ', SPEC_SELECTOR_MAX_TEXT + 1);
    big[SPEC_SELECTOR_MAX_TEXT + 1] = '\0';
    expect_bad(big, M87_E_TOOBIG, "longer than 4096 bytes");
    big[SPEC_SELECTOR_MAX_TEXT] = '\0';
    s = sel(big);
    assert_int_equal(s.n, 0);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_and_values),
        cmocka_unit_test(test_label_args),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
