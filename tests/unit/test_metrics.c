/* Unit tests of the metrics samples (docs/remote.md, "Metrics while offline"): the agent's
 * parsers of the kernel's text (agent-metrics.c), its `metrics-interval` setting, and the server's
 * store of samples (store-metrics.c) on a real SQLite file with the times given, so that the
 * per-device cap and the day's retention are seen without waiting a day. The whole path is tested
 * end to end in tests/e2e/test_remote_metrics_offline.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/config.h"
#include "agent/metrics.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json.h"
#include "server/store-devices.h"
#include "server/store-metrics.h"
#include "server/store.h"
#include "unit-util.h"

static void test_parse_stat(void **state)
{
    (void)state;
    struct agent_cpu_times a = {0}, b = {0};
    const char *t0 = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n";
    const char *t1 = "cpu  160 0 90 900 50 0 0 0 0 0\ncpu0 80 0 45 450 25 0 0 0 0 0\n";
    assert_true(agent_metrics_parse_stat(t0, &a));
    assert_int_equal(a.total, 1000);
    assert_int_equal(a.busy, 150); /* idle 800 and iowait 50 are not busy */
    assert_true(agent_metrics_parse_stat(t1, &b));
    assert_int_equal(agent_metrics_cpu_percent(&a, &b), 50); /* 100 busy of 200 */
    assert_int_equal(agent_metrics_cpu_percent(&b, &a), -1);
    assert_int_equal(agent_metrics_cpu_percent(&a, &a), -1);
    /* an older kernel's four fields */
    assert_true(agent_metrics_parse_stat("cpu 1 2 3 4\n", &a));
    assert_int_equal(a.total, 10);
    assert_int_equal(a.busy, 6);
    assert_false(agent_metrics_parse_stat("cpu 1 2\n", &a));
    assert_false(agent_metrics_parse_stat("intr 1 2 3 4\n", &a));
    assert_false(agent_metrics_parse_stat(NULL, &a));
}

static void test_parse_loadavg_meminfo(void **state)
{
    (void)state;
    int64_t l[3] = {0};
    assert_true(agent_metrics_parse_loadavg("0.52 1.05 12.00 2/345 6789\n", l));
    assert_int_equal(l[0], 52);
    assert_int_equal(l[1], 105);
    assert_int_equal(l[2], 1200);
    assert_false(agent_metrics_parse_loadavg("0.52 x\n", l));
    assert_false(agent_metrics_parse_loadavg(NULL, l));

    const char *mem = "MemTotal:        8000000 kB\nMemFree:  100 kB\nMemAvailable:    "
                      "4000000 kB\nHugetlbMemTotal: 5 kB\n";
    assert_int_equal(agent_metrics_parse_meminfo(mem, "MemTotal:"), 8000000LL * 1024);
    assert_int_equal(agent_metrics_parse_meminfo(mem, "MemAvailable:"), 4000000LL * 1024);
    /* a key found only inside another key is not there */
    assert_int_equal(agent_metrics_parse_meminfo("HugetlbMemTotal: 5 kB\n", "MemTotal:"), -1);
    assert_int_equal(agent_metrics_parse_meminfo(mem, "SwapTotal:"), -1);
    assert_int_equal(agent_metrics_parse_meminfo(NULL, "MemTotal:"), -1);
}

static void test_parse_netdev(void **state)
{
    (void)state;
    const char *dev =
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
        "errs drop fifo colls carrier compressed\n"
        "    lo: 9999999    100    0    0    0     0          0         0  9999999    100    0 "
        "   0    0     0       0          0\n"
        "  eth0: 1000    10    0    0    0     0          0         0     2000    20    0    0 "
        "   0     0       0          0\n"
        "wlan0:300 3 0 0 0 0 0 0 400 4 0 0 0 0 0 0\n";
    uint64_t rx = 1, tx = 1;
    agent_metrics_parse_netdev(dev, &rx, &tx);
    assert_int_equal(rx, 1300);
    assert_int_equal(tx, 2400);
    agent_metrics_parse_netdev("only a header\n", &rx, &tx);
    assert_int_equal(rx, 0);
    assert_int_equal(tx, 0);
    agent_metrics_parse_netdev(NULL, &rx, &tx);
    assert_int_equal(rx + tx, 0);
}

static void test_interval_setting(void **state)
{
    (void)state;
    int64_t ms = -5;
    struct m87_error *err = NULL;
    assert_int_equal(agent_metrics_interval_parse("5m", &ms, &err), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(agent_metrics_interval_parse("2s", &ms, &err), 0);
    assert_int_equal(ms, 2000);
    assert_int_equal(agent_metrics_interval_parse("0", &ms, &err), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(agent_metrics_interval_parse("24h", &ms, &err), 0);
    assert_int_equal(ms, 86400000);
    static const char *const bad[] = {"500ms", "-1m", "25h", "5", "often", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ms = 7;
        assert_int_equal(agent_metrics_interval_parse(bad[i], &ms, &err), -1);
        assert_int_equal(ms, 7); /* a bad value changes nothing */
        char *want = m87_xasprintf(
            "expected a duration from 1s to 24h such as 5m, or 0 for none, not '%s'", bad[i]);
        assert_string_equal(err->msg, want);
        free(want);
        m87_error_free(err);
        err = NULL;
    }

    char path[] = "/tmp/m87-unit-metrics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "metrics_interval = 30s\nmetrics-interval = 1m\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct agent_config c = {0};
    assert_int_equal(agent_config_load(path, true, &c, &err), 0);
    assert_int_equal(c.metrics_interval_ms, 30000); /* the first line wins */
    agent_config_release(&c);
    FILE *f = fopen(path, "w");
    fputs("metrics-interval = 10 minutes\n", f);
    fclose(f);
    assert_int_equal(agent_config_load(path, true, &c, &err), -1);
    char *want = m87_xasprintf("%s:1: metrics-interval: expected a duration from 1s to 24h such "
                               "as 5m, or 0 for none, not '10 minutes'",
                               path);
    assert_string_equal(err->msg, want);
    free(want);
    m87_error_free(err);
    agent_config_release(&c);
    unlink(path);
}

static char *list_text(struct srv_store *st, int64_t device, int64_t since, int64_t limit)
{
    struct srv_metrics_sample *v = NULL;
    size_t n = 0;
    struct m87_error *err = NULL;
    assert_int_equal(srv_store_begin(st, &err), 0);
    assert_int_equal(srv_metrics_list(st, device, since, limit, &v, &n, &err), 0);
    srv_store_rollback(st);
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    srv_jw_metrics(w, "samples", v, n);
    m87_jw_obj_close(w);
    srv_metrics_free(v, n);
    return m87_jw_finish(w);
}

static void test_store(void **state)
{
    (void)state;
    char dir[] = "/tmp/m87-unit-metrics-store-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct srv_store *st = NULL;
    struct m87_error *err = NULL;
    assert_int_equal(srv_store_open(dir, true, &st, &err), 0);
    struct srv_device a = {0}, b = {0};
    assert_int_equal(srv_store_begin(st, &err), 0);
    assert_int_equal(srv_device_create(st, "a", "hash-of-a", &a, &err), 0);
    assert_int_equal(srv_device_create(st, "b", "hash-of-b", &b, &err), 0);
    const int64_t t0 = 1800000000; /* 2027-01-15T08:00:00Z */
    for (int i = 0; i < 5; i++) {
        char *sample = m87_xasprintf("{\"uptime_s\":%d}", i);
        /* a keeps its newest 3 */
        assert_int_equal(srv_metrics_add(st, a.id, sample, t0 + i * 60, 3, &err), 0);
        free(sample);
    }
    assert_int_equal(srv_metrics_add(st, b.id, "{\"uptime_s\":9}", t0, 3, &err), 0);
    assert_int_equal(srv_store_commit(st, &err), 0);

    char *text = list_text(st, a.id, 0, 100);
    assert_string_equal(text, "{\"samples\":["
                              "{\"time\":\"2027-01-15T08:02:00Z\",\"metrics\":{\"uptime_s\":2}},"
                              "{\"time\":\"2027-01-15T08:03:00Z\",\"metrics\":{\"uptime_s\":3}},"
                              "{\"time\":\"2027-01-15T08:04:00Z\",\"metrics\":{\"uptime_s\":4}}]}");
    free(text);
    text = list_text(st, a.id, 0, 2); /* the newest 2, oldest first */
    assert_string_equal(text, "{\"samples\":["
                              "{\"time\":\"2027-01-15T08:03:00Z\",\"metrics\":{\"uptime_s\":3}},"
                              "{\"time\":\"2027-01-15T08:04:00Z\",\"metrics\":{\"uptime_s\":4}}]}");
    free(text);
    text = list_text(st, a.id, t0 + 4 * 60, 100);
    assert_string_equal(text, "{\"samples\":["
                              "{\"time\":\"2027-01-15T08:04:00Z\",\"metrics\":{\"uptime_s\":4}}]}");
    free(text);

    /* a day later: what came before t0 + 3 min goes, a batch at a time; b's too */
    int64_t pruned = -1;
    assert_int_equal(srv_store_begin(st, &err), 0);
    assert_int_equal(srv_metrics_prune(st, t0 + 3 * 60, 1, &pruned, &err), 0);
    assert_int_equal(pruned, 1);
    assert_int_equal(srv_metrics_prune(st, t0 + 3 * 60, 100, &pruned, &err), 0);
    assert_int_equal(pruned, 1);
    assert_int_equal(srv_metrics_prune(st, t0 + 3 * 60, 100, &pruned, &err), 0);
    assert_int_equal(pruned, 0);
    assert_int_equal(srv_store_commit(st, &err), 0);
    text = list_text(st, a.id, 0, 100);
    assert_string_equal(text, "{\"samples\":["
                              "{\"time\":\"2027-01-15T08:03:00Z\",\"metrics\":{\"uptime_s\":3}},"
                              "{\"time\":\"2027-01-15T08:04:00Z\",\"metrics\":{\"uptime_s\":4}}]}");
    free(text);
    text = list_text(st, b.id, 0, 100);
    assert_string_equal(text, "{\"samples\":[]}");
    free(text);

    srv_device_release(&a);
    srv_device_release(&b);
    srv_store_free(st);
    char *cmd = m87_xasprintf("%s/m87.db", dir);
    unlink(cmd);
    free(cmd);
    cmd = m87_xasprintf("%s/m87.db-wal", dir);
    unlink(cmd);
    free(cmd);
    cmd = m87_xasprintf("%s/m87.db-shm", dir);
    unlink(cmd);
    free(cmd);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_stat),   cmocka_unit_test(test_parse_loadavg_meminfo),
        cmocka_unit_test(test_parse_netdev), cmocka_unit_test(test_interval_setting),
        cmocka_unit_test(test_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
