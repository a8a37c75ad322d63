/* Signed sessions (docs/security.md): what a session signature covers. One copy for the CLI,
 * which signs the session it asks for, and the agent, which checks it before it runs anything.
 *
 * A session request (the body of POST /v1/devices/NAME/sessions, docs/api.md) carries
 * "signature": {"key": KEYID, "sig": BASE64, "nonce": HEX, "expires": UNIX}. The signature is
 * Ed25519 over SPEC_SESSION_SIG_PREFIX followed by the JSON that spec_session_payload writes:
 * the device's name, the nonce, the expiry, the command, its arguments, the compose project and
 * files, and the canonical hash of the job whose files and bundle make the session's directory
 * (which covers every file's content and the bundle's digest). */
#ifndef M87_SPEC_SESSION_H
#define M87_SPEC_SESSION_H

#include <stdint.h>

#include "m87/error.h"
#include "m87/json.h"

#define SPEC_SESSION_SIG_PREFIX "m87-session-signature-v1\n"
#define SPEC_SESSION_NONCE_LEN 32  /* hex digits: 128 random bits */
#define SPEC_SESSION_TTL_S 300     /* the CLI signs sessions valid this long */
#define SPEC_SESSION_MAX_TTL_S 900 /* the agent refuses an expiry further away than this */

/* The bytes a session signature covers, for the request (its "signature" member is not read)
 * sent to device. NULL with err when the request's job is not a valid run spec job. Caller
 * frees. */
char *spec_session_payload(const struct m87_json *request, const char *device, const char *nonce,
                           int64_t expires, struct m87_error **err);

/* Remote access grants (docs/remote.md) are the same signature over the same kind of request:
 * "signature": {"key", "sig", "nonce", "expires"} in the body of POST /v1/devices/NAME/remote,
 * Ed25519 over SPEC_REMOTE_SIG_PREFIX followed by the JSON spec_remote_payload writes: the
 * device's name, the nonce, the expiry, what (exec, shell), the command, its environment, its
 * working directory, whether it takes stdin and a terminal, and a forward's host and port
 * (null and 0 for the others). The CLI signs them valid
 * SPEC_SESSION_TTL_S; the agent refuses them past SPEC_SESSION_MAX_TTL_S and replays. */
#define SPEC_REMOTE_SIG_PREFIX "m87-remote-grant-v1\n"

/* The bytes a remote grant covers for request (its "signature" member is not read) to device.
 * Cannot fail (err is never set: the signature of spec_session_payload). Caller frees. */
char *spec_remote_payload(const struct m87_json *request, const char *device, const char *nonce,
                          int64_t expires, struct m87_error **err);

#endif
