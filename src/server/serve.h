/* m87-server private: the commands of m87-server (init.c, serve.c). */
#ifndef M87_SERVER_SERVE_H
#define M87_SERVER_SERVE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "m87/error.h"

/* Create the data directory and the database (DIR/m87.db, or the schema in the PostgreSQL database
 * db_url names when not NULL: srv_store_open_db); the admin token into *token. */
int srv_init(const char *dir, const char *db_url, char **token, struct m87_error **err);

/* `m87-server token create|list|revoke` with its argv (argv[0] "token"): its exit status
 * (cmd-token.c). */
int srv_cmd_token(int argc, char **argv);

struct srv_serve_opts {
    const char *data_dir;
    const char *listen;
    const char *tls_cert;
    const char *tls_key;
    int longpoll_max;
    int64_t session_retention; /* 0: SRV_SESSION_RETENTION */
    int auth_fail_limit;       /* failed authentications per source and minute; 0: none */
    int max_conn_per_address;  /* open connections per client address; 0: no limit */
    int64_t report_retention;  /* seconds a report is kept; 0: no limit by age */
    int64_t report_max_per_device; /* bytes of reports kept per device; 0: no limit */
    int64_t report_ingest_limit;   /* bytes of reports a device may send a minute; 0: none */
    int64_t disk_reserve;          /* free bytes below which reports are refused; 0: none */
    bool no_ui;                    /* do not serve the dashboard */
    const char *db_url;            /* a PostgreSQL connection string; NULL: DATA/m87.db */
    const char *advertise;         /* where other replicas reach this one; NULL: from listen */
    int db_pool;                   /* PostgreSQL connections of the store; 0: SRV_DB_POOL */
    int64_t audit_retention;       /* seconds an audit row is kept; 0: forever */
};

/* Take the lock of the data directory dir for a process that uses it (who: "serve",
 * "migrate"), non-blocking, and write its pid into it: *fd holds it until closed or the process
 * ends. M87_E_CONFLICT naming the holder's pid when another process holds it. datalock.c. */
int srv_data_lock(const char *dir, const char *who, int *fd, struct m87_error **err);

struct srv_migrate_opts {
    const char *from; /* the data directory of the SQLite installation */
    const char *to;   /* a PostgreSQL url, or a data directory without a database */
    bool progress;    /* a progress line on stderr (a terminal) */
    FILE *out;        /* the table of row counts */
};

/* Copy every table of the installation in from into the empty database to, at the same schema
 * version, in one transaction; reset to's identity sequences; print each table's row count on
 * both sides. Refuses (M87_E_CONFLICT) a from a running server holds and a to that holds rows;
 * M87_E_INTERNAL when a count differs after the copy. store-migrate.c. */
int srv_migrate(const struct srv_migrate_opts *o, struct m87_error **err);

/* Serve until SIGTERM or SIGINT. */
int srv_serve(const struct srv_serve_opts *o, struct m87_error **err);

#endif
