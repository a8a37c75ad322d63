/* `m87 DEVICE deployment status`: what the device reported for a deployment's newest revision. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/units.h"

const char cli_status_help[] =
    "usage: m87 DEVICE deployment status [--deployment-id ID] [--logs] [--follow]\n"
    "                                    [--timeout DURATION] [--json]\n"
    "\n"
    "Show, per job and step, the state, attempts, exit code and duration the device reported\n"
    "for the newest revision of the active deployment (or of ID). Until the device picks the\n"
    "revision up, says so and when the device was last seen. With maintenance windows, lists\n"
    "them and, while the revision waits for one, says when the next starts (local time).\n"
    "\n"
    "options:\n"
    "  --deployment-id ID  a deployment other than the active one\n"
    "  --logs              print the output tail of every step\n"
    "  --follow            poll every 2 s, print changes, until the revision is applied\n"
    "                      and every job has settled\n"
    "  --timeout DURATION  with --follow, give up after DURATION (e.g. 5m): exit status 1\n"
    "  --json              print the server's status object (with --follow: one line per\n"
    "                      change)\n"
    "  -h, --help          show this help\n"
    "\n"
    "Exit status: 0, or 1 when a job failed (or --timeout passed), 2 usage, auth, network.\n";

struct status_opts {
    const char *deployment;
    bool logs;
    bool follow;
    bool json;
    int64_t timeout_ns; /* 0: none */
};

static int parse(int argc, char **argv, struct status_opts *o)
{
    const struct cli_option opts[] = {
        {"deployment-id", CLI_OPT_STRING, &o->deployment, 0},
        {"logs", CLI_OPT_FLAG, &o->logs, 0},
        {"follow", CLI_OPT_FLAG, &o->follow, 'f'},
        {"timeout", CLI_OPT_DURATION, &o->timeout_ns, 0},
        {"json", CLI_OPT_FLAG, &o->json, 0},
    };
    int rc = cli_parse_options("deployment status", cli_status_help, argc, argv, opts,
                               M87_ARRAY_LEN(opts));

    if (rc)
        return rc;
    if (o->timeout_ns && !o->follow)
        return cli_usage_error("deployment status", "--timeout needs --follow");
    return cli_operands("deployment status", argc, argv, 0, 0);
}

static const char *jstr(const struct m87_json *n, const char *key)
{
    return m87_json_str(m87_json_get(n, key), NULL);
}

static char *jint_text(const struct m87_json *n, const char *key)
{
    const struct m87_json *v = m87_json_get(n, key);

    if (m87_json_type(v) != M87_JSON_NUMBER)
        return NULL;
    return m87_xasprintf("%lld", (long long)m87_json_int(v, 0));
}

static bool job_settled(const char *state)
{
    static const char *const done[] = {"succeeded", "failed", "stopped", "removed"};

    for (size_t i = 0; state && i < M87_ARRAY_LEN(done); i++)
        if (strcmp(state, done[i]) == 0)
            return true;
    return false;
}

static bool any_failed(const struct m87_json *st)
{
    const struct m87_json *jobs = m87_json_get(st, "jobs");

    for (size_t i = 0; i < m87_json_len(jobs); i++) {
        const char *state = jstr(m87_json_at(jobs, i), "state");
        if (state && strcmp(state, "failed") == 0)
            return true;
    }
    return false;
}

/* The revision is applied and every enabled job has come to an end state. */
static bool settled(const struct m87_json *st)
{
    const struct m87_json *jobs = m87_json_get(st, "jobs");

    if (!m87_json_bool(m87_json_get(st, "picked_up"), false))
        return false;
    for (size_t i = 0; i < m87_json_len(jobs); i++) {
        const struct m87_json *j = m87_json_at(jobs, i);
        if (m87_json_bool(m87_json_get(j, "enabled"), true) && !job_settled(jstr(j, "state")))
            return false;
    }
    return true;
}

/* "waiting for window (next: LOCAL TIME)[; prefetched N of M images]", or NULL when the device
 * does not say that it waits for a window (or it is told to apply now). Caller frees. */
static char *window_wait(const struct m87_json *st)
{
    const struct m87_json *win = m87_json_get(st, "window");
    const struct m87_json *pf = m87_json_get(win, "prefetch");
    const char *state = jstr(win, "state");

    if (!state || strcmp(state, "waiting") != 0 || m87_json_bool(m87_json_get(st, "now"), false))
        return NULL;
    _cleanup_free_ char *next = cli_format_local(jstr(win, "next"));
    if (m87_json_type(m87_json_get(pf, "total")) != M87_JSON_NUMBER)
        return m87_xasprintf("waiting for window (next: %s)", next);
    return m87_xasprintf("waiting for window (next: %s); prefetched %lld of %lld images", next,
                         (long long)m87_json_int(m87_json_get(pf, "done"), 0),
                         (long long)m87_json_int(m87_json_get(pf, "total"), 0));
}

static void print_windows(const struct m87_json *st)
{
    const struct m87_json *wins = m87_json_get(st, "windows");
    _cleanup_free_ char *wait = window_wait(st);

    if (m87_json_len(wins) > 0) {
        printf("windows     ");
        for (size_t i = 0; i < m87_json_len(wins); i++)
            printf("%s%s", i ? "; " : "", m87_json_str(m87_json_at(wins, i), "?"));
        printf(" (prefetch: %s)\n", jstr(st, "prefetch") ? jstr(st, "prefetch") : "always");
    }
    if (m87_json_bool(m87_json_get(st, "now"), false))
        printf("apply now   the device applies this revision without waiting for a window\n");
    if (wait)
        printf("%s\n", wait);
    const struct m87_json *pf = m87_json_get(st, "prefetch_images"); /* m87 DEVICE prefetch */
    for (size_t i = 0; i < m87_json_len(pf); i++) {
        _cleanup_free_ char *progress = cli_prefetch_progress(m87_json_at(pf, i));
        printf("prefetch    %s: %s\n", jstr(m87_json_at(pf, i), "image"), progress);
    }
}

static void print_header(const char *device, const struct m87_json *st)
{
    const struct m87_json *dev = m87_json_get(st, "device");
    const struct m87_json *dep = m87_json_get(st, "deployment");
    const char *seen = jstr(st, "last_seen") ? jstr(st, "last_seen") : jstr(dev, "last_seen");
    _cleanup_free_ char *ago = cli_format_ago(seen, time(NULL));
    _cleanup_free_ char *hash = m87_xstrndup(jstr(dep, "hash") ? jstr(dep, "hash") : "-", 12);
    long long rev = (long long)m87_json_int(m87_json_get(dep, "revision"), 0);

    printf("device      %s: %s, last seen %s", device,
           m87_json_bool(m87_json_get(dev, "online"), false) ? "online" : "offline", ago);
    if (jstr(dev, "agent_version"))
        printf(", agent %s", jstr(dev, "agent_version"));
    printf("\ndeployment  %s revision %lld (hash %s)\n", jstr(dep, "id") ? jstr(dep, "id") : "?",
           rev, hash);
    print_windows(st);
    if (m87_json_bool(m87_json_get(st, "picked_up"), false))
        return;
    if (!seen)
        printf("waiting: the device has never connected; start the agent on it "
               "(m87-agent run --server URL --token TOKEN)\n");
    else
        printf("waiting: the device has not picked up revision %lld yet; it was last seen %s "
               "(%s)\n",
               rev, ago, seen);
}

/* A failed step's message: a pull refused for its credentials, as the device's executor words it
 * ("authentication failed: registry 'R' answered HTTP 401"; the output holds the rest). */
static char *step_message(const struct m87_json *s)
{
    static const char mark[] = "(authentication failed: registry '";
    const char *out = jstr(s, "output");
    const char *state = jstr(s, "state");
    const char *at = out && state && strcmp(state, "failed") == 0 ? strstr(out, mark) : NULL;
    if (at == NULL)
        return NULL;
    at++;
    size_t n = strcspn(at, ")\n");
    return n < 200 ? m87_xstrndup(at, n) : NULL;
}

static void add_job_rows(struct cli_table *t, const struct m87_json *j)
{
    _cleanup_free_ char *attempts = jint_text(j, "attempts");
    _cleanup_free_ char *code = jint_text(j, "exit_code");
    const char *state = jstr(j, "state") ? jstr(j, "state") : "pending";
    bool disabled = !m87_json_bool(m87_json_get(j, "enabled"), true);
    const char *msg = jstr(j, "message");
    const char *row[] = {jstr(j, "id"),
                         "",
                         disabled ? "disabled" : state,
                         attempts ? attempts : "",
                         code ? code : "",
                         "",
                         msg ? msg : ""};
    const struct m87_json *steps = m87_json_get(j, "steps");

    cli_table_add(t, row);
    for (size_t i = 0; i < m87_json_len(steps); i++) {
        const struct m87_json *s = m87_json_at(steps, i);
        _cleanup_free_ char *name = m87_xasprintf("  %s", jstr(s, "name") ? jstr(s, "name") : "?");
        _cleanup_free_ char *attempt = jint_text(s, "attempt");
        _cleanup_free_ char *exit_code = jint_text(s, "exit_code");
        const struct m87_json *ms = m87_json_get(s, "duration_ms");
        _cleanup_free_ char *dur =
            m87_json_type(ms) == M87_JSON_NUMBER ? cli_format_ms(m87_json_int(ms, 0)) : NULL;
        _cleanup_free_ char *smsg = step_message(s);
        const char *srow[] = {name, jstr(s, "phase"), jstr(s, "state"), attempt, exit_code,
                              dur,  smsg ? smsg : ""};
        cli_table_add(t, srow);
    }
}

static void print_logs(const struct m87_json *jobs)
{
    for (size_t i = 0; i < m87_json_len(jobs); i++) {
        const struct m87_json *j = m87_json_at(jobs, i);
        const struct m87_json *steps = m87_json_get(j, "steps");
        for (size_t k = 0; k < m87_json_len(steps); k++) {
            const struct m87_json *s = m87_json_at(steps, k);
            const char *out = jstr(s, "output");
            if (!out || !out[0])
                continue;
            printf("\n--- %s/%s (%s, attempt %lld) ---\n%s", jstr(j, "id"), jstr(s, "name"),
                   jstr(s, "phase") ? jstr(s, "phase") : "steps",
                   (long long)m87_json_int(m87_json_get(s, "attempt"), 1), out);
            if (out[strlen(out) - 1] != '\n')
                putchar('\n');
        }
    }
}

static void print_status(const char *device, const struct m87_json *st, bool logs)
{
    static const char *const header[] = {"JOB/STEP", "PHASE",    "STATE",  "ATTEMPTS",
                                         "EXIT",     "DURATION", "MESSAGE"};
    const struct m87_json *jobs = m87_json_get(st, "jobs");
    struct cli_table t;

    print_header(device, st);
    printf("\n");
    if (m87_json_len(jobs) == 0) {
        printf("no jobs: add one with: m87 %s deploy docker-compose.yml\n", device);
        cli_print_interactive(device, st);
        return;
    }
    cli_table_init(&t, M87_ARRAY_LEN(header), header);
    for (size_t i = 0; i < m87_json_len(jobs); i++)
        add_job_rows(&t, m87_json_at(jobs, i));
    cli_table_print(&t);
    if (logs)
        print_logs(jobs);
    cli_print_interactive(device, st);
}

/* ---- --follow --------------------------------------------------------------------------------
 */

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static const struct m87_json *find_by(const struct m87_json *list, const char *key,
                                      const char *value, const char *phase)
{
    for (size_t i = 0; i < m87_json_len(list); i++) {
        const struct m87_json *n = m87_json_at(list, i);
        if (same(jstr(n, key), value) && (!phase || same(jstr(n, "phase"), phase)))
            return n;
    }
    return NULL;
}

static void stamp(void)
{
    char buf[16];
    time_t now = time(NULL);
    struct tm tm;

    strftime(buf, sizeof(buf), "%H:%M:%S", localtime_r(&now, &tm));
    printf("%s ", buf);
}

static void step_changes(const char *job, const struct m87_json *prev, const struct m87_json *cur)
{
    const struct m87_json *steps = m87_json_get(cur, "steps");

    for (size_t i = 0; i < m87_json_len(steps); i++) {
        const struct m87_json *s = m87_json_at(steps, i);
        const struct m87_json *p =
            find_by(m87_json_get(prev, "steps"), "name", jstr(s, "name"), jstr(s, "phase"));
        int64_t attempt = m87_json_int(m87_json_get(s, "attempt"), 1);
        if (p && same(jstr(p, "state"), jstr(s, "state")) &&
            m87_json_int(m87_json_get(p, "attempt"), 1) == attempt)
            continue;
        stamp();
        printf("%s/%s: %s (attempt %lld", job, jstr(s, "name"), jstr(s, "state"),
               (long long)attempt);
        if (m87_json_type(m87_json_get(s, "exit_code")) == M87_JSON_NUMBER)
            printf(", exit %lld", (long long)m87_json_int(m87_json_get(s, "exit_code"), 0));
        if (m87_json_type(m87_json_get(s, "duration_ms")) == M87_JSON_NUMBER) {
            _cleanup_free_ char *d = cli_format_ms(m87_json_int(m87_json_get(s, "duration_ms"), 0));
            printf(", %s", d);
        }
        printf(")\n");
    }
}

static void window_changes(const struct m87_json *prev, const struct m87_json *cur)
{
    _cleanup_free_ char *was = window_wait(prev);
    _cleanup_free_ char *now = window_wait(cur);

    if (now && !same(was, now)) {
        stamp();
        printf("%s\n", now);
    } else if (was && !now) {
        stamp();
        printf("the wait for a window is over\n");
    }
}

static void print_changes(const struct m87_json *prev, const struct m87_json *cur)
{
    const struct m87_json *jobs = m87_json_get(cur, "jobs");
    int64_t rev = m87_json_int(m87_json_path(cur, "deployment", "revision", NULL), 0);

    if (rev != m87_json_int(m87_json_path(prev, "deployment", "revision", NULL), 0)) {
        stamp();
        printf("new revision %lld\n", (long long)rev);
    }
    if (m87_json_bool(m87_json_get(cur, "picked_up"), false) &&
        !m87_json_bool(m87_json_get(prev, "picked_up"), false)) {
        stamp();
        printf("the device picked up revision %lld\n", (long long)rev);
    }
    window_changes(prev, cur);
    for (size_t i = 0; i < m87_json_len(jobs); i++) {
        const struct m87_json *j = m87_json_at(jobs, i);
        const struct m87_json *p = find_by(m87_json_get(prev, "jobs"), "id", jstr(j, "id"), NULL);
        if (!p || !same(jstr(p, "state"), jstr(j, "state"))) {
            stamp();
            printf("%s: %s", jstr(j, "id"), jstr(j, "state") ? jstr(j, "state") : "pending");
            if (jstr(j, "message"))
                printf(": %s", jstr(j, "message"));
            printf("\n");
        }
        step_changes(jstr(j, "id"), p, j);
    }
}

/* While following, a server that stops answering for a while (a restart, a network blip) is
 * waited for: only the first poll's failure ends the command. -1 means "poll again". */
static int fetch(const struct cli_ctx *ctx, const char *path, bool tolerant, struct m87_json **out)
{
    _cleanup_error_ struct m87_error *err = NULL;
    enum m87_errcode code;

    *out = NULL;
    if (cli_http_json(ctx, "GET", path, NULL, out, &err) == 0)
        return CLI_EXIT_OK;
    code = m87_error_code(err);
    if (tolerant && (code == M87_E_CONNECT || code == M87_E_TIMEOUT || err->http_status >= 500)) {
        fprintf(stderr, "m87: warning: %s; polling again\n", err->msg);
        return -1;
    }
    return cli_report(err);
}

static void emit_json_if_new(const struct m87_json *st, char **last)
{
    _cleanup_(m87_jw_freep) struct m87_jw *w = m87_jw_new();
    size_t len = 0;

    m87_jw_node(w, st);
    const char *text = m87_jw_text(w, &len);
    if (*last && strcmp(*last, text) == 0)
        return;
    printf("%s\n", text);
    fflush(stdout);
    free(*last);
    *last = m87_xstrdup(text);
}

static void show_poll(const char *device, const struct status_opts *o, const struct m87_json *prev,
                      const struct m87_json *cur, char **last_json)
{
    if (o->json)
        emit_json_if_new(cur, last_json);
    else if (!prev)
        print_status(device, cur, false);
    else
        print_changes(prev, cur);
    fflush(stdout);
}

static bool timed_out(const struct timespec *start, int64_t timeout_ns)
{
    struct timespec now;

    if (!timeout_ns)
        return false;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - start->tv_sec) * 1000000000 + (now.tv_nsec - start->tv_nsec) >=
           timeout_ns;
}

static int follow(const struct cli_ctx *ctx, const char *device, const char *path,
                  const struct status_opts *o)
{
    _cleanup_(m87_json_freep) struct m87_json *prev = NULL;
    _cleanup_free_ char *last_json = NULL;
    struct timespec start;

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct m87_json *cur = NULL;
        int rc = fetch(ctx, path, prev != NULL, &cur);
        if (rc > 0)
            return rc;
        if (cur) {
            show_poll(device, o, prev, cur, &last_json);
            m87_json_free(prev);
            prev = cur;
            if (settled(prev))
                break;
        }
        if (timed_out(&start, o->timeout_ns)) {
            _cleanup_free_ char *d = m87_format_duration(o->timeout_ns);
            fprintf(stderr, "m87: deployment status: gave up after %s: not settled yet\n", d);
            return CLI_EXIT_FAILED;
        }
        sleep(CLI_FOLLOW_PERIOD_S);
    }
    if (!o->json) {
        printf("\n");
        print_status(device, prev, o->logs);
    }
    return any_failed(prev) ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}

int cli_deployment_status(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    _cleanup_(m87_json_freep) struct m87_json *st = NULL;
    _cleanup_free_ char *id = NULL;
    struct status_opts o = {0};
    int rc = parse(argc, argv, &o);

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    if ((rc = cli_deployment_id(ctx, device, o.deployment, &id)) != CLI_EXIT_OK)
        return rc;
    _cleanup_free_ char *escaped = cli_escape(id);
    _cleanup_free_ char *query = m87_xasprintf("/status?deployment=%s", escaped);
    _cleanup_free_ char *path = cli_device_path(device, query);
    if (o.follow)
        return follow(ctx, device, path, &o);
    if ((rc = fetch(ctx, path, false, &st)) != CLI_EXIT_OK)
        return rc;
    if (o.json)
        cli_print_json(stdout, st);
    else
        print_status(device, st, o.logs);
    return any_failed(st) ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}
