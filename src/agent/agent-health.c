/* The containers of the applied jobs, and health-change reports about them: a "health" record
 * goes into the journal when a container's state changes (running, unhealthy, exited...), not on
 * every look. The last reported state of each container is kept in STATE/health.json, so a
 * restarted daemon does not report again what the server already has. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/daemon.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/log.h"

#define WORKDIR_LABEL "com.docker.compose.project.working_dir"
#define SERVICE_LABEL "com.docker.compose.service"
#define GOOD_STATE "running" /* what a container is taken to be before it is first seen */
#define MAX_HEALTH_FILE (1024u * 1024)

struct engine_client *agent_daemon_engine(struct agent_daemon *d, struct m87_error **err)
{
    struct engine_client_options o = {.host = d->cfg->docker_host, .timeout_ms = 10000};

    if (!d->engine)
        d->engine = engine_client_new(&o, err);
    return d->engine;
}

void agent_containers_free(struct agent_container *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].id);
        free(v[i].name);
        free(v[i].job);
        free(v[i].job_hash);
        free(v[i].service);
        free(v[i].state);
        free(v[i].status);
        free(v[i].image);
        free(v[i].image_id);
    }
    free(v);
}

static bool inside(const char *dir, const char *workdir)
{
    size_t n = strlen(workdir);
    return dir && strncmp(dir, workdir, n) == 0 && (dir[n] == '\0' || dir[n] == '/');
}

static void add_container(struct agent_container **out, size_t *n,
                          const struct engine_container_summary *s, const struct runner_record *rec)
{
    *out = m87_xrealloc(*out, (*n + 1) * sizeof(**out));
    (*out)[(*n)++] = (struct agent_container){
        .id = m87_xstrdup(s->id),
        .name = m87_xstrdup(s->name),
        .job = m87_xstrdup(rec->id),
        .job_hash = m87_xstrdup(rec->hash),
        .service = m87_xstrdup(m87_kvlist_get(&s->labels, SERVICE_LABEL)
                                   ? m87_kvlist_get(&s->labels, SERVICE_LABEL)
                                   : ""),
        .state = m87_xstrdup(s->state ? s->state : ""),
        .status = m87_xstrdup(s->status ? s->status : ""),
        .image = m87_xstrdup(s->image ? s->image : ""),
        .image_id = m87_xstrdup(s->image_id ? s->image_id : ""),
    };
}

/* The job records of the runner's state; jobs being stopped or stopped have no containers of
 * interest. */
static void load_records(struct agent_daemon *d, struct runner_record **recs, size_t *n)
{
    struct m87_strv ids;

    m87_strv_init(&ids);
    if (runner_state_list(d->cfg->state_dir, &ids, NULL) < 0)
        return;
    *recs = m87_xcalloc(ids.len + 1, sizeof(**recs));
    for (size_t i = 0; i < ids.len; i++) {
        struct runner_record rec = {0};
        if (runner_record_load(d->cfg->state_dir, ids.items[i], &rec, NULL) > 0 && rec.workdir &&
            strcmp(rec.state, RUNNER_STOPPED) != 0 && strcmp(rec.state, RUNNER_STOPPING) != 0)
            (*recs)[(*n)++] = rec;
        else
            runner_record_release(&rec);
    }
    m87_strv_release(&ids);
}

int agent_containers_list(struct agent_daemon *d, struct agent_container **out, size_t *n,
                          struct m87_error **err)
{
    struct engine_client *c = agent_daemon_engine(d, err);
    struct runner_record *recs = NULL;
    size_t n_recs = 0;
    struct engine_container_summary *list = NULL;
    size_t n_list = 0;
    struct m87_kvlist filters;

    *out = NULL;
    *n = 0;
    if (!c)
        return -1;
    load_records(d, &recs, &n_recs);
    m87_kvlist_init(&filters);
    m87_kvlist_add(&filters, "label", WORKDIR_LABEL);
    int rc = n_recs ? engine_container_list(c, true, &filters, &list, &n_list, err) : 0;
    m87_kvlist_release(&filters);
    for (size_t i = 0; rc == 0 && i < n_list; i++) {
        const char *dir = m87_kvlist_get(&list[i].labels, WORKDIR_LABEL);
        for (size_t k = 0; k < n_recs; k++)
            if (inside(dir, recs[k].workdir)) {
                add_container(out, n, &list[i], &recs[k]);
                break;
            }
    }
    engine_container_summaries_free(list, n_list);
    for (size_t k = 0; k < n_recs; k++)
        runner_record_release(&recs[k]);
    free(recs);
    return rc;
}

/* ---- health changes ---------------------------------------------------------------------------
 */

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
