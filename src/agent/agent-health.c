/* Health-change reports about the containers of the applied jobs: a "health" record goes into
 * the journal when a container's state changes (running, unhealthy, exited...), not on
 * every look. The last reported state of each container is kept in STATE/health.json, so a
 * restarted daemon does not report again what the server already has. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/containers.h"
#include "agent/daemon.h"
#include "agent/health.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/log.h"
#include "m87/runner-journal.h"

#define GOOD_STATE "running" /* what a container is taken to be before it is first seen */
#define MAX_HEALTH_FILE (1024u * 1024)

/* The state reported: the container's state, with running split by its health check. NULL for
 * a health check still starting: not a change worth a report. */
static const char *health_state(const struct agent_container *c)
{
    if (strcmp(c->state, "running") != 0)
        return c->state;
    if (strstr(c->status, "(unhealthy)"))
        return "unhealthy";
    if (strstr(c->status, "(health: starting)"))
        return NULL;
    return GOOD_STATE;
}

struct health_report {
    const struct agent_container *c;
    const char *state;
    const char *revision;
};

static void health_fill(struct m87_jw *w, const void *ctx)
{
    const struct health_report *h = ctx;
    _cleanup_free_ char *msg =
        m87_xasprintf("container '%s' is %s (%s)", h->c->name, h->state, h->c->status);

    m87_jw_kstr(w, "kind", "health");
    m87_jw_kstr(w, "revision", h->revision);
    m87_jw_kstr(w, "job", h->c->job);
    m87_jw_kstr(w, "job_hash", h->c->job_hash);
    m87_jw_kstr(w, "service", h->c->service);
    m87_jw_kstr(w, "container", h->c->name);
    m87_jw_kstr(w, "container_id", h->c->id);
    m87_jw_kstr(w, "state", h->state);
    m87_jw_kstr(w, "message", msg);
}

static void load_seen(const char *path, struct m87_kvlist *seen)
{
    size_t len = 0;
    _cleanup_free_ char *text = m87_read_file(path, MAX_HEALTH_FILE, &len, NULL);
    _cleanup_(m87_json_freep) struct m87_json *doc = text ? m87_json_parse(text, len, NULL) : NULL;

    m87_json_to_kvlist(doc, seen);
}

static void save_seen(const char *path, const struct m87_kvlist *seen)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct m87_jw *w = m87_jw_new();

    m87_jw_kvlist(w, seen);
    _cleanup_free_ char *text = m87_jw_finish(w);
    if (m87_write_file_atomic(path, text, strlen(text), 0600, &err) < 0)
        m87_log(M87_LOG_ERR, "%s", err->msg);
}

/* Report what changed; next gets the state of every container seen now. False when the journal
 * could not take a record (the rest is tried again next time). */
static bool report_changes(struct agent_daemon *d, const struct agent_container *v, size_t n,
                           const struct m87_kvlist *seen, struct m87_kvlist *next)
{
    for (size_t i = 0; i < n; i++) {
        const char *was = m87_kvlist_get(seen, v[i].id);
        const char *now = health_state(&v[i]);
        if (!now) {
            m87_kvlist_add(next, v[i].id, was ? was : GOOD_STATE);
            continue;
        }
        if (strcmp(now, was ? was : GOOD_STATE) != 0) {
            _cleanup_error_ struct m87_error *err = NULL;
            struct health_report h = {&v[i], now, agent_daemon_applied_hash(d)};
            if (runner_journal_append(d->journal, health_fill, &h, NULL, &err) < 0) {
                m87_log(M87_LOG_ERR, "%s", err->msg);
                return false;
            }
            m87_log(M87_LOG_INFO, "container '%s' of job '%s' is %s", v[i].name, v[i].job, now);
        }
        m87_kvlist_add(next, v[i].id, now);
    }
    return true;
}

void agent_health_tick(struct agent_daemon *d, const struct agent_container *v, size_t n)
{
    _cleanup_free_ char *path = m87_xasprintf("%s/health.json", d->cfg->state_dir);
    struct m87_kvlist seen, next;

    m87_kvlist_init(&seen);
    m87_kvlist_init(&next);
    load_seen(path, &seen);
    if (report_changes(d, v, n, &seen, &next)) {
        bool same = seen.len == next.len;
        for (size_t i = 0; same && i < next.len; i++) {
            const char *was = m87_kvlist_get(&seen, next.items[i].key);
            same = was && strcmp(was, next.items[i].value) == 0;
        }
        if (!same)
            save_seen(path, &next);
    }
    m87_kvlist_release(&seen);
    m87_kvlist_release(&next);
}
