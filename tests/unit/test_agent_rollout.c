/* Unit tests of a target's "rollout" member as the agent reads it (src/agent/daemon-target.c):
 * no process, file or dockerd. The watch it starts is tested end to end in
 * tests/e2e/test_agent_rollback.py. */
#include <string.h>

#include "agent/target.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json.h"
#include "unit-util.h"

#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static char *target_json(const char *rollout)
{
    return m87_xasprintf("{\"deployment\":\"d-01234567\",\"revision\":2,\"hash\":\"" HASH_A "\","
                         "\"spec\":{\"jobs\":[]}%s%s}",
                         rollout[0] ? ",\"rollout\":" : "", rollout);
}

/* 0 and t, or -1 and the error message in *msg (caller frees). */
static int parse(const char *rollout, struct agent_target *t, char **msg)
{
    struct m87_error *err = NULL;
    _cleanup_free_ char *json = target_json(rollout);
    struct m87_json *doc = m87_json_parse(json, strlen(json), &err);
    assert_non_null(doc);
    int rc = agent_target_from_json(doc, t, &err);
    m87_json_free(doc);
    *msg = rc < 0 ? m87_xstrdup(err->msg) : NULL;
    m87_error_free(err);
    return rc;
}

static void test_rollout_read(void **state)
{
    (void)state;
    struct agent_target t;
    char *msg = NULL;

    assert_int_equal(parse("{\"id\":\"r-0000abcd\",\"fleet\":\"edge\",\"release\":3,"
                           "\"health_window\":300}",
                           &t, &msg),
                     0);
    assert_true(t.has_rollout);
    assert_string_equal(t.rollout.id, "r-0000abcd");
    assert_string_equal(t.rollout.fleet, "edge");
    assert_int_equal(t.rollout.release, 3);
    assert_int_equal(t.rollout.window_s, 300);
    agent_target_release(&t);
    /* absent or null: no rollout watches the device */
    assert_int_equal(parse("", &t, &msg), 0);
    assert_false(t.has_rollout);
    agent_target_release(&t);
    assert_int_equal(parse("null", &t, &msg), 0);
    assert_false(t.has_rollout);
    agent_target_release(&t);
}

static void test_rollout_refused(void **state)
{
    (void)state;
    static const struct {
        const char *rollout;
        const char *msg;
    } cases[] = {
        {"[]", "target.rollout: expected an object or null"},
        {"{\"fleet\":\"edge\",\"release\":1,\"health_window\":1}", "target.rollout.id"},
        {"{\"id\":\"r-1\",\"release\":1,\"health_window\":1}", "target.rollout.fleet"},
        {"{\"id\":\"r-1\",\"fleet\":\"edge\",\"release\":-1,\"health_window\":1}",
         "target.rollout.release: expected an integer >= 0"},
        {"{\"id\":\"r-1\",\"fleet\":\"edge\",\"release\":1}", "target.rollout.health_window"},
        {"{\"id\":\"r-1\",\"fleet\":\"edge\",\"release\":1,\"health_window\":\"5m\"}",
         "target.rollout.health_window: expected seconds from 0 to 604800"},
        {"{\"id\":\"r-1\",\"fleet\":\"edge\",\"release\":1,\"health_window\":604801}",
         "target.rollout.health_window: expected seconds from 0 to 604800"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct agent_target t;
        char *msg = NULL;
        if (parse(cases[i].rollout, &t, &msg) == 0)
            fail_msg("'%s' taken", cases[i].rollout);
        if (!strstr(msg, cases[i].msg))
            fail_msg("'%s': '%s', expected '%s'", cases[i].rollout, msg, cases[i].msg);
        free(msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rollout_read),
        cmocka_unit_test(test_rollout_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
