/* The rollout state machine (docs/fleets.md). State lives in the database: a rollout's state,
 * current wave and when it started; each member's row (pending, applying, healthy, failed,
 * offline, rolled-back) with the revision placed, the one it replaced and its health deadline.
 *
 * Work follows events, never a scan of the fleet: a report of a device is checked against that
 * device's watched rows only (rollout-gate.c, in the sync's transaction); the driver thread here,
 * woken by such a change, by an admin action or at the earliest deadline (a health window's end,
 * a wave's timeout), counts the current wave of each live rollout by its index and moves on. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/log.h"
#include "server/http.h"
#include "server/json.h"
#include "server/limits.h"
#include "server/rollout.h"
#include "server/store-deployments.h"
#include "server/store-devices.h"
#include "server/store-fleets.h"
#include "server/store-notify.h"
#include "server/store-reports.h"
#include "server/store-rollouts.h"
#include "server/store.h"
#include "server/util.h"

/* The longest the driver sleeps without an event (a safety net, not the clock of the gate). */
#define DRIVER_MAX_SLEEP 30
/* Members placed in one transaction: a big wave goes out in several, each woken at its commit,
 * so that the first devices get their target without waiting for the last one's revision. */
#define PLACE_BATCH 200

struct srv_rollouts {
    struct srv *s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool quit;
    bool woken;
    bool leading; /* this replica holds the rollouts' lock (srv_rollouts_lead) */
};

/* ---- options ---- */

/* "N" (0 to 1e6) or "P%" (0 to 100) into *value and *percent. */
static bool parse_amount(const char *item, size_t len, int64_t *value, bool *percent)
{
    char buf[16];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, item, len);
    buf[len] = '\0';
    *percent = buf[len - 1] == '%';
    if (*percent)
        buf[len - 1] = '\0';
    if (buf[0] == '\0' || strspn(buf, "0123456789") != strlen(buf))
        return false;
    return srv_parse_int(buf, 0, *percent ? 100 : 1000000, value) == 0;
}

int srv_waves_parse(const char *text, int64_t n, char **out, struct m87_error **err)
{
    struct m87_jw *w = m87_jw_new();
    int64_t last = 0;
    const char *p = text;
    m87_jw_arr_open(w);
    for (;;) {
        size_t len = strcspn(p, ",");
        int64_t v = 0;
        bool percent = false;
        if (!parse_amount(p, len, &v, &percent) || v == 0) {
            m87_jw_free(w);
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "waves: '%.*s' is not a count of devices (1 or more) or a "
                                 "percentage of the fleet (1%% to 100%%)",
                                 (int)len, p);
        }
        int64_t count = percent ? (v * n + 99) / 100 : v;
        if (count > n)
            count = n;
        if (count > last) {
            m87_jw_int(w, count);
            last = count;
        }
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    if (last < n) /* the last wave takes every member left */
        m87_jw_int(w, n);
    m87_jw_arr_close(w);
    *out = m87_jw_finish(w);
    return 0;
}

int srv_max_failed_check(const char *text, struct m87_error **err)
{
    int64_t v = 0;
    bool percent = false;
    if (!parse_amount(text, strlen(text), &v, &percent))
        return m87_error_set(err, M87_E_INVAL, 0,
                             "max_failed: '%s' is not a count (0 or more) or a percentage of a "
                             "wave (0%% to 100%%)",
                             text);
    return 0;
}

/* How many members of a wave of size may fail. */
static int64_t max_failed(const char *text, int64_t size)
{
    int64_t v = 0;
    bool percent = false;
    if (!parse_amount(text, strlen(text), &v, &percent))
        return 0;
    return percent ? v * size / 100 : v;
}

/* The cumulative count of wave (1-based) in the JSON array waves; 0 past the last. */
static int64_t wave_end(const char *waves, int64_t wave, int64_t *n_waves)
{
    _cleanup_(m87_json_freep) struct m87_json *a = m87_json_parse(waves, strlen(waves), NULL);
    *n_waves = (int64_t)m87_json_len(a);
    if (wave < 1 || wave > *n_waves)
        return 0;
    return m87_json_int(m87_json_at(a, (size_t)wave - 1), 0);
}

/* ---- waves ---- */

static bool device_online(struct srv *s, int64_t device_id, struct m87_error **err, int *rc)
{
    _cleanup_(srv_device_release) struct srv_device d = {0};
    /* locked before anything of the device is written, in the order of its own requests */
    *rc = srv_device_lock(s->store, device_id, err);
    if (*rc == 0)
        *rc = srv_device_by_id(s->store, device_id, &d, err);
    return *rc == 0 && !d.offline && d.last_seen > 0 &&
           d.last_seen >= srv_now() - s->longpoll_max - SRV_ONLINE_GRACE;
}

/* Place the release on one pending member. */
static int place_one(struct srv *s, const struct srv_rollout *ro, const struct srv_release *rel,
                     struct srv_rollout_device *d, struct srv_touched *touched,
                     struct m87_error **err)
{
    int rc = 0;
    bool online = device_online(s, d->device_id, err, &rc);
    if (rc < 0)
        return -1;
    _cleanup_(srv_placed_release) struct srv_placed p = {0};
    struct m87_error *e = NULL;
    if (srv_release_place(s, d->device_id, rel, ro->now, touched, &p, &e) < 0) {
        if (m87_error_code(e) != M87_E_CONFLICT) {
            *err = e;
            return -1;
        }
        srv_rdev_set_state(d, SRV_RD_FAILED, e->msg);
        m87_error_free(e);
        return srv_rdev_update(s->store, d, err);
    }
    d->deployment_id = p.deployment_id;
    free(d->revision);
    d->revision = M87_STEAL(p.revision);
    free(d->previous);
    d->previous = M87_STEAL(p.previous);
    d->previous_number = p.previous_number;
    d->placed = srv_now();
    bool skip = !online && strcmp(ro->offline, "skip") == 0;
    srv_rdev_set_state(d, skip ? SRV_RD_OFFLINE : SRV_RD_APPLYING,
                       skip ? "offline when its wave started: it gets the release when it is back"
                            : NULL);
    /* it runs that revision already: no report will come to start its window */
    bool yes = false;
    if (!p.changed && srv_rdev_all_succeeded(s->store, d, &yes, err) < 0)
        return -1;
    if (yes) {
        d->applied = srv_now();
        d->deadline = d->applied + ro->health_window;
    }
    return srv_rdev_update(s->store, d, err);
}

/* Place the release on up to PLACE_BATCH pending members of the current wave; *more when some
 * may be left (the driver commits, wakes those devices and goes on at once). */
static int place_batch(struct srv *s, const struct srv_rollout *ro, const struct srv_release *rel,
                       struct srv_touched *touched, bool *more, struct m87_error **err)
{
    struct srv_rollout_device *v = NULL;
    size_t n = 0;
    if (srv_rdev_pending(s->store, ro->id, ro->wave, PLACE_BATCH, &v, &n, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = place_one(s, ro, rel, &v[i], touched, err);
    srv_rollout_devices_free(v, n);
    *more = n == PLACE_BATCH;
    return rc;
}

static void start_wave(struct srv_rollout *ro, int64_t wave)
{
    ro->wave = wave;
    ro->wave_started = srv_now();
    m87_log(M87_LOG_INFO, "rollout %s of fleet '%s': wave %lld started", ro->public_id, ro->fleet,
            (long long)ro->wave);
}

/* Every member of the rollout that got its revision gets the one it had back. */
static int roll_back(struct srv *s, struct srv_rollout *ro, struct srv_touched *touched,
                     struct m87_error **err)
{
    struct srv_rollout_device *v = NULL;
    size_t n = 0;
    if (srv_rdev_list(s->store, ro->id, 0, &v, &n, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct srv_rollout_device *d = &v[i];
        if (d->placed == 0 || strcmp(d->state, SRV_RD_ROLLED_BACK) == 0 || d->deployment_id == 0)
            continue;
        bool done = false;
        _cleanup_free_ char *message = NULL;
        rc = srv_revision_restore(s, d->device_id, d->deployment_id, d->previous_number, touched,
                                  &done, &message, err);
        if (rc == 0 && done) {
            free(d->state);
            d->state = m87_xstrdup(SRV_RD_ROLLED_BACK);
        } else if (rc == 0) {
            free(d->message);
            d->message = M87_STEAL(message);
        }
        if (rc == 0)
            rc = srv_rdev_update(s->store, d, err);
    }
    srv_rollout_devices_free(v, n);
    ro->rollback_pending = false;
    if (rc == 0)
        m87_log(M87_LOG_INFO, "rollout %s of fleet '%s': rolled back", ro->public_id, ro->fleet);
    return rc;
}

static void set_rollout(struct srv_rollout *ro, const char *state, char *message)
{
    free(ro->state);
    ro->state = m87_xstrdup(state);
    free(ro->message);
    ro->message = message;
}

/* Members of the current wave still applying past its timeout count as failed. */
static int time_out(struct srv *s, struct srv_rollout *ro, struct m87_error **err)
{
    struct srv_rollout_device *v = NULL;
    size_t n = 0;
    if (srv_rdev_list(s->store, ro->id, ro->wave, &v, &n, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (strcmp(v[i].state, SRV_RD_APPLYING) != 0 && strcmp(v[i].state, SRV_RD_PENDING) != 0)
            continue;
        srv_rdev_set_state(&v[i], SRV_RD_FAILED, "not healthy when the wave timed out");
        rc = srv_rdev_update(s->store, &v[i], err);
    }
    srv_rollout_devices_free(v, n);
    return rc;
}

enum { C_PENDING, C_APPLYING, C_HEALTHY, C_FAILED, C_OFFLINE, C_N };
static const char *const count_states[] = {SRV_RD_PENDING, SRV_RD_APPLYING, SRV_RD_HEALTHY,
                                           SRV_RD_FAILED,  SRV_RD_OFFLINE,  NULL};

/* Move a running rollout as far as its current wave allows. */
static int advance(struct srv *s, struct srv_rollout *ro, struct srv_touched *touched, bool *more,
                   struct m87_error **err)
{
    _cleanup_(srv_release_release) struct srv_release rel = {0};
    if (srv_release_get(s->store, ro->release_id, &rel, err) < 0)
        return -1;
    for (int guard = 0; guard < 1000; guard++) {
        int64_t n_waves = 0;
        if (ro->wave == 0) {
            if (wave_end(ro->waves, 1, &n_waves) == 0) {
                ro->wave = 1;
                set_rollout(ro, SRV_RO_DONE, m87_xstrdup("the fleet had no members"));
                return 0;
            }
            start_wave(ro, 1);
        }
        int64_t c[C_N];
        if (srv_rdev_counts(s->store, ro->id, ro->wave, count_states, c, err) < 0)
            return -1;
        int64_t size = c[C_PENDING] + c[C_APPLYING] + c[C_HEALTHY] + c[C_FAILED] + c[C_OFFLINE];
        int64_t allowed = max_failed(ro->max_failed, size);
        if (c[C_FAILED] > allowed) {
            set_rollout(ro, SRV_RO_HALTED,
                        m87_xasprintf("wave %lld: %lld of %lld devices failed (at most %lld may)",
                                      (long long)ro->wave, (long long)c[C_FAILED], (long long)size,
                                      (long long)allowed));
            m87_log(M87_LOG_WARN, "rollout %s of fleet '%s' halted: %s", ro->public_id, ro->fleet,
                    ro->message);
            if (strcmp(ro->rollback, "on-failure") == 0)
                return roll_back(s, ro, touched, err);
            return 0;
        }
        if (c[C_PENDING] > 0 && srv_now() < ro->wave_started + ro->wave_timeout) {
            if (place_batch(s, ro, &rel, touched, more, err) < 0)
                return -1;
            if (*more)
                return 0;
            continue; /* the wave may have passed (members offline, failed, healthy) */
        }
        if (c[C_PENDING] + c[C_APPLYING] > 0) {
            if (srv_now() < ro->wave_started + ro->wave_timeout)
                return 0;
            if (time_out(s, ro, err) < 0)
                return -1;
            continue;
        }
        wave_end(ro->waves, ro->wave, &n_waves);
        if (ro->wave >= n_waves) {
            set_rollout(ro, SRV_RO_DONE, NULL);
            m87_log(M87_LOG_INFO, "rollout %s of fleet '%s' done", ro->public_id, ro->fleet);
            return 0;
        }
        start_wave(ro, ro->wave + 1);
    }
    return 0;
}

/* Rows past their health window are healthy. */
static int mark_due(struct srv *s, struct m87_error **err)
{
    struct srv_rollout_device *v = NULL;
    size_t n = 0;
    if (srv_rdev_due(s->store, srv_now(), &v, &n, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        srv_rdev_set_state(&v[i], SRV_RD_HEALTHY, NULL);
        rc = srv_rdev_update(s->store, &v[i], err);
    }
    srv_rollout_devices_free(v, n);
    return rc;
}

/* One round: mark the due rows, move every live rollout; *next the earliest deadline left. */
static int drive(struct srv *s, struct srv_touched *touched, int64_t *next, bool *more,
                 struct m87_error **err)
{
    struct srv_rollout *v = NULL;
    size_t n = 0;
    int rc = mark_due(s, err);
    if (rc == 0)
        rc = srv_rollout_live(s->store, &v, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct srv_rollout *ro = &v[i];
        _cleanup_free_ char *was = m87_xasprintf(
            "%s %lld %lld %d %s", ro->state, (long long)ro->wave, (long long)ro->wave_started,
            ro->rollback_pending, ro->message ? ro->message : "");
        if (ro->rollback_pending)
            rc = roll_back(s, ro, touched, err);
        else
            rc = advance(s, ro, touched, more, err);
        _cleanup_free_ char *is = m87_xasprintf(
            "%s %lld %lld %d %s", ro->state, (long long)ro->wave, (long long)ro->wave_started,
            ro->rollback_pending, ro->message ? ro->message : "");
        if (rc == 0 && strcmp(was, is) != 0) /* "updated" is when it last changed */
            rc = srv_rollout_update(s->store, ro, err);
    }
    srv_rows_free(v, n, &srv_rollout_row);
    int64_t a = 0, b = 0;
    if (rc == 0)
        rc = srv_rdev_next_deadline(s->store, &a, err);
    if (rc == 0)
        rc = srv_rollout_next_timeout(s->store, &b, err);
    *next = a && b ? (a < b ? a : b) : (a ? a : b);
    if (*more) /* members left to place: at once */
        *next = srv_now();
    return rc;
}

/* The other replicas wake the held syncs of the devices it placed on at the commit. */
static int touched_send(struct srv *s, const struct srv_touched *t, struct m87_error **err)
{
    for (size_t i = 0; i < t->n; i++)
        if (srv_store_notify(s->store, SRV_WAKE_SYNCS, t->v[i], err) < 0)
            return -1;
    return 0;
}

static int64_t drive_once(struct srv *s)
{
    _cleanup_error_ struct m87_error *err = NULL;
    struct srv_touched touched = {0};
    int64_t next = 0;
    bool more = false;
    if (srv_store_begin(s->store, &err) < 0)
        goto fail;
    if (srv_store_lock_round(s->store, SRV_LOCK_ROLLOUT_ROUND, &err) < 0 ||
        drive(s, &touched, &next, &more, &err) < 0 || touched_send(s, &touched, &err) < 0) {
        srv_store_rollback(s->store);
        goto fail;
    }
    if (srv_store_commit(s->store, &err) < 0)
        goto fail;
    srv_touched_notify(s, &touched);
    return more ? -1 : next;
fail:
    srv_touched_release(&touched);
    m87_log(M87_LOG_ERR, "rollouts: %s", err->msg);
    return srv_now() + 5;
}

static void *driver_main(void *arg)
{
    struct srv_rollouts *d = arg;
    pthread_mutex_lock(&d->mu);
    while (!d->quit) {
        if (!d->leading) { /* another replica drives; a wake here is for when this one leads */
            pthread_cond_wait(&d->cond, &d->mu);
            continue;
        }
        d->woken = false;
        pthread_mutex_unlock(&d->mu);
        int64_t next = drive_once(d->s);
        pthread_mutex_lock(&d->mu);
        if (next < 0 || d->woken || d->quit) /* more to do at once */
            continue;
        int64_t now = srv_now();
        int64_t wait = next > 0 ? next - now : DRIVER_MAX_SLEEP;
        if (wait > DRIVER_MAX_SLEEP)
            wait = DRIVER_MAX_SLEEP;
        if (wait < 0)
            wait = 0;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        /* a deadline is in whole seconds of the wall clock: wake just after it */
        until.tv_sec += wait;
        until.tv_nsec += 50 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!d->woken && !d->quit && pthread_cond_timedwait(&d->cond, &d->mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

struct srv_rollouts *srv_rollouts_start(struct srv *s)
{
    struct srv_rollouts *d = m87_xcalloc(1, sizeof(*d));
    d->s = s;
    pthread_mutex_init(&d->mu, NULL);
    srv_cond_init_monotonic(&d->cond);
    if (pthread_create(&d->thread, NULL, driver_main, d) != 0) {
        m87_log(M87_LOG_ERR, "rollouts: cannot start the driver thread");
        pthread_cond_destroy(&d->cond);
        pthread_mutex_destroy(&d->mu);
        free(d);
        return NULL;
    }
    return d;
}

void srv_rollouts_stop(struct srv_rollouts *d)
{
    if (d == NULL)
        return;
    srv_thread_stop(d->thread, &d->mu, &d->cond, &d->quit);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

void srv_rollouts_wake(struct srv_rollouts *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&d->mu);
    d->woken = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->mu);
}

void srv_rollouts_lead(struct srv_rollouts *d, bool leading)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&d->mu);
    d->leading = leading;
    d->woken = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->mu);
}
