/* ports (short and long syntax) and expose, read as docker's nat.ParsePortSpec reads them:
 * [[IP:]HOST:]CONTAINER[/PROTOCOL], ranges expanded to one entry per container port. */
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/net.h"
#include "m87/spec-service.h"
#include "m87/yaml.h"
#include "spec/spec-compose-internal.h"

#define PORT_MAX 65535u

struct port_range {
    unsigned start;
    unsigned end;
};

static bool parse_number(const char *s, size_t len, unsigned *out)
{
    if (len == 0 || len > 5)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return v <= PORT_MAX;
}

/* "N" or "N-M" with min <= N <= M <= 65535. */
static bool parse_range(const char *s, size_t len, unsigned min, struct port_range *r)
{
    const char *dash = memchr(s, '-', len);
    if (dash == NULL) {
        if (!parse_number(s, len, &r->start))
            return false;
        r->end = r->start;
    } else if (!parse_number(s, (size_t)(dash - s), &r->start) ||
               !parse_number(dash + 1, len - (size_t)(dash - s) - 1, &r->end)) {
        return false;
    }
    return r->start >= min && r->start <= r->end;
}

static bool valid_protocol(const char *p)
{
    return strcmp(p, "tcp") == 0 || strcmp(p, "udp") == 0 || strcmp(p, "sctp") == 0;
}

/* "80/udp" into its range and lower-cased protocol ("tcp" when none). */
static const char *split_proto(const char *s, struct port_range *r, char *proto, size_t cap,
                               unsigned min)
{
    const char *slash = strchr(s, '/');
    size_t len = slash ? (size_t)(slash - s) : strlen(s);
    const char *p = slash && slash[1] ? slash + 1 : "tcp";
    if (strlen(p) >= cap || strchr(p, '/'))
        return "invalid protocol";
    for (size_t i = 0; p[i]; i++)
        proto[i] = (char)tolower((unsigned char)p[i]);
    proto[strlen(p)] = '\0';
    if (!valid_protocol(proto))
        return "unknown protocol '%s'";
    if (len == 0)
        return "no container port";
    if (!parse_range(s, len, min, r))
        return ""; /* the port itself is wrong: the quoted spec says it all */
    return NULL;
}

/* why is "" (nothing to add), a reason, or a format with the protocol. */
static int port_error(const struct cnode *n, const char *path, const char *spec, const char *why,
                      const char *proto, struct m87_error **err)
{
    if (*why == '\0')
        return spec_cn_error(n, err, "%s: invalid port '%s'", path, spec);
    if (strstr(why, "%s"))
        return spec_cn_error(n, err, "%s: invalid port '%s': unknown protocol '%s'", path, spec,
                             proto);
    return spec_cn_error(n, err, "%s: invalid port '%s': %s", path, spec, why);
}

static struct spec_port *ports_grow(struct spec_service *s, size_t more)
{
    s->ports = m87_xrealloc(s->ports, (s->n_ports + more) * sizeof(*s->ports));
    memset(&s->ports[s->n_ports], 0, more * sizeof(*s->ports));
    return &s->ports[s->n_ports];
}

/* The address part of a short spec: "[::1]" loses its brackets; an IPv6 address needs them. */
static char *host_address(const char *ip, size_t len, bool *ok)
{
    *ok = true;
    if (len == 0)
        return NULL;
    if (ip[0] == '[' && len >= 2 && ip[len - 1] == ']')
        ip++, len -= 2;
    else if (memchr(ip, ':', len))
        *ok = false;
    char *a = m87_xstrndup(ip, len);
    *ok = *ok && m87_valid_ip(a, AF_UNSPEC);
    return a;
}

static void emit_ports(struct spec_service *s, struct port_range c, const struct port_range *h,
                       const char *ip, const char *proto)
{
    size_t count = c.end - c.start + 1;
    struct spec_port *p = ports_grow(s, count);
    for (size_t i = 0; i < count; i++) {
        p[i].target = c.start + (unsigned)i;
        p[i].publish = true;
        p[i].protocol = m87_xstrdup(proto);
        p[i].host_ip = ip ? m87_xstrdup(ip) : NULL;
        if (h == NULL)
            continue;
        if (count == 1 && h->start != h->end)
            p[i].published = m87_xasprintf("%u-%u", h->start, h->end);
        else
            p[i].published = m87_xasprintf("%u", h->start + (unsigned)i);
    }
    s->n_ports += count;
}

static int port_short(void *svc, const struct cnode *n, const char *path, const char *spec,
                      struct m87_error **err)
{
    struct spec_service *s = svc;
    const char *last = strrchr(spec, ':');
    const char *container = last ? last + 1 : spec;
    const char *host = spec, *ip = NULL;
    size_t host_len = last ? (size_t)(last - spec) : 0, ip_len = 0;
    const char *prev = NULL;
    for (const char *q = spec; last && q < last; q++)
        if (*q == ':')
            prev = q;
    if (prev) {
        ip = spec, ip_len = (size_t)(prev - spec);
        host = prev + 1, host_len = (size_t)(last - prev - 1);
    }
    char proto[8] = "";
    struct port_range c, h;
    const char *why = split_proto(container, &c, proto, sizeof(proto), 1);
    if (why)
        return port_error(n, path, spec, why, proto, err);
    bool ok;
    _cleanup_free_ char *addr = host_address(ip, ip_len, &ok);
    if (!ok)
        return spec_cn_error(n, err, "%s: invalid port '%s': invalid IP address '%.*s'", path, spec,
                             (int)ip_len, ip);
    if (host_len && !parse_range(host, host_len, 0, &h))
        return spec_cn_error(n, err, "%s: invalid port '%s': invalid host port '%.*s'", path, spec,
                             (int)host_len, host);
    if (host_len && c.end - c.start != h.end - h.start && c.start != c.end)
        return spec_cn_error(
            n, err, "%s: invalid port '%s': host and container ranges differ in size", path, spec);
    emit_ports(s, c, host_len ? &h : NULL, addr, proto);
    return 0;
}

static int long_str(const struct cnode *e, const char *path, const char *key, const char **out,
                    struct m87_error **err)
{
    const struct cnode *v = spec_cn_val(e, key);
    _cleanup_free_ char *kp = spec_cn_path(path, key);
    *out = NULL;
    return v ? spec_cn_str(v, kp, out, err) : 0;
}

static int port_long_check(const struct cnode *e, const char *path, const char *published,
                           const char *host_ip, const char *proto, const char *mode,
                           struct m87_error **err)
{
    struct port_range h;
    if (published && *published && !parse_range(published, strlen(published), 0, &h))
        return spec_cn_error(spec_cn_get(e, "published"), err, "%s.published: invalid port '%s'",
                             path, published);
    if (host_ip && !m87_valid_ip(host_ip, AF_UNSPEC))
        return spec_cn_error(spec_cn_get(e, "host_ip"), err, "%s.host_ip: invalid IP address '%s'",
                             path, host_ip);
    if (!valid_protocol(proto))
        return spec_cn_error(spec_cn_get(e, "protocol"), err, "%s.protocol: unknown protocol '%s'",
                             path, proto);
    if (mode && strcmp(mode, "host") != 0 && strcmp(mode, "ingress") != 0)
        return spec_cn_error(spec_cn_get(e, "mode"), err,
                             "%s.mode: invalid mode '%s' (host or ingress)", path, mode);
    return 0;
}

static int port_long(void *svc, const struct cnode *e, const char *path, struct m87_error **err)
{
    struct spec_service *s = svc;
    static const char *const known[] = {"target", "published", "host_ip",      "protocol",
                                        "mode",   "name",      "app_protocol", NULL};
    if (spec_cn_keys(e, path, known, NULL, err) < 0)
        return -1;
    const struct cnode *t = spec_cn_val(e, "target");
    _cleanup_free_ char *tp = spec_cn_path(path, "target");
    int64_t target;
    if (t == NULL)
        return spec_cn_error(e, err, "%s: missing required field 'target'", path);
    if (spec_cn_int_range(t, tp, 1, PORT_MAX, &target, err) < 0)
        return -1;
    const char *published, *host_ip, *proto, *mode, *name, *app;
    if (long_str(e, path, "published", &published, err) < 0 ||
        long_str(e, path, "host_ip", &host_ip, err) < 0 ||
        long_str(e, path, "protocol", &proto, err) < 0 ||
        long_str(e, path, "mode", &mode, err) < 0 || long_str(e, path, "name", &name, err) < 0 ||
        long_str(e, path, "app_protocol", &app, err) < 0)
        return -1;
    _cleanup_free_ char *lproto = m87_xstrdup(proto ? proto : "tcp");
    for (char *q = lproto; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    if (port_long_check(e, path, published, host_ip, lproto, mode, err) < 0)
        return -1;
    struct spec_port *p = ports_grow(s, 1);
    s->n_ports++;
    p->target = (unsigned)target;
    p->publish = true;
    p->published = published && *published ? m87_xstrdup(published) : NULL;
    p->host_ip = host_ip && *host_ip ? m87_xstrdup(host_ip) : NULL;
    p->protocol = M87_STEAL(lproto);
    p->mode = mode ? m87_xstrdup(mode) : NULL;
    p->name = name ? m87_xstrdup(name) : NULL;
    p->app_protocol = app ? m87_xstrdup(app) : NULL;
    return 0;
}

int spec_compose_ports_parse(const struct cnode *n, const char *path, struct spec_service *s,
                             struct m87_error **err)
{
    return spec_cn_entries(n, path, s, port_long, port_short, err);
}

int spec_compose_expose_parse(const struct cnode *n, const char *path, struct spec_service *s,
                              struct m87_error **err)
{
    if (spec_cn_expect(n, path, M87_YAML_SEQUENCE, err) < 0)
        return -1;
    for (size_t i = 0; i < n->len; i++) {
        _cleanup_free_ char *ip = spec_cn_path_i(path, i);
        const char *spec = NULL;
        if (spec_cn_str(n->items[i], ip, &spec, err) < 0)
            return -1;
        char proto[8] = "";
        struct port_range r;
        const char *why = split_proto(spec, &r, proto, sizeof(proto), 1);
        if (why)
            return port_error(n->items[i], ip, spec, why, proto, err);
        for (unsigned p = r.start; p <= r.end; p++) {
            _cleanup_free_ char *e = m87_xasprintf("%u/%s", p, proto);
            m87_strv_add(&s->expose, e);
        }
    }
    return 0;
}
