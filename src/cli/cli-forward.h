/* `m87 DEVICE forward`'s specs (cli-forward-spec.c), apart from the command for unit tests. */
#ifndef M87_CLI_CLI_FORWARD_H
#define M87_CLI_CLI_FORWARD_H

#include <stdbool.h>

#include "m87/error.h"

/* One SPEC: [LOCALADDR:]LOCALPORT[:[HOST:]REMOTEPORT][/udp|/tcp]. Every field is set (defaults
 * 127.0.0.1 and the local port); owned, freed by cli_forward_spec_release. */
struct cli_forward_spec {
    char *local_addr;
    char *local_port;
    char *host;
    char *port;
    bool udp;
};

/* Parse text into *f. 0, or -1 with M87_E_INVAL and a message naming text and what is wrong
 * (*f holds nothing to release then). Three parts are LOCALPORT:HOST:REMOTEPORT when the first is a
 * number, else LOCALADDR:LOCALPORT:REMOTEPORT. */
int cli_forward_spec_parse(const char *text, struct cli_forward_spec *f, struct m87_error **err);
void cli_forward_spec_release(struct cli_forward_spec *f);

#endif
