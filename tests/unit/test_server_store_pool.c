/* Unit tests of the store's connections (src/server/store-pool.c) on a real SQLite file: the
 * pool's size and its refusals, and threads whose transactions share SQLite's one connection
 * one after the other. PostgreSQL's pool of several is tested end to end
 * (tests/e2e/test_server_pool.py). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "server/limits.h"
#include "server/store-devices.h"
#include "server/store.h"
#include "unit-util.h"

#define THREADS 4
#define PER_THREAD 25

struct worker {
    struct srv_store *st;
    int index;
    int failed; /* transactions that did not commit */
    char msg[256];
};

static struct srv_store *open_store(char *dir)
{
    assert_non_null(mkdtemp(dir));
    struct srv_store *st = NULL;
    struct m87_error *err = NULL;
    assert_ok(srv_store_open(dir, true, &st, &err), &err);
    return st;
}

static void close_store(struct srv_store *st, const char *dir)
{
    srv_store_free(st);
    struct m87_error *err = NULL;
    assert_ok(m87_remove_tree(dir, &err), &err);
}

static void test_size_and_refusals(void **state)
{
    (void)state;
    char dir[] = "/tmp/m87-unit-pool-XXXXXX";
    struct srv_store *st = open_store(dir);
    assert_int_equal(srv_store_pool_size(st), 1);
    int bad[] = {0, -1, SRV_DB_POOL_MAX + 1};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct m87_error *err = NULL;
        assert_int_equal(srv_store_pool_grow(st, bad[i], &err), -1);
        assert_int_equal(m87_error_code(err), M87_E_INVAL);
        assert_string_equal(err->msg, "database pool: expected 1 to 64 connections");
        m87_error_free(err);
    }
    /* SQLite keeps its one connection whatever the size asked */
    struct m87_error *err = NULL;
    assert_ok(srv_store_pool_grow(st, SRV_DB_POOL_MAX, &err), &err);
    assert_int_equal(srv_store_pool_size(st), 1);
    close_store(st, dir);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    for (int k = 0; k < PER_THREAD; k++) {
        struct m87_error *err = NULL;
        char name[32];
        snprintf(name, sizeof(name), "t%d-%d", w->index, k);
        _cleanup_free_ char *hash = m87_xasprintf("hash-of-%s", name);
        struct srv_device d = {0};
        int rc = srv_store_begin(w->st, &err);
        if (rc == 0) {
            rc = srv_device_create(w->st, name, hash, &d, &err);
            if (rc == 0)
                rc = srv_store_commit(w->st, &err);
            else
                srv_store_rollback(w->st);
        }
        srv_device_release(&d);
        if (rc < 0) {
            if (w->failed++ == 0)
                snprintf(w->msg, sizeof(w->msg), "%s", err ? err->msg : "(no error)");
            m87_error_free(err);
        }
        /* a lock without a transaction, between two transactions of the others */
        srv_store_lock(w->st);
        srv_store_unlock(w->st);
    }
    return NULL;
}

static void test_threads_take_turns(void **state)
{
    (void)state;
    char dir[] = "/tmp/m87-unit-pool-XXXXXX";
    struct srv_store *st = open_store(dir);
    struct worker w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.st = st, .index = i};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        if (w[i].failed)
            fail_msg("thread %d: %d transactions failed, the first: %s", i, w[i].failed, w[i].msg);
    }
    struct m87_error *err = NULL;
    struct srv_device *v = NULL;
    size_t n = 0;
    assert_ok(srv_store_begin(st, &err), &err);
    assert_ok(srv_device_list(st, &v, &n, &err), &err);
    srv_store_rollback(st);
    assert_int_equal(n, THREADS * PER_THREAD);
    for (size_t i = 0; i < n; i++)
        srv_device_release(&v[i]);
    free(v);
    close_store(st, dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_and_refusals),
        cmocka_unit_test(test_threads_take_turns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
