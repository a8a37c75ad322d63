/* The prefetch: the images of a revision that waits for a maintenance window, pulled ahead in a
 * forked child (the daemon's loop is single-threaded and must keep syncing), so that the switch
 * in the window is quick. The child counts the images already present, pulls the others one by
 * one and appends a "window" record with the progress after each. The same child pulls the
 * images the server asks for (agent-prefetch-pull.c); with the prefetch policy "window" a new
 * pull of those starts only while the agent clock is inside a window, and one running when the
 * window ends goes on to its end. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "agent/agent-window.h"
#include "agent/backoff.h"
#include "agent/clock.h"
#include "agent/daemon.h"
#include "agent/prefetch.h"
#include "agent/sync-http.h"
#include "agent/target.h"
#include "agent/windows.h"
#include "m87/alloc.h"
#include "m87/engine-creds.h"
#include "m87/engine-images.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/log.h"
#include "m87/runner-journal.h"
#include "m87/runner-text.h"
#include "m87/spec-runspec.h"
#include "m87/spec-window.h"
#include "m87/time.h"

#define PREFETCH_STALL_MS 300000L

/* A waiting revision whose images are to be pulled now. */
static bool revision_wanted(const struct agent_daemon *d, time_t now)
{
    const struct agent_window_state *ws = d->win;

    if (!agent_window_waits(d, now))
        return false;
    if (d->target.prefetch_window && !agent_window_inside(&d->target, now))
        return false;
    return !ws || !ws->prefetched || strcmp(ws->prefetched, d->target.hash) != 0;
}

static bool images_missing(const struct agent_window_state *ws)
{
    for (size_t i = 0; ws && i < ws->requested.len; i++) {
        bool have = false;
        for (size_t k = 0; k < ws->present.len && !have; k++)
            have = strcmp(ws->present.items[k], ws->requested.items[i]) == 0;
        if (!have)
            return true;
    }
    return false;
}

bool agent_prefetch_images_wait(const struct agent_daemon *d, time_t now)
{
    const struct agent_window_state *ws = d->win;

    return images_missing(ws) && ws->policy.prefetch_window &&
           !agent_window_inside(&ws->policy, now);
}

static bool images_wanted(const struct agent_daemon *d, time_t now)
{
    return images_missing(d->win) && !agent_prefetch_images_wait(d, now);
}

struct child_ctx {
    struct agent_daemon *d;
    struct runner_journal *journal;
    const struct agent_target *t;
    const char *next;
    const struct engine_creds *creds;
    int64_t done;
    int64_t total;
};

static void progress(struct child_ctx *c, const char *message)
{
    struct agent_window_report r = {.hash = c->t->hash,
                                    .state = "waiting",
                                    .next = c->next,
                                    .done = c->done,
                                    .total = c->total,
                                    .message = message};
    agent_window_report(c->journal, &r);
}

static int fetch_bundles(struct child_ctx *c, struct m87_error **err)
{
    _cleanup_(agent_http_freep) struct agent_http *h = agent_http_new(c->d->cfg, NULL);

    for (size_t i = 0; i < c->t->rs->n_jobs; i++) {
        const struct spec_job *job = &c->t->rs->jobs[i];
        if (job->enabled && job->bundle && agent_apply_fetch_bundle(c->d, h, job->bundle, err) < 0)
            return -1;
    }
    return 0;
}

/* Pull the missing images of list; AGENT_PREFETCH_* */
static int pull_missing(struct child_ctx *c, struct engine_client *ec, const struct m87_strv *list)
{
    bool *missing = m87_xcalloc(list->len ? list->len : 1, sizeof(*missing));
    int rc = AGENT_PREFETCH_OK;

    for (size_t i = 0; i < list->len; i++) {
        struct engine_image_info *info = NULL;
        missing[i] = engine_image_inspect(ec, list->items[i], &info, NULL) < 0;
        engine_image_info_free(info);
        c->done += !missing[i];
    }
    progress(c, c->done == c->total ? "images present" : "prefetching images");
    for (size_t i = 0; i < list->len && rc == AGENT_PREFETCH_OK; i++) {
        _cleanup_error_ struct m87_error *err = NULL;
        _cleanup_(engine_registry_auth_release) struct engine_registry_auth auth = {0};
        struct engine_pull_options po = {.stall_ms = PREFETCH_STALL_MS};
        if (!missing[i])
            continue;
        if (c->t->prefetch_window && !agent_window_inside(c->t, agent_clock_now())) {
            m87_log(M87_LOG_INFO, "prefetch: the window ended; the next pull waits for the next");
            rc = AGENT_PREFETCH_ENDED;
            break;
        }
        m87_log(M87_LOG_INFO, "prefetch: pulling image %s", list->items[i]);
        if (agent_prefetch_pull(ec, c->creds, list->items[i], &po, &auth, NULL, NULL, &err) < 0) {
            m87_log(M87_LOG_WARN, "prefetch: %s", err->msg);
            progress(c, err->msg);
            rc = AGENT_PREFETCH_FAILED;
            break;
        }
        c->done++;
        progress(c, c->done == c->total ? "images present" : "prefetching images");
    }
    free(missing);
    return rc;
}

static int prefetch_run(struct agent_daemon *d, const struct agent_target *t, const char *next)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *reports = m87_xasprintf("%s/reports", d->cfg->state_dir);
    _cleanup_free_ char *work = m87_xasprintf("%s/prefetch", d->cfg->state_dir);
    struct engine_client_options eo = {.host = d->cfg->docker_host};
    _cleanup_(runner_journal_freep) struct runner_journal *j = runner_journal_open(reports, &err);
    struct m87_strv images;

    if (!j) {
        m87_log(M87_LOG_ERR, "prefetch: %s", err->msg);
        return AGENT_PREFETCH_FAILED;
    }
    struct child_ctx c = {.d = d, .journal = j, .t = t, .next = next};
    m87_strv_init(&images);
    _cleanup_(engine_client_freep) struct engine_client *ec = NULL;
    int rc = fetch_bundles(&c, &err);
    if (rc == 0)
        rc = agent_revision_images(t->rs, d->cfg->state_dir, d->bundles_dir, work, &images, &err);
    if (rc == 0)
        rc = (ec = engine_client_new(&eo, &err)) ? 0 : -1;
    if (rc < 0) {
        m87_log(M87_LOG_ERR, "prefetch: %s", err->msg);
        c.total = -1;
        progress(&c, err->msg);
        m87_strv_release(&images);
        return AGENT_PREFETCH_FAILED;
    }
    c.total = (int64_t)images.len;
    _cleanup_(engine_creds_freep) struct engine_creds *creds = agent_prefetch_creds();
    c.creds = creds;
    rc = pull_missing(&c, ec, &images);
    m87_strv_release(&images);
    return rc;
}

static void spawn(struct agent_daemon *d, bool images)
{
    struct agent_window_state *ws = d->win;
    _cleanup_free_ char *next = agent_window_time_text(ws->next);

    if (images)
        m87_log(M87_LOG_INFO, "prefetching %zu requested images", ws->requested.len);
    else
        m87_log(M87_LOG_INFO, "prefetching the images of revision %.12s", d->target.hash);
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        agent_child_detach(d, parent);
        int rc = images ? agent_prefetch_images_run(d, &ws->requested, &ws->policy)
                        : prefetch_run(d, &d->target, next);
        fflush(NULL);
        _exit(rc);
    }
    if (pid < 0) {
        m87_log(M87_LOG_ERR, "prefetch: fork: %s", strerror(errno));
        ws->retry_at = m87_mono_ms() + agent_backoff_cap_ms();
        return;
    }
    ws->child = pid;
    ws->child_images = images;
    free(ws->child_for);
    ws->child_for = images ? NULL : m87_xstrdup(d->target.hash);
}

void agent_prefetch_tick(struct agent_daemon *d, time_t now)
{
    struct agent_window_state *ws = d->win;

    if (!ws)
        return;
    /* a revision's pull goes on while its revision waits, a requested one while images are asked
     * for; a pull started inside a window goes on after it */
    if (ws->child && (ws->child_images ? !images_missing(ws)
                                       : !agent_window_waits(d, now) ||
                                             strcmp(ws->child_for, d->target.hash) != 0))
        agent_prefetch_kill(d);
    /* not before the first apply after a start: it brings the workloads back first */
    bool revive = d->startup && d->has_applied && !d->applied.stop;
    if (ws->child || d->child || revive || (ws->retry_at && m87_mono_ms() < ws->retry_at))
        return;
    if (revision_wanted(d, now))
        spawn(d, false);
    else if (images_wanted(d, now))
        spawn(d, true);
}

static void finished(struct agent_daemon *d, int status)
{
    struct agent_window_state *ws = d->win;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;

    d->next_sync_at = m87_mono_ms(); /* its records go up */
    if (code == AGENT_PREFETCH_OK && ws->child_images) {
        m87_log(M87_LOG_INFO, "prefetch of the requested images done");
        for (size_t i = 0; i < ws->requested.len; i++)
            m87_strv_add(&ws->present, ws->requested.items[i]);
        ws->failures = 0;
        ws->retry_at = 0;
        return;
    }
    if (code == AGENT_PREFETCH_OK) {
        m87_log(M87_LOG_INFO, "prefetch of revision %.12s done", ws->child_for);
        free(ws->prefetched);
        ws->prefetched = M87_STEAL(ws->child_for);
        ws->failures = 0;
        ws->retry_at = 0;
        return;
    }
    if (code == AGENT_PREFETCH_ENDED)
        return;
    ws->failures++;
    int64_t cap = agent_backoff_cap_ms();
    int64_t wait = agent_backoff_ms(ws->failures, AGENT_BACKOFF_BASE_MS * 5,
                                    cap < AGENT_BACKOFF_CAP_MS ? cap : AGENT_APPLY_RETRY_CAP_MS);
    ws->retry_at = m87_mono_ms() + wait;
    m87_log(M87_LOG_WARN, "prefetch of %s failed; trying again in %lld s",
            ws->child_images ? "the requested images" : "a revision's images",
            (long long)(wait / 1000));
}

void agent_prefetch_reap(struct agent_daemon *d)
{
    int status = 0;

    if (!d->win || !d->win->child || waitpid(d->win->child, &status, WNOHANG) != d->win->child)
        return;
    d->win->child = 0;
    finished(d, status);
}

void agent_prefetch_kill(struct agent_daemon *d)
{
    int status = 0;

    if (!d->win || !d->win->child)
        return;
    m87_log(M87_LOG_INFO, "stopping the prefetch in progress");
    kill(d->win->child, SIGTERM);
    waitpid(d->win->child, &status, 0);
    d->win->child = 0;
}

/* The windows and prefetch policy the requested images follow. A rule this device cannot read
 * is left out (logged): the server checked it, only this device's tz database lacks a zone. */
static void take_policy(struct agent_window_state *ws, const struct m87_json *node)
{
    const struct m87_json *wins = m87_json_get(node, "windows");
    struct agent_target *p = &ws->policy;

    p->n_windows = 0;
    for (size_t i = 0; i < m87_json_len(wins) && p->n_windows < AGENT_MAX_WINDOWS; i++) {
        _cleanup_error_ struct m87_error *err = NULL;
        const char *rule = m87_json_str(m87_json_at(wins, i), "");
        if (spec_window_parse(rule, &p->windows[p->n_windows], &err) == 0)
            p->n_windows++;
        else
            m87_log(M87_LOG_WARN, "prefetch window '%s' left out: %s", rule, err->msg);
    }
    p->prefetch_window = strcmp(m87_json_str(m87_json_get(node, "prefetch"), ""), "window") == 0;
}

void agent_prefetch_take(struct agent_daemon *d, const struct m87_json *node)
{
    struct agent_window_state *ws = agent_window_get(d);
    const struct m87_json *imgs = m87_json_get(node, "images");
    struct m87_strv list;
    bool same = true;

    m87_strv_init(&list);
    for (size_t i = 0; i < m87_json_len(imgs); i++) {
        const char *ref = m87_json_str(m87_json_at(imgs, i), NULL);
        if (ref && *ref)
            m87_strv_add(&list, ref);
    }
    same = list.len == ws->requested.len;
    for (size_t i = 0; same && i < list.len; i++)
        same = strcmp(list.items[i], ws->requested.items[i]) == 0;
    if (!same) {
        if (list.len)
            m87_log(M87_LOG_INFO, "the server asks for %zu images to be prefetched", list.len);
        if (ws->child && ws->child_images)
            agent_prefetch_kill(d); /* it pulls the old list */
        m87_strv_release(&ws->requested);
        m87_strv_release(&ws->present); /* looked at again: an image may have gone meanwhile */
        ws->requested = list;
        ws->retry_at = 0;
        ws->failures = 0;
    } else {
        m87_strv_release(&list);
    }
    take_policy(ws, node);
}
