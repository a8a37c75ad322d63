/* `m87 DEVICE status [--quiet|--short|--json]`: is the device healthy, for scripted health gates.
 * Healthy: online, and when it has an active deployment, running its newest revision with every
 * enabled job succeeded and every container of it running (and healthy where it has a check) as
 * its newest health report says. Exit 0 healthy, 1 issues, 2 the command itself failed. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"

static const char help[] =
    "usage: m87 DEVICE status [--quiet | --short | --json]\n"
    "\n"
    "Say whether the device is healthy: online and, when it has an active deployment, running\n"
    "its newest revision with every job succeeded and every container running (and healthy\n"
    "where it has a health check) as the device last reported. Otherwise list the issues.\n"
    "\n"
    "options:\n"
    "  --quiet     print nothing: the exit status alone says it\n"
    "  --short     one line: 'DEVICE healthy' or 'DEVICE N issues: ISSUE; ISSUE'\n"
    "  --json      {\"device\", \"healthy\", \"online\", \"last_seen\", \"deployment\", "
    "\"applied\",\n"
    "              \"jobs\", \"containers\", \"issues\"}\n"
    "  -h, --help  show this help\n"
    "\n"
    "Exit status: 0 healthy, 1 issues, 2 the command itself failed (usage, auth, network).\n";

#define HEALTH_PAGE 1000

struct device_health {
    const struct m87_json *device; /* the DEVICE object */
    const struct m87_json *status; /* GET .../status, NULL without an active deployment */
    struct m87_strv issues;
    /* the pages of health records read, and the newest record per container name in them */
    struct m87_json **pages;
    size_t n_pages;
    const struct m87_json **containers;
    size_t n_containers;
};

static void add_issue(struct m87_strv *issues, const char *fmt, ...) M87_PRINTF(2, 3);
static void add_issue(struct m87_strv *issues, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *text = m87_xvasprintf(fmt, ap);
    va_end(ap);
    m87_strv_add(issues, text);
}

static const char *jstr(const struct m87_json *n, const char *key)
{
    return m87_json_str(m87_json_get(n, key), NULL);
}

static void health_release(struct device_health *h)
{
    m87_strv_release(&h->issues);
    for (size_t i = 0; i < h->n_pages; i++)
        m87_json_free(h->pages[i]);
    free(h->pages);
    free(h->containers);
}

/* Keep rec as the newest record of its container (records come in seq order). */
static void keep_container(struct device_health *h, const struct m87_json *rec)
{
    const char *name = jstr(rec, "container");

    if (!name)
        return;
    for (size_t i = 0; i < h->n_containers; i++) {
        if (strcmp(jstr(h->containers[i], "container"), name) == 0) {
            h->containers[i] = rec;
            return;
        }
    }
    h->containers = m87_xrealloc(h->containers, (h->n_containers + 1) * sizeof(*h->containers));
    h->containers[h->n_containers++] = rec;
}

/* Every health record of the device for revision, page by page. */
static int read_containers(const struct cli_ctx *ctx, const char *device, const char *revision,
                           struct device_health *h, struct m87_error **err)
{
    long long after = 0;

    for (;;) {
        struct m87_json *doc = NULL;
        _cleanup_free_ char *tail = m87_xasprintf(
            "/reports?kind=health&revision=%s&limit=%d&after=%lld", revision, HEALTH_PAGE, after);
        _cleanup_free_ char *path = cli_device_path(device, tail);

        if (cli_http_json(ctx, "GET", path, NULL, &doc, err) < 0)
            return -1;
        h->pages = m87_xrealloc(h->pages, (h->n_pages + 1) * sizeof(*h->pages));
        h->pages[h->n_pages++] = doc;
        const struct m87_json *reports = m87_json_get(doc, "reports");
        for (size_t i = 0; i < m87_json_len(reports); i++)
            keep_container(h, m87_json_at(reports, i));
        const struct m87_json *next = m87_json_get(doc, "next");
        if (m87_json_type(next) != M87_JSON_NUMBER)
            return 0;
        after = (long long)m87_json_int(next, 0);
    }
}

static void find_issues(struct device_health *h)
{
    const struct m87_json *dev = h->device;
    const struct m87_json *st = h->status;

    if (!m87_json_bool(m87_json_get(dev, "online"), false)) {
        _cleanup_free_ char *ago = cli_format_ago(jstr(dev, "last_seen"), time(NULL));
        add_issue(&h->issues, "offline (last seen %s)", ago);
    }
    if (!st)
        return;
    const struct m87_json *dep = m87_json_get(st, "deployment");
    if (!m87_json_bool(m87_json_get(st, "picked_up"), false)) {
        const struct m87_json *win = m87_json_get(st, "window");
        const char *state = jstr(win, "state");
        if (state && strcmp(state, "waiting") == 0) {
            _cleanup_free_ char *next = cli_format_local(jstr(win, "next"));
            add_issue(&h->issues, "revision %lld waits for a maintenance window (next: %s)",
                      (long long)m87_json_int(m87_json_get(dep, "revision"), 0), next);
        } else {
            add_issue(&h->issues, "revision %lld of %s not picked up yet",
                      (long long)m87_json_int(m87_json_get(dep, "revision"), 0),
                      jstr(dep, "id") ? jstr(dep, "id") : "?");
        }
        return;
    }
    const struct m87_json *jobs = m87_json_get(st, "jobs");
    for (size_t i = 0; i < m87_json_len(jobs); i++) {
        const struct m87_json *j = m87_json_at(jobs, i);
        const char *state = jstr(j, "state") ? jstr(j, "state") : "pending";
        if (!m87_json_bool(m87_json_get(j, "enabled"), true) || strcmp(state, "succeeded") == 0)
            continue;
        if (jstr(j, "message"))
            add_issue(&h->issues, "job %s %s: %s", jstr(j, "id"), state, jstr(j, "message"));
        else
            add_issue(&h->issues, "job %s %s", jstr(j, "id"), state);
    }
    for (size_t i = 0; i < h->n_containers; i++) {
        const struct m87_json *c = h->containers[i];
        const char *state = jstr(c, "state") ? jstr(c, "state") : "?";
        if (strcmp(state, "running") == 0)
            continue;
        if (jstr(c, "message"))
            add_issue(&h->issues, "container %s %s: %s", jstr(c, "container"), state,
                      jstr(c, "message"));
        else
            add_issue(&h->issues, "container %s %s", jstr(c, "container"), state);
    }
}

static void print_json(const char *device, const struct device_health *h)
{
    _cleanup_(m87_jw_freep) struct m87_jw *w = m87_jw_new();
    const struct m87_json *st = h->status;

    m87_jw_obj_open(w);
    m87_jw_kstr(w, "device", device);
    m87_jw_key(w, "healthy");
    m87_jw_bool(w, h->issues.len == 0);
    m87_jw_key(w, "online");
    m87_jw_bool(w, m87_json_bool(m87_json_get(h->device, "online"), false));
    m87_jw_key(w, "last_seen");
    if (jstr(h->device, "last_seen"))
        m87_jw_str(w, jstr(h->device, "last_seen"));
    else
        m87_jw_null(w);
    m87_jw_key(w, "deployment");
    if (st)
        m87_jw_node(w, m87_json_get(st, "deployment"));
    else
        m87_jw_null(w);
    m87_jw_key(w, "applied");
    m87_jw_bool(w, st && m87_json_bool(m87_json_get(st, "picked_up"), false));
    m87_jw_key(w, "jobs");
    m87_jw_obj_open(w);
    const struct m87_json *jobs = m87_json_get(st, "jobs");
    for (size_t i = 0; i < m87_json_len(jobs); i++) {
        const struct m87_json *j = m87_json_at(jobs, i);
        m87_jw_kstr(w, jstr(j, "id") ? jstr(j, "id") : "?",
                    jstr(j, "state") ? jstr(j, "state") : "pending");
    }
    m87_jw_obj_close(w);
    m87_jw_key(w, "containers");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < h->n_containers; i++) {
        m87_jw_obj_open(w);
        m87_jw_kstr(w, "container", jstr(h->containers[i], "container"));
        m87_jw_kstr(w, "service", jstr(h->containers[i], "service"));
        m87_jw_kstr(w, "job", jstr(h->containers[i], "job"));
        m87_jw_kstr(w, "state", jstr(h->containers[i], "state"));
        m87_jw_obj_close(w);
    }
    m87_jw_arr_close(w);
    m87_jw_key(w, "issues");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < h->issues.len; i++)
        m87_jw_str(w, h->issues.items[i]);
    m87_jw_arr_close(w);
    m87_jw_obj_close(w);
    printf("%s\n", m87_jw_text(w, NULL));
}

static void print_short(const char *device, const struct device_health *h)
{
    if (h->issues.len == 0) {
        printf("%s healthy\n", device);
        return;
    }
    printf("%s %zu issue%s: ", device, h->issues.len, h->issues.len == 1 ? "" : "s");
    for (size_t i = 0; i < h->issues.len; i++)
        printf("%s%s", i ? "; " : "", h->issues.items[i]);
    printf("\n");
}

static void print_long(const char *device, const struct device_health *h)
{
    const struct m87_json *dev = h->device;
    const struct m87_json *st = h->status;
    const struct m87_json *dep = m87_json_get(st, "deployment");
    _cleanup_free_ char *ago = cli_format_ago(jstr(dev, "last_seen"), time(NULL));

    if (h->issues.len == 0)
        printf("%s: healthy\n", device);
    else
        printf("%s: %zu issue%s\n", device, h->issues.len, h->issues.len == 1 ? "" : "s");
    printf("  device      %s, last seen %s",
           m87_json_bool(m87_json_get(dev, "online"), false) ? "online" : "offline", ago);
    if (jstr(dev, "agent_version"))
        printf(", agent %s", jstr(dev, "agent_version"));
    printf("\n");
    if (!st) {
        printf("  deployment  none\n");
    } else {
        printf("  deployment  %s revision %lld, %s\n", jstr(dep, "id") ? jstr(dep, "id") : "?",
               (long long)m87_json_int(m87_json_get(dep, "revision"), 0),
               m87_json_bool(m87_json_get(st, "picked_up"), false) ? "applied" : "not applied");
        const struct m87_json *jobs = m87_json_get(st, "jobs");
        for (size_t i = 0; i < m87_json_len(jobs); i++) {
            const struct m87_json *j = m87_json_at(jobs, i);
            printf("  job         %s: %s\n", jstr(j, "id") ? jstr(j, "id") : "?",
                   jstr(j, "state") ? jstr(j, "state") : "pending");
        }
        for (size_t i = 0; i < h->n_containers; i++)
            printf("  container   %s: %s\n", jstr(h->containers[i], "container"),
                   jstr(h->containers[i], "state") ? jstr(h->containers[i], "state") : "?");
    }
    for (size_t i = 0; i < h->issues.len; i++)
        printf("  issue       %s\n", h->issues.items[i]);
}

static int device_status(const struct cli_ctx *ctx, const char *device, int argc, char **argv)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(m87_json_freep) struct m87_json *dev = NULL;
    _cleanup_(m87_json_freep) struct m87_json *st = NULL;
    bool quiet = false, brief = false, json = false;
    const struct cli_option opts[] = {
        {"quiet", CLI_OPT_FLAG, &quiet, 'q'},
        {"short", CLI_OPT_FLAG, &brief, 0},
        {"json", CLI_OPT_FLAG, &json, 0},
    };
    int rc = cli_parse_options("status", help, argc, argv, opts, M87_ARRAY_LEN(opts));

    if (rc)
        return rc == 1 ? CLI_EXIT_OK : rc;
    if ((quiet ? 1 : 0) + (brief ? 1 : 0) + (json ? 1 : 0) > 1)
        return cli_usage_error("status", "--quiet, --short and --json exclude each other");
    rc = cli_operands("status", argc, argv, 0, 0);
    if (rc)
        return rc;

    _cleanup_free_ char *path = cli_device_path(device, NULL);
    if (cli_http_json(ctx, "GET", path, NULL, &dev, &err) < 0)
        return cli_report(err);
    if (m87_json_type(m87_json_get(dev, "active_deployment")) == M87_JSON_OBJECT) {
        _cleanup_free_ char *spath = cli_device_path(device, "/status");
        if (cli_http_json(ctx, "GET", spath, NULL, &st, &err) < 0)
            return cli_report(err);
    }

    _cleanup_(health_release) struct device_health h = {.device = dev, .status = st};
    m87_strv_init(&h.issues);
    const char *hash = jstr(m87_json_get(st, "deployment"), "hash");
    if (hash && m87_json_bool(m87_json_get(st, "picked_up"), false) &&
        read_containers(ctx, device, hash, &h, &err) < 0)
        return cli_report(err);
    find_issues(&h);

    if (json)
        print_json(device, &h);
    else if (brief)
        print_short(device, &h);
    else if (!quiet)
        print_long(device, &h);
    return h.issues.len == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}

int cli_cmd_status(const char *device, int argc, char **argv)
{
    static const struct cli_sub sub = {"status", device_status, help};
    return cli_run(&sub, device, argc, argv);
}
