/* Checks of network addresses as text (src/common/net.c). */
#ifndef M87_NET_H
#define M87_NET_H

#include <stdbool.h>

/* True when s is a whole IP address of family: AF_INET ("10.0.0.1"), AF_INET6 ("fe80::1", no
 * brackets, no zone), or AF_UNSPEC for either. No prefix length, no port. */
bool m87_valid_ip(const char *s, int family);

#endif
