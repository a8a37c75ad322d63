/* Fleet releases, rollouts and the members' rows in them, in the store. Every query the rollout
 * driver runs on an event reads one device's rows or one wave's (indexes of the migration), never
 * the whole fleet. */
#include <string.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "server/store-internal.h"
#include "server/store-rollouts.h"
#include "server/util.h"

#define REL_COLS                                                                                   \
    "SELECT r.id, r.fleet_id, f.name, r.number, r.hash, r.jobs, r.spec, r.sig_key, r.sig,"         \
    " r.sig_time, r.created FROM fleet_releases r JOIN fleets f ON f.id = r.fleet_id"
static const char SQL_REL_GET[] = REL_COLS " WHERE r.id = ?1";
static const char SQL_REL_NEXT[] =
    "SELECT COALESCE(MAX(number), 0) + 1 FROM fleet_releases WHERE fleet_id = ?1";
static const char SQL_REL_ADD[] =
    "INSERT INTO fleet_releases (fleet_id, number, hash, jobs, spec, sig_key, sig, sig_time,"
    " created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id";
static const char SQL_REL_CURRENT[] =
    REL_COLS " WHERE r.id = (SELECT release_id FROM rollouts WHERE fleet_id = ?1 AND state IN"
             " ('running', 'paused', 'done') ORDER BY id DESC LIMIT 1)";
static const char SQL_REV_ID[] =
    "SELECT id FROM revisions WHERE deployment_id = ?1 AND number = ?2";
static const char SQL_REVREL_ADD[] =
    "INSERT INTO revision_releases (revision_id, release_id) VALUES (?1, ?2)"
    " ON CONFLICT DO NOTHING";
static const char SQL_REVREL_DROP[] =
    "DELETE FROM revision_releases WHERE revision_id = ?1 AND release_id IN"
    " (SELECT id FROM fleet_releases WHERE fleet_id = ?2)";
static const char SQL_REVREL_LIST[] =
    REL_COLS " JOIN revision_releases x ON x.release_id = r.id WHERE x.revision_id = ?1"
             " ORDER BY f.name";

#define RO_COLS                                                                                    \
    "SELECT o.id, o.public_id, o.fleet_id, f.name, o.release_id, r.number, o.state, o.waves,"      \
    " o.health_window, o.max_failed, o.offline, o.wave_timeout, o.rollback, o.now, o.wave,"        \
    " o.wave_started, o.rollback_pending, o.message, o.created, o.updated FROM rollouts o"         \
    " JOIN fleets f ON f.id = o.fleet_id JOIN fleet_releases r ON r.id = o.release_id"
static const char SQL_RO_FIND[] = RO_COLS " WHERE o.fleet_id = ?1 AND o.public_id = ?2";
static const char SQL_RO_BY_ID[] = RO_COLS " WHERE o.id = ?1";
static const char SQL_RO_LIST[] = RO_COLS " WHERE o.fleet_id = ?1 ORDER BY o.id DESC";
static const char SQL_RO_ACTIVE[] =
    RO_COLS " WHERE o.fleet_id = ?1 AND o.state IN ('running', 'paused') ORDER BY o.id DESC";
static const char SQL_RO_LIVE[] =
    RO_COLS " WHERE o.state = 'running' OR o.rollback_pending = 1 ORDER BY o.id";
static const char SQL_RO_ADD[] =
    "INSERT INTO rollouts (public_id, fleet_id, release_id, state, waves, health_window,"
    " max_failed, offline, wave_timeout, rollback, now, created, updated) VALUES (?1, ?2, ?3,"
    " 'running', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) ON CONFLICT DO NOTHING RETURNING id";
static const char SQL_RO_UPDATE[] =
    "UPDATE rollouts SET state = ?2, wave = ?3, wave_started = ?4, rollback_pending = ?5,"
    " message = ?6, updated = ?7 WHERE id = ?1";
static const char SQL_RO_TIMEOUT[] =
    "SELECT COALESCE(MIN(wave_started + wave_timeout), 0) FROM rollouts"
    " WHERE state = 'running' AND wave > 0";

#define RD_COLS                                                                                    \
    "SELECT d.rollout_id, d.device_id, v.name, d.wave, d.state, d.deployment_id, d.revision,"      \
    " d.previous, d.previous_number, d.placed, d.applied, d.deadline, d.message, d.updated"
#define RD_WATCH_COLS RD_COLS ", o.public_id, o.health_window, r.number, f.name"
#define RD_WATCH_FROM                                                                              \
    " FROM rollout_devices d JOIN devices v ON v.id = d.device_id JOIN rollouts o ON"              \
    " o.id = d.rollout_id JOIN fleet_releases r ON r.id = o.release_id JOIN fleets f ON"           \
    " f.id = o.fleet_id"
#define RD_WATCHED                                                                                 \
    " d.state IN ('applying', 'offline') AND o.state IN ('running', 'paused', 'done')"
static const char SQL_RD_ADD[] = "INSERT INTO rollout_devices (rollout_id, device_id, wave, state,"
                                 " updated) VALUES (?1, ?2, ?3, 'pending', ?4)";
static const char SQL_RD_WAVE[] =
    RD_COLS " FROM rollout_devices d JOIN devices v ON v.id = d.device_id"
            " WHERE d.rollout_id = ?1 AND (?2 = 0 OR d.wave = ?2) ORDER BY d.wave, v.name";
static const char SQL_RD_PENDING[] =
    RD_COLS " FROM rollout_devices d JOIN devices v ON v.id = d.device_id"
            " WHERE d.rollout_id = ?1 AND d.wave = ?2 AND d.state = 'pending' ORDER BY v.name"
            " LIMIT ?3";
static const char SQL_RD_UPDATE[] =
    "UPDATE rollout_devices SET state = ?3, deployment_id = ?4, revision = ?5, previous = ?6,"
    " previous_number = ?7, placed = ?8, applied = ?9, deadline = ?10, message = ?11,"
    " updated = ?12 WHERE rollout_id = ?1 AND device_id = ?2";
static const char SQL_RD_WATCHING[] =
    RD_WATCH_COLS RD_WATCH_FROM " WHERE d.device_id = ?1 AND" RD_WATCHED " ORDER BY d.rollout_id";
static const char SQL_RD_DUE[] = RD_WATCH_COLS RD_WATCH_FROM
    " WHERE d.deadline IS NOT NULL AND d.deadline <= ?1 AND" RD_WATCHED " ORDER BY d.deadline";
static const char SQL_RD_NEXT[] =
    "SELECT COALESCE(MIN(d.deadline), 0) FROM rollout_devices d JOIN rollouts o ON"
    " o.id = d.rollout_id WHERE d.deadline IS NOT NULL AND" RD_WATCHED;
static const char SQL_RD_COUNT[] = "SELECT COUNT(*) FROM rollout_devices"
                                   " WHERE rollout_id = ?1 AND wave = ?2 AND state = ?3";

#define COL(member, kind, key) SRV_COL(struct srv_release, member, kind, key)
static const struct srv_col rel_cols[] = {
    COL(id, SRV_COL_INT, NULL),
    COL(fleet_id, SRV_COL_INT, NULL),
    COL(fleet, SRV_COL_TEXT, "fleet"),
    COL(number, SRV_COL_INT, "release"),
    COL(hash, SRV_COL_TEXT, "hash"),
    COL(jobs, SRV_COL_JSON, "jobs"),
    COL(spec, SRV_COL_JSON, NULL),
    COL(sig_key, SRV_COL_TEXT, NULL),
    COL(sig, SRV_COL_TEXT, NULL),
    COL(sig_time, SRV_COL_INT, NULL),
    COL(created, SRV_COL_TIME, "created"),
};
#undef COL
const struct srv_row_type srv_release_row = {sizeof(struct srv_release), rel_cols,
                                             M87_ARRAY_LEN(rel_cols), "list releases"};

#define COL(member, kind, key) SRV_COL(struct srv_rollout, member, kind, key)
static const struct srv_col ro_cols[] = {
    COL(id, SRV_COL_INT, NULL),
    COL(public_id, SRV_COL_TEXT, "id"),
    COL(fleet_id, SRV_COL_INT, NULL),
    COL(fleet, SRV_COL_TEXT, "fleet"),
    COL(release_id, SRV_COL_INT, NULL),
    COL(release, SRV_COL_INT, "release"),
    COL(state, SRV_COL_TEXT, "state"),
    COL(waves, SRV_COL_JSON, "waves"),
    COL(health_window, SRV_COL_INT, "health_window"),
    COL(max_failed, SRV_COL_TEXT, "max_failed"),
    COL(offline, SRV_COL_TEXT, "offline"),
    COL(wave_timeout, SRV_COL_INT, "wave_timeout"),
    COL(rollback, SRV_COL_TEXT, "rollback"),
    COL(now, SRV_COL_BOOL, "now"),
    COL(wave, SRV_COL_INT, "wave"),
    COL(wave_started, SRV_COL_TIME, "wave_started"),
    COL(rollback_pending, SRV_COL_BOOL, "rollback_pending"),
    COL(message, SRV_COL_TEXT, "message"),
    COL(created, SRV_COL_TIME, "created"),
    COL(updated, SRV_COL_TIME, "updated"),
};
#undef COL
const struct srv_row_type srv_rollout_row = {sizeof(struct srv_rollout), ro_cols,
                                             M87_ARRAY_LEN(ro_cols), "list rollouts"};

#define COL(member, kind, key) SRV_COL(struct srv_rollout_device, member, kind, key)
static const struct srv_col rd_cols[] = {
    COL(rollout_id, SRV_COL_INT, NULL),      COL(device_id, SRV_COL_INT, NULL),
    COL(device, SRV_COL_TEXT, "device"),     COL(wave, SRV_COL_INT, "wave"),
    COL(state, SRV_COL_TEXT, "state"),       COL(deployment_id, SRV_COL_INT, NULL),
    COL(revision, SRV_COL_TEXT, "revision"), COL(previous, SRV_COL_TEXT, "previous"),
    COL(previous_number, SRV_COL_INT, NULL), COL(placed, SRV_COL_TIME, "placed"),
    COL(applied, SRV_COL_TIME, "applied"),   COL(deadline, SRV_COL_TIME, "healthy_at"),
    COL(message, SRV_COL_TEXT, "message"),   COL(updated, SRV_COL_TIME, "updated"),
    COL(rollout, SRV_COL_TEXT, NULL),        COL(health_window, SRV_COL_INT, NULL),
    COL(release, SRV_COL_INT, NULL),         COL(fleet, SRV_COL_TEXT, NULL),
};
#undef COL
const struct srv_row_type srv_rollout_device_row = {sizeof(struct srv_rollout_device), rd_cols,
                                                    M87_ARRAY_LEN(rd_cols), "list rollout devices"};

void srv_release_release(struct srv_release *r)
{
    srv_row_release(&srv_release_row, r);
}

void srv_rollout_release(struct srv_rollout *r)
{
    srv_row_release(&srv_rollout_row, r);
}

void srv_rollout_device_release(struct srv_rollout_device *d)
{
    srv_row_release(&srv_rollout_device_row, d);
}

void srv_rollout_devices_free(struct srv_rollout_device *v, size_t n)
{
    srv_rows_free(v, n, &srv_rollout_device_row);
}

static void bind_int_or_null(struct srv_q *s, int idx, int64_t v)
{
    if (v)
        srv_q_int(s, idx, v);
    else
        srv_q_null(s, idx);
}

int srv_release_next(struct srv_store *st, int64_t fleet_id, int64_t *number,
                     struct m87_error **err)
{
    return srv_query_int(st, SQL_REL_NEXT, fleet_id, number, "number the release", err);
}

int srv_release_create(struct srv_store *st, struct srv_release *in, struct m87_error **err)
{
    if (srv_release_next(st, in->fleet_id, &in->number, err) < 0)
        return -1;
    struct srv_q *s = srv_stmt_id(st, SQL_REL_ADD, in->fleet_id, err);
    if (s == NULL)
        return -1;
    in->created = srv_now();
    srv_q_int(s, 2, in->number);
    srv_q_text(s, 3, in->hash);
    srv_q_text(s, 4, in->jobs);
    srv_q_text(s, 5, in->spec);
    srv_q_text(s, 6, in->sig_key);
    srv_q_text(s, 7, in->sig_key ? in->sig : NULL);
    bind_int_or_null(s, 8, in->sig_key ? in->sig_time : 0);
    srv_q_int(s, 9, in->created);
    return srv_insert_id(s, &in->id, "store release", err);
}

int srv_release_get(struct srv_store *st, int64_t id, struct srv_release *out,
                    struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_REL_GET, id, err);
    if (s == NULL)
        return -1;
    return srv_row_get(s, &srv_release_row, out, "read release", err, "release %lld not found",
                       (long long)id);
}

int srv_release_current(struct srv_store *st, int64_t fleet_id, struct srv_release *out,
                        struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_REL_CURRENT, fleet_id, err);
    if (s == NULL)
        return -1;
    return srv_row_one(s, &srv_release_row, out, "read release", err);
}

int srv_revision_id(struct srv_store *st, int64_t dep_id, int64_t number, int64_t *id,
                    struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_REV_ID, dep_id, err);
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, number);
    int rc = srv_q_step(s, "read revision", err);
    if (rc == 0)
        return m87_error_set(err, M87_E_INTERNAL, 0, "revision %lld of deployment %lld is gone",
                             (long long)number, (long long)dep_id);
    if (rc < 0)
        return -1;
    *id = srv_q_col_int(s, 0);
    srv_q_reset(s);
    return 0;
}

int srv_revision_release_add(struct srv_store *st, int64_t rev_id, int64_t release_id,
                             struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_REVREL_ADD, rev_id, err);
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, release_id);
    return srv_q_done(s, "note the release of a revision", err);
}

int srv_revision_release_drop(struct srv_store *st, int64_t rev_id, int64_t fleet_id,
                              struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_REVREL_DROP, rev_id, err);
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, fleet_id);
    return srv_q_done(s, "forget the releases of a revision", err);
}

int srv_revision_releases(struct srv_store *st, int64_t rev_id, struct srv_release **out, size_t *n,
                          struct m87_error **err)
{
    void *v = NULL;
    if (srv_rows_by_id(st, SQL_REVREL_LIST, rev_id, &srv_release_row, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

static void bind_rollout(struct srv_q *s, const void *arg)
{
    const struct srv_rollout *r = arg;
    srv_q_int(s, 2, r->fleet_id);
    srv_q_int(s, 3, r->release_id);
    srv_q_text(s, 4, r->waves);
    srv_q_int(s, 5, r->health_window);
    srv_q_text(s, 6, r->max_failed);
    srv_q_text(s, 7, r->offline);
    srv_q_int(s, 8, r->wave_timeout);
    srv_q_text(s, 9, r->rollback);
    srv_q_int(s, 10, r->now);
    srv_q_int(s, 11, srv_now());
}

int srv_rollout_create(struct srv_store *st, struct srv_rollout *in, struct m87_error **err)
{
    free(in->public_id);
    in->public_id = NULL;
    return srv_insert_public(st, SQL_RO_ADD, "r-", bind_rollout, in, &in->id, &in->public_id,
                             "store rollout", err);
}

int srv_rollout_find(struct srv_store *st, int64_t fleet_id, const char *fleet,
                     const char *public_id, struct srv_rollout *out, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id_text(st, SQL_RO_FIND, fleet_id, public_id, err);
    if (s == NULL)
        return -1;
    return srv_row_get(s, &srv_rollout_row, out, "read rollout", err,
                       "fleet '%s' has no rollout '%s'", fleet, public_id);
}

int srv_rollout_by_id(struct srv_store *st, int64_t id, struct srv_rollout *out,
                      struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_RO_BY_ID, id, err);
    if (s == NULL)
        return -1;
    return srv_row_get(s, &srv_rollout_row, out, "read rollout", err, "rollout %lld not found",
                       (long long)id);
}

int srv_rollout_list(struct srv_store *st, int64_t fleet_id, struct srv_rollout **out, size_t *n,
                     struct m87_error **err)
{
    void *v = NULL;
    if (srv_rows_by_id(st, SQL_RO_LIST, fleet_id, &srv_rollout_row, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

int srv_rollout_active(struct srv_store *st, int64_t fleet_id, struct srv_rollout *out,
                       struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_RO_ACTIVE, fleet_id, err);
    if (s == NULL)
        return -1;
    return srv_row_one(s, &srv_rollout_row, out, "read rollout", err);
}

int srv_rollout_live(struct srv_store *st, struct srv_rollout **out, size_t *n,
                     struct m87_error **err)
{
    struct srv_q *s = srv_stmt(st, SQL_RO_LIVE, err);
    void *v = NULL;
    if (s == NULL || srv_rows_collect(s, &srv_rollout_row, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

int srv_rollout_update(struct srv_store *st, const struct srv_rollout *r, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id_text(st, SQL_RO_UPDATE, r->id, r->state, err);
    if (s == NULL)
        return -1;
    srv_q_int(s, 3, r->wave);
    bind_int_or_null(s, 4, r->wave_started);
    srv_q_int(s, 5, r->rollback_pending);
    srv_q_text(s, 6, r->message);
    srv_q_int(s, 7, srv_now());
    return srv_q_done(s, "update rollout", err);
}

int srv_rollout_next_timeout(struct srv_store *st, int64_t *t, struct m87_error **err)
{
    return srv_query_scalar(st, SQL_RO_TIMEOUT, t, "read the rollouts' timeouts", err);
}

int srv_rdev_add(struct srv_store *st, int64_t rollout_id, int64_t device_id, int64_t wave,
                 struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_RD_ADD, rollout_id, err);
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, device_id);
    srv_q_int(s, 3, wave);
    srv_q_int(s, 4, srv_now());
    return srv_q_done(s, "store rollout member", err);
}

int srv_rdev_list(struct srv_store *st, int64_t rollout_id, int64_t wave,
                  struct srv_rollout_device **out, size_t *n, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_RD_WAVE, rollout_id, err);
    void *v = NULL;
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, wave);
    if (srv_rows_collect(s, &srv_rollout_device_row, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

int srv_rdev_pending(struct srv_store *st, int64_t rollout_id, int64_t wave, int64_t limit,
                     struct srv_rollout_device **out, size_t *n, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_RD_PENDING, rollout_id, err);
    void *v = NULL;
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, wave);
    srv_q_int(s, 3, limit);
    if (srv_rows_collect(s, &srv_rollout_device_row, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

int srv_rdev_update(struct srv_store *st, const struct srv_rollout_device *d,
                    struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_RD_UPDATE, d->rollout_id, err);
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, d->device_id);
    srv_q_text(s, 3, d->state);
    bind_int_or_null(s, 4, d->deployment_id);
    srv_q_text(s, 5, d->revision);
    srv_q_text(s, 6, d->previous);
    bind_int_or_null(s, 7, d->previous_number);
    bind_int_or_null(s, 8, d->placed);
    bind_int_or_null(s, 9, d->applied);
    bind_int_or_null(s, 10, d->deadline);
    srv_q_text(s, 11, d->message);
    srv_q_int(s, 12, srv_now());
    return srv_q_done(s, "update rollout member", err);
}

int srv_rdev_watching(struct srv_store *st, int64_t device_id, struct srv_rollout_device **out,
                      size_t *n, struct m87_error **err)
{
    void *v = NULL;
    if (srv_rows_by_id(st, SQL_RD_WATCHING, device_id, &srv_rollout_device_row, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

int srv_rdev_due(struct srv_store *st, int64_t now, struct srv_rollout_device **out, size_t *n,
                 struct m87_error **err)
{
    void *v = NULL;
    if (srv_rows_by_id(st, SQL_RD_DUE, now, &srv_rollout_device_row, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

int srv_rdev_next_deadline(struct srv_store *st, int64_t *t, struct m87_error **err)
{
    return srv_query_scalar(st, SQL_RD_NEXT, t, "read the health windows", err);
}

int srv_rdev_counts(struct srv_store *st, int64_t rollout_id, int64_t wave,
                    const char *const *states, int64_t *counts, struct m87_error **err)
{
    for (size_t i = 0; states[i]; i++) {
        struct srv_q *s = srv_stmt_id(st, SQL_RD_COUNT, rollout_id, err);
        if (s == NULL)
            return -1;
        srv_q_int(s, 2, wave);
        srv_q_text(s, 3, states[i]);
        int rc = srv_q_step(s, "count rollout members", err);
        if (rc < 0)
            return -1;
        counts[i] = rc == 1 ? srv_q_col_int(s, 0) : 0;
        srv_q_reset(s);
    }
    return 0;
}
