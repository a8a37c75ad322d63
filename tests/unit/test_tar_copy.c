/* Unit tests of the entry checks of src/common/tar-copy.c (`m87 cp`): which names and link
 * targets a received tar may hold. */
#include <string.h>

#include "m87/error.h"
#include "m87/tar-copy.h"
#include "unit-util.h"

static void expect_ok(const char *top, const char *name, const char *link)
{
    struct m87_error *err = NULL;
    if (m87_tar_check_entry(top, name, link, &err) != 0)
        fail_msg("'%s' (link '%s') refused: %s", name, link ? link : "-", err->msg);
}

static void expect_refused(const char *top, const char *name, const char *link, const char *want)
{
    struct m87_error *err = NULL;
    if (m87_tar_check_entry(top, name, link, &err) == 0)
        fail_msg("'%s' (link '%s') taken, want '%s'", name, link ? link : "-", want);
    assert_int_equal(err->code, M87_E_INVAL);
    if (strcmp(err->msg, want) != 0)
        fail_msg("'%s': got '%s', want '%s'", name, err->msg, want);
    m87_error_free(err);
}

static void test_names(void **state)
{
    (void)state;
    expect_ok("tree", "tree", NULL);
    expect_ok("tree", "tree/a/b.txt", NULL);
    expect_ok("file.bin", "file.bin", NULL);
    expect_ok("tree", "tree/..hidden/x..y", NULL); /* dots in a name are not ".." */
    expect_refused("tree", "/etc/passwd", NULL, "unsafe entry '/etc/passwd': an absolute path");
    expect_refused("tree", "tree/../../x", NULL, "unsafe entry 'tree/../../x': a '..' part");
    expect_refused("tree", "..", NULL, "unsafe entry '..': a '..' part");
    expect_refused("tree", "tree//x", NULL, "unsafe entry 'tree//x': an empty or '.' part");
    expect_refused("tree", "tree/./x", NULL, "unsafe entry 'tree/./x': an empty or '.' part");
    expect_refused("tree", "other/x", NULL, "unsafe entry 'other/x': not under 'tree', the first");
    expect_refused("tree", "treetop", NULL, "unsafe entry 'treetop': not under 'tree', the first");
}

static void test_links(void **state)
{
    (void)state;
    expect_ok("tree", "tree/link", "sub/data.bin");
    expect_ok("tree", "tree/sub/up", "../run.sh");
    expect_ok("tree", "tree/sub/top", "..");         /* the tree itself */
    expect_ok("tree", "tree/a/b/c", "../../x/../y"); /* never above the tree on the way */
    expect_ok("tree", "tree/a/self", "./.");
    expect_refused("tree", "tree/abs", "/etc",
                   "unsafe symbolic link 'tree/abs' -> '/etc': it points out of the copy");
    expect_refused("tree", "tree/up", "..",
                   "unsafe symbolic link 'tree/up' -> '..': it points out of the copy");
    expect_refused("tree", "tree/sub/escape", "../../etc/passwd",
                   "unsafe symbolic link 'tree/sub/escape' -> '../../etc/passwd': it points out "
                   "of the copy");
    /* out and back in again still passes through the destination's directory */
    expect_refused("tree", "tree/x", "../tree/y",
                   "unsafe symbolic link 'tree/x' -> '../tree/y': it points out of the copy");
    expect_refused("tree", "tree/empty", "",
                   "unsafe symbolic link 'tree/empty' -> '': it points out of the copy");
    /* a link as the copy itself points at a sibling of the destination */
    expect_refused("link", "link", "x",
                   "unsafe symbolic link 'link' -> 'x': it points out of the copy");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_links),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
