/* `m87-agent status`: what the state directory says about each job and its steps. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>

#include "agent/agent-internal.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/runner-state.h"
#include "m87/runner.h"

enum {
    OPT_STATE_DIR = 256,
    OPT_JSON,
    OPT_LOGS,
};

#define SHORT_LINES 5 /* output lines shown for a failed step without --logs */

static void status_usage(FILE *out)
{
    fprintf(out, "usage: m87-agent status [options]\n"
                 "\n"
                 "Show what the daemon (`m87-agent run`) is doing when it ran on this state\n"
                 "directory: connected or not, last sync, applied and target revisions, queued\n"
                 "reports; then the jobs: state, hash, workdir, last run, and for each step its\n"
                 "phase, state, attempts, exit code, duration and output.\n"
                 "\n"
                 "options:\n"
                 "      --state-dir DIR  state directory (default: " RUNNER_DEFAULT_STATE_DIR ")\n"
                 "      --json           one JSON document\n"
                 "      --logs           the whole output tail of every step (default: the last\n"
                 "                       lines of failed steps)\n"
                 "  -h, --help           show this help\n"
                 "\n"
                 "Exit status: 0, or 1 when a job failed.\n");
}

struct job_view {
    struct runner_record rec;
    struct runner_progress prog;
};

static bool view_failed(const struct job_view *v)
{
    return strcmp(v->rec.state, RUNNER_FAILED) == 0 ||
           (strcmp(v->rec.state, RUNNER_STOPPING) == 0 && v->rec.message);
}

static void json_job(struct m87_jw *w, const struct job_view *v)
{
    const struct runner_record *r = &v->rec;

    m87_jw_obj_open(w);
    m87_jw_kstr(w, "id", r->id);
    m87_jw_kstr(w, "state", r->state);
    m87_jw_kstr(w, "hash", r->hash);
    m87_jw_kbool(w, "enabled", r->enabled);
    m87_jw_kstr(w, "workdir", r->workdir);
    runner_record_write_run(w, r);
    m87_jw_key(w, "steps");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < v->prog.n_results; i++)
        runner_step_result_write(w, &v->prog.results[i]);
    m87_jw_arr_close(w);
    m87_jw_obj_close(w);
}

/* The last n lines of text, each indented. */
static void print_lines(const char *text, size_t n)
{
    size_t len = strlen(text);
    while (len > 0 && text[len - 1] == '\n')
        len--;
    size_t start = len, seen = 0;
    while (start > 0 && (n == 0 || seen < n)) {
        start--;
        if (text[start] == '\n' && ++seen == n && n) {
            start++;
            break;
        }
    }
    for (const char *p = text + start; p < text + len;) {
        const char *nl = memchr(p, '\n', (size_t)(text + len - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(text + len - p);
        printf("      | %.*s\n", (int)l, p);
        p += l + 1;
    }
}

static void text_job(const struct job_view *v, bool logs)
{
    const struct runner_record *r = &v->rec;

    printf("%s  %s  hash %.12s  workdir %s  last run %s%s\n", r->id, r->state, r->hash, r->workdir,
           r->started ? r->started : "-", r->enabled ? "" : "  (disabled)");
    if (r->message)
        printf("  message: %s\n", r->message);
    for (size_t i = 0; i < v->prog.n_results; i++) {
        const struct runner_step_result *s = &v->prog.results[i];
        printf("  %-5s %-20s %-9s attempts %lld  exit ", s->phase, s->name, s->state,
               (long long)s->attempts);
        if (s->exit_code < 0)
            printf("-");
        else
            printf("%d", s->exit_code);
        printf("  %lld.%03llds\n", (long long)(s->duration_ms / 1000),
               (long long)(s->duration_ms % 1000));
        bool bad = strcmp(s->state, RUNNER_SUCCEEDED) != 0 && strcmp(s->state, "pending") != 0;
        if (s->output && *s->output && (logs || bad))
            print_lines(s->output, logs ? 0 : SHORT_LINES);
    }
}

/* ---- the daemon (STATE/daemon.json, written by `m87-agent run`) ---- */

/* Whether a daemon holds STATE/daemon.lock now. */
static bool daemon_running(const char *dir)
{
    _cleanup_free_ char *path = m87_xasprintf("%s/daemon.lock", dir);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0)
        return false;
    if (flock(fd, LOCK_SH | LOCK_NB) < 0)
        return errno == EWOULDBLOCK;
    flock(fd, LOCK_UN);
    return false;
}

static struct m87_json *daemon_state(const char *dir)
{
    _cleanup_free_ char *path = m87_xasprintf("%s/daemon.json", dir);
    size_t len = 0;
    _cleanup_free_ char *text = m87_read_file(path, RUNNER_MAX_STATE_FILE, &len, NULL);

    return text ? m87_json_parse(text, len, NULL) : NULL;
}

static void text_revision(const char *label, const struct m87_json *rev)
{
    if (m87_json_type(rev) != M87_JSON_OBJECT) {
        printf("%-10s -\n", label);
        return;
    }
    const char *hash = m87_json_str(m87_json_get(rev, "hash"), NULL);
    if (!hash)
        printf("%-10s none (stop everything)\n", label);
    else
        printf("%-10s revision %lld (%.12s) of %s\n", label,
               (long long)m87_json_int(m87_json_get(rev, "revision"), 0), hash,
               m87_json_str(m87_json_get(rev, "deployment"), "-"));
}

static void text_daemon(const struct m87_json *st, bool running)
{
    bool connected = running && m87_json_bool(m87_json_get(st, "connected"), false);
    const char *err = m87_json_str(m87_json_get(st, "last_error"), NULL);

    printf("%-10s %s (pid %lld), %s %s, last sync %s\n", "daemon",
           running ? "running" : "not running", (long long)m87_json_int(m87_json_get(st, "pid"), 0),
           connected ? "connected to" : "not connected to",
           m87_json_str(m87_json_get(st, "server"), "-"),
           m87_json_str(m87_json_get(st, "last_sync"), "never"));
    if (running && !connected && err)
        printf("%-10s %s\n", "error", err);
    text_revision("applied", m87_json_get(st, "applied"));
    text_revision("target", m87_json_get(st, "target"));
    if (running)
        text_revision("applying", m87_json_get(st, "applying"));
    const char *next = m87_json_str(m87_json_path(st, "waiting", "next_window", NULL), NULL);
    if (running && next)
        printf("%-10s the target waits for a maintenance window (next: %s)\n", "waiting", next);
    printf("%-10s %lld reports\n\n", "queue",
           (long long)m87_json_int(m87_json_get(st, "queue"), 0));
}

static void json_daemon(struct m87_jw *w, const struct m87_json *st, bool running)
{
    m87_jw_key(w, "daemon");
    if (!st) {
        m87_jw_null(w);
        return;
    }
    m87_jw_obj_open(w);
    m87_jw_kbool(w, "running", running);
    for (size_t i = 0; i < m87_json_len(st); i++) {
        const char *key = NULL;
        const struct m87_json *v = m87_json_member(st, i, &key);
        if (strcmp(key, "running") == 0)
            continue;
        m87_jw_key(w, key);
        if (strcmp(key, "connected") == 0)
            m87_jw_bool(w, running && m87_json_bool(v, false));
        else
            m87_jw_node(w, v);
    }
    m87_jw_obj_close(w);
}

static int load_views(const char *dir, struct job_view **out, size_t *n, struct m87_error **err)
{
    struct m87_strv ids;

    m87_strv_init(&ids);
    if (runner_state_list(dir, &ids, err) < 0)
        return -1;
    *out = m87_xcalloc(ids.len ? ids.len : 1, sizeof(**out));
    *n = 0;
    for (size_t i = 0; i < ids.len; i++) {
        struct job_view *v = &(*out)[*n];
        int rc = runner_record_load(dir, ids.items[i], &v->rec, err);
        if (rc > 0)
            rc = runner_progress_load(dir, ids.items[i], &v->prog, err);
        if (rc < 0) {
            m87_strv_release(&ids);
            return -1;
        }
        *n += rc > 0;
    }
    m87_strv_release(&ids);
    return 0;
}

static int parse_status(int argc, char **argv, const char **dir, bool *json, bool *logs)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, OPT_STATE_DIR},
        {"json", no_argument, NULL, OPT_JSON},
        {"logs", no_argument, NULL, OPT_LOGS},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int ch;

    optind = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case OPT_STATE_DIR:
            *dir = optarg;
            break;
        case OPT_JSON:
            *json = true;
            break;
        case OPT_LOGS:
            *logs = true;
            break;
        case 'h':
            status_usage(stdout);
            return -1;
        default:
            return agent_bad_option("status", argv, ch);
        }
    }
    return agent_no_operands("status", argc, argv);
}

int agent_cmd_status(int argc, char **argv)
{
    const char *dir = RUNNER_DEFAULT_STATE_DIR;
    bool json = false, logs = false, failed = false;
    _cleanup_error_ struct m87_error *err = NULL;
    struct job_view *views = NULL;
    size_t n = 0;

    int rc = parse_status(argc, argv, &dir, &json, &logs);
    if (rc != AGENT_EXIT_OK)
        return rc < 0 ? AGENT_EXIT_OK : rc;
    if (load_views(dir, &views, &n, &err) < 0) {
        agent_print_error(err);
        rc = AGENT_EXIT_FAILED;
    }
    _cleanup_(m87_json_freep) struct m87_json *daemon = daemon_state(dir);
    bool running = daemon_running(dir);
    struct m87_jw *w = json && rc == AGENT_EXIT_OK ? m87_jw_new() : NULL;
    if (daemon && !w && rc == AGENT_EXIT_OK)
        text_daemon(daemon, running);
    if (w) {
        m87_jw_obj_open(w);
        json_daemon(w, daemon, running);
        m87_jw_key(w, "jobs");
        m87_jw_arr_open(w);
    }
    for (size_t i = 0; i < n && rc == AGENT_EXIT_OK; i++) {
        failed = failed || view_failed(&views[i]);
        if (w)
            json_job(w, &views[i]);
        else
            text_job(&views[i], logs);
    }
    if (w) {
        m87_jw_arr_close(w);
        m87_jw_obj_close(w);
        _cleanup_free_ char *text = m87_jw_finish(w);
        printf("%s\n", text);
    } else if (n == 0 && rc == AGENT_EXIT_OK) {
        printf("no jobs\n");
    }
    for (size_t i = 0; views && i < n; i++) {
        runner_record_release(&views[i].rec);
        runner_progress_release(&views[i].prog);
    }
    free(views);
    return rc != AGENT_EXIT_OK ? rc : failed ? AGENT_EXIT_FAILED : AGENT_EXIT_OK;
}
