/* m87-server private: registry credentials in the store (store-registries.c). An entry is for one
 * device or for every device (device NULL); a device's own entry for a host hides the
 * every-device entry of that host. The password is kept sealed (secret.h). */
#ifndef M87_SERVER_STORE_REGISTRIES_H
#define M87_SERVER_STORE_REGISTRIES_H

#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "server/row.h"
#include "server/store.h"

/* At most this many entries in all: each device's sync may carry them. */
#define SRV_MAX_REGISTRIES 256
/* A registry host[:port] and a user name. */
#define SRV_MAX_REGISTRY_HOST 255
#define SRV_MAX_REGISTRY_USER 255

struct srv_registry {
    char *host;
    char *username;
    char *device; /* the device's name; NULL: every device */
    int64_t created;
    int64_t updated;
    char *secret; /* sealed; only srv_registry_for_device fills it */
};
/* Its members: srv_jw_row writes host, username, device, created and updated, never the secret. */
extern const struct srv_row_type srv_registry_row;
void srv_registries_free(struct srv_registry *v, size_t n);

/* Add or replace the entry of host for device_id (0: every device) with username and the sealed
 * secret. M87_E_TOOBIG past SRV_MAX_REGISTRIES. */
int srv_registry_put(struct srv_store *st, const char *host, int64_t device_id,
                     const char *username, const char *secret, struct m87_error **err);
/* Remove the entry of host for device_id, or (device_id 0) every entry of host. M87_E_NOTFOUND
 * when there was none. */
int srv_registry_remove(struct srv_store *st, const char *host, int64_t device_id,
                        struct m87_error **err);
/* Every entry, by host, the every-device entry first; secret stays NULL. */
int srv_registry_list(struct srv_store *st, struct srv_registry **out, size_t *n,
                      struct m87_error **err);
/* The entries that apply to a device, one per host, secret filled (device stays NULL). */
int srv_registry_for_device(struct srv_store *st, int64_t device_id, struct srv_registry **out,
                            size_t *n, struct m87_error **err);

#endif
