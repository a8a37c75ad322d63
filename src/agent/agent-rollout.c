/* The watch of a revision a rollout placed on the device. STATE/rollout.json holds:
 *   {"rollout": ID, "revision": HASH, "window": S, "deadline": UNIX (0 until the apply ended),
 *    "previous": TARGET (the target before, as stored; absent when none), "restarts":
 *    {"CONTAINER_ID": "COUNT NAME"} (RestartCount at the first look), "rolling_back": BOOL,
 *    "bad": HASH (the revision rolled back from), "bad_rollout": ID, "refusing": BOOL (the server's
 *    target of that hash is not applied)}
 * The deadline is wall-clock time, so a restarted daemon goes on with the same window; the
 * previous target stays on disk (and pruning keeps its bundles and images) until the revision
 * passed its window, or until the server sends another target after a rollback. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/containers.h"
#include "agent/daemon.h"
#include "agent/rollout.h"
#include "agent/target.h"
#include "agent/windows.h"
#include "m87/alloc.h"
#include "m87/engine-containers.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/log.h"
#include "m87/runner-journal.h"
#include "m87/runner-state.h"
#include "m87/state-file.h"
#include "m87/time.h"

#define MAX_ROLLOUT_FILE (3u * SPEC_RUNSPEC_MAX_FILE + 1024u * 1024)

struct agent_rollout {
    char *id;                              /* the watched rollout, NULL: no watch */
    char revision[M87_SHA256_HEX_LEN + 1]; /* its revision */
    int64_t window_s;
    int64_t deadline; /* unix seconds; 0 while its apply has not ended */
    bool has_previous;
    struct agent_target previous;
    struct m87_kvlist restarts;
    bool rolling_back;                /* the previous target is being applied again */
    char bad[M87_SHA256_HEX_LEN + 1]; /* the revision rolled back from, "" when none */
    char *bad_rollout;                /* the rollout that placed it */
    bool refusing;                    /* a target of the server with hash bad is not applied */
};

static char *state_path(const struct agent_daemon *d)
{
    return m87_xasprintf("%s/%s", d->cfg->state_dir, AGENT_ROLLOUT_FILE);
}

static struct agent_rollout *state(struct agent_daemon *d)
{
    if (!d->rollout) {
        d->rollout = m87_xcalloc(1, sizeof(*d->rollout));
        m87_kvlist_init(&d->rollout->restarts);
    }
    return d->rollout;
}

static void clear_watch(struct agent_rollout *r)
{
    free(r->id);
    r->id = NULL;
    r->revision[0] = '\0';
    r->window_s = 0;
    r->deadline = 0;
    m87_kvlist_release(&r->restarts);
    m87_kvlist_init(&r->restarts);
}

static void clear_previous(struct agent_rollout *r)
{
    agent_target_release(&r->previous);
    r->has_previous = false;
    r->rolling_back = false;
}

static void save(struct agent_daemon *d)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *path = state_path(d);
    struct agent_rollout *r = state(d);

    if (!r->id && !r->has_previous && !r->refusing && !r->rolling_back) {
        if (unlink(path) < 0 && errno != ENOENT)
            m87_log(M87_LOG_ERR, "remove '%s': %s", path, strerror(errno));
        return;
    }
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "rollout", r->id);
    m87_jw_kstr(w, "revision", r->revision[0] ? r->revision : NULL);
    m87_jw_kint(w, "window", r->window_s);
    m87_jw_kint(w, "deadline", r->deadline);
    if (r->has_previous) {
        _cleanup_(m87_json_freep) struct m87_json *prev =
            m87_json_parse(r->previous.text, strlen(r->previous.text), NULL);
        m87_jw_key(w, "previous");
        m87_jw_node(w, prev);
    }
    m87_jw_key(w, "restarts");
    m87_jw_kvlist(w, &r->restarts);
    m87_jw_kbool(w, "rolling_back", r->rolling_back);
    m87_jw_kstr(w, "bad", r->bad[0] ? r->bad : NULL);
    m87_jw_kstr(w, "bad_rollout", r->bad[0] ? r->bad_rollout : NULL);
    m87_jw_kbool(w, "refusing", r->refusing);
    m87_jw_obj_close(w);
    _cleanup_free_ char *text = m87_jw_finish(w);
    if (m87_write_file_atomic(path, text, strlen(text), 0600, &err) < 0)
        m87_log(M87_LOG_ERR, "keep the rollout's state: %s", err->msg);
}

static void set_bad_rollout(struct agent_rollout *r, const char *id)
{
    free(r->bad_rollout);
    r->bad_rollout = id ? m87_xstrdup(id) : NULL;
}

static void copy_hash(char dst[M87_SHA256_HEX_LEN + 1], const char *src)
{
    snprintf(dst, M87_SHA256_HEX_LEN + 1, "%s",
             src && strlen(src) == M87_SHA256_HEX_LEN ? src : "");
}

/* At the start, a rollback that was cut short: the kept target is the target again. */
static void resume_rollback(struct agent_daemon *d)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct agent_rollout *r = d->rollout;
    struct agent_target back = {0};

    if (d->has_target && agent_target_same_revision(&d->target, &r->previous))
        return;
    _cleanup_(m87_json_freep) struct m87_json *doc =
        m87_json_parse(r->previous.text, strlen(r->previous.text), &err);
    if (!doc || agent_target_from_json(doc, &back, &err) < 0 ||
        (!back.stop && agent_target_set_now(&back, true, &err) < 0) ||
        agent_target_save(d->target_path, &back, &err) < 0) {
        m87_log(M87_LOG_ERR, "go back to the revision before: %s", err->msg);
        agent_target_release(&back);
        return;
    }
    m87_log(M87_LOG_INFO, "going back to the revision before %.12s (cut short)", r->bad);
    agent_target_release(&d->target);
    d->target = back;
    d->has_target = true;
    d->startup = true;
    agent_window_switch_over(d);
}

void agent_rollout_load(struct agent_daemon *d)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *path = state_path(d);
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    struct agent_rollout *r = state(d);

    int rc = m87_state_read_json(path, MAX_ROLLOUT_FILE, &doc, &err);
    if (rc < 0)
        m87_log(M87_LOG_ERR, "%s: the rollout's watch is lost", err->msg);
    if (rc <= 0)
        return;
    const char *id = m87_json_str(m87_json_get(doc, "rollout"), NULL);
    copy_hash(r->revision, m87_json_str(m87_json_get(doc, "revision"), NULL));
    if (id && r->revision[0]) {
        r->id = m87_xstrdup(id);
        r->window_s = m87_json_int(m87_json_get(doc, "window"), 0);
        r->deadline = m87_json_int(m87_json_get(doc, "deadline"), 0);
        m87_json_to_kvlist(m87_json_get(doc, "restarts"), &r->restarts);
    } else {
        r->revision[0] = '\0';
    }
    const struct m87_json *prev = m87_json_get(doc, "previous");
    m87_error_clear(&err);
    if (prev && agent_target_from_json(prev, &r->previous, &err) == 0)
        r->has_previous = true;
    else if (prev)
        m87_log(M87_LOG_ERR, "'%s': previous: %s", path, err->msg);
    r->rolling_back = r->has_previous && m87_json_bool(m87_json_get(doc, "rolling_back"), false);
    copy_hash(r->bad, m87_json_str(m87_json_get(doc, "bad"), NULL));
    set_bad_rollout(r, m87_json_str(m87_json_get(doc, "bad_rollout"), NULL));
    r->refusing = r->bad[0] && m87_json_bool(m87_json_get(doc, "refusing"), false);
    if (r->rolling_back)
        resume_rollback(d);
    if (r->id)
        m87_log(M87_LOG_INFO, "rollout %s: watching revision %.12s (kept: %s)", r->id, r->revision,
                r->has_previous ? "the revision before" : "none");
}

void agent_rollout_free(struct agent_daemon *d)
{
    if (!d->rollout)
        return;
    clear_watch(d->rollout);
    clear_previous(d->rollout);
    m87_kvlist_release(&d->rollout->restarts);
    free(d->rollout->bad_rollout);
    free(d->rollout);
    d->rollout = NULL;
}

const char *agent_rollout_bad(const struct agent_daemon *d)
{
    return d->rollout && d->rollout->refusing ? d->rollout->bad : NULL;
}

const struct agent_target *agent_rollout_previous(const struct agent_daemon *d)
{
    return d->rollout && d->rollout->has_previous ? &d->rollout->previous : NULL;
}

static bool same_hash(const struct agent_target *t, const char *hash)
{
    return !t->stop && hash && strcmp(t->hash, hash) == 0;
}

static void keep_previous(struct agent_rollout *r, const struct agent_target *prev)
{
    _cleanup_(m87_json_freep) struct m87_json *doc =
        m87_json_parse(prev->text, strlen(prev->text), NULL);

    clear_previous(r);
    r->has_previous = doc && agent_target_from_json(doc, &r->previous, NULL) == 0;
}

void agent_rollout_answer(struct agent_daemon *d, const char *hash)
{
    struct agent_rollout *r = state(d);

    if (!r->refusing || (hash && strcmp(hash, r->bad) == 0))
        return;
    /* the kept target stays until a target is taken: the server may be sending it back */
    r->refusing = false;
    save(d);
}

void agent_rollout_target(struct agent_daemon *d, const struct agent_target *t)
{
    struct agent_rollout *r = state(d);

    if (r->refusing && same_hash(t, r->bad))
        return;
    bool was = r->id || r->has_previous || r->refusing;
    r->refusing = false;
    if (!t->has_rollout || t->stop) {
        /* the server moved on, or took the device back itself: nothing is watched */
        if (r->rolling_back && r->has_previous && agent_target_same_revision(t, &r->previous))
            return;
        clear_watch(r);
        clear_previous(r);
        if (was)
            save(d);
        return;
    }
    if (r->id && strcmp(r->revision, t->hash) == 0)
        return; /* the same revision again (another policy): the watch goes on */
    /* the previous of a revision that has not passed its window yet stays the one to go back to
     * when another comes in its place: the revision before it was the last one known good */
    bool unproven = r->id && r->has_previous;
    clear_watch(r);
    if (!unproven) {
        clear_previous(r);
        if (d->has_applied && !agent_target_same_revision(&d->applied, t))
            keep_previous(r, &d->applied);
    }
    r->id = m87_xstrdup(t->rollout.id);
    copy_hash(r->revision, t->hash);
    r->window_s = t->rollout.window_s;
    r->rolling_back = false;
    /* the device runs that revision already (and no apply of it is due): the window starts now */
    if (d->has_applied && agent_target_same_revision(&d->applied, t) && !d->apply_retry_at)
        r->deadline = (int64_t)time(NULL) + r->window_s;
    m87_log(M87_LOG_INFO,
            "rollout %s of fleet %s (release %" PRId64 "): revision %.12s is watched "
            "for %" PRId64 " s after its apply; %s",
            r->id, t->rollout.fleet, t->rollout.release, r->revision, r->window_s,
            r->has_previous ? "the revision before is kept to go back to"
                            : "no revision before it to go back to");
    save(d);
}

/* ---- records --------------------------------------------------------------------------------- */

struct rollout_record {
    const char *revision;
    const char *rollout;
    const char *state;
    const char *message;
    const char *previous;
};

static void fill_record(struct m87_jw *w, const void *ctx)
{
    const struct rollout_record *rec = ctx;

    m87_jw_kstr(w, "kind", "rollout");
    m87_jw_kstr(w, "revision", rec->revision);
    m87_jw_kstr(w, "rollout", rec->rollout);
    m87_jw_kstr(w, "state", rec->state);
    m87_jw_kstr(w, "message", rec->message);
    m87_jw_kstr(w, "previous", rec->previous);
}

static void journal(struct agent_daemon *d, const struct rollout_record *rec)
{
    _cleanup_error_ struct m87_error *err = NULL;

    if (runner_journal_append(d->journal, fill_record, rec, NULL, &err) < 0)
        m87_log(M87_LOG_ERR, "journal: %s", err->msg);
    d->next_sync_at = m87_mono_ms(); /* the server learns it at once when it is reachable */
}

static const char *previous_hash(const struct agent_rollout *r)
{
    return r->has_previous && !r->previous.stop ? r->previous.hash : NULL;
}

/* The watched revision failed: say so, and apply the previous target again (windows or not: it
 * is a way back, not a switch the server asked for). */
static void fail(struct agent_daemon *d, const char *why)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct agent_rollout *r = state(d);
    struct rollout_record rec = {r->revision, r->id, "failed", why, previous_hash(r)};
    struct agent_target back = {0};

    m87_log(M87_LOG_ERR, "rollout %s: revision %.12s failed its health window: %s%s", r->id,
            r->revision, why,
            r->has_previous ? "; going back to the revision before"
                            : "; no revision to go back to");
    journal(d, &rec);
    _cleanup_(m87_json_freep) struct m87_json *doc =
        r->has_previous ? m87_json_parse(r->previous.text, strlen(r->previous.text), &err) : NULL;
    bool ok = doc && agent_target_from_json(doc, &back, &err) == 0 &&
              (back.stop || agent_target_set_now(&back, true, &err) == 0);
    if (!ok) {
        if (err)
            m87_log(M87_LOG_ERR, "go back to the revision before: %s", err->msg);
        agent_target_release(&back);
        clear_watch(r);
        clear_previous(r);
        save(d);
        return;
    }
    copy_hash(r->bad, r->revision);
    set_bad_rollout(r, r->id);
    r->rolling_back = true;
    r->refusing = true;
    clear_watch(r);
    save(d); /* first: a daemon stopped before target.json is written goes back at its start */
    if (agent_target_save(d->target_path, &back, &err) < 0)
        m87_log(M87_LOG_ERR, "keep the target: %s", err->msg);
    agent_target_release(&d->target);
    d->target = back;
    d->has_target = true;
    d->apply_failures = 0;
    d->apply_retry_at = 0;
    agent_window_switch_over(d);
}

/* The job of the applied revision that failed, for the message. */
static char *failed_jobs(const struct agent_daemon *d)
{
    _cleanup_free_ char *names = NULL;

    for (size_t i = 0; d->has_applied && i < d->applied.rs->n_jobs; i++) {
        struct runner_record rec = {0};
        const struct spec_job *job = &d->applied.rs->jobs[i];
        if (job->enabled && runner_record_load(d->cfg->state_dir, job->id, &rec, NULL) > 0 &&
            strcmp(rec.state, RUNNER_FAILED) == 0) {
            char *more =
                m87_xasprintf("%s%s'%s'%s%s", names ? names : "", names ? ", " : "", job->id,
                              rec.message ? ": " : "", rec.message ? rec.message : "");
            free(names);
            names = more;
        }
        runner_record_release(&rec);
    }
    return m87_xasprintf("job %s failed", names ? names : "(see the job reports)");
}

void agent_rollout_applied(struct agent_daemon *d, int status)
{
    struct agent_rollout *r = state(d);
    bool applied = WIFEXITED(status) && WEXITSTATUS(status) != AGENT_APPLY_NOT;
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == AGENT_APPLY_OK;

    if (!applied || !d->has_applied)
        return;
    if (r->rolling_back && agent_target_same_revision(&d->applied, &r->previous)) {
        _cleanup_free_ char *msg = m87_xasprintf(
            "revision %.12s failed its health window: the revision before applied again%s", r->bad,
            ok ? "" : ", with failed jobs");
        struct rollout_record rec = {r->bad, r->bad_rollout, "rolled-back", msg, previous_hash(r)};
        journal(d, &rec);
        r->rolling_back = false;
        if (!r->refusing)
            clear_previous(r); /* the server sent another target meanwhile */
        save(d);
        m87_log(M87_LOG_INFO, "%s", msg); /* once it is journaled and kept */
        return;
    }
    if (!r->id || !same_hash(&d->applied, r->revision))
        return;
    if (!ok) {
        _cleanup_free_ char *why = failed_jobs(d);
        fail(d, why);
        return;
    }
    if (r->deadline)
        return; /* applied again inside its window (a restart): the window goes on */
    r->deadline = (int64_t)time(NULL) + r->window_s;
    save(d);
    m87_log(M87_LOG_INFO, "rollout %s: revision %.12s applied; watching it for %" PRId64 " s",
            r->id, r->revision, r->window_s);
}

/* ---- the watch ------------------------------------------------------------------------------- */

static bool of_revision(const struct agent_daemon *d, const struct agent_container *c)
{
    for (size_t i = 0; i < d->applied.rs->n_jobs; i++) {
        const struct spec_job *job = &d->applied.rs->jobs[i];
        if (job->enabled && strcmp(job->id, c->job) == 0 && strcmp(job->hash, c->job_hash) == 0)
            return true;
    }
    return false;
}

/* Why container c fails the window, NULL when it does not. *buf holds the text. */
static const char *container_verdict(struct agent_daemon *d, const struct agent_container *c,
                                     char **buf)
{
    struct agent_rollout *r = state(d);
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_(engine_container_info_freep) struct engine_container_info *info = NULL;

    if (strcmp(c->state, "running") != 0)
        return *buf = m87_xasprintf("container '%s' of job '%s' is %s (%s)", c->name, c->job,
                                    c->state, c->status);
    if (strstr(c->status, "(unhealthy)"))
        return *buf = m87_xasprintf("container '%s' of job '%s' is unhealthy (%s)", c->name, c->job,
                                    c->status);
    struct engine_client *e = agent_daemon_engine(d, &err);
    if (!e || engine_container_inspect(e, c->id, &info, &err) < 0) {
        m87_log(M87_LOG_DEBUG, "inspect container '%s': %s", c->name, err->msg);
        return NULL; /* gone meanwhile: the next look says so */
    }
    const char *seen = m87_kvlist_get(&r->restarts, c->id);
    if (!seen) {
        _cleanup_free_ char *v = m87_xasprintf("%" PRId64 " %s", info->restart_count, c->name);
        m87_kvlist_set(&r->restarts, c->id, v);
        save(d);
        return NULL;
    }
    int64_t before = strtoll(seen, NULL, 10);
    if (info->restart_count > before)
        return *buf = m87_xasprintf("container '%s' of job '%s' restarted (%" PRId64
                                    " restarts in the window)",
                                    c->name, c->job, info->restart_count - before);
    return NULL;
}

/* A container first seen in the window that is no longer there. */
static const char *gone_verdict(const struct agent_rollout *r, const struct agent_container *v,
                                size_t n, char **buf)
{
    for (size_t k = 0; k < r->restarts.len; k++) {
        bool found = false;
        for (size_t i = 0; !found && i < n; i++)
            found = strcmp(v[i].id, r->restarts.items[k].key) == 0;
        if (found)
            continue;
        const char *name = strchr(r->restarts.items[k].value, ' ');
        return *buf = m87_xasprintf("container '%s' is gone", name ? name + 1 : "?");
    }
    return NULL;
}

void agent_rollout_tick(struct agent_daemon *d, const struct agent_container *v, size_t n)
{
    struct agent_rollout *r = state(d);
    _cleanup_free_ char *buf = NULL;
    const char *why = NULL;

    if (!r->id || !r->deadline || d->child || !d->has_applied ||
        !same_hash(&d->applied, r->revision))
        return;
    for (size_t i = 0; !why && i < n; i++)
        if (of_revision(d, &v[i]))
            why = container_verdict(d, &v[i], &buf);
    if (!why)
        why = gone_verdict(r, v, n, &buf);
    if (why) {
        fail(d, why);
        return;
    }
    if ((int64_t)time(NULL) < r->deadline)
        return;
    _cleanup_free_ char *msg = m87_xasprintf(
        "every job succeeded and its containers kept running for the %" PRId64 " s window",
        r->window_s);
    struct rollout_record rec = {r->revision, r->id, "healthy", msg, previous_hash(r)};
    journal(d, &rec);
    m87_log(M87_LOG_INFO, "rollout %s: revision %.12s is healthy: %s", r->id, r->revision, msg);
    clear_watch(r);
    clear_previous(r);
    save(d);
}
