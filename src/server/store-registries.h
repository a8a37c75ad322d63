/* m87-server private: registry credentials in the store (store-registries.c). An entry is for one
 * device, for the devices a label selector selects, or for every device. For a host, a device
 * gets its own entry, else the newest entry whose selector selects it, else the every-device
 * entry. The password is kept sealed (secret.h). */
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
    char *device;   /* the device's name (srv_registry_for_device: "own"); NULL: not one device */
    char *selector; /* the label selector, canonical; NULL: not a selector */
    int64_t created;
    int64_t updated;
    char *secret; /* sealed; only srv_registry_for_device fills it */
};
/* Its members: srv_jw_row writes host, username, device, select, created and updated, never the
 * secret. */
extern const struct srv_row_type srv_registry_row;
void srv_registries_free(struct srv_registry *v, size_t n);

/* Who an entry is for: device_id (0: none), or selector (canonical; NULL: none); neither: every
 * device. */
struct srv_reg_scope {
    int64_t device_id;
    const char *selector;
};

/* Add or replace the entry of host for scope with username and the sealed secret. M87_E_TOOBIG
 * past SRV_MAX_REGISTRIES. */
int srv_registry_put(struct srv_store *st, const char *host, const struct srv_reg_scope *scope,
                     const char *username, const char *secret, struct m87_error **err);
/* Remove the entry of host for scope, or (an empty scope) every entry of host. M87_E_NOTFOUND
 * when there was none. */
int srv_registry_remove(struct srv_store *st, const char *host, const struct srv_reg_scope *scope,
                        struct m87_error **err);
/* Every entry, by host, the every-device entry first; secret stays NULL. */
int srv_registry_list(struct srv_store *st, struct srv_registry **out, size_t *n,
                      struct m87_error **err);
/* The entries that apply to a device, one per host (its own, else the newest whose selector
 * selects its labels, else the every-device one), secret filled. */
int srv_registry_for_device(struct srv_store *st, int64_t device_id, struct srv_registry **out,
                            size_t *n, struct m87_error **err);

#endif
