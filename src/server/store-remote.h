/* m87-server private: remote channels as the replicas of one PostgreSQL database share them
 * (store-remote.c, docs/remote.md "Channels across replicas"). The replica that opens a channel
 * keeps its streams in memory (remote.h) and writes a row naming itself (its advertised address)
 * in the open's transaction; a held sync of the device on any replica delivers it from the row;
 * a stream request on a replica that does not hold the channel finds the owner here and relays.
 * On SQLite (one server) nothing is written: the channel in memory is all there is. */
#ifndef M87_SERVER_STORE_REMOTE_H
#define M87_SERVER_STORE_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "m87/error.h"
#include "m87/json-write.h"

struct srv_store;

/* True when st is shared by replicas (PostgreSQL): channels go through the table. */
bool srv_store_remote_shared(struct srv_store *st);

/* In a transaction: the row of a new channel id of the device (device_name), request (JSON
 * text), owner (the opening replica's address, NULL when it has none); rows older than a day
 * go. SQLite: nothing, 0. */
int srv_remote_channel_add(struct srv_store *st, const char *id, int64_t device_id,
                           const char *device_name, const char *request, const char *owner,
                           struct m87_error **err);

/* In a transaction: "remote": [{"id", "request"}] of the device's channels not delivered yet and
 * younger than max_age seconds, into w (nothing when none), which become delivered; their count
 * into *n. */
int srv_remote_channels_deliver(struct srv_store *st, int64_t device_id, int64_t max_age,
                                struct m87_jw *w, size_t *n, struct m87_error **err);

/* Channel id's device and owner (NULL when it has none): the caller's. M87_E_NOTFOUND. Takes the
 * store's lock itself (a single read). */
int srv_remote_channel_find(struct srv_store *st, const char *id, int64_t *device_id,
                            char **device_name, char **owner, struct m87_error **err);

#endif
