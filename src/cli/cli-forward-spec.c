/* `m87 DEVICE forward`'s SPEC (cli-forward.h). */
#include <stdlib.h>
#include <string.h>

#include "cli/cli-forward.h"
#include "m87/alloc.h"

#define FORWARD_SPEC_FORM "[LOCALADDR:]LOCALPORT[:[HOST:]PORT][/udp]"

static bool is_port(const char *s)
{
    char *end = NULL;
    if (*s < '0' || *s > '9')
        return false;
    long v = strtol(s, &end, 10);
    return !*end && v >= 1 && v <= 65535;
}

void cli_forward_spec_release(struct cli_forward_spec *f)
{
    free(f->local_addr);
    free(f->local_port);
    free(f->host);
    free(f->port);
    *f = (struct cli_forward_spec){0};
}

int cli_forward_spec_parse(const char *text, struct cli_forward_spec *f, struct m87_error **err)
{
    _cleanup_free_ char *copy = m87_xstrdup(text);
    char *parts[5];
    size_t n = 0;
    *f = (struct cli_forward_spec){0};
    char *slash = strchr(copy, '/');
    if (slash) {
        *slash = '\0';
        if (strcmp(slash + 1, "udp") == 0)
            f->udp = true;
        else if (strcmp(slash + 1, "tcp") != 0)
            return m87_error_set(err, M87_E_INVAL, 0,
                                 "'%s': unknown protocol '%s' (expected tcp or udp)", text,
                                 slash + 1);
    }
    for (char *p = copy, *colon; n < 5; p = colon + 1) {
        parts[n++] = p;
        if ((colon = strchr(p, ':')) == NULL)
            break;
        *colon = '\0';
    }
    const char *laddr = "127.0.0.1", *lport = NULL, *host = "127.0.0.1", *rport = NULL;
    if (n == 1) {
        lport = rport = parts[0];
    } else if (n == 2) {
        lport = parts[0], rport = parts[1];
    } else if (n == 3 && is_port(parts[0])) {
        lport = parts[0], host = parts[1], rport = parts[2];
    } else if (n == 3) {
        laddr = parts[0], lport = parts[1], rport = parts[2];
    } else if (n == 4) {
        laddr = parts[0], lport = parts[1], host = parts[2], rport = parts[3];
    } else {
        return m87_error_set(err, M87_E_INVAL, 0, "'%s': expected " FORWARD_SPEC_FORM, text);
    }
    if (!*laddr)
        return m87_error_set(err, M87_E_INVAL, 0, "'%s': empty local address", text);
    if (!*host)
        return m87_error_set(err, M87_E_INVAL, 0, "'%s': empty host", text);
    if (!is_port(lport) || !is_port(rport))
        return m87_error_set(err, M87_E_INVAL, 0,
                             "'%s': expected " FORWARD_SPEC_FORM " with ports from 1 to 65535",
                             text);
    f->local_addr = m87_xstrdup(laddr);
    f->local_port = m87_xstrdup(lport);
    f->host = m87_xstrdup(host);
    f->port = m87_xstrdup(rport);
    return 0;
}
