/* m87-server private: what a backend of db.h provides (db-pg.c now, db-sqlite.c next) and
 * db-dispatch.c calls through. A backend's connection and statement structs start with the
 * struct srv_db and struct srv_q defined here, and db.h's functions hand out pointers to them:
 * srv_db_open picks the backend by the url (srv_db_url_is_pg), the rest follow db->ops. */
#ifndef M87_SERVER_DB_BACKEND_H
#define M87_SERVER_DB_BACKEND_H

#include "server/db.h"

struct srv_db_ops;

/* the first member of each backend's connection */
struct srv_db {
    const struct srv_db_ops *ops;
};

/* the first member of each backend's statement: db is its connection */
struct srv_q {
    struct srv_db *db;
};

/* One function per function of db.h, with its contract; srv_db_kind and srv_q_done are
 * db-dispatch.c's own. open sets (*out)->ops. */
struct srv_db_ops {
    enum srv_db_kind kind;
    int (*open)(const char *url, bool create, struct srv_db **out, struct m87_error **err);
    void (*close)(struct srv_db *db);
    int (*exec)(struct srv_db *db, const char *sql, const char *what, struct m87_error **err);
    struct srv_q *(*q_get)(struct srv_db *db, const char *sql, struct m87_error **err);
    void (*q_int)(struct srv_q *q, int idx, int64_t v);
    void (*q_text)(struct srv_q *q, int idx, const char *text);
    void (*q_blob)(struct srv_q *q, int idx, const void *data, size_t len);
    void (*q_null)(struct srv_q *q, int idx);
    int (*q_step)(struct srv_q *q, const char *what, struct m87_error **err);
    void (*q_reset)(struct srv_q *q);
    int (*q_ncols)(struct srv_q *q);
    bool (*q_is_null)(struct srv_q *q, int col);
    int64_t (*q_col_int)(struct srv_q *q, int col);
    const char *(*q_col_text)(struct srv_q *q, int col);
    const void *(*q_col_blob)(struct srv_q *q, int col, size_t *len);
    int64_t (*changes)(struct srv_db *db);
    bool (*constraint_error)(struct srv_db *db);
    bool (*unavailable)(struct srv_db *db);
    int (*reconnect)(struct srv_db *db, struct m87_error **err);
    int (*notify)(struct srv_db *db, const char *channel, const char *payload,
                  struct m87_error **err);
    int (*listen)(struct srv_db *db, const char *channel, struct m87_error **err);
    int (*wait_notify)(struct srv_db *db, int timeout_ms, srv_db_notify_fn fn, void *ctx,
                       struct m87_error **err);
    int (*try_lock)(struct srv_db *db, int64_t key, struct m87_error **err);
};

extern const struct srv_db_ops srv_db_pg_ops;     /* db-pg.c, libpq */
extern const struct srv_db_ops srv_db_sqlite_ops; /* db-sqlite.c */

#endif
