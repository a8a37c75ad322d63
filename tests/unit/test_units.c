/* Unit tests of the size, duration and cpus conversions (src/common/units.c). */
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/units.h"
#include "m87/yaml.h"
#include "unit-util.h"

struct good {
    const char *text;
    int64_t want;
};

struct bad {
    const char *text;
    const char *msg;
};

typedef int (*parse_fn)(const char *text, int64_t *out, struct m87_error **err);

static void check_good(parse_fn fn, const struct good *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct m87_error *err = NULL;
        int64_t v = -12345;
        if (fn(cases[i].text, &v, &err) < 0)
            fail_msg("'%s': %s", cases[i].text, err->msg);
        if (v != cases[i].want)
            fail_msg("'%s' gave %lld, want %lld", cases[i].text, (long long)v,
                     (long long)cases[i].want);
    }
}

static void check_bad(parse_fn fn, const struct bad *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct m87_error *err = NULL;
        int64_t v = -12345;
        if (fn(cases[i].text, &v, &err) == 0)
            fail_msg("'%s' parsed as %lld, must fail", cases[i].text, (long long)v);
        assert_int_equal(err->code, M87_E_INVAL);
        assert_string_equal(err->msg, cases[i].msg);
        assert_int_equal(v, -12345);
        m87_error_clear(&err);
    }
}

static void test_bytes(void **state)
{
    (void)state;
    static const struct good good[] = {
        {"0", 0},
        {"1024", 1024},
        {"512m", 536870912},
        {"512M", 536870912},
        {"512mb", 536870912},
        {"512MB", 536870912},
        {"512MiB", 536870912},
        {"512mi", 536870912},
        {"512 m", 536870912},
        {"1.5g", 1610612736},
        {"1.5G", 1610612736},
        {"1k", 1024},
        {"1kb", 1024},
        {"2t", INT64_C(2199023255552)},
        {"1p", INT64_C(1125899906842624)},
        {"10b", 10},
        {"10B", 10},
        {"10 ", 10}, /* go-units accepts a bare space, i or ib after the number */
        {"10i", 10},
        {"10ib", 10},
        {"0.5k", 512},
        {"0.1k", 102},       /* 102.4 truncated */
        {"1.999999999b", 1}, /* fractions of a byte are dropped */
        {"0.0000000001p", 112589},
        {"007m", 7340032},
        {"8191.999999999999p", INT64_C(9223372036854774682)},
        {"8191.9999999999999999p", INT64_MAX},
        {"9223372036854775807", INT64_MAX},
    };
    static const struct bad bad[] = {
        {"", "invalid size ''"},
        {"-1", "invalid size '-1'"},
        {"-512m", "invalid size '-512m'"},
        {"m", "invalid size 'm'"},
        {"1.", "invalid size '1.'"},
        {".5g", "invalid size '.5g'"},
        {"1.2.3", "invalid size '1.2.3'"},
        {"12x", "invalid size '12x'"},
        {"1  m", "invalid size '1  m'"},
        {"1e3", "invalid size '1e3'"},
        {"1gg", "invalid size '1gg'"},
        {" 1g", "invalid size ' 1g'"},
        {"1g ", "invalid size '1g '"},
        {"0x10", "invalid size '0x10'"},
        {"8192p", "size '8192p' is out of range"},
        {"9223372036854775808", "size '9223372036854775808' is out of range"},
        {"99999999999999999999999k", "size '99999999999999999999999k' is out of range"},
        {"8192.0p", "size '8192.0p' is out of range"},
    };
    check_good(m87_parse_bytes, good, M87_ARRAY_LEN(good));
    check_bad(m87_parse_bytes, bad, M87_ARRAY_LEN(bad));
}

#define S INT64_C(1000000000)

static void test_duration(void **state)
{
    (void)state;
    static const struct good good[] = {
        {"0", 0},
        {"+0", 0},
        {"-0", 0},
        {"0s", 0},
        {"10s", 10 * S},
        {"500ms", 500000000},
        {"1m30s", 90 * S},
        {"1h2m3s", 3723 * S},
        {"3s1h", 3603 * S},
        {"1.5h", 5400 * S},
        {"1.5s", 1500000000},
        {".5s", 500000000},
        {"5.s", 5 * S},
        {"100us", 100000},
        {"100\xc2\xb5s", 100000},
        {"100\xce\xbcs", 100000},
        {"42ns", 42},
        {"1.000000001s", 1000000001},
        {"1.0000000019s", 1000000001}, /* below a nanosecond: truncated */
        {"0.333333333333h", 1199999999998},
        {"2d", 172800 * S},
        {"1w", 604800 * S},
        {"1w1d1h", (604800 + 86400 + 3600) * S},
        {"-1m", -60 * S},
        {"+90s", 90 * S},
        {"2562047h47m16.854775807s", INT64_MAX},
        {"-2562047h47m16.854775808s", INT64_MIN},
        {"9223372036854775807ns", INT64_MAX},
    };
    static const struct bad bad[] = {
        {"", "invalid duration ''"},
        {"-", "invalid duration '-'"},
        {"1", "missing unit in duration '1'"},
        {"10", "missing unit in duration '10'"},
        {"1h30", "missing unit in duration '1h30'"},
        {"s", "invalid duration 's'"},
        {".s", "invalid duration '.s'"},
        {"1x", "unknown unit in duration '1x'"},
        {"1 s", "unknown unit in duration '1 s'"},
        {"1S", "unknown unit in duration '1S'"},
        {"1sec", "unknown unit in duration '1sec'"},
        {"1h-1m", "unknown unit in duration '1h-1m'"},
        {"--1s", "invalid duration '--1s'"},
        {"2562047h47m16.854775808s", "duration '2562047h47m16.854775808s' is out of range"},
        {"9223372036854775808ns", "duration '9223372036854775808ns' is out of range"},
        {"99999999999999999999s", "duration '99999999999999999999s' is out of range"},
        {"15251w", "duration '15251w' is out of range"},
        {"9223372036s9223372036s", "duration '9223372036s9223372036s' is out of range"},
    };
    check_good(m87_parse_duration, good, M87_ARRAY_LEN(good));
    check_bad(m87_parse_duration, bad, M87_ARRAY_LEN(bad));
}

static void test_format_duration(void **state)
{
    (void)state;
    static const struct {
        int64_t ns;
        const char *want;
    } cases[] = {
        {0, "0s"},
        {1, "1ns"},
        {999, "999ns"},
        {1000, "1\xc2\xb5s"},
        {1500, "1.5\xc2\xb5s"},
        {1000000, "1ms"},
        {1500000, "1.5ms"},
        {1000001, "1.000001ms"},
        {S, "1s"},
        {1500000000, "1.5s"},
        {1000000001, "1.000000001s"},
        {59 * S, "59s"},
        {60 * S, "1m0s"},
        {90 * S, "1m30s"},
        {3600 * S, "1h0m0s"},
        {3723 * S, "1h2m3s"},
        {5400 * S, "1h30m0s"},
        {172800 * S, "48h0m0s"},
        {-60 * S, "-1m0s"},
        {-1, "-1ns"},
        {INT64_MAX, "2562047h47m16.854775807s"},
        {INT64_MIN, "-2562047h47m16.854775808s"},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(cases); i++) {
        _cleanup_free_ char *s = m87_format_duration(cases[i].ns);
        assert_string_equal(s, cases[i].want);
        /* and what we print parses back to the same value */
        int64_t back;
        struct m87_error *err = NULL;
        assert_ok(m87_parse_duration(s, &back, &err), &err);
        assert_int_equal(back, cases[i].ns);
    }
}

static void test_cpus(void **state)
{
    (void)state;
    static const struct good good[] = {
        {"0", 0},
        {"0.1", 100000000},
        {"1.5", 1500000000},
        {"2", 2000000000},
        {"+2", 2000000000},
        {".5", 500000000},
        {"5.", 5000000000},
        {"0.000000001", 1},
        {"0.123456789", 123456789},
        {"0.1000000000000", 100000000},
        {"0010.25", 10250000000},
        {"1.5e0", 1500000000},
        {"15E-1", 1500000000},
        {"1e-9", 1},
        {"2e3", 2000000000000},
        {"0.00e5", 0},
        {"9223372036.854775807", INT64_MAX},
        {"000000000000000000000000001", 1000000000},
    };
    static const struct bad bad[] = {
        {"", "invalid cpus value ''"},
        {".", "invalid cpus value '.'"},
        {"-1", "cpus value '-1' must not be negative"},
        {"-0.5", "cpus value '-0.5' must not be negative"},
        {"1,5", "invalid cpus value '1,5'"},
        {"1.5.1", "invalid cpus value '1.5.1'"},
        {"abc", "invalid cpus value 'abc'"},
        {" 1", "invalid cpus value ' 1'"},
        {"1 ", "invalid cpus value '1 '"},
        {"1e", "invalid cpus value '1e'"},
        {"1e+", "invalid cpus value '1e+'"},
        {"1e1000", "invalid cpus value '1e1000'"},
        {".inf", "invalid cpus value '.inf'"},
        {"0x10", "invalid cpus value '0x10'"},
        {"0.1234567891", "cpus value '0.1234567891' has more than 9 decimals"},
        {"1e-10", "cpus value '1e-10' has more than 9 decimals"},
        {"9223372036.854775808", "cpus value '9223372036.854775808' is out of range"},
        {"1e100", "cpus value '1e100' is out of range"},
    };
    check_good(m87_parse_cpus, good, M87_ARRAY_LEN(good));
    check_bad(m87_parse_cpus, bad, M87_ARRAY_LEN(bad));
}

/* A YAML number scalar's text goes through unchanged: cpus: 0.5 in a file gives 500000000. */
static void test_cpus_from_yaml(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    const char *src = "cpus: 0.5\nmem: 1.5g\nstop: 1m30s\n";
    struct m87_yaml_doc *doc = m87_yaml_parse(src, strlen(src), "c.yml", &err);
    assert_non_null(doc);
    const struct m87_yaml_node *root = m87_yaml_root(doc);
    int64_t v;
    assert_int_equal(m87_yaml_type(m87_yaml_get(root, "cpus")), M87_YAML_FLOAT);
    assert_ok(m87_parse_cpus(m87_yaml_text(m87_yaml_get(root, "cpus")), &v, &err), &err);
    assert_int_equal(v, 500000000);
    assert_ok(m87_parse_bytes(m87_yaml_text(m87_yaml_get(root, "mem")), &v, &err), &err);
    assert_int_equal(v, 1610612736);
    assert_ok(m87_parse_duration(m87_yaml_text(m87_yaml_get(root, "stop")), &v, &err), &err);
    assert_int_equal(v, 90 * S);
    m87_yaml_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes),           cmocka_unit_test(test_duration),
        cmocka_unit_test(test_format_duration), cmocka_unit_test(test_cpus),
        cmocka_unit_test(test_cpus_from_yaml),
    };
    return cmocka_run_group_tests_name("units", tests, NULL, NULL);
}
