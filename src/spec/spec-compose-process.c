/* Service fields about the process the container runs: command, entrypoint, environment and
 * env_file. */
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/list.h"
#include "m87/spec-dotenv.h"
#include "m87/spec-service.h"
#include "m87/yaml.h"
#include "spec/spec-compose-internal.h"

static int parse_command(struct svc *c, const char *name, bool *has, struct m87_strv *out)
{
    const struct cnode *v = spec_svc_get(c, name);
    if (v == NULL)
        return 0;
    *has = true;
    if (v->kind == M87_YAML_SCALAR) {
        const char *why = NULL;
        if (spec_compose_split_words(v->text, out, &why) < 0)
            return spec_cn_error(v, c->err, "%s: %s in '%s'", c->fpath, why, v->text);
        return 0;
    }
    if (v->kind != M87_YAML_SEQUENCE)
        return spec_cn_expect(v, c->fpath, M87_YAML_SEQUENCE, c->err);
    return spec_cn_strings(v, c->fpath, out, c->err);
}

static int parse_env_file_entry(struct svc *c, const struct cnode *e, const char *path)
{
    const struct cnode *pn = e;
    bool required = true;
    if (spec_cn_is_map(e)) {
        static const char *const known[] = {"path", "required", NULL};
        static const char *const unsupported[] = {"format", NULL};
        if (spec_cn_keys(e, path, known, unsupported, c->err) < 0)
            return -1;
        const struct cnode *r = spec_cn_val(e, "required");
        _cleanup_free_ char *rp = spec_cn_path(path, "required");
        if (r && spec_cn_bool(r, rp, &required, c->err) < 0)
            return -1;
        pn = spec_cn_get(e, "path");
        if (pn == NULL)
            return spec_cn_error(e, c->err, "%s: missing required field 'path'", path);
    }
    const char *file = NULL;
    _cleanup_free_ char *pp = spec_cn_is_map(e) ? spec_cn_path(path, "path") : m87_xstrdup(path);
    if (spec_cn_str(pn, pp, &file, c->err) < 0)
        return -1;
    _cleanup_free_ char *abs = spec_loader_abspath(c->l, pn, file, pp, c->err);
    if (abs == NULL)
        return -1;
    if (!required && access(abs, F_OK) != 0)
        return 0;
    if (spec_dotenv_load(abs, spec_loader_lookup, c->l, &c->s->environment, c->err) < 0)
        return spec_cn_wrap(pn, pp, c->err);
    m87_strv_add(&c->s->env_files, abs);
    return 0;
}

static int parse_environment(struct svc *c)
{
    const struct cnode *v = spec_svc_get(c, "env_file");
    if (v && spec_cn_is_scalar(v) && parse_env_file_entry(c, v, c->fpath) < 0)
        return -1;
    if (v && !spec_cn_is_scalar(v)) {
        if (spec_cn_expect(v, c->fpath, M87_YAML_SEQUENCE, c->err) < 0)
            return -1;
        for (size_t i = 0; i < v->len; i++) {
            _cleanup_free_ char *ip = spec_cn_path_i(c->fpath, i);
            if (parse_env_file_entry(c, v->items[i], ip) < 0)
                return -1;
        }
    }
    if ((v = spec_svc_get(c, "environment")) == NULL)
        return 0;
    struct m87_kvlist env;
    m87_kvlist_init(&env);
    int rc = spec_cn_kv(v, c->fpath, CN_KV_NULL, &env, c->err);
    for (size_t i = 0; rc == 0 && i < env.len; i++) {
        const char *value = env.items[i].value;
        if (value == NULL)
            value = spec_loader_lookup(c->l, env.items[i].key);
        m87_kvlist_set(&c->s->environment, env.items[i].key, value);
    }
    m87_kvlist_release(&env);
    return rc;
}

int spec_svc_process(struct svc *c)
{
    struct spec_service *s = c->s;
    if (parse_command(c, "command", &s->has_command, &s->command) < 0 ||
        parse_command(c, "entrypoint", &s->has_entrypoint, &s->entrypoint) < 0)
        return -1;
    return parse_environment(c);
}
