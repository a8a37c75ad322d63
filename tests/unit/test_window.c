/* Unit tests of maintenance window rules: parsing, the canonical text, bad rules, and evaluation
 * at fixed instants across midnight, week and year boundaries, fixed offsets and the daylight
 * saving changes of Europe/Berlin and America/New_York (from the system's tz database). */
#include <string.h>
#include <time.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/spec-window.h"
#include "unit-util.h"

/* An RFC 3339 UTC time as an instant. */
static time_t at(const char *text)
{
    struct tm tm = {0};
    const char *end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end == NULL || *end != '\0')
        fail_msg("bad time in the test: %s", text);
    return timegm(&tm);
}

static struct spec_window rule(const char *text)
{
    struct spec_window w;
    struct m87_error *err = NULL;
    if (spec_window_parse(text, &w, &err) < 0)
        fail_msg("parse '%s': %s", text, err->msg);
    return w;
}

static void expect_time(time_t got, const char *want, const char *what)
{
    if (got != at(want)) {
        char buf[32];
        struct tm tm;
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&got, &tm));
        fail_msg("%s: got %s, want %s", what, buf, want);
    }
}

static void test_canonical(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"daily 02:00-04:00", "daily 02:00-04:00"},
        {"  SAT,Sun \t 00:00-06:00  ", "sat,sun 00:00-06:00"},
        {"mon-fri 22:00-02:00", "mon-fri 22:00-02:00"},
        {"fri-mon 01:00-02:00", "mon,fri-sun 01:00-02:00"},
        {"mon,tue,wed,thu,fri,sat,sun 02:00-04:00", "daily 02:00-04:00"},
        {"Monday,wednesday 02:00-04:00 UTC", "mon,wed 02:00-04:00"},
        {"thu,mon,wed,fri 02:00-04:00 z", "mon,wed-fri 02:00-04:00"},
        {"sun-sun 05:00-06:00", "sun 05:00-06:00"},
        {"daily 22:00-00:00", "daily 22:00-24:00"},
        {"daily 00:00-24:00", "daily 00:00-24:00"},
        {"daily 02:00-04:00 Europe/Berlin", "daily 02:00-04:00 Europe/Berlin"},
        {"daily 02:00-04:00 +02:00", "daily 02:00-04:00 +02:00"},
        {"daily 02:00-04:00 -05:30", "daily 02:00-04:00 -05:30"},
        {"daily 02:00-04:00 +00:00", "daily 02:00-04:00"},
        {"daily 02:00-04:00 -00:00", "daily 02:00-04:00"},
        {"daily 02:00-04:00 +14:00", "daily 02:00-04:00 +14:00"},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(cases); i++) {
        struct spec_window w = rule(cases[i][0]);
        _cleanup_free_ char *text = spec_window_format(&w);
        if (strcmp(text, cases[i][1]) != 0)
            fail_msg("'%s': canonical '%s', want '%s'", cases[i][0], text, cases[i][1]);
        /* the canonical text reads back to the same window */
        struct spec_window again = rule(text);
        _cleanup_free_ char *text2 = spec_window_format(&again);
        assert_string_equal(text, text2);
        assert_int_equal(again.days, w.days);
        assert_int_equal(again.start, w.start);
        assert_int_equal(again.end, w.end);
        assert_int_equal(again.offset, w.offset);
    }
    struct spec_window w = rule("mon-fri 22:00-02:00 +02:00");
    assert_int_equal(w.days, 0x3e);
    assert_int_equal(w.start, 22 * 60);
    assert_int_equal(w.end, 26 * 60);
    assert_true(w.fixed);
    assert_int_equal(w.offset, 7200);
}

static void test_bad_rules(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"", "empty rule: expected DAYS HH:MM-HH:MM [ZONE]"},
        {"   ", "empty rule"},
        {"daily", "missing time range"},
        {"sa 02:00-04:00", "unknown day 'sa' (expected daily"},
        {"mon-xyz 02:00-04:00", "unknown day 'xyz'"},
        {"sat,,sun 02:00-04:00", "empty day in the day list"},
        {"sat, 02:00-04:00", "empty day in the day list"},
        {"daily,mon 02:00-04:00", "unknown day 'daily'"},
        {"daily 25:00-04:00", "start time '25:00': must be 00:00 to 23:59"},
        {"daily 24:00-02:00", "start time '24:00': must be 00:00 to 23:59"},
        {"daily 02:00-04:60", "end time '04:60': must be 00:00 to 24:00"},
        {"daily 02:00-24:01", "end time '24:01': must be 00:00 to 24:00"},
        {"daily 2:00-04:00", "start time '2:00': expected HH:MM"},
        {"daily 02:00-4pm", "end time '4pm': expected HH:MM"},
        {"daily 02:00", "time range '02:00': expected HH:MM-HH:MM"},
        {"daily 02:00-02:00", "time range '02:00-02:00': start and end are the same"},
        {"daily 02:00-04:00 Europe/Berln", "unknown time zone 'Europe/Berln'"},
        {"daily 02:00-04:00 zone.tab", "unknown time zone 'zone.tab'"},
        {"daily 02:00-04:00 ../etc/passwd", "time zone '../etc/passwd': expected UTC"},
        {"daily 02:00-04:00 /etc/localtime", "time zone '/etc/localtime': expected UTC"},
        {"daily 02:00-04:00 +15:00", "time zone offset '+15:00': expected +HH:MM"},
        {"daily 02:00-04:00 +2", "time zone offset '+2'"},
        {"daily 02:00-04:00 UTC extra", "unexpected 'extra' after the time zone"},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(cases); i++) {
        struct spec_window w;
        struct m87_error *err = NULL;
        if (spec_window_parse(cases[i][0], &w, &err) == 0)
            fail_msg("'%s' parsed", cases[i][0]);
        assert_int_equal(m87_error_code(err), M87_E_INVAL);
        if (strstr(err->msg, cases[i][1]) == NULL)
            fail_msg("'%s': message '%s' lacks '%s'", cases[i][0], err->msg, cases[i][1]);
        m87_error_free(err);
    }
    /* without an error to fill, a bad rule is still refused */
    struct spec_window quiet;
    assert_int_equal(spec_window_parse("daily 02:00-04:00 +99:00", &quiet, NULL), -1);
    assert_int_equal(spec_window_parse("xyz 02:00-04:00", &quiet, NULL), -1);

    char long_rule[SPEC_WINDOW_MAX_TEXT + 20];
    memset(long_rule, ' ', sizeof(long_rule));
    memcpy(long_rule, "daily 02:00-04:00", 17);
    long_rule[sizeof(long_rule) - 1] = '\0';
    struct spec_window w;
    struct m87_error *err = NULL;
    assert_int_equal(spec_window_parse(long_rule, &w, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_TOOBIG);
    m87_error_free(err);
}

static void test_utc_daily(void **state)
{
    (void)state;
    struct spec_window w = rule("daily 02:00-04:00");
    assert_false(spec_window_contains(&w, at("2026-11-23T01:59:59Z")));
    assert_true(spec_window_contains(&w, at("2026-11-23T02:00:00Z")));
    assert_true(spec_window_contains(&w, at("2026-11-23T03:59:59Z")));
    assert_false(spec_window_contains(&w, at("2026-11-23T04:00:00Z")));
    expect_time(spec_window_next_start(&w, at("2026-11-23T02:00:00Z")), "2026-11-23T02:00:00Z",
                "start at a start");
    expect_time(spec_window_next_start(&w, at("2026-11-23T02:30:00Z")), "2026-11-24T02:00:00Z",
                "start inside");
    expect_time(spec_window_next_start(&w, at("2026-11-23T00:10:00Z")), "2026-11-23T02:00:00Z",
                "start before");
    expect_time(spec_window_next_end(&w, at("2026-11-23T02:30:00Z")), "2026-11-23T04:00:00Z",
                "end inside");
    expect_time(spec_window_next_end(&w, at("2026-11-23T04:00:00Z")), "2026-11-24T04:00:00Z",
                "end at an end");
}

static void test_across_midnight(void **state)
{
    (void)state;
    /* 2026-11-23 is a Monday */
    struct spec_window w = rule("mon-fri 22:00-02:00");
    assert_false(spec_window_contains(&w, at("2026-11-23T01:00:00Z"))); /* from Sunday: no */
    assert_true(spec_window_contains(&w, at("2026-11-23T22:00:00Z")));
    assert_true(spec_window_contains(&w, at("2026-11-24T01:00:00Z"))); /* from Monday */
    assert_true(spec_window_contains(&w, at("2026-11-27T23:00:00Z"))); /* Friday */
    assert_true(spec_window_contains(&w, at("2026-11-28T01:59:59Z"))); /* Saturday morning */
    assert_false(spec_window_contains(&w, at("2026-11-28T02:00:00Z")));
    assert_false(spec_window_contains(&w, at("2026-11-28T22:30:00Z"))); /* Saturday night */
    assert_false(spec_window_contains(&w, at("2026-11-29T01:00:00Z")));
    expect_time(spec_window_next_start(&w, at("2026-11-27T23:00:00Z")), "2026-11-30T22:00:00Z",
                "over the weekend");
    expect_time(spec_window_next_end(&w, at("2026-11-28T01:00:00Z")), "2026-11-28T02:00:00Z",
                "end the next day");
    struct spec_window late = rule("daily 22:00-24:00");
    assert_true(spec_window_contains(&late, at("2026-11-23T23:59:59Z")));
    assert_false(spec_window_contains(&late, at("2026-11-24T00:00:00Z")));
    struct spec_window year = rule("daily 23:00-01:00");
    assert_true(spec_window_contains(&year, at("2026-12-31T23:30:00Z")));
    assert_true(spec_window_contains(&year, at("2027-01-01T00:59:59Z")));
    expect_time(spec_window_next_end(&year, at("2026-12-31T23:30:00Z")), "2027-01-01T01:00:00Z",
                "over new year");
}

static void test_days_and_weeks(void **state)
{
    (void)state;
    struct spec_window w = rule("sat,sun 00:00-06:00");
    assert_true(spec_window_contains(&w, at("2026-11-28T00:00:00Z")));
    assert_true(spec_window_contains(&w, at("2026-11-29T05:59:59Z")));
    assert_false(spec_window_contains(&w, at("2026-11-30T03:00:00Z")));
    assert_false(spec_window_contains(&w, at("2026-11-27T03:00:00Z")));
    expect_time(spec_window_next_start(&w, at("2026-11-29T07:00:00Z")), "2026-12-05T00:00:00Z",
                "next week");
    expect_time(spec_window_next_start(&w, at("2026-11-28T07:00:00Z")), "2026-11-29T00:00:00Z",
                "tomorrow");
    struct spec_window range = rule("fri-mon 12:00-13:00");
    assert_true(spec_window_contains(&range, at("2026-11-23T12:30:00Z")));  /* Monday */
    assert_false(spec_window_contains(&range, at("2026-11-24T12:30:00Z"))); /* Tuesday */
    assert_true(spec_window_contains(&range, at("2026-11-29T12:30:00Z")));  /* Sunday */
    struct spec_window all = rule("daily 00:00-24:00");
    assert_true(spec_window_contains(&all, at("2026-11-23T00:00:00Z")));
    assert_true(spec_window_contains(&all, at("2026-11-23T23:59:59Z")));
    expect_time(spec_window_next_end(&all, at("2026-11-23T10:00:00Z")), "2026-11-24T00:00:00Z",
                "whole day");
}

static void test_fixed_offsets(void **state)
{
    (void)state;
    struct spec_window east = rule("daily 02:00-04:00 +02:00");
    assert_true(spec_window_contains(&east, at("2026-11-23T00:00:00Z")));
    assert_false(spec_window_contains(&east, at("2026-11-23T02:00:00Z")));
    struct spec_window west = rule("daily 02:00-04:00 -05:30");
    assert_false(spec_window_contains(&west, at("2026-11-23T07:29:59Z")));
    assert_true(spec_window_contains(&west, at("2026-11-23T07:30:00Z")));
    expect_time(spec_window_next_start(&west, at("2026-11-23T10:00:00Z")), "2026-11-24T07:30:00Z",
                "west");
    /* Monday 01:00 at +02:00 is Sunday 23:00 in UTC */
    struct spec_window mon = rule("mon 01:00-02:00 +02:00");
    assert_true(spec_window_contains(&mon, at("2026-11-22T23:30:00Z")));
    assert_false(spec_window_contains(&mon, at("2026-11-23T23:30:00Z")));
}

static void test_berlin_dst(void **state)
{
    (void)state;
    struct spec_window w = rule("daily 02:00-04:00 Europe/Berlin");
    /* winter (CET, +1) and summer (CEST, +2) */
    assert_true(spec_window_contains(&w, at("2026-11-23T01:00:00Z")));
    assert_false(spec_window_contains(&w, at("2026-11-23T03:00:00Z")));
    assert_true(spec_window_contains(&w, at("2026-07-01T00:00:00Z")));
    assert_false(spec_window_contains(&w, at("2026-07-01T02:00:00Z")));
    /* spring, 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00Z; the window is 03:00-04:00 */
    assert_false(spec_window_contains(&w, at("2026-03-29T00:59:59Z")));
    assert_true(spec_window_contains(&w, at("2026-03-29T01:00:00Z")));
    assert_true(spec_window_contains(&w, at("2026-03-29T01:59:59Z")));
    assert_false(spec_window_contains(&w, at("2026-03-29T02:00:00Z")));
    expect_time(spec_window_next_start(&w, at("2026-03-28T12:00:00Z")), "2026-03-29T01:00:00Z",
                "spring start");
    expect_time(spec_window_next_start(&w, at("2026-03-27T12:00:00Z")), "2026-03-28T01:00:00Z",
                "the day before");
    expect_time(spec_window_next_start(&w, at("2026-03-29T01:30:00Z")), "2026-03-30T00:00:00Z",
                "the day after");
    /* a start inside the gap moves later by the gap */
    struct spec_window gap = rule("daily 02:30-05:00 Europe/Berlin");
    expect_time(spec_window_next_start(&gap, at("2026-03-29T00:00:00Z")), "2026-03-29T01:30:00Z",
                "start in the gap");
    /* autumn, 2026-10-25: 03:00 CEST goes back to 02:00 CET at 01:00Z; 02:00 is the first one,
     * 04:00 CET is 03:00Z: three hours */
    assert_false(spec_window_contains(&w, at("2026-10-24T23:59:59Z")));
    assert_true(spec_window_contains(&w, at("2026-10-25T00:00:00Z")));
    assert_true(spec_window_contains(&w, at("2026-10-25T02:59:59Z")));
    assert_false(spec_window_contains(&w, at("2026-10-25T03:00:00Z")));
    expect_time(spec_window_next_end(&w, at("2026-10-25T00:30:00Z")), "2026-10-25T03:00:00Z",
                "autumn end");
    /* across midnight into the autumn change: Saturday 23:00 CEST to Sunday 03:00 CET */
    struct spec_window sat = rule("sat 23:00-03:00 Europe/Berlin");
    assert_false(spec_window_contains(&sat, at("2026-10-24T20:59:59Z")));
    assert_true(spec_window_contains(&sat, at("2026-10-24T21:00:00Z")));
    assert_true(spec_window_contains(&sat, at("2026-10-25T01:59:59Z")));
    assert_false(spec_window_contains(&sat, at("2026-10-25T02:00:00Z")));
}

static void test_new_york_dst(void **state)
{
    (void)state;
    /* 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00Z */
    struct spec_window w = rule("sun 01:00-05:00 America/New_York");
    expect_time(spec_window_next_start(&w, at("2026-03-07T12:00:00Z")), "2026-03-08T06:00:00Z",
                "EST start");
    expect_time(spec_window_next_end(&w, at("2026-03-08T06:00:00Z")), "2026-03-08T09:00:00Z",
                "EDT end");
    expect_time(spec_window_next_start(&w, at("2026-03-08T12:00:00Z")), "2026-03-15T05:00:00Z",
                "EDT start");
}

static void test_sets_and_tz_restored(void **state)
{
    (void)state;
    struct spec_window v[2] = {rule("sat 00:00-06:00"), rule("daily 02:00-04:00 Europe/Berlin")};
    assert_true(spec_windows_contain(v, 2, at("2026-11-28T05:00:00Z")));
    assert_true(spec_windows_contain(v, 2, at("2026-11-23T01:30:00Z")));
    assert_false(spec_windows_contain(v, 2, at("2026-11-23T05:00:00Z")));
    expect_time(spec_windows_next_start(v, 2, at("2026-11-27T12:00:00Z")), "2026-11-28T00:00:00Z",
                "earliest of two");
    expect_time(spec_windows_next_start(v, 0, at("2026-11-27T12:00:00Z")), "2026-11-27T12:00:00Z",
                "no windows");
    assert_false(spec_windows_contain(v, 0, at("2026-11-27T12:00:00Z")));

    /* the process's TZ is what it was, set or not */
    setenv("TZ", "America/New_York", 1);
    tzset();
    assert_true(spec_window_contains(&v[1], at("2026-11-23T01:30:00Z")));
    assert_string_equal(getenv("TZ"), "America/New_York");
    time_t t = at("2026-11-23T12:00:00Z");
    struct tm tm;
    localtime_r(&t, &tm);
    assert_int_equal(tm.tm_hour, 7);
    unsetenv("TZ");
    tzset();
    assert_true(spec_window_contains(&v[1], at("2026-11-23T01:30:00Z")));
    assert_null(getenv("TZ"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_bad_rules),
        cmocka_unit_test(test_utc_daily),
        cmocka_unit_test(test_across_midnight),
        cmocka_unit_test(test_days_and_weeks),
        cmocka_unit_test(test_fixed_offsets),
        cmocka_unit_test(test_berlin_dst),
        cmocka_unit_test(test_new_york_dst),
        cmocka_unit_test(test_sets_and_tz_restored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
