/* Pure helpers of the runner: the output tail, UTF-8 cleaning, spotting native compose
 * commands, retry arithmetic, clocks. */
#include <string.h>
#include <time.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/runner-text.h"
#include "m87/runner.h"
#include "m87/spec-compose-args.h"
#include "m87/spec-runspec.h"

void runner_tail_add(struct runner_tail *t, const char *data, size_t len)
{
    const size_t cap = sizeof(t->buf);

    if (len >= cap) {
        t->cut = t->cut || t->len > 0 || len > cap;
        memcpy(t->buf, data + len - cap, cap);
        t->start = 0;
        t->len = cap;
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if (t->len < cap) {
            t->buf[(t->start + t->len) % cap] = data[i];
            t->len++;
        } else {
            t->buf[t->start] = data[i];
            t->start = (t->start + 1) % cap;
            t->cut = true;
        }
    }
}

char *runner_tail_text(const struct runner_tail *t)
{
    const size_t cap = sizeof(t->buf);
    _cleanup_free_ char *flat = m87_xmalloc(t->len + 1);
    size_t skip = 0;

    for (size_t i = 0; i < t->len; i++)
        flat[i] = t->buf[(t->start + i) % cap];
    /* a character cut in two by the ring: drop its continuation bytes */
    while (t->cut && skip < t->len && skip < 3 && ((unsigned char)flat[skip] & 0xC0) == 0x80)
        skip++;
    return runner_utf8_clean(flat + skip, t->len - skip);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t need;
    unsigned min;
    unsigned cp;

    if (s[0] < 0x80)
        return s[0] ? 1 : 0;
    if ((s[0] & 0xE0) == 0xC0)
        need = 2, min = 0x80, cp = s[0] & 0x1F;
    else if ((s[0] & 0xF0) == 0xE0)
        need = 3, min = 0x800, cp = s[0] & 0x0F;
    else if ((s[0] & 0xF8) == 0xF0)
        need = 4, min = 0x10000, cp = s[0] & 0x07;
    else
        return 0;
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

char *runner_utf8_clean(const char *data, size_t len)
{
    char *out = m87_xmalloc(len + 1);
    const unsigned char *s = (const unsigned char *)data;
    size_t o = 0;

    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(s + i, len - i);
        if (n == 0) {
            out[o++] = '?';
            i++;
            continue;
        }
        memcpy(out + o, s + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
    return out;
}

/* ---- native compose commands ------------------------------------------------------------------
 */

static const char *const native_subcommands[] = {"pull",    "up", "down", "stop",  "start",
                                                 "restart", "ps", "logs", "config"};

/* Options of `compose` itself that take a value as the next word. */
static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

/* Anything the shell would read as more than plain words separated by blanks. */
static bool plain_words(const char *text)
{
    return strpbrk(text, "|&;<>()$`\\\"'*?[]#~{}\n\r!") == NULL;
}

static void split_blanks(const char *text, struct m87_strv *out)
{
    const char *p = text;

    for (;;) {
        p += strspn(p, " \t");
        if (!*p)
            break;
        size_t n = strcspn(p, " \t");
        _cleanup_free_ char *w = m87_xstrndup(p, n);
        m87_strv_add(out, w);
        p += n;
    }
}

/* Index of the subcommand in words[from..], read by the parser `m87-agent compose` uses, so that
 * a line the native front end would refuse (an option it does not have, a missing value) is
 * not taken for a native one; -1 if none. */
static long find_subcommand(char **words, size_t n, size_t from)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct spec_compose_args a;
    long sub = -1;

    /* the word before from ("compose" or "docker-compose") stands for argv[0] */
    if (spec_compose_args_parse(&a, (int)(n - from + 1), words + from - 1, SPEC_COMPOSE_ARGS_ALL,
                                &err) == 0 &&
        !a.help && (size_t)a.command < n - from + 1)
        sub = (long)(from - 1) + a.command;
    spec_compose_args_release(&a);
    return sub;
}

bool runner_native_compose(const struct spec_run *run, struct m87_strv *argv)
{
    struct m87_strv words;
    size_t from = 0;

    m87_strv_init(&words);
    if (run->shell && plain_words(run->text))
        split_blanks(run->text, &words);
    else if (!run->shell)
        for (size_t i = 0; i < run->argv.len; i++)
            m87_strv_add(&words, run->argv.items[i]);
    if (words.len >= 2 && strcmp(words.items[0], "docker") == 0 &&
        strcmp(words.items[1], "compose") == 0)
        from = 2;
    else if (words.len >= 1 && strcmp(words.items[0], "docker-compose") == 0)
        from = 1;
    long sub = from ? find_subcommand(words.items, words.len, from) : -1;
    bool native = sub >= 0 &&
                  in_list(words.items[sub], native_subcommands, M87_ARRAY_LEN(native_subcommands));
    if (native) {
        m87_strv_add(argv, "compose");
        for (size_t i = from; i < words.len; i++)
            m87_strv_add(argv, words.items[i]);
    }
    m87_strv_release(&words);
    return native;
}

/* ---- retries ----------------------------------------------------------------------------------
 */

bool runner_should_retry(const struct spec_retry *r, int64_t attempt, int exit_code)
{
    if (exit_code == 0 || attempt >= r->attempts)
        return false;
    if (r->n_on_exit_codes == 0)
        return true;
    for (size_t i = 0; i < r->n_on_exit_codes; i++)
        if (r->on_exit_codes[i] == exit_code)
            return true;
    return false;
}

int64_t runner_backoff_ns(const struct spec_retry *r, int64_t next)
{
    int64_t ns = r->backoff_ns;

    for (int64_t i = 2; i < next && ns > 0; i++) {
        if (ns > SPEC_RUNSPEC_MAX_DURATION / 2)
            return SPEC_RUNSPEC_MAX_DURATION;
        ns *= 2;
    }
    return ns;
}

/* ---- clocks -----------------------------------------------------------------------------------
 */

char *runner_now_rfc3339(void)
{
    struct timespec ts;
    struct tm tm;
    char buf[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    return m87_xasprintf("%s.%03ldZ", buf, ts.tv_nsec / 1000000);
}
