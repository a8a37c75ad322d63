/* Unit tests of the agent's window decisions (src/agent/agent-window*.c, agent-clock.c) and of
 * the policy fields of a target (daemon-target.c): no process, file or dockerd. The daemon's
 * use of them is tested end to end in tests/e2e/test_agent_windows.py. */
#include <string.h>
#include <time.h>

#include "agent/clock.h"
#include "agent/daemon.h"
#include "agent/target.h"
#include "agent/windows.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json.h"
#include "unit-util.h"

#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static time_t at(const char *text)
{
    struct tm tm = {0};
    const char *end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end == NULL || *end != '\0')
        fail_msg("bad time in the test: %s", text);
    return timegm(&tm);
}

/* A target from its JSON text; fails the test when it does not parse. */
static void target(const char *json, struct agent_target *t)
{
    struct m87_error *err = NULL;
    struct m87_json *doc = m87_json_parse(json, strlen(json), &err);
    if (!doc || agent_target_from_json(doc, t, &err) < 0)
        fail_msg("target %s: %s", json, err->msg);
    m87_json_free(doc);
}

/* The error message of a target that must be refused. */
static char *refused(const char *json)
{
    struct m87_error *err = NULL;
    struct agent_target t;
    struct m87_json *doc = m87_json_parse(json, strlen(json), &err);
    assert_non_null(doc);
    assert_int_equal(agent_target_from_json(doc, &t, &err), -1);
    m87_json_free(doc);
    char *msg = m87_xstrdup(err->msg);
    m87_error_free(err);
    return msg;
}

static char *target_json(const char *hash, const char *policy)
{
    return m87_xasprintf("{\"deployment\":\"d-01234567\",\"revision\":2,\"hash\":\"%s\","
                         "\"spec\":{\"jobs\":[]}%s%s}",
                         hash, policy[0] ? "," : "", policy);
}

static void test_policy_fields(void **state)
{
    (void)state;
    struct agent_target t;
    _cleanup_free_ char *j =
        target_json(HASH_A, "\"windows\":[\"sat,sun 00:00-06:00\",\"daily 02:00-04:00 +02:00\"],"
                            "\"prefetch\":\"window\",\"now\":true,\"policy\":7");
    target(j, &t);
    assert_int_equal(t.n_windows, 2);
    assert_int_equal(t.windows[1].offset, 7200);
    assert_true(t.prefetch_window);
    assert_true(t.now);
    assert_true(t.has_policy);
    assert_int_equal(t.policy, 7);
    agent_target_release(&t);

    /* a server without windows sends none of them */
    _cleanup_free_ char *bare = target_json(HASH_A, "");
    target(bare, &t);
    assert_int_equal(t.n_windows, 0);
    assert_false(t.prefetch_window || t.now || t.has_policy);
    agent_target_release(&t);
}

static void test_policy_refused(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"\"windows\":[\"sa 02:00-04:00\"]", "target.windows[0]: unknown day 'sa'"},
        {"\"windows\":[\"daily 02:00-04:00\",3]", "target.windows[1]: expected a string"},
        {"\"windows\":\"daily 02:00-04:00\"", "target.windows: expected an array"},
        {"\"prefetch\":\"never\"", "target.prefetch: expected always or window"},
        {"\"now\":1", "target.now: expected true or false"},
        {"\"policy\":-1", "target.policy: expected an integer >= 0"},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(cases); i++) {
        _cleanup_free_ char *j = target_json(HASH_A, cases[i][0]);
        _cleanup_free_ char *msg = refused(j);
        if (strncmp(msg, cases[i][1], strlen(cases[i][1])) != 0)
            fail_msg("%s: got '%s', want '%s...'", cases[i][0], msg, cases[i][1]);
    }
}

/* A daemon whose applied revision is A and whose stored target is B with these fields. */
static void daemon_with(struct agent_daemon *d, const char *policy)
{
    _cleanup_free_ char *a = target_json(HASH_A, "");
    _cleanup_free_ char *b = target_json(HASH_B, policy);
    *d = (struct agent_daemon){0};
    target(a, &d->applied);
    target(b, &d->target);
    d->has_applied = d->has_target = true;
}

static void daemon_done(struct agent_daemon *d)
{
    agent_target_release(&d->applied);
    agent_target_release(&d->target);
}

static void test_waits_only_outside_windows(void **state)
{
    (void)state;
    struct agent_daemon d;

    /* Friday 23:30 to Saturday 00:30, across midnight */
    daemon_with(&d, "\"windows\":[\"fri 23:30-00:30\"],\"policy\":3");
    assert_true(agent_window_waits(&d, at("2026-11-26T23:45:00Z")));  /* Thursday */
    assert_false(agent_window_waits(&d, at("2026-11-27T23:30:00Z"))); /* Friday, start */
    assert_false(agent_window_waits(&d, at("2026-11-28T00:29:59Z"))); /* Saturday morning */
    assert_true(agent_window_waits(&d, at("2026-11-28T00:30:00Z")));  /* the end */
    assert_string_equal(agent_window_waiting_hash(&d), HASH_B);
    /* the wait is bounded by the next start, not longer than asked */
    assert_int_equal(agent_window_wait_bound(&d, at("2026-11-27T23:29:00Z"), 60), 60);
    assert_int_equal(agent_window_wait_bound(&d, at("2026-11-27T23:29:50Z"), 60), 10);
    assert_int_equal(agent_window_wait_bound(&d, at("2026-11-27T23:30:10Z"), 60), 60);

    /* the applied revision itself (a policy change) never waits */
    agent_target_release(&d.applied);
    _cleanup_free_ char *b = target_json(HASH_B, "");
    target(b, &d.applied);
    assert_false(agent_window_waits(&d, at("2026-11-26T23:45:00Z")));
    assert_null(agent_window_waiting_hash(&d));
    daemon_done(&d);

    /* "now", or no windows: no wait */
    daemon_with(&d, "\"windows\":[\"fri 23:30-00:30\"],\"now\":true");
    assert_false(agent_window_waits(&d, at("2026-11-26T23:45:00Z")));
    assert_string_equal(agent_window_waiting_hash(&d), HASH_B); /* stored, not applied yet */
    daemon_done(&d);
    daemon_with(&d, "\"windows\":[]");
    assert_false(agent_window_waits(&d, at("2026-11-26T23:45:00Z")));
    daemon_done(&d);

    /* nothing applied yet: the first revision waits too */
    daemon_with(&d, "\"windows\":[\"daily 02:00-04:00\"]");
    agent_target_release(&d.applied);
    d.has_applied = false;
    assert_true(agent_window_waits(&d, at("2026-11-26T10:00:00Z")));
    daemon_done(&d);
}

static void test_clock_offset(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool ok;
        int64_t want;
    } cases[] = {
        {"3600\n", true, 3600},
        {"-86400", true, -86400},
        {"  +5 \n", true, 5},
        {"0", true, 0},
        {"", false, 0},
        {"12x", false, 0},
        {"1.5", false, 0},
        {"9999999999999", false, 0},
        {"99999999999999999999999", false, 0},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(cases); i++) {
        int64_t got = 42;
        bool ok = agent_clock_parse_offset(cases[i].text, &got);
        if (ok != cases[i].ok || (ok && got != cases[i].want))
            fail_msg("'%s': got %d %lld", cases[i].text, ok, (long long)got);
    }
}

static void test_time_text(void **state)
{
    (void)state;
    _cleanup_free_ char *t = agent_window_time_text(at("2026-11-28T00:30:00Z"));
    assert_string_equal(t, "2026-11-28T00:30:00Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_fields),
        cmocka_unit_test(test_policy_refused),
        cmocka_unit_test(test_waits_only_outside_windows),
        cmocka_unit_test(test_clock_offset),
        cmocka_unit_test(test_time_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
