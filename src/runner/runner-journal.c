/* The report journal: REPORT records (docs/api.md) queued on disk until the server has them.
 *
 * Segments DIR/NNNNNNNNNNNNNNNNNNNN.jsonl (the first record's seq, zero-padded so names sort)
 * hold one record a line and only grow; DIR/acked holds the highest seq the server
 * acknowledged. A segment goes once all its records are acknowledged, so the next seq is always
 * max(last record, acked) + 1 and never goes back, even when every segment is gone.
 *
 * Several processes share one journal (the daemon reads and drops while its apply child appends),
 * so every operation holds DIR/lock (flock) and first brings the in-memory view up to date with
 * the directory; a mutex does the same between threads of one process, which share the lock's
 * open file description and so are not kept apart by flock. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/runner-journal.h"
#include "m87/runner-text.h"
#include "m87/runner.h"
#include "m87/state-file.h"

#define SEGMENT_SUFFIX ".jsonl"
#define MAX_SEGMENT_READ (RUNNER_JOURNAL_SEGMENT + 2 * RUNNER_MAX_RECORD)
/* the end of a segment read to find its last record: a torn line and a whole record */
#define TAIL_READ (2 * RUNNER_MAX_RECORD + 2)

struct runner_journal {
    char *dir;
    int lock_fd;
    pthread_mutex_t mu;
    int64_t next_seq;
    int64_t acked;
    int64_t *firsts; /* first seq of each segment, ascending */
    size_t n_segments;
    size_t active_size; /* of the last segment */
    size_t segment_max;
};

static char *segment_path(const struct runner_journal *j, int64_t first)
{
    return m87_xasprintf("%s/%020" PRId64 SEGMENT_SUFFIX, j->dir, first);
}

int64_t runner_record_seq(const char *line, size_t len)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = m87_json_parse(line, len, NULL);
    const struct m87_json *seq = m87_json_get(doc, "seq");

    if (m87_json_type(seq) != M87_JSON_NUMBER)
        return -1;
    return m87_json_int(seq, -1);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int list_segments(struct runner_journal *j, struct m87_error **err)
{
    DIR *d = opendir(j->dir);
    size_t cap = 0;

    free(j->firsts);
    j->firsts = NULL;
    j->n_segments = 0;
    if (!d)
        return m87_error_set(err, M87_E_IO, errno, "open directory '%s'", j->dir);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char *end = NULL;
        long long v = strtoll(e->d_name, &end, 10);
        if (end == e->d_name || strcmp(end, SEGMENT_SUFFIX) != 0 || v < 1)
            continue;
        if (j->n_segments == cap) {
            cap = cap ? 2 * cap : 8;
            j->firsts = m87_xrealloc(j->firsts, cap * sizeof(*j->firsts));
        }
        j->firsts[j->n_segments++] = v;
    }
    closedir(d);
    if (j->n_segments)
        qsort(j->firsts, j->n_segments, sizeof(*j->firsts), cmp_i64);
    return 0;
}

static int read_acked(struct runner_journal *j, struct m87_error **err)
{
    _cleanup_free_ char *path = m87_xasprintf("%s/acked", j->dir);
    _cleanup_error_ struct m87_error *e = NULL;
    _cleanup_free_ char *text = m87_read_file(path, 64, NULL, &e);

    if (!text) {
        if (e->sys_errno == ENOENT)
            return 0;
        return m87_error_set(err, M87_E_IO, e->sys_errno, "read '%s'", path);
    }
    j->acked = strtoll(text, NULL, 10);
    return 0;
}

/* Read the end of a segment (at most TAIL_READ bytes) into buf; *len gets how much. */
static int read_tail(int fd, off_t size, char *buf, size_t *len)
{
    size_t want = size < (off_t)TAIL_READ ? (size_t)size : TAIL_READ;
    size_t got = 0;

    while (got < want) {
        ssize_t n = pread(fd, buf + got, want - got, size - (off_t)want + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    *len = want;
    return 0;
}

/* Cut a torn last line off the last segment and learn the last seq written. */
static int recover_last(struct runner_journal *j, struct m87_error **err)
{
    _cleanup_free_ char *path = segment_path(j, j->firsts[j->n_segments - 1]);
    _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    _cleanup_free_ char *buf = m87_xmalloc(TAIL_READ);
    struct stat st;
    size_t len = 0;

    if (fd < 0 || fstat(fd, &st) < 0 || read_tail(fd, st.st_size, buf, &len) < 0)
        return m87_error_set(err, M87_E_IO, errno ? errno : EIO, "read '%s'", path);
    size_t keep = len;
    while (keep > 0 && buf[keep - 1] != '\n')
        keep--;
    if (keep == 0 && len < (size_t)st.st_size)
        return m87_error_set(err, M87_E_PARSE, 0, "'%s' has a line over %u bytes", path,
                             RUNNER_MAX_RECORD);
    off_t end = st.st_size - (off_t)(len - keep);
    if (end != st.st_size && ftruncate(fd, end) < 0)
        return m87_error_set(err, M87_E_IO, errno, "truncate '%s'", path);
    j->active_size = (size_t)end;
    if (keep == 0)
        return 0;
    size_t start = keep - 1;
    while (start > 0 && buf[start - 1] != '\n')
        start--;
    int64_t seq = runner_record_seq(buf + start, keep - 1 - start);
    if (seq >= j->next_seq)
        j->next_seq = seq + 1;
    return 0;
}

/* Bring the view up to date with the directory, which another process may have changed. */
static int refresh(struct runner_journal *j, struct m87_error **err)
{
    int64_t last = j->n_segments ? j->firsts[j->n_segments - 1] : 0;
    size_t size = j->active_size;

    if (read_acked(j, err) < 0 || list_segments(j, err) < 0)
        return -1;
    if (!j->n_segments) {
        j->active_size = 0;
    } else {
        _cleanup_free_ char *path = segment_path(j, j->firsts[j->n_segments - 1]);
        struct stat st;
        if (stat(path, &st) < 0)
            return m87_error_set(err, M87_E_IO, errno, "stat '%s'", path);
        bool same = j->firsts[j->n_segments - 1] == last && (size_t)st.st_size == size;
        if (!same && recover_last(j, err) < 0)
            return m87_error_wrap(err, "recover the report journal");
        if (j->firsts[j->n_segments - 1] > j->next_seq - 1)
            j->next_seq = j->firsts[j->n_segments - 1];
    }
    if (j->acked >= j->next_seq)
        j->next_seq = j->acked + 1;
    return 0;
}

static int journal_lock(struct runner_journal *j, struct m87_error **err)
{
    pthread_mutex_lock(&j->mu);
    while (flock(j->lock_fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            pthread_mutex_unlock(&j->mu);
            return m87_error_set(err, M87_E_IO, errno, "lock '%s/lock'", j->dir);
        }
    }
    if (refresh(j, err) < 0) {
        flock(j->lock_fd, LOCK_UN);
        pthread_mutex_unlock(&j->mu);
        return -1;
    }
    return 0;
}

static void journal_unlock(struct runner_journal *j)
{
    flock(j->lock_fd, LOCK_UN);
    pthread_mutex_unlock(&j->mu);
}

struct runner_journal *runner_journal_open(const char *dir, struct m87_error **err)
{
    struct runner_journal *j = m87_xcalloc(1, sizeof(*j));
    _cleanup_free_ char *lock = m87_xasprintf("%s/lock", dir);

    j->dir = m87_xstrdup(dir);
    j->next_seq = 1;
    j->lock_fd = -1;
    j->segment_max = RUNNER_JOURNAL_SEGMENT;
    pthread_mutex_init(&j->mu, NULL);
    if (m87_mkdir_p(dir, 0700, err) < 0)
        goto fail;
    j->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (j->lock_fd < 0) {
        m87_error_set(err, M87_E_IO, errno, "open '%s'", lock);
        goto fail;
    }
    if (journal_lock(j, err) < 0)
        goto fail;
    journal_unlock(j);
    return j;
fail:
    runner_journal_free(j);
    return NULL;
}

void runner_journal_free(struct runner_journal *j)
{
    if (!j)
        return;
    if (j->lock_fd >= 0)
        close(j->lock_fd);
    pthread_mutex_destroy(&j->mu);
    free(j->dir);
    free(j->firsts);
    free(j);
}

int64_t runner_journal_next_seq(const struct runner_journal *j)
{
    return j->next_seq;
}

static int write_line(const char *path, const char *text, size_t len, bool created,
                      struct m87_error **err)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    struct stat st;

    if (fd < 0)
        return m87_error_set(err, M87_E_IO, errno, "open '%s'", path);
    if (fstat(fd, &st) < 0)
        return m87_error_set(err, M87_E_IO, errno, "stat '%s'", path);
    ssize_t n = write(fd, text, len);
    if (n != (ssize_t)len || fsync(fd) < 0) {
        int e = n < 0 ? errno : EIO;
        /* leave no torn line behind for the next append to glue onto */
        if (ftruncate(fd, st.st_size) < 0)
            e = errno;
        return m87_error_set(err, M87_E_IO, e, "append to '%s'", path);
    }
    return created ? m87_state_sync_dir(path, err) : 0;
}

static int append_locked(struct runner_journal *j, runner_record_fn fill, const void *ctx,
                         int64_t *seq, struct m87_error **err)
{
    struct m87_jw *w = m87_jw_new();
    _cleanup_free_ char *now = runner_now_rfc3339();

    m87_jw_obj_open(w);
    m87_jw_kint(w, "seq", j->next_seq);
    m87_jw_kstr(w, "time", now);
    fill(w, ctx);
    m87_jw_obj_close(w);
    _cleanup_free_ char *text = m87_jw_finish(w);
    size_t len = strlen(text);
    if (len > RUNNER_MAX_RECORD)
        return m87_error_set(err, M87_E_TOOBIG, 0, "report record of %zu bytes exceeds %u", len,
                             RUNNER_MAX_RECORD);
    text[len] = '\n'; /* the NUL goes: write len + 1 bytes, no terminator needed */
    bool fresh = !j->n_segments || j->active_size >= j->segment_max;
    int64_t first = fresh ? j->next_seq : j->firsts[j->n_segments - 1];
    _cleanup_free_ char *path = segment_path(j, first);
    if (write_line(path, text, len + 1, fresh, err) < 0)
        return m87_error_wrap(err, "journal a report");
    if (fresh) {
        j->firsts = m87_xrealloc(j->firsts, (j->n_segments + 1) * sizeof(*j->firsts));
        j->firsts[j->n_segments++] = first;
        j->active_size = 0;
    }
    j->active_size += len + 1;
    if (seq)
        *seq = j->next_seq;
    j->next_seq++;
    return 0;
}

/* The records of one segment with seq > after, appended to out within the caps. */
static int read_segment(struct runner_journal *j, size_t i, int64_t after, size_t max_count,
                        size_t max_bytes, size_t *bytes, struct m87_strv *out, int64_t *last,
                        struct m87_error **err)
{
    _cleanup_free_ char *path = segment_path(j, j->firsts[i]);
    size_t len = 0;
    _cleanup_free_ char *text = m87_read_file(path, MAX_SEGMENT_READ, &len, err);

    if (!text)
        return m87_error_wrap(err, "read the report journal");
    for (char *line = text; line < text + len && out->len < max_count;) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        if (!nl)
            break; /* a torn line being written: not a record yet */
        *nl = '\0';
        size_t n = (size_t)(nl - line);
        int64_t seq = runner_record_seq(line, n);
        if (seq > after && seq > j->acked) {
            if (out->len > 0 && *bytes + n > max_bytes)
                return 1;
            m87_strv_add(out, line);
            *bytes += n;
            *last = seq;
        }
        line = nl + 1;
    }
    return out->len >= max_count;
}

static int read_locked(struct runner_journal *j, int64_t after, size_t max_count, size_t max_bytes,
                       struct m87_strv *out, int64_t *last, struct m87_error **err)
{
    size_t bytes = 0;

    *last = after;
    for (size_t i = 0; i < j->n_segments && max_count > 0; i++) {
        if (i + 1 < j->n_segments && j->firsts[i + 1] <= after + 1)
            continue; /* every record here is <= after */
        int rc = read_segment(j, i, after, max_count, max_bytes, &bytes, out, last, err);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    return 0;
}

static int drop_locked(struct runner_journal *j, int64_t upto, struct m87_error **err)
{
    if (upto > INT64_MAX / 2)
        return m87_error_set(err, M87_E_INVAL, 0, "acknowledged seq %" PRId64 " out of range",
                             upto);
    if (upto <= j->acked)
        return 0;
    _cleanup_free_ char *path = m87_xasprintf("%s/acked", j->dir);
    _cleanup_free_ char *text = m87_xasprintf("%" PRId64 "\n", upto);
    if (m87_write_file_atomic(path, text, strlen(text), 0600, err) < 0)
        return m87_error_wrap(err, "acknowledge reports");
    j->acked = upto;
    if (j->next_seq <= upto)
        j->next_seq = upto + 1; /* the server has seqs this journal never had: go on after them */
    size_t gone = 0;
    while (gone < j->n_segments) {
        int64_t last_seq = gone + 1 < j->n_segments ? j->firsts[gone + 1] - 1 : j->next_seq - 1;
        if (last_seq > upto)
            break;
        _cleanup_free_ char *seg = segment_path(j, j->firsts[gone]);
        if (unlink(seg) < 0 && errno != ENOENT)
            return m87_error_set(err, M87_E_IO, errno, "remove '%s'", seg);
        gone++;
    }
    if (gone)
        memmove(j->firsts, j->firsts + gone, (j->n_segments - gone) * sizeof(*j->firsts));
    j->n_segments -= gone;
    if (!j->n_segments)
        j->active_size = 0;
    return 0;
}

int runner_journal_append(struct runner_journal *j, runner_record_fn fill, const void *ctx,
                          int64_t *seq, struct m87_error **err)
{
    if (journal_lock(j, err) < 0)
        return m87_error_wrap(err, "journal a report");
    int rc = append_locked(j, fill, ctx, seq, err);
    journal_unlock(j);
    return rc;
}

int runner_journal_read(struct runner_journal *j, int64_t after, size_t max_count, size_t max_bytes,
                        struct m87_strv *out, int64_t *last, struct m87_error **err)
{
    *last = after;
    if (journal_lock(j, err) < 0)
        return -1;
    int rc = read_locked(j, after, max_count, max_bytes, out, last, err);
    journal_unlock(j);
    return rc;
}

int runner_journal_drop(struct runner_journal *j, int64_t upto, struct m87_error **err)
{
    if (journal_lock(j, err) < 0)
        return -1;
    int rc = drop_locked(j, upto, err);
    journal_unlock(j);
    return rc;
}

int runner_journal_pending(struct runner_journal *j, int64_t *count, struct m87_error **err)
{
    if (journal_lock(j, err) < 0)
        return -1;
    *count = j->next_seq - 1 - j->acked;
    journal_unlock(j);
    return 0;
}

void runner_journal_set_segment_size(struct runner_journal *j, size_t bytes)
{
    /* not above the default: a segment is read whole, within MAX_SEGMENT_READ, also by the
     * apply child, which keeps the default */
    j->segment_max = bytes < RUNNER_MAX_RECORD        ? RUNNER_MAX_RECORD
                     : bytes > RUNNER_JOURNAL_SEGMENT ? RUNNER_JOURNAL_SEGMENT
                                                      : bytes;
}

static bool is_log_lines(const char *line, size_t len)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = m87_json_parse(line, len, NULL);
    const char *kind = m87_json_str(m87_json_get(doc, "kind"), "");

    return strcmp(kind, "log") == 0 && m87_json_get(doc, "lines") != NULL;
}

/* Rewrite segment i without its log records; *size gets its new size. */
static int trim_segment(struct runner_journal *j, size_t i, int64_t *dropped, off_t *size,
                        struct m87_error **err)
{
    _cleanup_free_ char *path = segment_path(j, j->firsts[i]);
    size_t len = 0;
    _cleanup_free_ char *text = m87_read_file(path, MAX_SEGMENT_READ, &len, err);
    struct m87_buf keep;
    int64_t gone = 0;

    if (!text)
        return m87_error_wrap(err, "read the report journal");
    /* a journal over its cap is trimmed again at every tick: a segment without log records
     * (one trimmed before, or only steps and health) is not parsed line by line again */
    static const char log_kind[] = "\"kind\":\"log\"";
    if (!memmem(text, len, log_kind, sizeof(log_kind) - 1)) {
        *size = (off_t)len;
        return 0;
    }
    m87_buf_init(&keep, 0);
    for (char *line = text; line < text + len;) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(text + len - line);
        if (is_log_lines(line, n))
            gone++;
        else
            m87_buf_append(&keep, line, n + (nl != NULL), NULL);
        line += n + 1;
    }
    int rc = 0;
    if (gone && keep.len == 0 && unlink(path) < 0)
        rc = m87_error_set(err, M87_E_IO, errno, "remove '%s'", path);
    else if (gone && keep.len)
        rc = m87_write_file_atomic(path, keep.data, keep.len, 0600, err);
    *size = (off_t)keep.len;
    m87_buf_release(&keep);
    *dropped += rc == 0 ? gone : 0;
    return rc;
}

static int trim_locked(struct runner_journal *j, int64_t max_bytes, int64_t *dropped, bool *over,
                       struct m87_error **err)
{
    off_t *sizes = m87_xcalloc(j->n_segments + 1, sizeof(*sizes));
    int64_t total = 0;
    int rc = 0;

    for (size_t i = 0; i < j->n_segments; i++) {
        _cleanup_free_ char *path = segment_path(j, j->firsts[i]);
        struct stat st;
        sizes[i] = stat(path, &st) == 0 ? st.st_size : 0;
        total += sizes[i];
    }
    for (size_t i = 0; i + 1 < j->n_segments && total > max_bytes && rc == 0; i++) {
        off_t after = 0;
        rc = trim_segment(j, i, dropped, &after, err);
        total -= sizes[i] - after;
    }
    free(sizes);
    *over = total > max_bytes;
    if (rc == 0)
        rc = list_segments(j, err);
    return rc;
}

int runner_journal_trim_logs(struct runner_journal *j, int64_t max_bytes, int64_t *dropped,
                             bool *over, struct m87_error **err)
{
    *dropped = 0;
    *over = false;
    if (journal_lock(j, err) < 0)
        return -1;
    int rc = trim_locked(j, max_bytes, dropped, over, err);
    journal_unlock(j);
    return rc;
}
