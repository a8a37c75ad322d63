/* Unit tests of the server's database layer (src/server/db.h) on a real SQLite file under a
 * temporary directory; with M87_TEST_DB_URL set to a PostgreSQL connection string, the same
 * tests run against that database too (its table unit_db_t is dropped and made again). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "server/db.h"
#include "unit-util.h"

static const char SQL_ADD[] = "INSERT INTO unit_db_t (name, n, b) VALUES (?1, ?2, ?3) RETURNING id";
static const char SQL_ADD_AGAIN[] =
    "INSERT INTO unit_db_t (name, n, b) VALUES (?1, ?2, ?3) RETURNING id";
static const char SQL_ADD_IGNORE[] =
    "INSERT INTO unit_db_t (name, n) VALUES (?1, ?2) ON CONFLICT DO NOTHING RETURNING id";
static const char SQL_ADD_PLAIN[] = "INSERT INTO unit_db_t (name, n) VALUES (?1, ?2)";
static const char SQL_GET[] = "SELECT id, name, n, b FROM unit_db_t WHERE n >= ?1 ORDER BY id";
static const char SQL_BUMP[] = "UPDATE unit_db_t SET n = n + 1 WHERE n IS NOT NULL";
static const char SQL_UPSERT[] =
    "INSERT INTO unit_db_t (name, n) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET"
    " n = excluded.n";
static const char SQL_DISTINCT[] =
    "SELECT COUNT(*) FROM unit_db_t WHERE n IS DISTINCT FROM ?1 AND COALESCE(name, '') <> ''";

struct fixture {
    char *dir;
    struct srv_db *db;
};

static struct srv_db *open_sqlite(struct fixture *f)
{
    char tmpl[] = "/tmp/m87-unit-db-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    f->dir = m87_xstrdup(tmpl);
    _cleanup_free_ char *path = m87_xasprintf("%s/m87.db", f->dir);
    struct m87_error *err = NULL;
    assert_ok(srv_db_open(path, true, &f->db, &err), &err);
    assert_int_equal(srv_db_kind(f->db), SRV_DB_SQLITE);
    return f->db;
}

static void close_fixture(struct fixture *f)
{
    srv_db_close(f->db);
    if (f->dir) {
        const char *names[] = {"m87.db", "m87.db-wal", "m87.db-shm"};
        for (size_t i = 0; i < M87_ARRAY_LEN(names); i++) {
            _cleanup_free_ char *p = m87_xasprintf("%s/%s", f->dir, names[i]);
            unlink(p);
        }
        rmdir(f->dir);
        free(f->dir);
    }
}

static void make_table(struct srv_db *db)
{
    struct m87_error *err = NULL;
    const char *ddl =
        srv_db_kind(db) == SRV_DB_PG
            ? "DROP TABLE IF EXISTS unit_db_t; CREATE TABLE unit_db_t (id BIGSERIAL PRIMARY KEY,"
              " name TEXT UNIQUE, n BIGINT, b BYTEA)"
            : "CREATE TABLE unit_db_t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER,"
              " b BLOB)";
    assert_ok(srv_db_exec(db, ddl, "create table", &err), &err);
}

static int64_t add(struct srv_db *db, const char *sql, const char *name, int64_t n)
{
    struct m87_error *err = NULL;
    struct srv_q *q = srv_q_get(db, sql, &err);
    assert_non_null(q);
    srv_q_text(q, 1, name);
    srv_q_int(q, 2, n);
    srv_q_blob(q, 3, "a\0b", 3);
    int rc = srv_q_step(q, "add", &err);
    assert_ok(rc, &err);
    int64_t id = rc == 1 ? srv_q_col_int(q, 0) : 0;
    srv_q_reset(q);
    return id;
}

/* Everything the store relies on, against one connection. */
static void exercise(struct srv_db *db)
{
    struct m87_error *err = NULL;
    make_table(db);

    /* the cache names a statement by the address of its text */
    struct srv_q *a = srv_q_get(db, SQL_ADD, &err);
    assert_non_null(a);
    assert_ptr_equal(srv_q_get(db, SQL_ADD, &err), a);
    struct srv_q *b = srv_q_get(db, SQL_ADD_AGAIN, &err);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);

    /* new ids come from RETURNING */
    int64_t id1 = add(db, SQL_ADD, "one", 10);
    int64_t id2 = add(db, SQL_ADD_AGAIN, "two", 20);
    assert_true(id1 > 0);
    assert_true(id2 > id1);

    /* ON CONFLICT DO NOTHING: no row back, nothing changed, no error */
    struct srv_q *q = srv_q_get(db, SQL_ADD_IGNORE, &err);
    assert_non_null(q);
    srv_q_text(q, 1, "one");
    srv_q_int(q, 2, 99);
    assert_int_equal(srv_q_step(q, "add again", &err), 0);
    assert_int_equal(srv_db_changes(db), 0);

    /* a UNIQUE violation is a constraint error, M87_E_CONFLICT naming what failed */
    q = srv_q_get(db, SQL_ADD_PLAIN, &err);
    assert_non_null(q);
    srv_q_text(q, 1, "two");
    srv_q_null(q, 2);
    assert_int_equal(srv_q_done(q, "store the thing", &err), -1);
    assert_non_null(err);
    assert_int_equal(m87_error_code(err), M87_E_CONFLICT);
    assert_non_null(strstr(err->msg, "store the thing: "));
    assert_true(srv_db_constraint_error(db));
    m87_error_clear(&err);

    /* a NULL text, a NULL integer, a blob with a NUL inside */
    q = srv_q_get(db, SQL_ADD_PLAIN, &err);
    assert_non_null(q);
    srv_q_text(q, 1, NULL);
    srv_q_null(q, 2);
    assert_ok(srv_q_done(q, "add nulls", &err), &err);
    assert_int_equal(srv_db_changes(db), 1);

    q = srv_q_get(db, SQL_GET, &err);
    assert_non_null(q);
    srv_q_int(q, 1, 0);
    assert_int_equal(srv_q_step(q, "read", &err), 1);
    assert_int_equal(srv_q_ncols(q), 4);
    assert_int_equal(srv_q_col_int(q, 0), id1);
    assert_string_equal(srv_q_col_text(q, 1), "one");
    assert_int_equal(srv_q_col_int(q, 2), 10);
    size_t len = 0;
    const char *blob = srv_q_col_blob(q, 3, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(blob, "a\0b", 3);
    assert_int_equal(srv_q_step(q, "read", &err), 1);
    assert_string_equal(srv_q_col_text(q, 1), "two");
    assert_int_equal(srv_q_step(q, "read", &err), 0);
    /* reset keeps the bindings: the same rows again */
    srv_q_reset(q);
    assert_int_equal(srv_q_step(q, "read", &err), 1);
    assert_int_equal(srv_q_col_int(q, 0), id1);

    /* the NULL row, read through a query without bindings */
    static const char SQL_NULLS[] = "SELECT name, n FROM unit_db_t WHERE n IS NULL";
    q = srv_q_get(db, SQL_NULLS, &err);
    assert_non_null(q);
    assert_int_equal(srv_q_step(q, "read nulls", &err), 1);
    assert_true(srv_q_is_null(q, 0));
    assert_null(srv_q_col_text(q, 0));
    assert_true(srv_q_is_null(q, 1));
    assert_int_equal(srv_q_col_int(q, 1), 0);
    srv_q_reset(q);

    /* changes count the rows of the last statement */
    q = srv_q_get(db, SQL_BUMP, &err);
    assert_non_null(q);
    assert_ok(srv_q_done(q, "bump", &err), &err);
    assert_int_equal(srv_db_changes(db), 2);

    /* the upsert and IS DISTINCT FROM of the common dialect */
    q = srv_q_get(db, SQL_UPSERT, &err);
    assert_non_null(q);
    srv_q_text(q, 1, "one");
    srv_q_int(q, 2, 5);
    assert_ok(srv_q_done(q, "upsert", &err), &err);
    q = srv_q_get(db, SQL_DISTINCT, &err);
    assert_non_null(q);
    srv_q_int(q, 1, 5);
    assert_int_equal(srv_q_step(q, "count", &err), 1);
    assert_int_equal(srv_q_col_int(q, 0), 1); /* "two" (21); "one" is 5, the NULL row has no name */
    srv_q_reset(q);

    /* a statement that does not prepare names the problem */
    static const char SQL_BAD[] = "SELECT x FROM no_such_table";
    assert_null(srv_q_get(db, SQL_BAD, &err));
    assert_non_null(err);
    if (strstr(err->msg, "no_such_table") == NULL)
        fail_msg("%s", err->msg);
    m87_error_clear(&err);

    /* transactions through exec */
    assert_ok(srv_db_exec(db, "BEGIN", "begin", &err), &err);
    add(db, SQL_ADD, "three", 30);
    assert_ok(srv_db_exec(db, "ROLLBACK", "rollback", &err), &err);
    static const char SQL_COUNT[] = "SELECT COUNT(*) FROM unit_db_t";
    q = srv_q_get(db, SQL_COUNT, &err);
    assert_non_null(q);
    assert_int_equal(srv_q_step(q, "count", &err), 1);
    assert_int_equal(srv_q_col_int(q, 0), 3);
}

static void test_sqlite(void **state)
{
    (void)state;
    struct fixture f = {0};
    exercise(open_sqlite(&f));
    close_fixture(&f);
}

static void test_sqlite_open(void **state)
{
    (void)state;
    struct fixture f = {0};
    open_sqlite(&f);
    _cleanup_free_ char *path = m87_xasprintf("%s/m87.db", f.dir);
    struct m87_error *err = NULL;
    struct srv_db *db = NULL;

    /* create wants a new file */
    assert_int_equal(srv_db_open(path, true, &db, &err), -1);
    assert_int_equal(m87_error_code(err), M87_E_CONFLICT);
    assert_non_null(strstr(err->msg, "already exists"));
    m87_error_clear(&err);

    /* a second connection to the same file */
    assert_ok(srv_db_open(path, false, &db, &err), &err);
    srv_db_close(db);

    /* without create the file must be there */
    _cleanup_free_ char *missing = m87_xasprintf("%s/none/m87.db", f.dir);
    assert_int_equal(srv_db_open(missing, false, &db, &err), -1);
    assert_non_null(strstr(err->msg, missing));
    m87_error_clear(&err);
    close_fixture(&f);
}

static void test_url_is_pg(void **state)
{
    (void)state;
    assert_true(srv_db_url_is_pg("postgresql://m87@db.example/m87"));
    assert_true(srv_db_url_is_pg("postgres://m87@db.example/m87"));
    assert_true(srv_db_url_is_pg("host=db.example dbname=m87"));
    assert_true(srv_db_url_is_pg("dbname=m87"));
    assert_false(srv_db_url_is_pg("/var/lib/m87-server/m87.db"));
    assert_false(srv_db_url_is_pg("data/m87.db"));
    assert_false(srv_db_url_is_pg("./a=b/m87.db"));
    assert_false(srv_db_url_is_pg("m87.db"));
    assert_false(srv_db_url_is_pg(""));
    assert_false(srv_db_url_is_pg("=x"));
}

/* Without PostgreSQL built in, or with no server on that port: an error either way, and the
 * password of the url is not in it. */
static void test_pg_refused(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct srv_db *db = NULL;
    assert_int_equal(srv_db_open("postgresql://m87:s3cret@127.0.0.1:1/m87", false, &db, &err), -1);
    assert_non_null(err);
    assert_null(strstr(err->msg, "s3cret"));
    m87_error_clear(&err);
}

static void test_pg(void **state)
{
    (void)state;
    const char *url = getenv("M87_TEST_DB_URL");
    if (url == NULL || !srv_db_url_is_pg(url))
        skip();
    struct m87_error *err = NULL;
    struct srv_db *db = NULL;
    assert_ok(srv_db_open(url, false, &db, &err), &err);
    assert_int_equal(srv_db_kind(db), SRV_DB_PG);
    exercise(db);
    srv_db_exec(db, "DROP TABLE unit_db_t", "drop table", NULL);
    srv_db_close(db);
}

struct locker {
    struct srv_db *db;
    int rc;
    enum m87_errcode code;
};

static void *lock_row_2(void *arg)
{
    struct locker *l = arg;
    struct m87_error *err = NULL;
    l->rc = srv_db_exec(l->db, "UPDATE unit_db_dl SET n = n + 1 WHERE id = 2", "lock 2", &err);
    l->code = m87_error_code(err);
    m87_error_clear(&err);
    return NULL;
}

/* Two connections lock two rows in opposite orders: PostgreSQL ends the deadlock by failing one
 * of them, and that error is M87_E_TIMEOUT (the server answers 503, try again), not a failure of
 * the request's own. */
static void test_pg_deadlock(void **state)
{
    (void)state;
    const char *url = getenv("M87_TEST_DB_URL");
    if (url == NULL || !srv_db_url_is_pg(url))
        skip();
    struct m87_error *err = NULL;
    struct srv_db *a = NULL, *b = NULL;
    assert_ok(srv_db_open(url, false, &a, &err), &err);
    assert_ok(srv_db_open(url, false, &b, &err), &err);
    assert_ok(srv_db_exec(a, "DROP TABLE IF EXISTS unit_db_dl", "drop", &err), &err);
    assert_ok(srv_db_exec(a, "CREATE TABLE unit_db_dl (id INTEGER PRIMARY KEY, n INTEGER)",
                          "create", &err),
              &err);
    assert_ok(srv_db_exec(a, "INSERT INTO unit_db_dl VALUES (1, 0), (2, 0)", "rows", &err), &err);
    assert_ok(srv_db_exec(a, "BEGIN", "begin", &err), &err);
    assert_ok(srv_db_exec(a, "UPDATE unit_db_dl SET n = n + 1 WHERE id = 1", "lock 1", &err), &err);
    assert_ok(srv_db_exec(b, "BEGIN", "begin", &err), &err);
    assert_ok(srv_db_exec(b, "UPDATE unit_db_dl SET n = n + 1 WHERE id = 2", "lock 2", &err), &err);
    /* a waits for b's row and b for a's, whichever comes first */
    struct locker l = {.db = a};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, lock_row_2, &l), 0);
    int rc = srv_db_exec(b, "UPDATE unit_db_dl SET n = n + 1 WHERE id = 1", "lock 1", &err);
    enum m87_errcode code = m87_error_code(err);
    m87_error_clear(&err);
    srv_db_exec(b, "ROLLBACK", "rollback", NULL); /* lets a go on when b was the one ended */
    assert_int_equal(pthread_join(t, NULL), 0);
    srv_db_exec(a, "ROLLBACK", "rollback", NULL);
    assert_int_equal((rc < 0) + (l.rc < 0), 1); /* exactly one was ended */
    assert_int_equal(rc < 0 ? code : l.code, M87_E_TIMEOUT);
    srv_db_exec(a, "DROP TABLE unit_db_dl", "drop", NULL);
    srv_db_close(a);
    srv_db_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite),    cmocka_unit_test(test_sqlite_open),
        cmocka_unit_test(test_url_is_pg), cmocka_unit_test(test_pg_refused),
        cmocka_unit_test(test_pg),        cmocka_unit_test(test_pg_deadlock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
