/* Container logs shipped through the report journal: each turn reads the lines a container wrote
 * since its cursor (STATE/logs/CONTAINER_ID: the timestamp of the last line shipped and how many
 * lines carried exactly that timestamp), appends them as "log" records and only then moves the
 * cursor, so a restart or a lost connection neither loses nor repeats lines. dockerd's `since`
 * is inclusive, hence the count: lines at the cursor's own timestamp are skipped that often. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/containers.h"
#include "agent/daemon.h"
#include "agent/logs.h"
#include "m87/alloc.h"
#include "m87/engine-containers.h"
#include "m87/engine-logs.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/log.h"
#include "m87/runner-journal.h"
#include "m87/runner-text.h"
#include "m87/time.h"

#define MAX_CURSOR_FILE 128u

struct cursor {
    int64_t sec;
    int32_t nsec;
    int64_t same; /* lines shipped with exactly this timestamp */
};

struct log_line {
    char *time;
    char *text;
};

struct shipper {
    struct agent_daemon *d;
    const struct agent_container *c;
    struct cursor at;   /* the cursor as stored */
    struct cursor next; /* after the lines batched so far */
    int skip;           /* lines at at's timestamp still to skip */
    enum engine_stream stream;
    struct log_line *lines;
    size_t n_lines;
    size_t from, count; /* the lines log_fill writes */
    size_t bytes;
    unsigned read;
    int64_t shipped;
    bool failed;
};

static int digits(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int agent_parse_timestamp(const char *text, size_t len, int64_t *sec, int32_t *nsec)
{
    int64_t f[6];
    static const size_t pos[6] = {0, 5, 8, 11, 14, 17}, width[6] = {4, 2, 2, 2, 2, 2};
    static const char seps[] = "--T::";

    if (len < 20)
        return -1;
    for (int i = 0; i < 6; i++)
        if (digits(text + pos[i], width[i], &f[i]) < 0 ||
            (i < 5 && text[pos[i] + width[i]] != seps[i]))
            return -1;
    size_t i = 19;
    int64_t frac = 0;
    int nd = 0;
    if (text[i] == '.')
        for (i++; i < len && text[i] >= '0' && text[i] <= '9'; i++)
            if (nd < 9)
                frac = frac * 10 + (text[i] - '0'), nd++;
    if (i + 1 != len || text[i] != 'Z')
        return -1;
    for (; nd < 9; nd++)
        frac *= 10;
    struct tm tm = {.tm_year = (int)f[0] - 1900,
                    .tm_mon = (int)f[1] - 1,
                    .tm_mday = (int)f[2],
                    .tm_hour = (int)f[3],
                    .tm_min = (int)f[4],
                    .tm_sec = (int)f[5]};
    *sec = (int64_t)timegm(&tm);
    *nsec = (int32_t)frac;
    return 0;
}

static int cursor_cmp(const struct cursor *a, int64_t sec, int32_t nsec)
{
    if (a->sec != sec)
        return a->sec < sec ? -1 : 1;
    return a->nsec < nsec ? -1 : a->nsec > nsec;
}

static char *cursor_path(const struct agent_daemon *d, const char *id)
{
    return m87_xasprintf("%s/logs/%s", d->cfg->state_dir, id);
}

static void cursor_load(const struct agent_daemon *d, const char *id, struct cursor *c)
{
    _cleanup_free_ char *path = cursor_path(d, id);
    _cleanup_free_ char *text = m87_read_file(path, MAX_CURSOR_FILE, NULL, NULL);
    long long sec = 0, same = 0;
    int nsec = 0;

    *c = (struct cursor){0};
    if (text && sscanf(text, "%lld.%9d %lld", &sec, &nsec, &same) == 3)
        *c = (struct cursor){sec, nsec, same};
}

static int cursor_save(const struct agent_daemon *d, const char *id, const struct cursor *c,
                       struct m87_error **err)
{
    _cleanup_free_ char *dir = m87_xasprintf("%s/logs", d->cfg->state_dir);
    _cleanup_free_ char *path = cursor_path(d, id);
    _cleanup_free_ char *text =
        m87_xasprintf("%" PRId64 ".%09d %" PRId64 "\n", c->sec, (int)c->nsec, c->same);

    if (m87_mkdir_p(dir, 0700, err) < 0)
        return -1;
    return m87_write_file_atomic(path, text, strlen(text), 0600, err);
}

static void log_fill(struct m87_jw *w, const void *ctx)
{
    const struct shipper *s = ctx;

    m87_jw_kstr(w, "kind", "log");
    m87_jw_kstr(w, "revision", agent_daemon_applied_hash(s->d));
    m87_jw_kstr(w, "job", s->c->job);
    m87_jw_kstr(w, "job_hash", s->c->job_hash);
    m87_jw_kstr(w, "service", s->c->service);
    m87_jw_kstr(w, "container", s->c->name);
    m87_jw_kstr(w, "container_id", s->c->id);
    m87_jw_kstr(w, "stream", s->stream == ENGINE_STREAM_STDERR ? "stderr" : "stdout");
    m87_jw_key(w, "lines");
    m87_jw_arr_open(w);
    for (size_t i = s->from; i < s->from + s->count; i++) {
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "time", s->lines[i].time);
        m87_jw_kstr(w, "text", s->lines[i].text);
        m87_jw_obj_close(w);
    }
    m87_jw_arr_close(w);
}

static void batch_clear(struct shipper *s)
{
    for (size_t i = 0; i < s->n_lines; i++) {
        free(s->lines[i].time);
        free(s->lines[i].text);
    }
    free(s->lines);
    s->lines = NULL;
    s->n_lines = 0;
    s->bytes = 0;
}

/* Lines [from, from + n) as one record. The batch is bounded by its raw bytes, and JSON
 * escapes of control characters make a line up to six times longer: a record the journal
 * finds too big goes as two halves (a single line always fits). */
static int append_lines(struct shipper *s, size_t from, size_t n, struct m87_error **err)
{
    s->from = from;
    s->count = n;
    if (runner_journal_append(s->d->journal, log_fill, s, NULL, err) == 0)
        return 0;
    if (m87_error_code(*err) != M87_E_TOOBIG || n < 2)
        return -1;
    m87_error_clear(err);
    if (append_lines(s, from, n / 2, err) < 0)
        return -1;
    return append_lines(s, from + n / 2, n - n / 2, err);
}

/* Append the batch, then move the cursor past it. */
static int flush(struct shipper *s)
{
    _cleanup_error_ struct m87_error *err = NULL;

    if (!s->n_lines)
        return 0;
    if (append_lines(s, 0, s->n_lines, &err) < 0 ||
        cursor_save(s->d, s->c->id, &s->next, &err) < 0) {
        m87_log(M87_LOG_ERR, "ship the logs of '%s': %s", s->c->name, err->msg);
        s->failed = true;
        batch_clear(s);
        return -1;
    }
    s->shipped += (int64_t)s->n_lines;
    s->at = s->next;
    batch_clear(s);
    return 0;
}

static int on_line(void *ctx, enum engine_stream stream, const char *data, size_t len)
{
    struct shipper *s = ctx;
    const char *sp = memchr(data, ' ', len);
    int64_t sec;
    int32_t nsec;

    if (stream != ENGINE_STREAM_STDOUT && stream != ENGINE_STREAM_STDERR)
        return 0;
    if (!sp || agent_parse_timestamp(data, (size_t)(sp - data), &sec, &nsec) < 0)
        return 0; /* not a line of the container's: nothing to place in time */
    int cmp = cursor_cmp(&s->next, sec, nsec);
    if (cmp > 0 || (cmp == 0 && s->skip > 0)) {
        s->skip -= cmp == 0;
        return 0;
    }
    if (s->n_lines && (stream != s->stream || s->bytes >= AGENT_LOG_BATCH_BYTES) && flush(s) < 0)
        return 1;
    s->stream = stream;
    size_t text_len = len - (size_t)(sp + 1 - data);
    if (text_len > AGENT_LOG_MAX_LINE)
        text_len = AGENT_LOG_MAX_LINE;
    s->lines = m87_xrealloc(s->lines, (s->n_lines + 1) * sizeof(*s->lines));
    s->lines[s->n_lines].time = m87_xstrndup(data, (size_t)(sp - data));
    s->lines[s->n_lines].text = runner_utf8_clean(sp + 1, text_len);
    s->n_lines++;
    s->bytes += text_len + 64;
    s->next.same = cmp == 0 ? s->next.same + 1 : 1;
    s->next.sec = sec;
    s->next.nsec = nsec;
    return ++s->read >= AGENT_LOGS_MAX_LINES;
}

/* Ship what one container wrote since its cursor (a bounded number of lines). */
static int64_t ship_container(struct agent_daemon *d, struct engine_client *engine,
                              const struct agent_container *c)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct shipper s = {.d = d, .c = c};

    cursor_load(d, c->id, &s.at);
    s.next = s.at;
    s.skip = (int)s.at.same;
    _cleanup_free_ char *since = m87_xasprintf("%" PRId64 ".%09d", s.at.sec, (int)s.at.nsec);
    struct engine_logs_options lo = {.timestamps = true, .lines = true, .since = since};
    int rc = engine_container_logs(engine, c->id, &lo, on_line, &s, &err);
    if (rc < 0 && m87_error_code(err) != M87_E_CANCELLED && m87_error_code(err) != M87_E_NOTFOUND)
        m87_log(M87_LOG_WARN, "read the logs of '%s': %s", c->name, err->msg);
    if (!s.failed)
        flush(&s);
    batch_clear(&s);
    return s.shipped;
}

struct dropped_report {
    int64_t count;
    int64_t cap;
};

static void dropped_fill(struct m87_jw *w, const void *ctx)
{
    const struct dropped_report *r = ctx;
    _cleanup_free_ char *msg = m87_xasprintf(
        "%" PRId64 " log records dropped: the report journal reached its cap of %" PRId64
        " bytes while the server could not be reached",
        r->count, r->cap);

    m87_jw_kstr(w, "kind", "log");
    m87_jw_kstr(w, "state", "dropped");
    m87_jw_kint(w, "dropped", r->count);
    m87_jw_kstr(w, "message", msg);
}

/* Keep the journal under its cap: the oldest log records go, and a record says how many. False
 * when it is full of records that cannot go: no more lines are shipped until it drains. */
static bool make_room(struct agent_daemon *d)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct dropped_report r = {0, d->cfg->journal_max_bytes};
    bool over = false;

    if (runner_journal_trim_logs(d->journal, r.cap, &r.count, &over, &err) < 0) {
        m87_log(M87_LOG_ERR, "%s", err->msg);
        return false;
    }
    if (r.count) {
        m87_log(M87_LOG_WARN, "the report journal is full: %" PRId64 " log records dropped",
                r.count);
        if (runner_journal_append(d->journal, dropped_fill, &r, NULL, &err) < 0)
            m87_log(M87_LOG_ERR, "%s", err->msg);
    }
    if (over && !d->journal_full)
        m87_log(M87_LOG_WARN, "the report journal is full: container logs wait until it drains");
    d->journal_full = over;
    return !over;
}

void agent_logs_tick(struct agent_daemon *d, const struct agent_container *v, size_t n)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct engine_client *engine = agent_daemon_engine(d, &err);
    int64_t shipped = 0;

    if (!engine || !make_room(d))
        return;
    for (size_t i = 0; i < n; i++)
        shipped += ship_container(d, engine, &v[i]);
    if (shipped) {
        d->logs_active_until = m87_mono_ms() + d->logs_active_ms;
        d->queue += shipped; /* roughly: the next sync goes at once */
    }
}

/* Cursors of containers dockerd no longer has: a container never comes back under its ID. */
void agent_logs_forget_gone(struct agent_daemon *d)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *dir = m87_xasprintf("%s/logs", d->cfg->state_dir);
    struct engine_client *engine = agent_daemon_engine(d, &err);
    struct engine_container_summary *list = NULL;
    size_t n = 0;
    DIR *dh = opendir(dir);

    if (!dh)
        return;
    if (engine && engine_container_list(engine, true, NULL, &list, &n, &err) == 0) {
        for (struct dirent *e; (e = readdir(dh)) != NULL;) {
            bool known = e->d_name[0] == '.';
            for (size_t i = 0; i < n && !known; i++)
                known = strcmp(list[i].id, e->d_name) == 0;
            if (!known && unlinkat(dirfd(dh), e->d_name, 0) < 0)
                m87_log(M87_LOG_WARN, "remove '%s/%s': %s", dir, e->d_name, strerror(errno));
        }
    }
    engine_container_summaries_free(list, n);
    closedir(dh);
}
