/* Unit tests of the per-device limit of report bytes: a minute's worth at once, then the refill,
 * a sync larger than the bucket taken only when it is full, devices kept apart, no limit, and a
 * flood from many devices that leaves a flooding device limited. Time is passed in. */
#include "server/retention.h"
#include "unit-util.h"

static void test_bucket_and_refill(void **state)
{
    (void)state;
    struct srv_ingest *in = srv_ingest_new(60000); /* 60,000 bytes a minute: 1 per ms */
    assert_int_equal(srv_ingest_take(in, 7, 40000, 0), 0);
    assert_int_equal(srv_ingest_take(in, 7, 20000, 0), 0);
    /* empty: 1,000 bytes need a second */
    int64_t wait = srv_ingest_take(in, 7, 1000, 0);
    assert_true(wait >= 1000 && wait <= 1001);
    /* refused takes nothing: the same wait later is shorter */
    assert_true(srv_ingest_take(in, 7, 1000, 500) <= 501);
    assert_int_equal(srv_ingest_take(in, 7, 1000, 1000), 0);
    /* another device has its own bucket */
    assert_int_equal(srv_ingest_take(in, 8, 60000, 1000), 0);
    /* more than a minute's worth: only with a full bucket */
    assert_true(srv_ingest_take(in, 7, 100000, 2000) > 0);
    assert_int_equal(srv_ingest_take(in, 7, 100000, 70000), 0);
    assert_true(srv_ingest_take(in, 7, 1, 70000) > 0);
    srv_ingest_free(in);
}

static void test_off_and_flood(void **state)
{
    (void)state;
    assert_null(srv_ingest_new(0));
    assert_int_equal(srv_ingest_take(NULL, 1, INT64_MAX, 0), 0);
    srv_ingest_free(NULL);

    /* 100,000 devices sending a little: the table forgets the fullest buckets first, so the
     * device that emptied its bucket stays limited */
    struct srv_ingest *in = srv_ingest_new(1000);
    assert_int_equal(srv_ingest_take(in, 5, 1000, 0), 0);
    for (int64_t d = 100; d < 100100; d++)
        assert_int_equal(srv_ingest_take(in, d, 10, 0), 0);
    assert_true(srv_ingest_take(in, 5, 100, 0) > 0);
    srv_ingest_free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_and_refill),
        cmocka_unit_test(test_off_and_flood),
    };
    return cmocka_run_group_tests_name("ingest", tests, NULL, NULL);
}
