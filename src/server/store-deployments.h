/* m87-server private: deployments and their revisions in the store (store-deployments.c), and
 * the bundles they reference (store-bundles.c). */
#ifndef M87_SERVER_STORE_DEPLOYMENTS_H
#define M87_SERVER_STORE_DEPLOYMENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "m87/hash.h"
#include "m87/list.h"
#include "m87/spec-runspec.h"
#include "server/row.h"
#include "server/store.h"

struct srv_deployment {
    int64_t id;
    int64_t device_id;
    char *public_id;
    bool active;
    int64_t created;
    int64_t updated; /* the newest revision's creation */
    int64_t revision;
    char *hash;
    char *jobs; /* JSON array of job ids */
};
void srv_deployment_release(struct srv_deployment *d);
/* Its members: the JSON of a deployment is srv_jw_row of it (docs/api.md). */
extern const struct srv_row_type srv_deployment_row;

struct srv_revision {
    int64_t number;
    char *hash;
    int64_t created;
    char *jobs; /* JSON array of job ids */
    char *spec; /* spec_runspec_dump JSON */
    /* the signature (docs/security.md): key id (NULL: unsigned), base64, and for format v2
     * (sig_time > 0) when it was signed and whether it says to apply at once */
    char *sig_key;
    char *sig;
    int64_t sig_time;
    bool sig_now;
};
void srv_revision_release(struct srv_revision *r);
/* Its members: srv_jw_row writes "revision", "hash", "created" and "jobs" of one. */
extern const struct srv_row_type srv_revision_row;

/* What makes a revision, computed by revision.c from a run spec (released there too:
 * srv_rev_content_release in server/revision.h). */
struct srv_rev_content {
    char *spec;
    char hash[M87_SHA256_HEX_LEN + 1];
    char *jobs;
    struct m87_strv bundles;
    char *sig_key; /* the signature stored with it, or NULL; fields as in struct srv_revision */
    char *sig;
    int64_t sig_time;
    bool sig_now;
};

/* M87_E_NOTFOUND "deployment 'ID' not found". */
int srv_deployment_find(struct srv_store *st, int64_t device_id, const char *public_id,
                        struct srv_deployment *out, struct m87_error **err);
/* 1 and *out when the device has an active deployment, 0 when not. */
int srv_deployment_active(struct srv_store *st, int64_t device_id, struct srv_deployment *out,
                          struct m87_error **err);
int srv_deployment_list(struct srv_store *st, int64_t device_id, struct srv_deployment **out,
                        size_t *n, struct m87_error **err);
/* A new deployment whose revision 1 is c, with the id given (NULL: a random one; M87_E_CONFLICT
 * when taken); active deactivates the device's other ones. */
int srv_deployment_create(struct srv_store *st, int64_t device_id, const char *given, bool active,
                          const struct srv_rev_content *c, struct srv_deployment *out,
                          struct m87_error **err);
int srv_deployment_activate(struct srv_store *st, const struct srv_deployment *d,
                            struct m87_error **err);
/* M87_E_CONFLICT when d is active. */
int srv_deployment_delete(struct srv_store *st, const struct srv_deployment *d,
                          struct m87_error **err);
/* Revision d->revision + 1. */
int srv_revision_add(struct srv_store *st, const struct srv_deployment *d,
                     const struct srv_rev_content *c, struct m87_error **err);
/* M87_E_NOTFOUND "deployment 'ID' has no revision N". */
int srv_revision_get(struct srv_store *st, const struct srv_deployment *d, int64_t number,
                     struct srv_revision *out, struct m87_error **err);
int srv_revision_list(struct srv_store *st, const struct srv_deployment *d,
                      struct srv_revision **out, size_t *n, struct m87_error **err);
/* Store c's signature with revision number of d (replacing one it had). */
int srv_revision_sign(struct srv_store *st, const struct srv_deployment *d, int64_t number,
                      const struct srv_rev_content *c, struct m87_error **err);

/* 1 with *size when the bundle is stored, 0 when not. */
int srv_bundle_find(struct srv_store *st, const char *digest, uint64_t *size,
                    struct m87_error **err);
int srv_bundle_add(struct srv_store *st, const char *digest, uint64_t size, struct m87_error **err);
/* Store chunk seq (from 0) of the bundle digest, whose row srv_bundle_add made in the same
 * transaction; data is copied. */
int srv_bundle_chunk_add(struct srv_store *st, const char *digest, int64_t seq, const void *data,
                         size_t len, struct m87_error **err);
/* 1 with chunk seq of digest in *data (the caller's, *len bytes), 0 when there is none. Needs
 * only the store's lock (srv_store_lock), not a transaction. */
int srv_bundle_chunk_read(struct srv_store *st, const char *digest, int64_t seq, void **data,
                          size_t *len, struct m87_error **err);
/* Store the bundle digest of size bytes, read from fd (named name in errors) from its start:
 * its row and its chunks, in the caller's transaction. */
int srv_bundle_store_fd(struct srv_store *st, const char *digest, int fd, uint64_t size,
                        const char *name, struct m87_error **err);
/* Move the bundle files an older server kept in dir (sha256-HEX.tar.gz) into the database, each
 * in a transaction, and remove each once its transaction committed; a file no bundles row names
 * is left (logged). Leftover temporary uploads are removed. bundle-import.c. */
int srv_bundles_import(struct srv_store *st, const char *dir, struct m87_error **err);
/* The number of chunks of digest stored, in *n. */
int srv_bundle_chunk_count(struct srv_store *st, const char *digest, int64_t *n,
                           struct m87_error **err);
/* 1 when a revision of a deployment of the device references digest. */
int srv_bundle_referenced(struct srv_store *st, int64_t device_id, const char *digest,
                          struct m87_error **err);

#endif
