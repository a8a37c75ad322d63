/* Checks of network addresses as text. */
#include <arpa/inet.h>
#include <sys/socket.h>

#include "m87/net.h"

bool m87_valid_ip(const char *s, int family)
{
    unsigned char buf[sizeof(struct in6_addr)];

    if (family == AF_UNSPEC)
        return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
    return inet_pton(family, s, buf) == 1;
}
