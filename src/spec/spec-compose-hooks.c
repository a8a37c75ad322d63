/* Service lifecycle hooks: post_start and pre_stop, each a list of {command, user, privileged,
 * working_dir, environment} run by the executor through the exec API. */
#include <stdbool.h>
#include <stdlib.h>

#include "m87/alloc.h"
#include "m87/list.h"
#include "m87/spec-service.h"
#include "m87/yaml.h"
#include "spec/spec-compose-internal.h"

static int hook_command(struct svc *c, const struct cnode *v, const char *path,
                        struct m87_strv *out)
{
    if (v->kind == M87_YAML_SCALAR) {
        const char *why = NULL;
        if (spec_compose_split_words(v->text, out, &why) < 0)
            return spec_cn_error(v, c->err, "%s: %s in '%s'", path, why, v->text);
    } else if (v->kind != M87_YAML_SEQUENCE) {
        return spec_cn_expect(v, path, M87_YAML_SEQUENCE, c->err);
    } else if (spec_cn_strings(v, path, out, c->err) < 0) {
        return -1;
    }
    if (out->len == 0)
        return spec_cn_error(v, c->err, "%s: empty command", path);
    return 0;
}

static int hook_str(struct svc *c, const struct cnode *e, const char *path, const char *key,
                    char **out)
{
    const struct cnode *v = spec_cn_val(e, key);
    if (v == NULL)
        return 0;
    _cleanup_free_ char *kp = spec_cn_path(path, key);
    const char *text = NULL;
    if (spec_cn_str(v, kp, &text, c->err) < 0)
        return -1;
    *out = m87_xstrdup(text);
    return 0;
}

static int hook_environment(struct svc *c, const struct cnode *e, const char *path,
                            struct m87_kvlist *out)
{
    const struct cnode *v = spec_cn_val(e, "environment");
    if (v == NULL)
        return 0;
    _cleanup_free_ char *kp = spec_cn_path(path, "environment");
    struct m87_kvlist env;
    m87_kvlist_init(&env);
    int rc = spec_cn_kv(v, kp, CN_KV_NULL, &env, c->err);
    for (size_t i = 0; rc == 0 && i < env.len; i++) {
        const char *value = env.items[i].value;
        if (value == NULL)
            value = spec_loader_lookup(c->l, env.items[i].key);
        m87_kvlist_set(out, env.items[i].key, value);
    }
    m87_kvlist_release(&env);
    return rc;
}

static int parse_hook(struct svc *c, const struct cnode *e, const char *path, struct spec_hook *h)
{
    static const char *const known[] = {"command", "environment", "privileged",
                                        "user",    "working_dir", NULL};
    if (spec_cn_keys(e, path, known, NULL, c->err) < 0)
        return -1;
    const struct cnode *cmd = spec_cn_val(e, "command");
    if (cmd == NULL)
        return spec_cn_error(e, c->err, "%s: missing required field 'command'", path);
    _cleanup_free_ char *cp = spec_cn_path(path, "command");
    if (hook_command(c, cmd, cp, &h->command) < 0)
        return -1;
    if (hook_str(c, e, path, "user", &h->user) < 0 ||
        hook_str(c, e, path, "working_dir", &h->working_dir) < 0)
        return -1;
    const struct cnode *v = spec_cn_val(e, "privileged");
    _cleanup_free_ char *pp = spec_cn_path(path, "privileged");
    if (v && spec_cn_bool(v, pp, &h->privileged, c->err) < 0)
        return -1;
    if (h->working_dir && h->working_dir[0] != '/') {
        _cleanup_free_ char *wp = spec_cn_path(path, "working_dir");
        return spec_cn_error(spec_cn_val(e, "working_dir"), c->err,
                             "%s: working_dir must be an absolute path, not '%s'", wp,
                             h->working_dir);
    }
    return hook_environment(c, e, path, &h->environment);
}

static int parse_hooks(struct svc *c, const char *name, struct spec_hook **out, size_t *n_out)
{
    const struct cnode *v = spec_svc_get(c, name);
    if (v == NULL)
        return 0;
    _cleanup_free_ char *path = m87_xstrdup(c->fpath);
    if (spec_cn_expect(v, path, M87_YAML_SEQUENCE, c->err) < 0)
        return -1;
    *out = m87_xcalloc(v->len ? v->len : 1, sizeof(**out));
    for (size_t i = 0; i < v->len; i++) {
        struct spec_hook *h = &(*out)[i];
        m87_strv_init(&h->command);
        m87_kvlist_init(&h->environment);
        *n_out = i + 1;
        _cleanup_free_ char *ip = spec_cn_path_i(path, i);
        if (parse_hook(c, v->items[i], ip, h) < 0)
            return -1;
    }
    return 0;
}

int spec_svc_hooks(struct svc *c)
{
    if (parse_hooks(c, "post_start", &c->s->post_start, &c->s->n_post_start) < 0)
        return -1;
    return parse_hooks(c, "pre_stop", &c->s->pre_stop, &c->s->n_pre_stop);
}

void spec_compose_hooks_free(struct spec_hook *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        m87_strv_release(&v[i].command);
        free(v[i].user);
        free(v[i].working_dir);
        m87_kvlist_release(&v[i].environment);
    }
    free(v);
}
