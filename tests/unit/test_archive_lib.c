/* Unit tests of src/common/archive-lib.c: libarchive loaded on first use. */
#include <dlfcn.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/archive-lib.h"
#include "m87/error.h"
#include "unit-util.h"

static void assert_load_fails(const char *soname, const char *want)
{
    struct m87_error *err = NULL;
    struct m87_archive_lib t = {0};
    assert_int_equal(m87_archive_lib_load(soname, &t, &err), -1);
    assert_non_null(err);
    assert_int_equal(err->code, M87_E_IO);
    _cleanup_free_ char *prefix = m87_xasprintf("load '%s': ", soname);
    if (strncmp(err->msg, prefix, strlen(prefix)) != 0 || strstr(err->msg, want) == NULL)
        fail_msg("got '%s', want '%s...%s...'", err->msg, prefix, want);
    assert_null(t.read_new);
    m87_error_free(err);
}

static void test_missing_library(void **state)
{
    (void)state;
    assert_load_fails("libm87-no-such-library.so.1", "cannot open shared object file");
}

/* A library that loads but lacks the functions: the first one missing is named. */
static void test_missing_function(void **state)
{
    (void)state;
    assert_load_fails("libc.so.6", "undefined symbol: archive_entry_filetype");
}

/* Each member holds the function its name says, so that a slip in the table between two
 * functions of the same type (read_free and write_free) is caught, which the compiler cannot. */
static void test_members_are_their_functions(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    const struct m87_archive_lib *la = m87_archive_lib(&err);
    assert_non_null(la);
    assert_ptr_equal(m87_archive_lib(&err), la);
    Dl_info info;
#define CHECK(member, symbol)                                                                      \
    do {                                                                                           \
        const char *want =                                                                         \
            strcmp(#member, "errno_of") == 0 ? "archive_errno" : "archive_" #member;               \
        assert_true(dladdr((void *)la->member, &info) != 0);                                       \
        assert_non_null(info.dli_sname);                                                           \
        assert_string_equal(info.dli_sname, want);                                                 \
        assert_non_null(strstr(info.dli_fname, "libarchive.so"));                                  \
    } while (0);
    M87_ARCHIVE_LIB_FUNCS(CHECK)
#undef CHECK
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_library),
        cmocka_unit_test(test_missing_function),
        cmocka_unit_test(test_members_are_their_functions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
