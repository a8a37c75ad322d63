/* Volumes of the Engine API client (include/m87/engine.h has the contract of every call). */
#ifndef M87_ENGINE_VOLUMES_H
#define M87_ENGINE_VOLUMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/list.h"

struct engine_volume_config {
    const char *name;                 /* required */
    const char *driver;               /* NULL: "local" */
    const struct m87_kvlist *driver_opts;
    const struct m87_kvlist *labels;
};

struct engine_volume_info {
    char *name;
    char *driver;
    char *mountpoint;
    char *scope;
    struct m87_kvlist labels;
    struct m87_kvlist options;
};

/* POST /volumes/create. Idempotent in dockerd: an existing volume of that name and driver is
 * returned unchanged. out may be NULL. */
int engine_volume_create(struct engine_client *c, const struct engine_volume_config *cfg,
                         struct engine_volume_info **out, struct m87_error **err);
int engine_volume_inspect(struct engine_client *c, const char *name,
                          struct engine_volume_info **out, struct m87_error **err);
void engine_volume_info_free(struct engine_volume_info *v);
int engine_volume_list(struct engine_client *c, const struct m87_kvlist *filters,
                       struct engine_volume_info **out, size_t *n, struct m87_error **err);
void engine_volume_infos_free(struct engine_volume_info *v, size_t n);
/* M87_E_CONFLICT while in use. */
int engine_volume_remove(struct engine_client *c, const char *name, bool force,
                         struct m87_error **err);

#endif
