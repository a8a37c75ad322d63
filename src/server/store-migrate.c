/* `m87-server migrate` (main.c parses the options): copy a SQLite installation into an empty
 * database (PostgreSQL, or another SQLite data directory) at the same schema version, in one
 * transaction, and check that every table's row count matches (docs/operations.md, Moving to
 * PostgreSQL).
 *
 * The tables come from the source's own schema (sqlite_master), ordered so that a table comes
 * after every table its foreign keys name, and their columns from pragma_table_info: a table a
 * later migration adds is copied without a change here. The statements are built per table and
 * stay allocated until both connections are closed: db.h caches a statement by its text's
 * address. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"
#include "m87/file.h"
#include "server/db.h"
#include "server/limits.h"
#include "server/secret.h"
#include "server/serve.h"
#include "server/store-internal.h"
#include "server/store.h"

#define MIGRATE_MAX_TABLES 200
#define MIGRATE_MAX_COLUMNS 100
#define PROGRESS_EVERY 1000 /* rows between two updates of the progress line */

struct mtable {
    char *name;
    char **cols;
    bool *blob; /* declared BLOB: bound as bytes, every other value as text */
    size_t ncols;
    bool has_id;
    char **parents; /* the tables its foreign keys name */
    size_t nparents;
    char *select, *insert, *count; /* the statements of this table, alive to the end */
    int64_t src_rows, dst_rows;
};

struct mig {
    const struct srv_migrate_opts *o;
    struct srv_store *src, *dst;
    struct mtable *t;
    size_t n;
    char **sql; /* other statements built on the way, freed at the end */
    size_t nsql;
};

static const char SQL_TABLES[] =
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    " AND name <> 'schema_version' ORDER BY rowid";
static const char SQL_COLUMNS[] = "SELECT name, type FROM pragma_table_info(?1) ORDER BY cid";
static const char SQL_PARENTS[] = "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)";

static void mtable_release(struct mtable *t)
{
    for (size_t i = 0; i < t->ncols; i++)
        free(t->cols[i]);
    for (size_t i = 0; i < t->nparents; i++)
        free(t->parents[i]);
    free(t->cols);
    free(t->blob);
    free(t->parents);
    free(t->name);
    free(t->select);
    free(t->insert);
    free(t->count);
}

/* A statement of the run: kept until the end (see the top of the file). */
static const char *keep_sql(struct mig *m, char *sql)
{
    m->sql = m87_xrealloc(m->sql, (m->nsql + 1) * sizeof(*m->sql));
    m->sql[m->nsql++] = sql;
    return sql;
}

/* Identifiers come from the source's schema, written by our migrations: letters, digits and _
 * only, so that quoting them is a formality; anything else is refused. */
static int check_ident(const char *s, struct m87_error **err)
{
    if (*s == '\0' || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(s))
        return m87_error_set(err, M87_E_INVAL, 0, "unexpected name '%s' in the source schema", s);
    return 0;
}

static int read_columns(struct mig *m, struct mtable *t, struct m87_error **err)
{
    struct srv_q *q = srv_stmt_text(m->src, SQL_COLUMNS, t->name, err);
    if (q == NULL)
        return -1;
    int rc;
    while ((rc = srv_q_step(q, "read the source's columns", err)) == 1) {
        if (t->ncols == MIGRATE_MAX_COLUMNS)
            return m87_error_set(err, M87_E_TOOBIG, 0, "table '%s': more than %d columns", t->name,
                                 MIGRATE_MAX_COLUMNS);
        const char *name = srv_q_col_text(q, 0), *type = srv_q_col_text(q, 1);
        if (check_ident(name, err) < 0)
            return -1;
        t->cols = m87_xrealloc(t->cols, (t->ncols + 1) * sizeof(*t->cols));
        t->blob = m87_xrealloc(t->blob, (t->ncols + 1) * sizeof(*t->blob));
        t->cols[t->ncols] = m87_xstrdup(name);
        t->blob[t->ncols] = type && strcasecmp(type, "BLOB") == 0;
        /* an integer id has a sequence to move on PostgreSQL; a text one (remote_channels) not */
        t->has_id |= strcmp(name, "id") == 0 && type && strcasestr(type, "INT") != NULL;
        t->ncols++;
    }
    if (rc < 0)
        return -1;
    q = srv_stmt_text(m->src, SQL_PARENTS, t->name, err);
    if (q == NULL)
        return -1;
    while ((rc = srv_q_step(q, "read the source's foreign keys", err)) == 1) {
        t->parents = m87_xrealloc(t->parents, (t->nparents + 1) * sizeof(*t->parents));
        t->parents[t->nparents++] = m87_xstrdup(srv_q_col_text(q, 0));
    }
    return rc;
}

/* The statements that read, write and count the table. */
static void build_sql(struct mtable *t)
{
    struct m87_buf cols, params;
    m87_buf_init(&cols, 0);
    m87_buf_init(&params, 0);
    for (size_t i = 0; i < t->ncols; i++) {
        m87_buf_appendf(&cols, NULL, "%s\"%s\"", i ? ", " : "", t->cols[i]);
        m87_buf_appendf(&params, NULL, "%s?%zu", i ? ", " : "", i + 1);
    }
    t->select = m87_xasprintf("SELECT %s FROM \"%s\"", cols.data, t->name);
    t->insert =
        m87_xasprintf("INSERT INTO \"%s\" (%s) VALUES (%s)", t->name, cols.data, params.data);
    t->count = m87_xasprintf("SELECT COUNT(*) FROM \"%s\"", t->name);
    m87_buf_release(&cols);
    m87_buf_release(&params);
}

static bool placed(const struct mtable *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return true;
    return false;
}

/* Order m->t so that every table follows the tables it references. */
static int order_tables(struct mig *m, struct m87_error **err)
{
    for (size_t done = 0; done < m->n;) {
        size_t before = done;
        for (size_t i = done; i < m->n; i++) {
            bool ready = true;
            for (size_t p = 0; p < m->t[i].nparents && ready; p++)
                ready = strcmp(m->t[i].parents[p], m->t[i].name) == 0 ||
                        placed(m->t, done, m->t[i].parents[p]);
            if (ready) {
                struct mtable tmp = m->t[done];
                m->t[done++] = m->t[i];
                m->t[i] = tmp;
            }
        }
        if (done == before)
            return m87_error_set(err, M87_E_INVAL, 0, "the foreign keys of table '%s' form a cycle",
                                 m->t[done].name);
    }
    return 0;
}

static int read_schema(struct mig *m, struct m87_error **err)
{
    struct srv_q *q = srv_stmt(m->src, SQL_TABLES, err);
    if (q == NULL)
        return -1;
    int rc;
    while ((rc = srv_q_step(q, "read the source's tables", err)) == 1) {
        if (m->n == MIGRATE_MAX_TABLES)
            return m87_error_set(err, M87_E_TOOBIG, 0, "more than %d tables", MIGRATE_MAX_TABLES);
        const char *name = srv_q_col_text(q, 0);
        if (check_ident(name, err) < 0)
            return -1;
        m->t = m87_xrealloc(m->t, (m->n + 1) * sizeof(*m->t));
        m->t[m->n++] = (struct mtable){.name = m87_xstrdup(name)};
    }
    if (rc < 0)
        return -1;
    for (size_t i = 0; i < m->n; i++) {
        if (read_columns(m, &m->t[i], err) < 0)
            return m87_error_wrap(err, "table '%s'", m->t[i].name);
        build_sql(&m->t[i]);
    }
    return order_tables(m, err);
}

static int count_rows(struct srv_store *st, const struct mtable *t, int64_t *n,
                      struct m87_error **err)
{
    struct srv_q *q = srv_stmt(st, t->count, err);
    if (q == NULL)
        return -1;
    int rc = srv_q_step(q, "count rows", err);
    if (rc < 0)
        return m87_error_wrap(err, "table '%s'", t->name);
    *n = rc == 1 ? srv_q_col_int(q, 0) : 0;
    srv_q_reset(q);
    return 0;
}

/* The progress line, on a terminal only: rewritten in place, cleared at the end. */
static void progress(const struct mig *m, const char *table, int64_t rows, int64_t total)
{
    if (!m->o->progress)
        return;
    if (table == NULL)
        fprintf(stderr, "\r\033[K");
    else
        fprintf(stderr, "\r\033[Kcopying %s: %lld of %lld rows", table, (long long)rows,
                (long long)total);
    fflush(stderr);
}

static int copy_table(struct mig *m, struct mtable *t, struct m87_error **err)
{
    if (count_rows(m->src, t, &t->src_rows, err) < 0)
        return -1;
    struct srv_q *in = srv_stmt(m->src, t->select, err);
    if (in == NULL)
        return -1;
    int64_t rows = 0;
    int rc;
    progress(m, t->name, 0, t->src_rows);
    while ((rc = srv_q_step(in, "read the source", err)) == 1) {
        struct srv_q *out = srv_stmt(m->dst, t->insert, err);
        if (out == NULL)
            return -1;
        for (size_t c = 0; c < t->ncols; c++) {
            int idx = (int)c + 1;
            if (srv_q_is_null(in, (int)c)) {
                srv_q_null(out, idx);
            } else if (t->blob[c]) {
                size_t len = 0;
                const void *p = srv_q_col_blob(in, (int)c, &len);
                srv_q_blob(out, idx, p, len);
            } else {
                srv_q_text(out, idx, srv_q_col_text(in, (int)c));
            }
        }
        if (srv_q_done(out, "write the target", err) < 0)
            return -1;
        if (++rows % PROGRESS_EVERY == 0)
            progress(m, t->name, rows, t->src_rows);
    }
    return rc < 0 ? -1 : 0;
}

/* The report triggers (store.c, migration 7) added each copied report's bytes to its device's
 * counters, which the copied devices rows carried already: set them back to the source's. */
static const char SQL_SRC_DEVICE_COUNTERS[] = "SELECT id, report_bytes, report_seq FROM devices";
static const char SQL_DST_DEVICE_COUNTERS[] =
    "UPDATE devices SET report_bytes = ?2, report_seq = ?3 WHERE id = ?1";

static int restore_device_counters(struct mig *m, struct m87_error **err)
{
    struct srv_q *in = srv_stmt(m->src, SQL_SRC_DEVICE_COUNTERS, err);
    if (in == NULL)
        return -1;
    int rc;
    while ((rc = srv_q_step(in, "read the device counters", err)) == 1) {
        struct srv_q *out = srv_stmt(m->dst, SQL_DST_DEVICE_COUNTERS, err);
        if (out == NULL)
            return -1;
        for (int c = 0; c < 3; c++)
            srv_q_int(out, c + 1, srv_q_col_int(in, c));
        if (srv_q_done(out, "write the device counters", err) < 0)
            return -1;
    }
    return rc;
}

/* PostgreSQL's identity columns hand out the next value of their sequence, which copied rows did
 * not move: set each to the largest id copied. SQLite takes the largest rowid by itself (and
 * AUTOINCREMENT's sqlite_sequence follows explicit ids). */
static int reset_sequences(struct mig *m, struct m87_error **err)
{
    if (srv_db_kind(srv_store_db(m->dst)) != SRV_DB_PG)
        return 0;
    for (size_t i = 0; i < m->n; i++) {
        if (!m->t[i].has_id)
            continue;
        const char *sql =
            keep_sql(m, m87_xasprintf("SELECT setval(pg_get_serial_sequence('%s', 'id'), MAX(id))"
                                      " FROM \"%s\" HAVING MAX(id) IS NOT NULL",
                                      m->t[i].name, m->t[i].name));
        struct srv_q *q = srv_stmt(m->dst, sql, err);
        if (q == NULL || srv_q_done(q, "reset the identity", err) < 0)
            return m87_error_wrap(err, "table '%s'", m->t[i].name);
    }
    return 0;
}

static int check_empty(struct mig *m, struct m87_error **err)
{
    for (size_t i = 0; i < m->n; i++) {
        int64_t n = 0;
        if (count_rows(m->dst, &m->t[i], &n, err) < 0)
            return -1;
        if (n > 0)
            return m87_error_set(err, M87_E_CONFLICT, 0,
                                 "the target is not empty: table '%s' has %lld row(s); migrate "
                                 "into a new database (do not run 'm87-server init' on it)",
                                 m->t[i].name, (long long)n);
    }
    return 0;
}

static int copy_all(struct mig *m, struct m87_error **err)
{
    /* one snapshot of the source, one transaction on the target */
    if (srv_store_begin(m->src, err) < 0)
        return -1;
    if (srv_store_begin(m->dst, err) < 0) {
        srv_store_rollback(m->src);
        return -1;
    }
    int rc = check_empty(m, err);
    for (size_t i = 0; rc == 0 && i < m->n; i++)
        if (copy_table(m, &m->t[i], err) < 0)
            rc = m87_error_wrap(err, "copy table '%s'", m->t[i].name);
    progress(m, NULL, 0, 0);
    if (rc == 0 && placed(m->t, m->n, "devices") && placed(m->t, m->n, "reports"))
        rc = restore_device_counters(m, err);
    if (rc == 0)
        rc = reset_sequences(m, err);
    srv_store_rollback(m->src);
    if (rc < 0) {
        srv_store_rollback(m->dst);
        return -1;
    }
    return srv_store_commit(m->dst, err);
}

/* Count every table on both sides after the commit and print them; -1 when one differs. */
static int verify(struct mig *m, struct m87_error **err)
{
    int bad = 0;
    fprintf(m->o->out, "%-24s %12s %12s\n", "TABLE", "SOURCE", "TARGET");
    for (size_t i = 0; i < m->n; i++) {
        struct mtable *t = &m->t[i];
        srv_store_lock(m->src);
        int rc = count_rows(m->src, t, &t->src_rows, err);
        srv_store_unlock(m->src);
        if (rc < 0)
            return -1;
        srv_store_lock(m->dst);
        rc = count_rows(m->dst, t, &t->dst_rows, err);
        srv_store_unlock(m->dst);
        if (rc < 0)
            return -1;
        bool same = t->src_rows == t->dst_rows;
        bad += !same;
        fprintf(m->o->out, "%-24s %12lld %12lld%s\n", t->name, (long long)t->src_rows,
                (long long)t->dst_rows, same ? "" : "  MISMATCH");
    }
    fflush(m->o->out);
    if (bad)
        return m87_error_set(err, M87_E_INTERNAL, 0, "%d table(s) differ in their row counts", bad);
    return 0;
}

/* A data directory named as the target gets the source's registry key (secret.h): the copied
 * registry passwords are sealed with it. */
static int copy_key(const char *from, const char *to, struct m87_error **err)
{
    struct srv_secret_key key = {0};
    _cleanup_free_ char *src = m87_xasprintf("%s/%s", from, SRV_SECRET_KEY_FILE);
    _cleanup_free_ char *dst = m87_xasprintf("%s/%s", to, SRV_SECRET_KEY_FILE);
    struct stat sb;
    if (stat(src, &sb) < 0 && errno == ENOENT)
        return 0;
    if (srv_secret_key_load(from, false, &key, err) < 0)
        return -1;
    int rc = m87_write_file_atomic(dst, key.bytes, sizeof(key.bytes), 0600, err);
    srv_secret_key_release(&key);
    return rc;
}

/* Open the target: a PostgreSQL url, or a data directory that holds no database yet (made, as
 * 'm87-server init' would, but without an admin token: the source's come along). */
static int open_target(struct mig *m, struct m87_error **err)
{
    const char *to = m->o->to;
    if (srv_db_url_is_pg(to))
        return srv_store_open_db(NULL, to, true, &m->dst, err) < 0 ? m87_error_wrap(err, "target")
                                                                   : 0;
    _cleanup_free_ char *db = m87_xasprintf("%s/%s", to, SRV_DB_FILE);
    struct stat sb;
    if (stat(db, &sb) == 0)
        return m87_error_set(err, M87_E_CONFLICT, 0,
                             "the target is not empty: '%s' exists; migrate into a new directory",
                             db);
    _cleanup_free_ char *bundles = m87_xasprintf("%s/%s", to, SRV_BUNDLE_DIR);
    if (m87_mkdir_p(to, 0700, err) < 0 || m87_mkdir_p(bundles, 0700, err) < 0 ||
        srv_store_open(to, true, &m->dst, err) < 0)
        return -1;
    return copy_key(m->o->from, to, err);
}

int srv_migrate(const struct srv_migrate_opts *o, struct m87_error **err)
{
    struct mig m = {.o = o};
    _cleanup_free_ char *srcdb = m87_xasprintf("%s/%s", o->from, SRV_DB_FILE);
    struct stat sb;
    if (stat(srcdb, &sb) < 0)
        return m87_error_set(err, M87_E_NOTFOUND, errno, "no database '%s'", srcdb);
    int lock = -1;
    int rc = srv_data_lock(o->from, "migrate", &lock, err);
    if (rc == 0 && srv_store_open(o->from, false, &m.src, err) < 0)
        rc = m87_error_wrap(err, "source");
    if (rc == 0)
        rc = open_target(&m, err);
    if (rc == 0)
        rc = read_schema(&m, err);
    if (rc == 0)
        rc = copy_all(&m, err);
    if (rc == 0)
        rc = verify(&m, err);
    srv_store_free(m.src);
    srv_store_free(m.dst);
    for (size_t i = 0; i < m.n; i++)
        mtable_release(&m.t[i]);
    free(m.t);
    for (size_t i = 0; i < m.nsql; i++)
        free(m.sql[i]);
    free(m.sql);
    if (lock >= 0)
        close(lock);
    return rc;
}
