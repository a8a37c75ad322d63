/* Unit tests of the stream demultiplexer over streams recorded from dockerd (logs and exec of a
 * container without a TTY) and hand-made frames for the failure cases. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/engine-logs.h"
#include "m87/error.h"
#include "unit-util.h"

/* What the demuxer handed out, in order: one "S:bytes|" entry per callback. */
struct seen {
    struct m87_buf log;
    struct m87_buf streams[4];
    size_t calls;
    size_t stop_after; /* 0: never ask to stop */
};

static void seen_init(struct seen *s)
{
    memset(s, 0, sizeof(*s));
    m87_buf_init(&s->log, 0);
    for (int i = 0; i < 4; i++)
        m87_buf_init(&s->streams[i], 0);
}

static void seen_release(struct seen *s)
{
    m87_buf_release(&s->log);
    for (int i = 0; i < 4; i++)
        m87_buf_release(&s->streams[i]);
}

static int on_output(void *ctx, enum engine_stream stream, const char *data, size_t len)
{
    struct seen *s = ctx;
    assert_true(stream >= ENGINE_STREAM_STDIN && stream <= ENGINE_STREAM_SYSTEM);
    m87_buf_appendf(&s->log, NULL, "%d:", (int)stream);
    m87_buf_append(&s->log, data, len, NULL);
    m87_buf_append(&s->log, "|", 1, NULL);
    m87_buf_append(&s->streams[stream], data, len, NULL);
    s->calls++;
    return s->stop_after && s->calls >= s->stop_after;
}

/* Feed data in chunks of chunk bytes (0: whole); returns feed's or finish's result. */
static int feed_all(struct engine_demux *d, const char *data, size_t len, size_t chunk,
                    struct m87_error **err)
{
    size_t step = chunk ? chunk : len;
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        if (engine_demux_feed(d, data + off, n, err) < 0)
            return -1;
    }
    return engine_demux_finish(d, err);
}

static const size_t chunks[] = {1, 3, 7, 0};

static void test_logs_frames_any_chunking(void **state)
{
    (void)state;
    size_t len;
    _cleanup_free_ char *data = unit_read_fixture("engine/containers-logs-mux.bin", &len);
    for (size_t i = 0; i < M87_ARRAY_LEN(chunks); i++) {
        struct m87_error *err = NULL;
        struct seen s;
        seen_init(&s);
        struct engine_demux *d = engine_demux_new(false, false, on_output, &s);
        assert_ok(feed_all(d, data, len, chunks[i], &err), &err);
        /* one callback per frame whatever the chunking, streams kept apart */
        assert_string_equal(s.log.data, "1:out1\n|2:err1\n|1:out2\n|2:err2\n|1:out3\n|2:err3\n|"
                                        "1:no newline|");
        assert_string_equal(s.streams[1].data, "out1\nout2\nout3\nno newline");
        assert_string_equal(s.streams[2].data, "err1\nerr2\nerr3\n");
        engine_demux_free(d);
        seen_release(&s);
    }
}

static void test_logs_line_mode(void **state)
{
    (void)state;
    size_t len;
    _cleanup_free_ char *data = unit_read_fixture("engine/containers-logs-mux.bin", &len);
    for (size_t i = 0; i < M87_ARRAY_LEN(chunks); i++) {
        struct m87_error *err = NULL;
        struct seen s;
        seen_init(&s);
        struct engine_demux *d = engine_demux_new(false, true, on_output, &s);
        assert_ok(feed_all(d, data, len, chunks[i], &err), &err);
        /* the last line has no newline and comes at finish */
        assert_string_equal(s.log.data, "1:out1|2:err1|1:out2|2:err2|1:out3|2:err3|1:no newline|");
        engine_demux_free(d);
        seen_release(&s);
    }
}

/* A 20000-byte line that dockerd split over three frames, between lines of stderr. */
static void test_exec_line_across_frames(void **state)
{
    (void)state;
    size_t len;
    _cleanup_free_ char *data = unit_read_fixture("engine/exec-start-mux.bin", &len);
    _cleanup_free_ char *xs = m87_xmalloc(20001);
    memset(xs, 'x', 20000);
    xs[20000] = '\0';
    for (size_t i = 0; i < M87_ARRAY_LEN(chunks); i++) {
        struct m87_error *err = NULL;
        struct seen s;
        seen_init(&s);
        struct engine_demux *d = engine_demux_new(false, true, on_output, &s);
        assert_ok(feed_all(d, data, len, chunks[i], &err), &err);
        assert_int_equal(s.calls, 4);
        _cleanup_free_ char *want_out = m87_xasprintf("out1%s", xs);
        assert_string_equal(s.streams[1].data, want_out);
        assert_string_equal(s.streams[2].data, "err1err2");
        assert_int_equal(strncmp(s.log.data, "1:out1|2:err1|1:xxx", 19), 0);
        engine_demux_free(d);
        seen_release(&s);
    }
}

static void test_tty_is_raw_stdout(void **state)
{
    (void)state;
    /* bytes that would be a frame header are plain output on a TTY */
    static const char raw[] = "\x01\x00\x00\x00one\r\ntwo\nthree";
    size_t len = sizeof(raw) - 1;
    for (size_t i = 0; i < M87_ARRAY_LEN(chunks); i++) {
        struct m87_error *err = NULL;
        struct seen s;
        seen_init(&s);
        struct engine_demux *d = engine_demux_new(true, false, on_output, &s);
        assert_ok(feed_all(d, raw, len, chunks[i], &err), &err);
        assert_int_equal(s.streams[1].len, len);
        assert_memory_equal(s.streams[1].data, raw, len);
        assert_int_equal(s.streams[2].len, 0);
        engine_demux_free(d);
        seen_release(&s);

        seen_init(&s);
        d = engine_demux_new(true, true, on_output, &s);
        assert_ok(feed_all(d, raw + 4, len - 4, chunks[i], &err), &err);
        assert_string_equal(s.log.data, "1:one|1:two|1:three|");
        engine_demux_free(d);
        seen_release(&s);
    }
}

static void test_truncated_frame(void **state)
{
    (void)state;
    size_t len;
    _cleanup_free_ char *data = unit_read_fixture("engine/containers-logs-mux.bin", &len);
    /* cut inside the last payload, then inside the second header */
    const size_t cuts[] = {len - 3, 16};
    for (size_t i = 0; i < M87_ARRAY_LEN(cuts); i++) {
        struct m87_error *err = NULL;
        struct seen s;
        seen_init(&s);
        struct engine_demux *d = engine_demux_new(false, true, on_output, &s);
        assert_int_equal(feed_all(d, data, cuts[i], 1, &err), -1);
        assert_int_equal(m87_error_code(err), M87_E_PARSE);
        assert_non_null(strstr(err->msg, "stream ended inside a frame"));
        m87_error_clear(&err);
        engine_demux_free(d);
        seen_release(&s);
    }
    /* a cut between frames is a clean end */
    struct m87_error *err = NULL;
    struct seen s;
    seen_init(&s);
    struct engine_demux *d = engine_demux_new(false, true, on_output, &s);
    assert_ok(feed_all(d, data, 13, 1, &err), &err);
    assert_string_equal(s.log.data, "1:out1|");
    engine_demux_free(d);
    seen_release(&s);
}

static void test_bad_header(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        enum m87_errcode code;
        const char *msg;
    } cases[] = {
        {"\x05\x00\x00\x00\x00\x00\x00\x01x", M87_E_PARSE, "bad stream frame header 05 00 00 00"},
        {"\x01\x01\x00\x00\x00\x00\x00\x01x", M87_E_PARSE, "bad stream frame header 01 01 00 00"},
        {"\x01\x00\x00\x00\xff\xff\xff\xff", M87_E_TOOBIG, "over the limit"},
    };
    for (size_t i = 0; i < M87_ARRAY_LEN(cases); i++) {
        struct m87_error *err = NULL;
        struct seen s;
        seen_init(&s);
        struct engine_demux *d = engine_demux_new(false, false, on_output, &s);
        /* a good frame first: the failure is about the second header */
        assert_ok(engine_demux_feed(d, "\x02\x00\x00\x00\x00\x00\x00\x02ok", 10, &err), &err);
        assert_int_equal(engine_demux_feed(d, cases[i].bytes, 9, &err), -1);
        assert_int_equal(m87_error_code(err), cases[i].code);
        assert_non_null(strstr(err->msg, cases[i].msg));
        assert_string_equal(s.log.data, "2:ok|");
        m87_error_clear(&err);
        engine_demux_free(d);
        seen_release(&s);
    }
}

static void test_system_stream(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct seen s;
    seen_init(&s);
    struct engine_demux *d = engine_demux_new(false, true, on_output, &s);
    static const char frame[] = "\x03\x00\x00\x00\x00\x00\x00\x0a"
                                "disk full\n";
    assert_ok(feed_all(d, frame, sizeof(frame) - 1, 3, &err), &err);
    assert_string_equal(s.log.data, "3:disk full|");
    engine_demux_free(d);
    seen_release(&s);
}

static void test_callback_stops(void **state)
{
    (void)state;
    size_t len;
    _cleanup_free_ char *data = unit_read_fixture("engine/containers-logs-mux.bin", &len);
    for (int lines = 0; lines < 2; lines++) {
        struct m87_error *err = NULL;
        struct seen s;
        seen_init(&s);
        s.stop_after = 2;
        struct engine_demux *d = engine_demux_new(false, lines, on_output, &s);
        assert_int_equal(feed_all(d, data, len, 7, &err), -1);
        assert_int_equal(m87_error_code(err), M87_E_CANCELLED);
        assert_int_equal(s.calls, 2);
        m87_error_clear(&err);
        /* once stopped, it stays stopped */
        assert_int_equal(engine_demux_feed(d, data, len, &err), -1);
        assert_int_equal(m87_error_code(err), M87_E_CANCELLED);
        assert_int_equal(s.calls, 2);
        m87_error_clear(&err);
        engine_demux_free(d);
        seen_release(&s);
    }
}

static void test_line_past_cap(void **state)
{
    (void)state;
    struct m87_error *err = NULL;
    struct seen s;
    seen_init(&s);
    struct engine_demux *d = engine_demux_new(false, true, on_output, &s);
    /* frames of 512 KiB without a newline: the line cap (1 MiB) is crossed in the third */
    size_t payload = 512 * 1024;
    char *frame = m87_xmalloc(8 + payload);
    memcpy(frame, "\x01\x00\x00\x00", 4);
    frame[4] = (char)(payload >> 24);
    frame[5] = (char)(payload >> 16);
    frame[6] = (char)(payload >> 8);
    frame[7] = (char)payload;
    memset(frame + 8, 'y', payload);
    int r = 0;
    for (int i = 0; i < 3 && r == 0; i++)
        r = engine_demux_feed(d, frame, 8 + payload, &err);
    assert_int_equal(r, -1);
    assert_int_equal(m87_error_code(err), M87_E_TOOBIG);
    assert_non_null(strstr(err->msg, "stdout stream: line too long"));
    assert_int_equal(s.calls, 0);
    m87_error_clear(&err);
    free(frame);
    engine_demux_free(d);
    seen_release(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logs_frames_any_chunking),
        cmocka_unit_test(test_logs_line_mode),
        cmocka_unit_test(test_exec_line_across_frames),
        cmocka_unit_test(test_tty_is_raw_stdout),
        cmocka_unit_test(test_truncated_frame),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_system_stream),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_line_past_cap),
    };
    return cmocka_run_group_tests_name("engine_demux", tests, NULL, NULL);
}
