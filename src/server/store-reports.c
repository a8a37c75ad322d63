/* Reports in the store. */
#include <string.h>

#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/list.h"
#include "server/store-internal.h"
#include "server/store-reports.h"
#include "server/util.h"

static const char SQL_REPORT_DEP[] =
    "SELECT d.id FROM deployments d JOIN revisions r ON r.deployment_id = d.id"
    " WHERE d.device_id = ?1 AND r.hash = ?2 ORDER BY d.active DESC, d.id DESC LIMIT 1";
static const char SQL_REPORT_ADD[] =
    "INSERT INTO reports (device_id, seq, kind, revision, deployment_id, job, phase, step, state,"
    " raw, received) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT DO NOTHING";
/* kept by a trigger: the highest seq stays when its report is pruned */
static const char SQL_REPORT_MAX[] =
    "SELECT COALESCE((SELECT report_seq FROM devices WHERE id = ?1), 0)";
static const char SQL_PRUNE_OLD[] =
    "DELETE FROM reports WHERE id IN (SELECT id FROM reports WHERE received < ?1 LIMIT ?2)";
static const char SQL_PRUNE_BIG[] =
    "SELECT id, report_bytes - ?1 FROM devices WHERE report_bytes > ?1 LIMIT 1";
/* the oldest reports of device ?1 (among its ?2 oldest) until ?3 bytes are gone. SQLite-only:
 * LENGTH(CAST(raw AS BLOB)) counts bytes (PostgreSQL: OCTET_LENGTH(raw), which SQLite lacks
 * before 3.43) */
/* the bytes of raw: SQLite's octet_length comes only with 3.43 (Debian 12 has 3.40) */
#define SQL_PRUNE_OLDEST_OF(bytes)                                                                 \
    "DELETE FROM reports WHERE id IN (SELECT id FROM"                                              \
    " (SELECT id, SUM(size) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING) - size AS earlier FROM"   \
    "  (SELECT id, seq, " bytes " AS size FROM reports WHERE device_id = ?1"                       \
    "   ORDER BY seq LIMIT ?2) AS oldest) AS running"                                              \
    " WHERE earlier < ?3)"
static const char SQL_PRUNE_OLDEST[] = SQL_PRUNE_OLDEST_OF("LENGTH(CAST(raw AS BLOB))");
static const char SQL_PRUNE_OLDEST_PG[] = SQL_PRUNE_OLDEST_OF("octet_length(raw)");
static const char SQL_REPORT_COUNT[] = "SELECT COUNT(*) FROM reports";
static const char SQL_REPORT_ANY[] =
    "SELECT 1 FROM reports WHERE device_id = ?1 AND revision = ?2 LIMIT 1";
static const char SQL_REPORT_QUERY[] =
    "SELECT r.seq, r.received, d.public_id, r.raw FROM reports r"
    " LEFT JOIN deployments d ON d.id = r.deployment_id"
    " WHERE r.device_id = ?1 AND (?2 = 0 OR r.deployment_id = ?2)"
    " AND (CAST(?3 AS TEXT) IS NULL OR r.revision = ?3)"
    " AND (CAST(?4 AS TEXT) IS NULL OR r.job = ?4)"
    " AND (CAST(?5 AS TEXT) IS NULL OR r.step = ?5)"
    " AND (CAST(?6 AS TEXT) IS NULL OR r.kind = ?6) AND r.seq > ?7"
    " ORDER BY r.seq LIMIT ?8";

/* The deployment a report belongs to, 0 for none (see docs/api.md). */
static int report_deployment(struct srv_store *st, int64_t device_id, const char *revision,
                             int64_t *dep, struct m87_error **err)
{
    *dep = 0;
    if (revision == NULL)
        return 0;
    struct srv_q *s = srv_stmt_id_text(st, SQL_REPORT_DEP, device_id, revision, err);
    if (s == NULL)
        return -1;
    int rc = srv_q_step(s, "look up report deployment", err);
    if (rc < 0)
        return -1;
    if (rc == 1)
        *dep = srv_q_col_int(s, 0);
    srv_q_reset(s);
    return 0;
}

int srv_report_add(struct srv_store *st, int64_t device_id, const struct srv_report *rep,
                   struct m87_error **err)
{
    int64_t dep = 0;
    if (report_deployment(st, device_id, rep->revision, &dep, err) < 0)
        return -1;
    struct srv_q *s = srv_stmt_id(st, SQL_REPORT_ADD, device_id, err);
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, rep->seq);
    srv_q_text(s, 3, rep->kind);
    srv_q_text(s, 4, rep->revision);
    if (dep)
        srv_q_int(s, 5, dep);
    srv_q_text(s, 6, rep->job);
    srv_q_text(s, 7, rep->phase);
    srv_q_text(s, 8, rep->step);
    srv_q_text(s, 9, rep->state);
    srv_q_text(s, 10, rep->raw);
    srv_q_int(s, 11, srv_now());
    if (srv_q_done(s, "store report", err) < 0)
        return -1;
    return srv_store_changes(st) > 0 ? 1 : 0;
}

int srv_report_max_seq(struct srv_store *st, int64_t device_id, int64_t *seq,
                       struct m87_error **err)
{
    return srv_query_int(st, SQL_REPORT_MAX, device_id, seq, "read report sequence", err);
}

int srv_report_count(struct srv_store *st, int64_t *n, struct m87_error **err)
{
    return srv_query_scalar(st, SQL_REPORT_COUNT, n, "count reports", err);
}

int srv_report_any_for(struct srv_store *st, int64_t device_id, const char *revision, bool *yes,
                       struct m87_error **err)
{
    int rc = srv_row_exists(st, SQL_REPORT_ANY, device_id, revision, NULL, "read reports", err);
    if (rc < 0)
        return -1;
    *yes = rc == 1;
    return 0;
}

/* The columns of SQL_REPORT_QUERY (srv_jw_report writes a row). */
#define COL(member, kind) SRV_COL(struct srv_report_row, member, kind, NULL)
static const struct srv_col row_cols[] = {
    COL(seq, SRV_COL_INT),
    COL(received, SRV_COL_TIME),
    COL(deployment, SRV_COL_TEXT),
    COL(raw, SRV_COL_JSON),
};
#undef COL
static const struct srv_row_type row_type = {sizeof(struct srv_report_row), row_cols,
                                             M87_ARRAY_LEN(row_cols), "query reports"};

void srv_report_rows_free(struct srv_report_row *rows, size_t n)
{
    srv_rows_free(rows, n, &row_type);
}

int srv_report_query(struct srv_store *st, int64_t device_id, const struct srv_report_filter *f,
                     struct srv_report_row **out, size_t *n, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id(st, SQL_REPORT_QUERY, device_id, err);
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, f->deployment_id);
    srv_q_text(s, 3, f->revision);
    srv_q_text(s, 4, f->job);
    srv_q_text(s, 5, f->step);
    srv_q_text(s, 6, f->kind);
    srv_q_int(s, 7, f->after);
    srv_q_int(s, 8, f->limit + 1);
    void *v = NULL;
    if (srv_rows_collect(s, &row_type, &v, n, err) < 0)
        return -1;
    *out = v;
    return 0;
}

static const char SQL_REPORT_LATEST_JOB[] =
    "SELECT raw FROM reports WHERE device_id = ?1 AND revision = ?2 AND kind = 'job'"
    " AND job = ?3 ORDER BY seq DESC LIMIT 1";
static const char SQL_REPORT_STEPS[] =
    "SELECT raw FROM reports WHERE device_id = ?1 AND revision = ?2 AND kind = 'step'"
    " AND job = ?3 ORDER BY seq";

/* The raw of the first row sql gives for (device_id, revision, arg): NULL when none. */
static int first_raw(struct srv_store *st, const char *sql, int64_t device_id, const char *revision,
                     const char *arg, char **raw, const char *what, struct m87_error **err)
{
    *raw = NULL;
    struct srv_q *s = srv_stmt_id_text(st, sql, device_id, revision, err);
    if (s == NULL)
        return -1;
    srv_q_text(s, 3, arg);
    int rc = srv_q_step(s, what, err);
    if (rc < 0)
        return -1;
    if (rc == 1)
        *raw = srv_col_text(s, 0);
    srv_q_reset(s);
    return 0;
}

int srv_report_latest_job(struct srv_store *st, int64_t device_id, const char *revision,
                          const char *job, char **raw, struct m87_error **err)
{
    return first_raw(st, SQL_REPORT_LATEST_JOB, device_id, revision, job, raw, "read job report",
                     err);
}

int srv_report_steps(struct srv_store *st, int64_t device_id, const char *revision, const char *job,
                     struct m87_strv *raws, struct m87_error **err)
{
    struct srv_q *s = srv_stmt_id_text(st, SQL_REPORT_STEPS, device_id, revision, err);
    if (s == NULL)
        return -1;
    srv_q_text(s, 3, job);
    int rc;
    while ((rc = srv_q_step(s, "read step reports", err)) == 1)
        m87_strv_add(raws, srv_q_col_text(s, 0));
    return rc < 0 ? -1 : 0;
}

static const char SQL_REPORT_LATEST_KIND[] =
    "SELECT raw FROM reports WHERE device_id = ?1 AND revision = ?2 AND kind = ?3"
    " ORDER BY seq DESC LIMIT 1";

int srv_report_latest_kind(struct srv_store *st, int64_t device_id, const char *revision,
                           const char *kind, char **raw, struct m87_error **err)
{
    return first_raw(st, SQL_REPORT_LATEST_KIND, device_id, revision, kind, raw, "read report",
                     err);
}

int srv_report_prune(struct srv_store *st, int64_t before, int64_t max_bytes, int batch,
                     int64_t *pruned, struct m87_error **err)
{
    *pruned = 0;
    if (before > 0) {
        struct srv_q *s = srv_stmt_id(st, SQL_PRUNE_OLD, before, err);
        if (s == NULL)
            return -1;
        srv_q_int(s, 2, batch);
        if (srv_q_done(s, "prune old reports", err) < 0)
            return -1;
        *pruned += srv_store_changes(st);
    }
    if (max_bytes <= 0 || *pruned >= batch)
        return 0;
    struct srv_q *big = srv_stmt_id(st, SQL_PRUNE_BIG, max_bytes, err);
    if (big == NULL)
        return -1;
    int rc = srv_q_step(big, "read report sizes", err);
    if (rc <= 0)
        return rc;
    int64_t device = srv_q_col_int(big, 0);
    int64_t excess = srv_q_col_int(big, 1);
    srv_q_reset(big);
    /* the oldest first, a batch at a time: a device far over its size takes a few rounds */
    bool pg = srv_db_kind(srv_store_db(st)) == SRV_DB_PG;
    struct srv_q *s = srv_stmt_id(st, pg ? SQL_PRUNE_OLDEST_PG : SQL_PRUNE_OLDEST, device, err);
    if (s == NULL)
        return -1;
    srv_q_int(s, 2, batch);
    srv_q_int(s, 3, excess);
    if (srv_q_done(s, "prune the oldest reports", err) < 0)
        return -1;
    *pruned += srv_store_changes(st);
    return 0;
}
