/* YAML writing over libyaml's emitter, with quoting chosen so that strings read back as strings.
 * Misuse (a value where a key is due, unbalanced containers) is a bug and aborts. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/yaml-write.h"
#include "m87/yaml.h"

struct yw_frame {
    bool is_map;
    bool want_key; /* maps: the next scalar is a key */
};

struct m87_yw {
    yaml_emitter_t emitter;
    struct m87_buf out;
    struct yw_frame *stack;
    size_t depth;
    size_t cap;
    bool started;
    bool root_done;
};

M87_NORETURN static void yw_bug(const char *what)
{
    char msg[128];
    int n = snprintf(msg, sizeof(msg), "m87: yaml writer misuse: %s\n", what);
    ssize_t r = write(STDERR_FILENO, msg, n > 0 ? (size_t)n : 0);
    (void)r;
    abort();
}

static int yw_output(void *data, unsigned char *buffer, size_t size)
{
    struct m87_yw *w = data;
    return m87_buf_append(&w->out, buffer, size, NULL) == 0;
}

static void yw_emit(struct m87_yw *w, yaml_event_t *ev, int initialized)
{
    if (!initialized)
        yw_bug("event");
    if (!yaml_emitter_emit(&w->emitter, ev)) {
        if (w->emitter.error == YAML_MEMORY_ERROR)
            m87_oom();
        yw_bug(w->emitter.problem ? w->emitter.problem : "emitter");
    }
}

struct m87_yw *m87_yw_new(void)
{
    struct m87_yw *w = m87_xcalloc(1, sizeof(*w));
    if (!yaml_emitter_initialize(&w->emitter))
        m87_oom();
    m87_buf_init(&w->out, 0);
    yaml_emitter_set_output(&w->emitter, yw_output, w);
    yaml_emitter_set_unicode(&w->emitter, 1);
    yaml_emitter_set_width(&w->emitter, -1); /* never fold long lines */
    yaml_emitter_set_indent(&w->emitter, 2);
    return w;
}

void m87_yw_free(struct m87_yw *w)
{
    if (w == NULL)
        return;
    yaml_emitter_delete(&w->emitter);
    m87_buf_release(&w->out);
    free(w->stack);
    free(w);
}

/* Check that a value may come now, and open the stream and document before the first one. */
static void yw_before_value(struct m87_yw *w)
{
    if (w->depth == 0) {
        if (w->root_done)
            yw_bug("a second root value");
        w->root_done = true;
    } else if (w->stack[w->depth - 1].is_map) {
        if (w->stack[w->depth - 1].want_key)
            yw_bug("a value where a key is due");
        w->stack[w->depth - 1].want_key = true;
    }
    if (w->started)
        return;
    yaml_event_t ev;
    yw_emit(w, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    yw_emit(w, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
    w->started = true;
}

static void yw_push(struct m87_yw *w, bool is_map)
{
    if (w->depth == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 8;
        w->stack = m87_xrealloc(w->stack, w->cap * sizeof(*w->stack));
    }
    w->stack[w->depth++] = (struct yw_frame){is_map, true};
}

static void yw_pop(struct m87_yw *w, bool is_map)
{
    if (w->depth == 0 || w->stack[w->depth - 1].is_map != is_map)
        yw_bug("unbalanced close");
    if (is_map && !w->stack[w->depth - 1].want_key)
        yw_bug("a key without a value");
    w->depth--;
}

/* A mapping or a sequence, in block style: the value of the pending key, an item, or the root. */
static void yw_open(struct m87_yw *w, bool is_map)
{
    yw_before_value(w);
    yaml_event_t ev;
    if (is_map)
        yw_emit(w, &ev,
                yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
    else
        yw_emit(
            w, &ev,
            yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE));
    yw_push(w, is_map);
}

static void yw_close(struct m87_yw *w, bool is_map)
{
    yw_pop(w, is_map);
    yaml_event_t ev;
    if (is_map)
        yw_emit(w, &ev, yaml_mapping_end_event_initialize(&ev));
    else
        yw_emit(w, &ev, yaml_sequence_end_event_initialize(&ev));
}

void m87_yw_map_open(struct m87_yw *w)
{
    yw_open(w, true);
}

void m87_yw_map_close(struct m87_yw *w)
{
    yw_close(w, true);
}

void m87_yw_seq_open(struct m87_yw *w)
{
    yw_open(w, false);
}

void m87_yw_seq_close(struct m87_yw *w)
{
    yw_close(w, false);
}

/* Would this text, written plain, be read back as something other than this string? Errs on the
 * side of quoting: YAML 1.1 readers (PyYAML, docker-compose v1) take yes/no/on/off as booleans
 * and 1:30 as a number. */
static bool needs_quotes(const char *s)
{
    static const char *const words[] = {
        "~",     "null", "Null", "NULL", "true",  "True",  "TRUE",  "false", "False",
        "FALSE", "y",    "Y",    "yes",  "Yes",   "YES",   "n",     "N",     "no",
        "No",    "NO",   "on",   "On",   "ON",    "off",   "Off",   "OFF",   "<<",
        "=",     ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf",
        "-.INF", ".nan", ".NaN", ".NAN", NULL,
    };
    if (*s == '\0')
        return true;
    for (size_t i = 0; words[i]; i++)
        if (strcmp(s, words[i]) == 0)
            return true;
    if (*s >= '0' && *s <= '9')
        return true;
    if (strchr("+-.", *s) && ((s[1] >= '0' && s[1] <= '9') || s[1] == '.'))
        return true;
    /* the reader's own rules catch the rest ("+_9" is an int: underscores are ignored) */
    return m87_yaml_plain_type(s) != M87_YAML_STR;
}

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0 when it is not one: a stray or missing
 * continuation byte, an overlong form, a surrogate, or a code point past U+10FFFF. */
static size_t utf8_len(const unsigned char *s)
{
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t n = 0;
    uint32_t cp = 0;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        n = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0)
        n = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* libyaml refuses invalid UTF-8; bytes from the environment may be anything. Each invalid byte
 * becomes U+FFFD so that the output stays YAML. */
static char *valid_utf8(const char *s)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_len(p);
        if (n == 0) {
            m87_buf_append(&b, "\xef\xbf\xbd", 3, NULL);
            p++;
        } else {
            m87_buf_append(&b, p, n, NULL);
            p += n;
        }
    }
    return m87_buf_steal(&b);
}

static void yw_scalar(struct m87_yw *w, const char *text, yaml_scalar_style_t style)
{
    _cleanup_free_ char *clean = valid_utf8(text);
    yaml_event_t ev;
    yw_emit(w, &ev,
            yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)clean, (int)strlen(clean),
                                         1, 1, style));
}

static yaml_scalar_style_t string_style(const char *s)
{
    if (needs_quotes(s))
        return YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    if (strchr(s, '\n'))
        return YAML_LITERAL_SCALAR_STYLE; /* libyaml falls back to quotes where it must */
    return YAML_ANY_SCALAR_STYLE;
}

void m87_yw_key(struct m87_yw *w, const char *key)
{
    if (w->depth == 0 || !w->stack[w->depth - 1].is_map || !w->stack[w->depth - 1].want_key)
        yw_bug("a key outside a mapping or after a key");
    w->stack[w->depth - 1].want_key = false;
    /* a block scalar as a key would need the "? " complex-key form */
    bool quote = needs_quotes(key) || strchr(key, '\n');
    yw_scalar(w, key, quote ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
}

void m87_yw_str(struct m87_yw *w, const char *s)
{
    if (s == NULL) {
        m87_yw_null(w);
        return;
    }
    yw_before_value(w);
    yw_scalar(w, s, string_style(s));
}

void m87_yw_int(struct m87_yw *w, int64_t v)
{
    char text[32];
    snprintf(text, sizeof(text), "%" PRId64, v);
    yw_before_value(w);
    yw_scalar(w, text, YAML_PLAIN_SCALAR_STYLE);
}

void m87_yw_bool(struct m87_yw *w, bool v)
{
    yw_before_value(w);
    yw_scalar(w, v ? "true" : "false", YAML_PLAIN_SCALAR_STYLE);
}

void m87_yw_null(struct m87_yw *w)
{
    yw_before_value(w);
    yw_scalar(w, "null", YAML_PLAIN_SCALAR_STYLE);
}

void m87_yw_kstr(struct m87_yw *w, const char *key, const char *s)
{
    m87_yw_key(w, key);
    m87_yw_str(w, s);
}

char *m87_yw_finish(struct m87_yw *w)
{
    if (!w->root_done || w->depth != 0)
        yw_bug("finish before the document is complete");
    yaml_event_t ev;
    yw_emit(w, &ev, yaml_document_end_event_initialize(&ev, 1));
    yw_emit(w, &ev, yaml_stream_end_event_initialize(&ev));
    if (!yaml_emitter_flush(&w->emitter))
        yw_bug("flush");
    char *text = m87_buf_steal(&w->out);
    m87_yw_free(w);
    return text;
}
