/* Unit tests of the state files (src/common/state-file.c): a JSON file that may be absent, its
 * errors, and the fsync of a file's directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json.h"
#include "m87/state-file.h"
#include "unit-util.h"

static char *temp_dir(void)
{
    char *dir = m87_xstrdup("/tmp/m87-state-file-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void put(const char *path, const char *text)
{
    struct m87_error *err = NULL;
    assert_ok(m87_write_file_atomic(path, text, strlen(text), 0600, &err), &err);
}

static void test_read_json(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = temp_dir();
    _cleanup_free_ char *path = m87_xasprintf("%s/x.json", dir);
    struct m87_json *doc = NULL;
    struct m87_error *err = NULL;

    assert_int_equal(m87_state_read_json(path, 64, &doc, &err), 0);
    assert_null(doc);
    assert_null(err);

    put(path, "{\"a\": 7}");
    assert_int_equal(m87_state_read_json(path, 64, &doc, &err), 1);
    assert_int_equal(m87_json_int(m87_json_get(doc, "a"), 0), 7);
    m87_json_free(doc);
    doc = NULL;

    put(path, "{\"a\": ");
    assert_int_equal(m87_state_read_json(path, 64, &doc, &err), -1);
    assert_null(doc);
    assert_non_null(err);
    _cleanup_free_ char *prefix = m87_xasprintf("read '%s': ", path);
    assert_memory_equal(err->msg, prefix, strlen(prefix));
    m87_error_clear(&err);

    assert_int_equal(m87_state_read_json(path, 64, &doc, NULL), -1);

    put(path, "{\"a\": \"far more than eight bytes\"}");
    assert_int_equal(m87_state_read_json(path, 8, &doc, &err), -1);
    assert_int_equal(err->code, M87_E_TOOBIG);
    m87_error_clear(&err);

    unlink(path);
    rmdir(dir);
}

static void test_sync_dir(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = temp_dir();
    _cleanup_free_ char *path = m87_xasprintf("%s/f", dir);
    _cleanup_free_ char *gone = m87_xasprintf("%s/no/f", dir);
    _cleanup_free_ char *want = m87_xasprintf("sync directory '%s/no': ", dir);
    struct m87_error *err = NULL;

    assert_ok(m87_state_sync_dir(path, &err), &err);
    assert_ok(m87_state_sync_dir("/f", &err), &err);
    assert_ok(m87_state_sync_dir("f", &err), &err);
    assert_int_equal(m87_state_sync_dir(gone, &err), -1);
    assert_int_equal(err->code, M87_E_IO);
    assert_memory_equal(err->msg, want, strlen(want));
    m87_error_clear(&err);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_json),
        cmocka_unit_test(test_sync_dir),
    };
    return cmocka_run_group_tests_name("state files", tests, NULL, NULL);
}
