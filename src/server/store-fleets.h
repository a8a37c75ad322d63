/* m87-server private: fleets in the store (store-fleets.c). A fleet is a name and a label
 * selector kept in its canonical text (spec_selector_format); its members are not stored but
 * computed from the devices' current labels (api-fleets.c), so a device registered or relabelled
 * later joins or leaves without any write to the fleet. */
#ifndef M87_SERVER_STORE_FLEETS_H
#define M87_SERVER_STORE_FLEETS_H

#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "server/row.h"
#include "server/store.h"

struct srv_fleet {
    int64_t id;
    char *name;
    char *selector; /* canonical */
    int64_t created;
};
/* Its members: srv_jw_row writes "name", "selector" and "created" of one. */
extern const struct srv_row_type srv_fleet_row;
void srv_fleet_release(struct srv_fleet *f);
void srv_fleets_free(struct srv_fleet *v, size_t n);

/* Store a fleet; name and selector checked by the caller (selector canonical). *out is the
 * caller's. M87_E_CONFLICT "fleet 'NAME' already exists", M87_E_TOOBIG past SRV_MAX_FLEETS. */
int srv_fleet_create(struct srv_store *st, const char *name, const char *selector,
                     struct srv_fleet *out, struct m87_error **err);
/* M87_E_NOTFOUND "fleet 'NAME' not found". */
int srv_fleet_find(struct srv_store *st, const char *name, struct srv_fleet *out,
                   struct m87_error **err);
/* Every fleet, by name (one statement). */
int srv_fleet_list(struct srv_store *st, struct srv_fleet **out, size_t *n, struct m87_error **err);
/* M87_E_NOTFOUND "fleet 'NAME' not found". */
int srv_fleet_delete(struct srv_store *st, const char *name, struct m87_error **err);

#endif
