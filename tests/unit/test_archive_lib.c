/* Unit tests of src/common/archive-lib.c: libarchive loaded on first use. */
#include <dlfcn.h>
#include <stdint.h>
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

/* One entry of mtime sec written into a tar in memory and read back, the mtime through
 * m87_archive_entry_set_mtime and m87_archive_entry_mtime (the rest through the linked library,
 * whose other functions have the same types in the declarations and the build). */
static int64_t tar_mtime_round_trip(const struct m87_archive_lib *la, int64_t sec)
{
    static char tar[16384];
    size_t used = 0;
    struct archive *w = archive_write_new();
    assert_non_null(w);
    assert_int_equal(archive_write_set_format_pax_restricted(w), ARCHIVE_OK);
    assert_int_equal(archive_write_set_bytes_per_block(w, 512), ARCHIVE_OK);
    assert_int_equal(archive_write_open_memory(w, tar, sizeof(tar), &used), ARCHIVE_OK);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "clock.txt");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, 0);
    m87_archive_entry_set_mtime(la, e, sec);
    assert_int_equal(archive_write_header(w, e), ARCHIVE_OK);
    assert_int_equal(archive_write_close(w), ARCHIVE_OK);
    archive_write_free(w);
    archive_entry_free(e);

    struct archive *r = archive_read_new();
    assert_non_null(r);
    assert_int_equal(archive_read_support_format_tar(r), ARCHIVE_OK);
    assert_int_equal(archive_read_open_memory(r, tar, used), ARCHIVE_OK);
    struct archive_entry *got = NULL;
    assert_int_equal(archive_read_next_header(r, &got), ARCHIVE_OK);
    assert_string_equal(archive_entry_pathname(got), "clock.txt");
    int64_t t = m87_archive_entry_mtime(la, got);
    archive_read_free(r);
    return t;
}

/* An entry's time round-trips through a tar, past 2038 too. On armhf (m87 with a 64-bit time_t,
 * Debian 12's libarchive with a 32-bit one) the call passes the library's long, which the
 * declaration's time_t got wrong, and a time past the library's last second is kept as that
 * second instead of wrapping round to 1901; on 64-bit architectures it is kept whole. */
static void test_mtime_round_trips(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    const struct m87_archive_lib *la = m87_archive_lib(&err);
    assert_non_null(la);
    if (sizeof(long) == 4)
        assert_int_equal(M87_ARCHIVE_TIME_MAX, INT32_MAX);
    else
        assert_int_equal(M87_ARCHIVE_TIME_MAX, INT64_MAX);
    static const int64_t times[] = {
        0,          /* 1970-01-01T00:00:00Z */
        1700000000, /* 2023-11-14T22:13:20Z */
        INT32_MAX,  /* 2038-01-19T03:14:07Z, the last second of a 32-bit time_t */
        2147483648, /* one second later */
        4102444800, /* 2100-01-01T00:00:00Z */
    };
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        int64_t want = times[i] > M87_ARCHIVE_TIME_MAX ? M87_ARCHIVE_TIME_MAX : times[i];
        int64_t got = tar_mtime_round_trip(la, times[i]);
        if (got != want)
            fail_msg("mtime %lld came back as %lld, want %lld", (long long)times[i], (long long)got,
                     (long long)want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_library),
        cmocka_unit_test(test_missing_function),
        cmocka_unit_test(test_members_are_their_functions),
        cmocka_unit_test(test_mtime_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
