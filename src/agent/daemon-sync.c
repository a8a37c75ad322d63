/* One sync with the server: the applied revision and the queued reports go up, the acknowledged
 * seq and a new target come down. Failures back off with full jitter, forever. */
#include <string.h>

#include "agent/backoff.h"
#include "agent/daemon.h"
#include "agent/metrics.h"
#include "agent/prefetch.h"
#include "agent/registries.h"
#include "agent/remote.h"
#include "agent/rollout.h"
#include "agent/sessions.h"
#include "agent/sync-http.h"
#include "agent/target.h"
#include "agent/trust.h"
#include "agent/windows.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"
#include "m87/log.h"
#include "m87/runner-journal.h"
#include "m87/runner-text.h"
#include "m87/time.h"
#include "m87/version.h"

/* The body: {"applied","agent_version","reports":[...],"wait"} (and "offline" at a clean stop,
 * "metrics" when a sample is due: *sampled); *last gets the last seq sent. */
static char *sync_body(struct agent_daemon *d, long wait, bool offline, int64_t *last,
                       size_t *n_sent, bool *sampled, struct m87_error **err)
{
    struct m87_strv recs;

    m87_strv_init(&recs);
    if (runner_journal_read(d->journal, 0, AGENT_MAX_SYNC_REPORTS, AGENT_MAX_SYNC_BYTES, &recs,
                            last, err) < 0) {
        m87_strv_release(&recs);
        return NULL;
    }
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "applied", agent_daemon_applied_hash(d));
    m87_jw_kstr(w, "agent_version", M87_VERSION);
    if (d->registries_digest[0] != '\0')
        m87_jw_kstr(w, "registries", d->registries_digest);
    m87_jw_key(w, "reports");
    m87_jw_arr_open(w);
    for (size_t i = 0; i < recs.len; i++) {
        _cleanup_(m87_json_freep) struct m87_json *rec =
            m87_json_parse(recs.items[i], strlen(recs.items[i]), NULL);
        if (rec)
            m87_jw_node(w, rec);
    }
    m87_jw_arr_close(w);
    m87_jw_kint(w, "wait", recs.len ? 0 : wait);
    if (offline)
        m87_jw_kbool(w, "offline", true);
    agent_window_sync_fields(d, w, agent_rollout_bad(d));
    *sampled = !offline && agent_metrics_sync_field(d, w);
    m87_jw_obj_close(w);
    *n_sent = recs.len;
    m87_strv_release(&recs);
    return m87_jw_finish(w);
}

static void set_str(char **field, const char *value)
{
    free(*field);
    *field = value ? m87_xstrdup(value) : NULL;
}

/* The stored target already: being applied, or queued. */
static bool known_target(const struct agent_daemon *d, const struct m87_json *node,
                         const char *hash)
{
    if (!d->has_target)
        return false;
    if (m87_json_type(node) == M87_JSON_NULL)
        return d->target.stop;
    return !d->target.stop && hash && strcmp(hash, d->target.hash) == 0 &&
           m87_json_int(m87_json_get(node, "policy"), -1) ==
               (d->target.has_policy ? d->target.policy : -1);
}

/* A target differing from the stored one: kept (target.json) for the next apply. */
static void take_target(struct agent_daemon *d, const struct m87_json *node)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct agent_target t;
    const char *hash = m87_json_str(m87_json_get(node, "hash"), NULL);

    agent_rollout_answer(d, hash);
    if (known_target(d, node, hash))
        return;
    if (hash && agent_rollout_bad(d) && strcmp(hash, agent_rollout_bad(d)) == 0) {
        m87_log(M87_LOG_DEBUG,
                "target revision %.12s failed its health window here: not applied "
                "again until another target comes",
                hash);
        return;
    }
    if (hash && d->rejected && strcmp(hash, d->rejected) == 0) {
        d->pace = true; /* the server sends it on every sync: do not ask in a loop */
        return;
    }
    if (agent_target_from_json(node, &t, &err) < 0) {
        m87_log(M87_LOG_ERR, "target revision %.12s refused: %s", hash ? hash : "?", err->msg);
        set_str(&d->rejected, hash);
        d->pace = true;
        return;
    }
    if (agent_trust_check(d, &t) < 0) {
        agent_target_release(&t);
        return;
    }
    if (agent_target_save(d->target_path, &t, &err) < 0) {
        m87_log(M87_LOG_ERR, "keep the target: %s", err->msg);
        agent_target_release(&t);
        d->pace = true; /* a full or read-only disk: the server sends it again on every sync */
        return;
    }
    _cleanup_free_ char *what = agent_target_describe(&t);
    m87_log(M87_LOG_INFO, "new target revision %s%s", what,
            d->child ? ": applied once the current apply ends" : "");
    /* the same revision with another policy (windows, prefetch, now) keeps its retry state: a
     * failed apply would otherwise never be tried again */
    bool same = d->has_target && agent_target_same_revision(&d->target, &t);
    agent_rollout_target(d, &t);
    agent_target_release(&d->target);
    d->target = t;
    d->has_target = true;
    d->news = true;
    if (!same) {
        d->apply_failures = 0;
        d->apply_retry_at = 0;
        agent_window_switch_over(d);
    }
}

/* No target in the answer: the server wants what the device applied. A queued target that was
 * not started is dropped (a deployment switched back before the device got to it). */
static void target_is_applied(struct agent_daemon *d)
{
    _cleanup_error_ struct m87_error *err = NULL;

    if (!d->has_target || !d->has_applied || d->child || !d->applied.text ||
        strcmp(d->target.text, d->applied.text) == 0 || agent_window_waiting_hash(d) ||
        (!d->target.stop && !d->applied.stop && strcmp(d->target.hash, d->applied.hash) == 0))
        return; /* a waiting target was named in the request: no target means it stays */
    if (agent_target_save(d->target_path, &d->applied, &err) < 0) {
        m87_log(M87_LOG_ERR, "keep the target: %s", err->msg);
        return;
    }
    m87_log(M87_LOG_INFO, "the server's target is the applied revision again");
    agent_window_switch_over(d);
    agent_target_release(&d->target);
    struct m87_json *doc = m87_json_parse(d->applied.text, strlen(d->applied.text), NULL);
    if (doc && agent_target_from_json(doc, &d->target, NULL) == 0)
        d->has_target = true;
    else
        d->has_target = false;
    m87_json_free(doc);
}

/* Images to pull ahead: no key signs the list, so with trusted keys it is not taken (a server
 * would choose what the device downloads). */
static void take_prefetch(struct agent_daemon *d, const struct m87_json *node)
{
    if (d->cfg->n_trust_keys == 0) {
        agent_prefetch_take(d, node);
        return;
    }
    if (m87_json_len(m87_json_get(node, "images")) > 0 && !d->prefetch_warned) {
        m87_log(M87_LOG_WARN, "images to prefetch ignored: no key signs the list, and this device "
                              "trusts signing keys");
        d->prefetch_warned = true;
    }
    agent_prefetch_take(d, NULL);
}

static int handle_answer(struct agent_daemon *d, const char *text, int64_t last_sent,
                         struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = m87_json_parse(text, strlen(text), err);
    if (!doc)
        return m87_error_wrap(err, "the server's answer");
    int64_t ack = m87_json_int(m87_json_get(doc, "ack"), -1);
    if (ack < 0)
        return m87_error_set(err, M87_E_PARSE, 0, "the server's answer has no 'ack'");
    if (ack > last_sent && ack >= runner_journal_next_seq(d->journal))
        m87_log(M87_LOG_WARN,
                "the server has reports up to seq %lld (a reset state directory?): "
                "numbering goes on after it",
                (long long)ack);
    if (ack > 0 && runner_journal_drop(d->journal, ack, err) < 0)
        return -1;
    agent_trust_device(d, m87_json_str(m87_json_get(doc, "device"), NULL));
    const struct m87_json *sessions = m87_json_get(doc, "sessions");
    if (sessions && m87_json_type(sessions) == M87_JSON_ARRAY && m87_json_len(sessions) > 0) {
        agent_sessions_take(d, sessions); /* sync execution: each runs in its own child */
        d->news = true;
    }
    if (agent_remote_take(d, m87_json_get(doc, "remote")) > 0) /* remote access: remote.md */
        d->news = true;
    take_prefetch(d, m87_json_get(doc, "prefetch_images"));
    /* not signed, with or without trusted keys: they do not choose what runs */
    agent_registries_take(d, m87_json_get(doc, "registries"));
    const struct m87_json *target = m87_json_get(doc, "target");
    if (target)
        take_target(d, target);
    else
        target_is_applied(d);
    return 0;
}

/* sent: the reports the failed request carried (kept in the journal for a later sync). */
static void sync_failed(struct agent_daemon *d, const struct m87_error *e, size_t sent)
{
    /* 429: the server limits failed authentications from this address (a NAT shared with
     * devices whose tokens are wrong), or the reports of this device: no use asking again soon.
     * The journal is kept whatever the failure: its reports go with a later sync. */
    bool auth = e->http_status == 401 || e->http_status == 403 || e->http_status == 429;
    int64_t cap = agent_backoff_cap_ms();
    int64_t asked = agent_http_retry_after(d->http) * 1000;

    d->sync_failures++;
    int64_t wait = auth ? cap : agent_backoff_ms(d->sync_failures, AGENT_BACKOFF_BASE_MS, cap);
    /* the server said when (its ingest limit, a disk nearly full): then, a little jitter after */
    if (asked > 0 && (e->http_status == 429 || e->http_status == 503 || e->http_status == 507)) {
        wait = asked + agent_backoff_ms(1, AGENT_BACKOFF_BASE_MS, cap);
        if (wait > cap)
            wait = cap;
    }
    if (e->http_status == 429)
        m87_log(M87_LOG_ERR, "sync: %s; %zu reports kept for a later sync; trying again in %lld s",
                e->msg, sent, (long long)(wait / 1000));
    else if (auth)
        m87_log(M87_LOG_ERR,
                "sync: the server refused the device token (HTTP %ld): %s; check "
                "the token; trying again in %lld s",
                e->http_status, e->msg, (long long)(wait / 1000));
    else
        m87_log(d->connected ? M87_LOG_ERR : M87_LOG_WARN, "sync: %s; trying again in %lld ms",
                e->msg, (long long)wait);
    d->connected = false;
    set_str(&d->last_error, e->msg);
    d->next_sync_at = m87_mono_ms() + wait;
}

/* When the next sync is due after a good one. */
static int64_t next_after_success(struct agent_daemon *d, size_t sent, long wait, int64_t took)
{
    int64_t now = m87_mono_ms();

    if (d->pace)
        return now + agent_backoff_cap_ms();
    /* an answer well before the wait with nothing new: the server insists on something the
     * agent has (say, a stop it keeps trying); asking again at once would loop at network
     * speed. One such answer can be a race with another change: the pause starts at 1 s. */
    bool early = wait > 0 && sent == 0 && !d->news && took < wait * 1000 / 2;
    d->early_answers = early ? d->early_answers + 1 : 0;
    if (early)
        return now + agent_backoff_ms(d->early_answers, AGENT_BUSY_SYNC_MS, agent_backoff_cap_ms());
    if (sent >= AGENT_MAX_SYNC_REPORTS || (sent > 0 && !d->child))
        return now;
    if (!d->child)
        return wait > 0 ? now : now + AGENT_BUSY_SYNC_MS;
    return now + (d->queue > 0 ? AGENT_BUSY_SYNC_MS : AGENT_BUSY_IDLE_SYNC_MS);
}

/* How long the server may hold the request: not while an apply runs (its reports must flow),
 * nor past a scheduled retry of an apply, nor before a sync got through. */
static long sync_wait(const struct agent_daemon *d)
{
    if (d->child || !d->connected)
        return 0; /* the first sync after a start or a failure says at once that it got through */
    long cap = m87_mono_ms() < d->logs_active_until ? AGENT_LOGS_SYNC_WAIT_S : AGENT_SYNC_WAIT_S;
    if (!d->apply_retry_at || !agent_window_apply_allowed(d))
        return cap; /* a retry outside the window waits for it: agent_window_sync_wait */
    int64_t left = (d->apply_retry_at - m87_mono_ms()) / 1000;
    return left <= 0 ? 0 : left < cap ? (long)left : cap;
}

static void update_queue(struct agent_daemon *d)
{
    _cleanup_error_ struct m87_error *err = NULL;

    if (runner_journal_pending(d->journal, &d->queue, &err) < 0)
        m87_log(M87_LOG_ERR, "%s", err->msg);
}

void agent_daemon_sync(struct agent_daemon *d)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *answer = NULL;
    int64_t last = 0;
    size_t sent = 0;
    bool sampled = false;
    d->pace = false;
    d->news = false;
    int64_t started = m87_mono_ms();
    long wait = agent_window_sync_wait(d, sync_wait(d));
    _cleanup_free_ char *body = sync_body(d, wait, false, &last, &sent, &sampled, &err);

    if (!body || agent_http_sync(d->http, body, sent ? 0 : wait, &answer, &err) < 0 ||
        handle_answer(d, answer, last, &err) < 0) {
        if (m87_error_code(err) != M87_E_CANCELLED)
            sync_failed(d, err, sent);
        else if (!*d->stop)
            m87_log(M87_LOG_DEBUG, "long-poll ended early: records to send");
        if (sampled && m87_error_code(err) == M87_E_CANCELLED)
            agent_metrics_sent(d); /* a held request: the server stored it when it came */
        update_queue(d);
        agent_daemon_save_state(d);
        return;
    }
    explicit_bzero(answer, strlen(answer)); /* it may hold registry passwords */
    if (sampled)
        agent_metrics_sent(d);
    if (!d->connected)
        m87_log(M87_LOG_INFO, "connected to %s", agent_http_server(d->cfg));
    if (sent)
        m87_log(M87_LOG_DEBUG, "sent %zu reports", sent);
    d->connected = true;
    d->sync_failures = 0;
    set_str(&d->last_error, NULL);
    free(d->last_sync);
    d->last_sync = runner_now_rfc3339();
    update_queue(d);
    d->next_sync_at = next_after_success(d, sent, wait, m87_mono_ms() - started);
    agent_daemon_save_state(d);
}

void agent_daemon_goodbye(struct agent_daemon *d)
{
    _cleanup_error_ struct m87_error *err = NULL;
    _cleanup_free_ char *answer = NULL;
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    int64_t last = 0;
    size_t sent = 0;
    bool sampled = false;

    if (!d->connected)
        return;                         /* no server to tell: the stop must not wait for one */
    agent_http_set_stop(d->http, NULL); /* the stop signal has come: this request is part of it */
    _cleanup_free_ char *body = sync_body(d, 0, true, &last, &sent, &sampled, &err);
    if (!body || agent_http_post(d->http, "/v1/agent/sync", body, AGENT_GOODBYE_TIMEOUT_S, &answer,
                                 &err) < 0) {
        m87_log(M87_LOG_WARN, "could not tell the server that the device goes offline: %s",
                err->msg);
        return;
    }
    doc = m87_json_parse(answer, strlen(answer), NULL);
    int64_t ack = m87_json_int(m87_json_get(doc, "ack"), -1);
    if (ack > 0 && runner_journal_drop(d->journal, ack, &err) < 0)
        m87_log(M87_LOG_ERR, "%s", err->msg);
    m87_log(M87_LOG_INFO, "told the server that the device goes offline (%zu reports sent)", sent);
}
