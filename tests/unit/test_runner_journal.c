/* The report journal (src/agent/runner-journal.c) on a private temporary directory: sequence
 * numbers across reopenings, reads after a seq within the caps, drops of acknowledged records
 * (whole segments go, the seq never goes back), and recovery from a torn last line. It has no
 * front end yet (the server sync will read and drop), so its file behaviour is checked here. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/list.h"
#include "m87/runner-journal.h"
#include "m87/runner.h"
#include "unit-util.h"

struct note {
    const char *text;
    size_t pad; /* extra bytes of payload, to fill segments */
};

static void fill_note(struct m87_jw *w, const void *ctx)
{
    const struct note *n = ctx;
    _cleanup_free_ char *pad = m87_xmalloc(n->pad + 1);
    memset(pad, 'p', n->pad);
    pad[n->pad] = '\0';
    m87_jw_kstr(w, "kind", "log");
    m87_jw_kstr(w, "message", n->text);
    m87_jw_kstr(w, "output", pad);
}

static char *tmpdir(void)
{
    char tmpl[] = "/tmp/m87-journal-XXXXXX";
    if (!mkdtemp(tmpl))
        fail_msg("mkdtemp failed");
    return m87_xstrdup(tmpl);
}

static int64_t append(struct runner_journal *j, const char *text, size_t pad)
{
    struct note n = {text, pad};
    struct m87_error *err = NULL;
    int64_t seq = -1;
    assert_ok(runner_journal_append(j, fill_note, &n, &seq, &err), &err);
    return seq;
}

static void read_all(struct runner_journal *j, int64_t after, size_t max_count, size_t max_bytes,
                     struct m87_strv *out, int64_t *last)
{
    struct m87_error *err = NULL;
    m87_strv_init(out);
    assert_ok(runner_journal_read(j, after, max_count, max_bytes, out, last, &err), &err);
}

static size_t count_segments(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        n += strstr(e->d_name, ".jsonl") != NULL;
    if (d)
        closedir(d);
    return n;
}

static void test_seq_read_and_reopen(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = tmpdir();
    struct m87_error *err = NULL;
    struct runner_journal *j = runner_journal_open(dir, &err);
    assert_non_null(j);
    assert_int_equal(runner_journal_next_seq(j), 1);
    assert_int_equal(append(j, "a", 0), 1);
    assert_int_equal(append(j, "b", 0), 2);
    assert_int_equal(append(j, "c", 0), 3);
    runner_journal_free(j);

    j = runner_journal_open(dir, &err);
    assert_int_equal(runner_journal_next_seq(j), 4);
    assert_int_equal(append(j, "d", 0), 4);
    struct m87_strv out;
    int64_t last = 0;
    read_all(j, 1, 10, 1 << 20, &out, &last);
    assert_int_equal(out.len, 3);
    assert_int_equal(last, 4);
    assert_int_equal(runner_record_seq(out.items[0], strlen(out.items[0])), 2);
    assert_non_null(strstr(out.items[0], "\"message\":\"b\""));
    assert_non_null(strstr(out.items[0], "\"time\":\""));
    m87_strv_release(&out);
    /* count cap, and the byte cap still returns one record */
    read_all(j, 0, 2, 1 << 20, &out, &last);
    assert_int_equal(out.len, 2);
    assert_int_equal(last, 2);
    m87_strv_release(&out);
    read_all(j, 0, 10, 1, &out, &last);
    assert_int_equal(out.len, 1);
    assert_int_equal(last, 1);
    m87_strv_release(&out);
    read_all(j, 4, 10, 1 << 20, &out, &last);
    assert_int_equal(out.len, 0);
    assert_int_equal(last, 4);
    m87_strv_release(&out);
    runner_journal_free(j);
    assert_ok(m87_remove_tree(dir, &err), &err);
}

static void test_drop_segments_and_seq_survives(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = tmpdir();
    struct m87_error *err = NULL;
    struct runner_journal *j = runner_journal_open(dir, &err);
    const size_t pad = 60000; /* about 17 records a segment */

    for (int i = 0; i < 50; i++)
        append(j, "x", pad);
    size_t before = count_segments(dir);
    assert_true(before >= 3);
    assert_ok(runner_journal_drop(j, 20, &err), &err);
    assert_true(count_segments(dir) < before);
    struct m87_strv out;
    int64_t last = 0;
    read_all(j, 0, 100, SIZE_MAX, &out, &last);
    assert_int_equal(out.len, 30); /* 21..50, even where a segment still holds older ones */
    assert_int_equal(runner_record_seq(out.items[0], strlen(out.items[0])), 21);
    m87_strv_release(&out);
    /* everything acknowledged: no segment left, and the seq goes on after a reopen */
    assert_ok(runner_journal_drop(j, 50, &err), &err);
    assert_int_equal(count_segments(dir), 0);
    runner_journal_free(j);
    j = runner_journal_open(dir, &err);
    assert_non_null(j);
    assert_int_equal(append(j, "after", 0), 51);
    read_all(j, 0, 100, SIZE_MAX, &out, &last);
    assert_int_equal(out.len, 1);
    assert_int_equal(last, 51);
    m87_strv_release(&out);
    runner_journal_free(j);
    assert_ok(m87_remove_tree(dir, &err), &err);
}

/* The daemon asks for segments of its journal cap / 8 (2 MiB by default): a segment is never
 * bigger than a read of one may take, or the journal would become unreadable. */
static void test_large_segment_size_stays_readable(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = tmpdir();
    struct m87_error *err = NULL;
    struct runner_journal *j = runner_journal_open(dir, &err);
    const size_t pad = 60000;

    runner_journal_set_segment_size(j, 2u * 1024 * 1024);
    for (int i = 0; i < 40; i++) /* 2.4 MB */
        append(j, "x", pad);
    assert_true(count_segments(dir) >= 2);
    struct m87_strv out;
    int64_t last = 0;
    read_all(j, 0, 100, SIZE_MAX, &out, &last);
    assert_int_equal(out.len, 40);
    assert_int_equal(last, 40);
    m87_strv_release(&out);
    runner_journal_free(j);
    assert_ok(m87_remove_tree(dir, &err), &err);
}

static void test_torn_line_recovered(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = tmpdir();
    struct m87_error *err = NULL;
    struct runner_journal *j = runner_journal_open(dir, &err);

    append(j, "a", 0);
    append(j, "b", 0);
    runner_journal_free(j);
    /* a crash in the middle of the third append */
    _cleanup_free_ char *seg = m87_xasprintf("%s/%020d.jsonl", dir, 1);
    int fd = open(seg, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "{\"seq\":3,\"ti", 12), 12);
    close(fd);

    j = runner_journal_open(dir, &err);
    assert_non_null(j);
    assert_int_equal(append(j, "c", 0), 3);
    struct m87_strv out;
    int64_t last = 0;
    read_all(j, 0, 100, SIZE_MAX, &out, &last);
    assert_int_equal(out.len, 3);
    for (size_t i = 0; i < out.len; i++)
        assert_int_equal(runner_record_seq(out.items[i], strlen(out.items[i])), (int64_t)i + 1);
    m87_strv_release(&out);
    runner_journal_free(j);
    assert_ok(m87_remove_tree(dir, &err), &err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq_read_and_reopen),
        cmocka_unit_test(test_drop_segments_and_seq_survives),
        cmocka_unit_test(test_large_segment_size_stays_readable),
        cmocka_unit_test(test_torn_line_recovered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
