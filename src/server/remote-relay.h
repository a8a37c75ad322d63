/* m87-server private: remote channels another replica holds (remote-relay.c; docs/remote.md,
 * "Channels across replicas"). With replicas on one PostgreSQL, a channel lives in the memory of
 * the replica that opened it (its owner), whose address (--advertise) its row names
 * (store-remote.h). A request for it on another replica is relayed there with libcurl, carrying
 * the client's Authorization (the owner authenticates it as its own) and an M87-Relay header (a
 * relayed request is never relayed again). A stream goes through a local shadow of the channel
 * (remote.h): the client's connection on one side, a relay thread's transfer to the owner's same
 * endpoint on the other; a relay that fails breaks the shadow, and so the client's stream, with
 * why. */
#ifndef M87_SERVER_REMOTE_RELAY_H
#define M87_SERVER_REMOTE_RELAY_H

#include <stdbool.h>

#include "m87/error.h"
#include "server/remote.h"

struct srv_req;

/* Join stream of channel id, which this replica does not hold, through its owner: the local
 * port of r's connection, its relay started. NULL with M87_E_NOTFOUND when no other replica
 * holds it (or replicas share no database), M87_E_CONFLICT as srv_remote_attach or when the
 * owner has no address. */
struct srv_remote_port *srv_remote_relay_join(struct srv_req *r, const char *id,
                                              enum srv_remote_stream stream, bool agent,
                                              struct m87_error **err);

/* Relay r, a JSON request about channel id (the agent's end, the admin's read of the state), to
 * the replica that holds it, and answer r with its answer (502 when it does not answer): true.
 * False, nothing answered, when no other replica holds it. Blocks for the owner's answer (at
 * most RELAY_JSON_TIMEOUT_S). */
bool srv_remote_relay_json(struct srv_req *r, const char *id, bool agent);

#endif
