/* Maintenance window rules: parse, canonical text, and evaluation against instants. */
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/spec-window.h"

#define DAY_SECONDS 86400
#define ALL_DAYS 0x7fu
#define MAX_OFFSET_MIN (14 * 60)

static const char *const day_names[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
static const char *const day_full[7] = {"sunday",   "monday", "tuesday", "wednesday",
                                        "thursday", "friday", "saturday"};

/* ---- parsing ------------------------------------------------------------------------------ */

static int day_index(const char *s, size_t len)
{
    for (int d = 0; d < 7; d++) {
        if ((len == 3 && strncasecmp(s, day_names[d], 3) == 0) ||
            (len == strlen(day_full[d]) && strncasecmp(s, day_full[d], len) == 0))
            return d;
    }
    return -1;
}

static int bad_day(const char *s, size_t len, struct m87_error **err)
{
    return m87_error_set(err, M87_E_INVAL, 0,
                         "unknown day '%.*s' (expected daily, or days mon, tue, wed, thu, fri, "
                         "sat, sun, as a list 'sat,sun' or a range 'mon-fri')",
                         (int)len, s);
}

/* One item of the day list: "mon" or "mon-fri" (wrapping). */
static int parse_day_item(const char *s, size_t len, unsigned *days, struct m87_error **err)
{
    const char *dash = memchr(s, '-', len);
    if (len == 0)
        return m87_error_set(err, M87_E_INVAL, 0, "empty day in the day list");
    if (dash == NULL) {
        int d = day_index(s, len);
        if (d < 0)
            return bad_day(s, len, err);
        *days |= 1u << d;
        return 0;
    }
    size_t alen = (size_t)(dash - s), blen = len - alen - 1;
    int a = day_index(s, alen), b = day_index(dash + 1, blen);
    if (a < 0)
        return bad_day(s, alen, err);
    if (b < 0)
        return bad_day(dash + 1, blen, err);
    for (int d = a;; d = (d + 1) % 7) {
        *days |= 1u << d;
        if (d == b)
            break;
    }
    return 0;
}

static int parse_days(const char *s, size_t len, unsigned *days, struct m87_error **err)
{
    *days = 0;
    if (len == 5 && strncasecmp(s, "daily", 5) == 0) {
        *days = ALL_DAYS;
        return 0;
    }
    const char *end = s + len;
    while (s <= end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *stop = comma ? comma : end;
        if (parse_day_item(s, (size_t)(stop - s), days, err) < 0)
            return -1;
        s = stop + 1;
    }
    return 0;
}

/* "HH:MM" into minutes; max_minutes 1439 for a start, 1440 for an end. */
static int parse_clock(const char *s, size_t len, const char *what, int max_minutes, int *out,
                       struct m87_error **err)
{
    bool digits = len == 5 && s[2] == ':';
    for (size_t i = 0; digits && i < 5; i++)
        digits = i == 2 || (s[i] >= '0' && s[i] <= '9');
    if (!digits)
        return m87_error_set(err, M87_E_INVAL, 0, "%s time '%.*s': expected HH:MM", what, (int)len,
                             s);
    int h = (s[0] - '0') * 10 + (s[1] - '0');
    int m = (s[3] - '0') * 10 + (s[4] - '0');
    if (m > 59 || h * 60 + m > max_minutes)
        return m87_error_set(err, M87_E_INVAL, 0, "%s time '%.*s': must be 00:00 to %s", what,
                             (int)len, s, max_minutes == 1440 ? "24:00" : "23:59");
    *out = h * 60 + m;
    return 0;
}

static int parse_times(const char *s, size_t len, struct spec_window *w, struct m87_error **err)
{
    const char *dash = memchr(s, '-', len);
    if (dash == NULL)
        return m87_error_set(err, M87_E_INVAL, 0, "time range '%.*s': expected HH:MM-HH:MM",
                             (int)len, s);
    int end = 0;
    if (parse_clock(s, (size_t)(dash - s), "start", 1439, &w->start, err) < 0 ||
        parse_clock(dash + 1, len - (size_t)(dash - s) - 1, "end", 1440, &end, err) < 0)
        return -1;
    if (end == w->start)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "time range '%.*s': start and end are the same (a whole day is "
                             "00:00-24:00)",
                             (int)len, s);
    w->end = end > w->start ? end : end + 1440;
    return 0;
}

/* "+HH:MM" / "-HH:MM"; 0 when s is not of that form at all, -1 for a bad one. */
static int parse_offset(const char *s, size_t len, struct spec_window *w, struct m87_error **err)
{
    if (len == 0 || (s[0] != '+' && s[0] != '-'))
        return 0;
    int minutes = 0;
    struct m87_error *e = NULL;
    int rc = parse_clock(s + 1, len - 1, "zone offset", MAX_OFFSET_MIN, &minutes, &e);
    m87_error_free(e);
    if (rc < 0)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "time zone offset '%.*s': expected +HH:MM or -HH:MM up to 14:00",
                             (int)len, s);
    w->fixed = true;
    w->offset = (s[0] == '-' ? -1 : 1) * minutes * 60;
    if (w->offset == 0)
        snprintf(w->zone, sizeof(w->zone), "UTC");
    else
        snprintf(w->zone, sizeof(w->zone), "%c%02d:%02d", s[0], minutes / 60, minutes % 60);
    return 1;
}

static bool zone_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > SPEC_WINDOW_MAX_ZONE || s[0] == '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool word = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '+' || c == '/' || c == '.';
        /* no component may start with '.': that keeps ".." and hidden files out */
        if (!word || (c == '.' && (i == 0 || s[i - 1] == '/')))
            return false;
    }
    return true;
}

/* A zone file of the tz database: a regular file that starts with the TZif magic. */
static bool zone_file_exists(const char *name)
{
    const char *dir = getenv("TZDIR");
    _cleanup_free_ char *path =
        m87_xasprintf("%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", name);
    struct stat sb;
    if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
        return false;
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    bool ok = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
    if (f)
        fclose(f);
    return ok;
}

static int parse_zone(const char *s, size_t len, struct spec_window *w, struct m87_error **err)
{
    int rc = parse_offset(s, len, w, err);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if ((len == 3 && strncasecmp(s, "UTC", 3) == 0) || (len == 1 && (s[0] == 'Z' || s[0] == 'z')))
        return 0;
    if (!zone_name_ok(s, len))
        return m87_error_set(err, M87_E_INVAL, 0,
                             "time zone '%.*s': expected UTC, +HH:MM, -HH:MM or a tz database "
                             "name like Europe/Berlin",
                             (int)len, s);
    snprintf(w->zone, sizeof(w->zone), "%.*s", (int)len, s);
    if (!zone_file_exists(w->zone))
        return m87_error_set(err, M87_E_INVAL, 0,
                             "unknown time zone '%s' (not in the tz database of this machine)",
                             w->zone);
    w->fixed = false;
    return 0;
}

/* The next blank-separated word of text from *pos. */
static bool next_word(const char *text, size_t *pos, const char **word, size_t *len)
{
    size_t i = *pos;
    while (text[i] == ' ' || text[i] == '\t')
        i++;
    size_t start = i;
    while (text[i] != '\0' && text[i] != ' ' && text[i] != '\t')
        i++;
    *pos = i;
    *word = text + start;
    *len = i - start;
    return i > start;
}

int spec_window_parse(const char *text, struct spec_window *out, struct m87_error **err)
{
    struct spec_window w = {.fixed = true, .zone = "UTC"};
    const char *word[4];
    size_t len[4], n = 0, pos = 0;

    if (strlen(text) > SPEC_WINDOW_MAX_TEXT)
        return m87_error_set(err, M87_E_TOOBIG, 0, "rule of %zu bytes exceeds the limit of %d",
                             strlen(text), SPEC_WINDOW_MAX_TEXT);
    while (n < 4 && next_word(text, &pos, &word[n], &len[n]))
        n++;
    if (n < 2)
        return m87_error_set(err, M87_E_INVAL, 0,
                             "%s: expected DAYS HH:MM-HH:MM [ZONE], e.g. 'daily 02:00-04:00'",
                             n == 0 ? "empty rule" : "missing time range");
    if (n == 4)
        return m87_error_set(err, M87_E_INVAL, 0, "unexpected '%.*s' after the time zone",
                             (int)len[3], word[3]);
    if (parse_days(word[0], len[0], &w.days, err) < 0 ||
        parse_times(word[1], len[1], &w, err) < 0 ||
        (n == 3 && parse_zone(word[2], len[2], &w, err) < 0))
        return -1;
    *out = w;
    return 0;
}

/* ---- canonical text ----------------------------------------------------------------------- */

static void format_days(struct m87_buf *b, unsigned days)
{
    if ((days & ALL_DAYS) == ALL_DAYS) {
        m87_buf_appendf(b, NULL, "daily");
        return;
    }
    bool first = true;
    for (int i = 0; i < 7;) {
        int d = (i + 1) % 7; /* Monday first */
        if (!(days & (1u << d))) {
            i++;
            continue;
        }
        int run = 1;
        while (i + run < 7 && (days & (1u << ((i + run + 1) % 7))))
            run++;
        int last = (i + run) % 7;
        const char *sep = first ? "" : ",";
        if (run >= 3)
            m87_buf_appendf(b, NULL, "%s%s-%s", sep, day_names[d], day_names[last]);
        else if (run == 2)
            m87_buf_appendf(b, NULL, "%s%s,%s", sep, day_names[d], day_names[last]);
        else
            m87_buf_appendf(b, NULL, "%s%s", sep, day_names[d]);
        first = false;
        i += run;
    }
}

char *spec_window_format(const struct spec_window *w)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    format_days(&b, w->days);
    int end = w->end == 1440 ? 1440 : w->end % 1440;
    m87_buf_appendf(&b, NULL, " %02d:%02d-%02d:%02d", w->start / 60, w->start % 60, end / 60,
                    end % 60);
    if (!w->fixed || w->offset != 0)
        m87_buf_appendf(&b, NULL, " %s", w->zone);
    return m87_buf_steal(&b);
}

/* ---- evaluation --------------------------------------------------------------------------- */

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;

/* A window's zone made current for the time of an evaluation (see spec-window.h). */
struct zone {
    const struct spec_window *w;
    char *saved_tz;
    bool had_tz;
};

static void zone_enter(struct zone *z, const struct spec_window *w)
{
    *z = (struct zone){.w = w};
    if (w->fixed)
        return;
    pthread_mutex_lock(&tz_lock);
    const char *old = getenv("TZ");
    z->had_tz = old != NULL;
    z->saved_tz = old ? m87_xstrdup(old) : NULL;
    /* the leading ':' makes glibc read the named file, never take it for a POSIX rule */
    _cleanup_free_ char *tz = m87_xasprintf(":%s", w->zone);
    setenv("TZ", tz, 1);
    tzset();
}

static void zone_leave(struct zone *z)
{
    if (z->w->fixed)
        return;
    if (z->had_tz)
        setenv("TZ", z->saved_tz, 1);
    else
        unsetenv("TZ");
    tzset();
    free(z->saved_tz);
    pthread_mutex_unlock(&tz_lock);
}

/* Seconds east of UTC at instant t. */
static int64_t zone_offset(const struct zone *z, int64_t t)
{
    if (z->w->fixed)
        return z->w->offset;
    time_t tt = (time_t)t;
    struct tm tm;
    if (localtime_r(&tt, &tm) == NULL)
        return 0;
    return tm.tm_gmtoff;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The instant of local wall time L (seconds since the epoch as if the zone were UTC). Every
 * offset in use within a day of L is tried: of the instants that show L, the earliest (an autumn
 * repeat); when none does (a spring gap), the latest candidate, which is L moved by the gap. */
static int64_t instant_of(const struct zone *z, int64_t local)
{
    if (z->w->fixed)
        return local - z->w->offset;
    int64_t valid = INT64_MAX, gap = INT64_MIN;
    for (int64_t d = -DAY_SECONDS; d <= DAY_SECONDS; d += DAY_SECONDS / 4) {
        int64_t off = zone_offset(z, local + d);
        int64_t t = local - off;
        if (zone_offset(z, t) == off)
            valid = t < valid ? t : valid;
        else
            gap = t > gap ? t : gap;
    }
    return valid != INT64_MAX ? valid : gap;
}

/* The local day number (days since 1970-01-01 in the zone) of instant t. */
static int64_t local_day(const struct zone *z, int64_t t)
{
    return floor_div(t + zone_offset(z, t), DAY_SECONDS);
}

static bool starts_on(const struct spec_window *w, int64_t day)
{
    int wday = (int)((day % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
    return (w->days & (1u << wday)) != 0;
}

/* The window starting on local day: [*s, *e). */
static void window_on(const struct zone *z, int64_t day, int64_t *s, int64_t *e)
{
    *s = instant_of(z, day * DAY_SECONDS + (int64_t)z->w->start * 60);
    *e = instant_of(z, day * DAY_SECONDS + (int64_t)z->w->end * 60);
}

/* Windows last at most a local day, so the one holding t started today or the day before; the
 * day before that is looked at too for ends moved by a gap. */
enum scan { SCAN_CONTAINS, SCAN_START, SCAN_END };

static int64_t scan(const struct spec_window *w, time_t t, enum scan what)
{
    struct zone z;
    int64_t best = INT64_MAX;
    zone_enter(&z, w);
    int64_t today = local_day(&z, (int64_t)t);
    for (int64_t day = today - 2; day <= today + 8; day++) {
        if (!starts_on(w, day))
            continue;
        int64_t s, e;
        window_on(&z, day, &s, &e);
        if (what == SCAN_CONTAINS && s <= (int64_t)t && (int64_t)t < e) {
            best = 1;
            break;
        }
        if (what == SCAN_START && s >= (int64_t)t && s < best)
            best = s;
        if (what == SCAN_END && e > (int64_t)t && e < best)
            best = e;
    }
    zone_leave(&z);
    return best;
}

bool spec_window_contains(const struct spec_window *w, time_t t)
{
    return scan(w, t, SCAN_CONTAINS) == 1;
}

time_t spec_window_next_start(const struct spec_window *w, time_t t)
{
    return (time_t)scan(w, t, SCAN_START);
}

time_t spec_window_next_end(const struct spec_window *w, time_t t)
{
    return (time_t)scan(w, t, SCAN_END);
}

bool spec_windows_contain(const struct spec_window *v, size_t n, time_t t)
{
    for (size_t i = 0; i < n; i++)
        if (spec_window_contains(&v[i], t))
            return true;
    return false;
}

time_t spec_windows_next_start(const struct spec_window *v, size_t n, time_t t)
{
    if (n == 0)
        return t;
    time_t best = spec_window_next_start(&v[0], t);
    for (size_t i = 1; i < n; i++) {
        time_t s = spec_window_next_start(&v[i], t);
        if (s < best)
            best = s;
    }
    return best;
}
