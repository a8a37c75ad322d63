/* Reading one field of a compose service: the value by its name, with the field's path kept for
 * messages; shared by the files that read the service's parts. */
#include <stdlib.h>

#include "m87/alloc.h"
#include "spec/spec-compose-internal.h"

const struct cnode *spec_svc_get(struct svc *c, const char *name)
{
    free(c->fpath);
    c->fpath = spec_cn_path(c->path, name);
    return spec_cn_val(c->def, name);
}

int spec_svc_str(struct svc *c, const char *name, char **out)
{
    const struct cnode *v = spec_svc_get(c, name);
    const char *s = NULL;
    if (v == NULL)
        return 0;
    if (spec_cn_str(v, c->fpath, &s, c->err) < 0)
        return -1;
    free(*out);
    *out = m87_xstrdup(s);
    return 0;
}
