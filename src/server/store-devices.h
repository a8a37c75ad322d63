/* m87-server private: devices in the store (store-devices.c) with their labels
 * (store-labels.c), their maintenance windows (store-windows.c) and the images they are asked to
 * prefetch (store-prefetch.c). */
#ifndef M87_SERVER_STORE_DEVICES_H
#define M87_SERVER_STORE_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-window.h"
#include "server/row.h"
#include "server/store.h"

struct srv_device {
    int64_t id;
    char *name;
    int64_t created;
    int64_t last_seen; /* 0: never */
    char *agent_version;
    char *applied;
    char *prefetch;           /* "always" or "window" */
    int64_t policy;           /* bumped by every change of windows, prefetch or now_revision */
    char *now_revision;       /* the revision hash to apply at once (--now), or NULL */
    bool offline;             /* its agent said in its last sync that it stops */
    struct m87_kvlist labels; /* by key; filled only by srv_labels_get or srv_labels_fill */
};
void srv_device_release(struct srv_device *d);

/* M87_E_CONFLICT when the name exists. */
int srv_device_create(struct srv_store *st, const char *name, const char *token_hash,
                      struct srv_device *out, struct m87_error **err);
/* M87_E_NOTFOUND "device 'NAME' not found". On PostgreSQL the device's row stays locked until the
 * transaction ends: the transactions of one device run one after the other (docs/design.md,
 * PostgreSQL backend, Connections). */
int srv_device_find(struct srv_store *st, const char *name, struct srv_device *out,
                    struct m87_error **err);
/* Lock the device's row until the transaction ends (PostgreSQL; SQLite: 0 at once, its BEGIN
 * IMMEDIATE serialises writers), as srv_device_find does; 0 also when there is no such device. */
int srv_device_lock(struct srv_store *st, int64_t id, struct m87_error **err);
int srv_device_by_id(struct srv_store *st, int64_t id, struct srv_device *out,
                     struct m87_error **err);
int srv_device_list(struct srv_store *st, struct srv_device **out, size_t *n,
                    struct m87_error **err);
int srv_device_delete(struct srv_store *st, int64_t id, struct m87_error **err);
/* last_seen = now; agent_version when not NULL; applied (NULL stores null); offline: the agent
 * said it stops (any other sync clears it). */
int srv_device_seen(struct srv_store *st, int64_t id, const char *agent_version,
                    const char *applied, bool offline, struct m87_error **err);
/* The settings of docs/api.md; each bumps the device's policy when the value changes. */
int srv_device_set_prefetch(struct srv_store *st, int64_t id, const char *prefetch,
                            struct m87_error **err);
/* hash NULL: no revision is to be applied at once. */
int srv_device_set_now(struct srv_store *st, int64_t id, const char *hash, struct m87_error **err);
int srv_device_bump_policy(struct srv_store *st, int64_t id, struct m87_error **err);
int srv_device_count_online(struct srv_store *st, int64_t since, int64_t *n,
                            struct m87_error **err);

/* Labels (store-labels.c): keys and values checked by the caller (spec-label.h). */
/* Append the device's labels, by key, to *out. */
int srv_labels_get(struct srv_store *st, int64_t device_id, struct m87_kvlist *out,
                   struct m87_error **err);
/* The labels of every device into v[i].labels; v is what srv_device_list gave, in the same
 * transaction. One statement whatever n is. */
int srv_labels_fill(struct srv_store *st, struct srv_device *v, size_t n, struct m87_error **err);
/* Apply changes: a key with a value sets it, a key without one (NULL) removes it (a key it does
 * not have is no error). M87_E_TOOBIG "labels: a device has at most 64 labels ..." when the
 * device would have more than SPEC_LABELS_MAX: the caller's transaction is then rolled back. */
int srv_labels_change(struct srv_store *st, const struct srv_device *d,
                      const struct m87_kvlist *changes, struct m87_error **err);

/* An image a device is asked to prefetch (store-prefetch.c). */
struct srv_prefetch {
    char *image;
    int64_t requested;
    char *report; /* the newest "prefetch" record the device sent for it, or NULL */
};
/* Its members: srv_jw_row writes "image" and "requested" of one. */
extern const struct srv_row_type srv_prefetch_row;
void srv_prefetch_free(struct srv_prefetch *v, size_t n);
/* The device's images, oldest first. */
int srv_prefetch_list(struct srv_store *st, int64_t device_id, struct srv_prefetch **out, size_t *n,
                      struct m87_error **err);
/* Add the images not there yet (bumps the policy when one is new); M87_E_TOOBIG past
 * SRV_MAX_PREFETCH. */
int srv_prefetch_add(struct srv_store *st, int64_t device_id, const struct m87_strv *images,
                     struct m87_error **err);
/* Forget every image (bumps the policy when there was one). */
int srv_prefetch_clear(struct srv_store *st, int64_t device_id, struct m87_error **err);
/* Keep report as the newest record of image, when the device is asked for it. */
int srv_prefetch_note(struct srv_store *st, int64_t device_id, const char *image,
                      const char *report, struct m87_error **err);

struct srv_window {
    int64_t id;
    char *rule; /* canonical (spec_window_format) */
    int64_t created;
};
/* Its members: srv_jw_row writes "id", "rule" and "created" of one. */
extern const struct srv_row_type srv_window_row;
void srv_windows_free(struct srv_window *v, size_t n);
/* The device's windows, oldest first. */
int srv_window_list(struct srv_store *st, int64_t device_id, struct srv_window **out, size_t *n,
                    struct m87_error **err);
/* M87_E_CONFLICT when the device has that rule already, M87_E_TOOBIG past SRV_MAX_WINDOWS. */
int srv_window_add(struct srv_store *st, int64_t device_id, const char *rule,
                   struct srv_window *out, struct m87_error **err);
/* M87_E_NOTFOUND "device 'NAME' has no window ID". */
int srv_window_delete(struct srv_store *st, const struct srv_device *d, int64_t id,
                      struct m87_error **err);

#endif
