/* Progress of compose commands: live lines on a terminal, plain lines in logs and pipes. */
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "agent/agent-internal.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/engine-images.h"

#define PROGRESS_TTY_INTERVAL_NS (100 * 1000 * 1000LL)
#define PROGRESS_PLAIN_INTERVAL_NS (500 * 1000 * 1000LL)
#define PROGRESS_MAX_LINES 4096u

/* One object on screen (a pulled image, one of its layers, a network, a container), or in plain
 * mode the last state printed for a layer. */
struct progress_line {
    char *key;   /* "image\tREF", "layer\tREF\tID", "obj\tKIND\tNAME" */
    char *group; /* the image ref of a layer line, else NULL */
    char *text;
    char *status;       /* plain mode: the last status printed */
    int64_t printed_ns; /* plain mode: when it was printed */
};

struct agent_progress {
    FILE *out;
    bool tty;
    struct progress_line *lines;
    size_t n_lines;
    size_t drawn; /* lines of the live area currently on the screen */
    bool dirty;
    int64_t drawn_ns;
    pthread_mutex_t lock; /* events may come from the executor's worker threads */
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void agent_format_size(int64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    double v = bytes < 0 ? 0 : (double)bytes;
    size_t u = 0;

    while (v >= 1000.0 && u + 1 < M87_ARRAY_LEN(units)) {
        v /= 1000.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%" PRId64 "B", bytes < 0 ? 0 : bytes);
    else
        snprintf(buf, len, "%.3g%s", v, units[u]);
}

struct agent_progress *agent_progress_new(FILE *out, bool tty)
{
    struct agent_progress *p = m87_xcalloc(1, sizeof(*p));

    p->out = out;
    p->tty = tty;
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

static void line_release(struct progress_line *l)
{
    free(l->key);
    free(l->group);
    free(l->text);
    free(l->status);
}

void agent_progress_free(struct agent_progress *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_lines; i++)
        line_release(&p->lines[i]);
    free(p->lines);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static struct progress_line *line_get(struct agent_progress *p, const char *key, const char *group)
{
    for (size_t i = 0; i < p->n_lines; i++)
        if (strcmp(p->lines[i].key, key) == 0)
            return &p->lines[i];
    if (p->n_lines >= PROGRESS_MAX_LINES)
        return NULL;
    p->lines = m87_xrealloc(p->lines, (p->n_lines + 1) * sizeof(*p->lines));
    struct progress_line *l = &p->lines[p->n_lines++];
    *l =
        (struct progress_line){.key = m87_xstrdup(key), .group = group ? m87_xstrdup(group) : NULL};
    return l;
}

static void line_set_text(struct progress_line *l, char *text)
{
    free(l->text);
    l->text = text;
}

/* A finished image keeps its own line; its layers leave the screen. */
static void drop_group(struct agent_progress *p, const char *group)
{
    size_t j = 0;

    for (size_t i = 0; i < p->n_lines; i++) {
        if (p->lines[i].group && strcmp(p->lines[i].group, group) == 0)
            line_release(&p->lines[i]);
        else
            p->lines[j++] = p->lines[i];
    }
    p->n_lines = j;
}

static void terminal_size(FILE *out, size_t *cols, size_t *rows)
{
    struct winsize ws = {0};

    *cols = 80;
    *rows = 24;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 1) {
        *cols = ws.ws_col;
        *rows = ws.ws_row;
    }
}

/* Lines that no longer fit on the screen are printed once above the live area and forgotten:
 * the cursor cannot move back up to them. */
static void redraw(struct agent_progress *p)
{
    size_t cols, rows;

    terminal_size(p->out, &cols, &rows);
    if (p->drawn > 0)
        fprintf(p->out, "\x1b[%zuA", p->drawn);
    size_t printed = 0;
    size_t live = rows - 1;
    size_t skip = p->n_lines > live ? p->n_lines - live : 0;
    for (size_t i = 0; i < p->n_lines; i++) {
        const char *t = p->lines[i].text ? p->lines[i].text : "";
        int w = (int)(strlen(t) < cols ? strlen(t) : cols - 1);
        fprintf(p->out, "\r\x1b[2K%.*s\n", w, t);
        if (i >= skip)
            printed++;
    }
    for (size_t i = 0; i < skip; i++)
        line_release(&p->lines[i]);
    memmove(p->lines, p->lines + skip, (p->n_lines - skip) * sizeof(*p->lines));
    p->n_lines -= skip;
    size_t total = skip + printed;
    for (size_t i = total; i < p->drawn; i++)
        fputs("\x1b[2K\n", p->out);
    if (p->drawn > total)
        fprintf(p->out, "\x1b[%zuA", p->drawn - total);
    p->drawn = printed;
    p->dirty = false;
    p->drawn_ns = now_ns();
    fflush(p->out);
}

/* "Started" for "started": the executor's actions are lower-case verbs. */
static char *display_action(const char *action)
{
    char *s = m87_xstrdup(action ? action : "");

    if (s[0])
        s[0] = (char)toupper((unsigned char)s[0]);
    return s;
}

static const char *kind_word(enum compose_event_kind kind)
{
    switch (kind) {
    case COMPOSE_NETWORK:
        return "Network";
    case COMPOSE_VOLUME:
        return "Volume";
    case COMPOSE_CONTAINER:
        return "Container";
    default:
        return "Image";
    }
}

static char *object_text(const struct compose_event *ev)
{
    _cleanup_free_ char *act = display_action(ev->action);

    if (ev->detail && ev->detail[0])
        return m87_xasprintf("%s %s %s (%s)", kind_word(ev->kind), ev->object ? ev->object : "",
                             act, ev->detail);
    return m87_xasprintf("%s %s %s", kind_word(ev->kind), ev->object ? ev->object : "", act);
}

static char *layer_text(const char *label, const struct engine_pull_msg *m, bool plain)
{
    const char *status = m->status ? m->status : "";

    if (m->current >= 0 && m->total > 0) {
        char cur[32], tot[32];
        agent_format_size(m->current, cur, sizeof(cur));
        agent_format_size(m->total, tot, sizeof(tot));
        if (plain)
            return m87_xasprintf("Pulling %s: layer %s %s %s/%s", label, m->id, status, cur, tot);
        return m87_xasprintf("   %s %s %s/%s", m->id, status, cur, tot);
    }
    if (plain)
        return m87_xasprintf("Pulling %s: layer %s %s", label, m->id, status);
    return m87_xasprintf("   %s %s", m->id, status);
}

static bool is_layer_msg(const struct engine_pull_msg *m)
{
    return m->id && m->id[0] && m->status && strncmp(m->status, "Pulling from", 12) != 0;
}

static void pull_plain(struct agent_progress *p, const char *label, const char *ref,
                       const struct engine_pull_msg *m)
{
    if (!is_layer_msg(m)) {
        fprintf(p->out, "Pulling %s: %s\n", label, m->status ? m->status : "");
        return;
    }
    _cleanup_free_ char *key = m87_xasprintf("layer\t%s\t%s", ref, m->id);
    struct progress_line *l = line_get(p, key, ref);
    int64_t now = now_ns();
    const char *status = m->status ? m->status : "";
    if (l && l->status && strcmp(l->status, status) == 0 &&
        now - l->printed_ns < PROGRESS_PLAIN_INTERVAL_NS)
        return;
    _cleanup_free_ char *text = layer_text(label, m, true);
    fprintf(p->out, "%s\n", text);
    if (l) {
        free(l->status);
        l->status = m87_xstrdup(status);
        l->printed_ns = now;
    }
}

static void pull_tty(struct agent_progress *p, const char *label, const char *ref,
                     const struct engine_pull_msg *m)
{
    _cleanup_free_ char *ikey = m87_xasprintf("image\t%s", ref);
    struct progress_line *img = line_get(p, ikey, NULL);
    if (img && !img->text)
        line_set_text(img, m87_xasprintf("%s Pulling", label));
    if (is_layer_msg(m)) {
        _cleanup_free_ char *key = m87_xasprintf("layer\t%s\t%s", ref, m->id);
        struct progress_line *l = line_get(p, key, ref);
        if (l)
            line_set_text(l, layer_text(label, m, false));
    }
    p->dirty = true;
    if (now_ns() - p->drawn_ns >= PROGRESS_TTY_INTERVAL_NS)
        redraw(p);
}

static void pulled(struct agent_progress *p, const char *label, const char *ref)
{
    if (!p->tty) {
        fprintf(p->out, "Pulled %s: %s\n", label, ref);
        fflush(p->out);
        return;
    }
    drop_group(p, ref);
    _cleanup_free_ char *ikey = m87_xasprintf("image\t%s", ref);
    struct progress_line *img = line_get(p, ikey, NULL);
    if (img)
        line_set_text(img, m87_xasprintf("%s Pulled", label));
    redraw(p);
}

static void object_event(struct agent_progress *p, const struct compose_event *ev)
{
    char *text = object_text(ev);

    if (!p->tty) {
        fprintf(p->out, "%s\n", text);
        free(text);
        fflush(p->out);
        return;
    }
    _cleanup_free_ char *key =
        m87_xasprintf("obj\t%s\t%s", kind_word(ev->kind), ev->object ? ev->object : "");
    struct progress_line *l = line_get(p, key, NULL);
    if (l)
        line_set_text(l, text);
    else
        free(text);
    redraw(p);
}

/* A line that stays (a warning, a hook's output): on a terminal, above the live area. */
static void above(struct agent_progress *p, const char *text)
{
    if (p->tty && p->drawn > 0) {
        /* Print above the live area: redraw below it afterwards. */
        fprintf(p->out, "\x1b[%zuA\r\x1b[2K", p->drawn);
        p->drawn = 0;
        fprintf(p->out, "%s\n", text);
        redraw(p);
        return;
    }
    fprintf(p->out, "%s\n", text);
    fflush(p->out);
}

static void warning(struct agent_progress *p, const char *text)
{
    _cleanup_free_ char *line = m87_xasprintf("m87-agent: warning: %s", text ? text : "");
    above(p, line);
}

/* "demo-web-1 post_start | LINE", as a log line of the container. */
static void hook_line(struct agent_progress *p, const struct compose_event *ev)
{
    _cleanup_free_ char *line =
        m87_xasprintf("%s %s | %s", ev->object ? ev->object : "", ev->action ? ev->action : "",
                      ev->detail ? ev->detail : "");
    above(p, line);
}

void agent_progress_event(void *ctx, const struct compose_event *ev)
{
    struct agent_progress *p = ctx;
    const char *ref = ev->object ? ev->object : "";
    const char *label = ev->service ? ev->service : ref;

    pthread_mutex_lock(&p->lock);
    switch (ev->kind) {
    case COMPOSE_PULL:
        if (ev->pull && p->tty)
            pull_tty(p, label, ref, ev->pull);
        else if (ev->pull)
            pull_plain(p, label, ref, ev->pull);
        break;
    case COMPOSE_PULLED:
        pulled(p, label, ref);
        break;
    case COMPOSE_WARNING:
        warning(p, ev->detail);
        break;
    case COMPOSE_HOOK:
        hook_line(p, ev);
        break;
    default:
        object_event(p, ev);
        break;
    }
    pthread_mutex_unlock(&p->lock);
}

void agent_progress_flush(struct agent_progress *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->tty && p->dirty)
        redraw(p);
    fflush(p->out);
    pthread_mutex_unlock(&p->lock);
}
