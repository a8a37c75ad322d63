/* Unit tests of the ?N to $N rewrite of the PostgreSQL backend (db-pg.h): parameters become $N
 * and the highest number is counted; string literals (standard and E'...'), quoted
 * identifiers and comments keep their text; a bare '?' or a number out of range is refused.
 * And which --db values name PostgreSQL (srv_db_url_is_pg, db-url.c). */
#include <stdlib.h>
#include <string.h>

#include "m87/error.h"
#include "server/db-pg.h"
#include "server/db.h"
#include "unit-util.h"

static void expect(const char *sql, const char *want, int want_n)
{
    struct m87_error *err = NULL;
    int n = -1;
    char *got = srv_pg_rewrite(sql, &n, &err);
    if (!got)
        fail_msg("%s: %s", sql, err->msg);
    assert_string_equal(got, want);
    assert_int_equal(n, want_n);
    free(got);
}

static void refuse(const char *sql, const char *want_msg)
{
    struct m87_error *err = NULL;
    int n = 42;
    assert_null(srv_pg_rewrite(sql, &n, &err));
    assert_non_null(err);
    assert_int_equal(err->code, M87_E_INVAL);
    assert_string_equal(err->msg, want_msg);
    assert_int_equal(n, 42);
    m87_error_clear(&err);
}

static void test_parameters(void **state)
{
    (void)state;
    expect("SELECT 1", "SELECT 1", 0);
    expect("", "", 0);
    expect("SELECT a FROM t WHERE id = ?1 AND n = ?2", "SELECT a FROM t WHERE id = $1 AND n = $2",
           2);
    expect("UPDATE t SET a = ?3 WHERE id = ?1 OR id = ?1",
           "UPDATE t SET a = $3 WHERE id = $1 OR id = $1", 3);
    expect("VALUES (?10,?2)", "VALUES ($10,$2)", 10);
    expect("SELECT ?999", "SELECT $999", 999);
}

static void test_literals_and_identifiers_kept(void **state)
{
    (void)state;
    expect("SELECT '?1', ?1", "SELECT '?1', $1", 1);
    expect("SELECT 'it''s ?1' || ?2", "SELECT 'it''s ?1' || $2", 2);
    /* a standard string ends at the quote after a backslash */
    expect("SELECT 'a\\' || ?1", "SELECT 'a\\' || $1", 1);
    /* an E'' string escapes the quote with a backslash */
    expect("SELECT E'a\\' ?1' || ?2", "SELECT E'a\\' ?1' || $2", 2);
    expect("SELECT e'\\\\' || ?1", "SELECT e'\\\\' || $1", 1);
    /* a word ending in e before a quote is not an E'' prefix */
    expect("SELECT type'\\' || ?1", "SELECT type'\\' || $1", 1);
    expect("SELECT \"col?1\", \"a\"\"?2\" FROM t WHERE x = ?1",
           "SELECT \"col?1\", \"a\"\"?2\" FROM t WHERE x = $1", 1);
    /* an unterminated literal runs to the end; PostgreSQL reports it */
    expect("SELECT ?1, 'open ?2", "SELECT $1, 'open ?2", 1);
}

static void test_comments_kept(void **state)
{
    (void)state;
    expect("SELECT ?1 -- why ?2\n, ?3", "SELECT $1 -- why ?2\n, $3", 3);
    expect("SELECT /* a ?1 /* nested ?2 */ still ?3 */ ?4",
           "SELECT /* a ?1 /* nested ?2 */ still ?3 */ $4", 4);
    expect("SELECT 1 - ?1, 2 / ?2", "SELECT 1 - $1, 2 / $2", 2);
}

static void test_refused(void **state)
{
    (void)state;
    refuse("SELECT ? FROM t", "parameter at offset 7: write ?1 to ?999, not '?'");
    refuse("SELECT ?0", "parameter at offset 7: write ?1 to ?999, not '?0'");
    refuse("SELECT ?1, ?1000", "parameter at offset 11: write ?1 to ?999, not '?1000'");
    refuse("SELECT ?1, ?", "parameter at offset 11: write ?1 to ?999, not '?'");
}

static void test_url_kind(void **state)
{
    (void)state;
    assert_true(srv_db_url_is_pg("postgresql://m87@db.example/m87"));
    assert_true(srv_db_url_is_pg("postgres://m87:pw@127.0.0.1:5432/m87?sslmode=verify-full"));
    assert_true(srv_db_url_is_pg("host=db.example dbname=m87"));
    assert_true(srv_db_url_is_pg("  dbname = m87"));
    assert_false(srv_db_url_is_pg("/var/lib/m87-server/m87.db"));
    assert_false(srv_db_url_is_pg("data/m87.db"));
    assert_false(srv_db_url_is_pg("m87.db"));
    assert_false(srv_db_url_is_pg("postgresql:/x"));
    assert_false(srv_db_url_is_pg("=x"));
    assert_false(srv_db_url_is_pg(""));
    assert_false(srv_db_url_is_pg(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parameters),    cmocka_unit_test(test_literals_and_identifiers_kept),
        cmocka_unit_test(test_comments_kept), cmocka_unit_test(test_refused),
        cmocka_unit_test(test_url_kind),
    };
    return cmocka_run_group_tests_name("db-pg rewrite", tests, NULL, NULL);
}
