/* The names and labels of what a project creates: containers, networks and volumes named as
 * docker compose names them, and the labels by which compose finds them again. */
#include <stdio.h>
#include <string.h>

#include "compose/compose-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/list.h"
#include "m87/spec-project.h"
#include "m87/spec-service.h"

/* ---- names ----------------------------------------------------------------------------------- */

char *compose_container_name(const struct spec_project *p, const struct spec_service *s, int number)
{
    if (s->container_name)
        return m87_xstrdup(s->container_name);
    return m87_xasprintf("%s-%s-%d", p->name, s->name, number);
}

/* A network or volume is named by its name: when given, else PROJECT_KEY. */
static char *resource_name(const struct spec_project *p, const char *key, const char *name)
{
    if (name)
        return m87_xstrdup(name);
    return m87_xasprintf("%s_%s", p->name, key);
}

char *compose_network_name(const struct spec_project *p, const char *key)
{
    const struct spec_network *n = spec_project_network(p, key);
    return resource_name(p, key, n ? n->name : NULL);
}

char *compose_volume_name(const struct spec_project *p, const char *key)
{
    const struct spec_volume *v = spec_project_volume(p, key);
    return resource_name(p, key, v ? v->name : NULL);
}

size_t compose_service_networks(const struct spec_service *s, const char **keys, size_t max)
{
    if (s->network_mode != NULL)
        return 0;
    if (s->n_networks == 0) {
        if (max > 0)
            keys[0] = "default";
        return 1;
    }
    for (size_t i = 0; i < s->n_networks && i < max; i++)
        keys[i] = s->networks[i].key;
    return s->n_networks;
}

const char *const compose_condition_words[COMPOSE_N_CONDITIONS] = {
    [SPEC_DEPENDS_STARTED] = "service_started",
    [SPEC_DEPENDS_HEALTHY] = "service_healthy",
    [SPEC_DEPENDS_COMPLETED] = "service_completed_successfully",
};

char *compose_depends_label(const struct spec_service *s)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (size_t i = 0; i < s->n_depends; i++)
        m87_buf_appendf(&b, NULL, "%s%s:%s:%s", i ? "," : "", s->depends[i].service,
                        compose_condition_words[s->depends[i].condition],
                        s->depends[i].restart ? "true" : "false");
    return m87_buf_steal(&b);
}

const struct spec_config *compose_find_config(const struct spec_config *v, size_t n,
                                              const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].key, key) == 0)
            return &v[i];
    return NULL;
}

/* ---- labels ---------------------------------------------------------------------------------- */

void compose_container_labels(const struct spec_project *p, const struct spec_service *s,
                              const struct compose_instance *in, struct m87_kvlist *out)
{
    for (size_t i = 0; i < s->labels.len; i++) {
        const struct m87_kv *kv = &s->labels.items[i];
        if (in != NULL || strncmp(kv->key, COMPOSE_LABEL_PREFIX, strlen(COMPOSE_LABEL_PREFIX)))
            m87_kvlist_set(out, kv->key, kv->value ? kv->value : "");
    }
    if (in != NULL) {
        char num[16];
        snprintf(num, sizeof(num), "%d", in->number);
        _cleanup_free_ char *deps = compose_depends_label(s);
        _cleanup_free_ char *files = NULL;
        struct m87_buf b;
        m87_buf_init(&b, 0);
        for (size_t i = 0; i < p->config_files.len; i++)
            m87_buf_appendf(&b, NULL, "%s%s", i ? "," : "", p->config_files.items[i]);
        files = m87_buf_steal(&b);
        m87_kvlist_set(out, COMPOSE_L_PROJECT, p->name);
        m87_kvlist_set(out, COMPOSE_L_SERVICE, s->name);
        m87_kvlist_set(out, COMPOSE_L_NUMBER, num);
        m87_kvlist_set(out, COMPOSE_L_ONEOFF, "False");
        m87_kvlist_set(out, COMPOSE_L_HASH, in->config_hash ? in->config_hash : "");
        m87_kvlist_set(out, COMPOSE_L_VERSION, COMPOSE_VERSION_VALUE);
        m87_kvlist_set(out, COMPOSE_L_WORKING_DIR, p->working_dir ? p->working_dir : "");
        m87_kvlist_set(out, COMPOSE_L_CONFIG_FILES, files);
        if (p->env_file)
            m87_kvlist_set(out, COMPOSE_L_ENV_FILE, p->env_file);
        m87_kvlist_set(out, COMPOSE_L_DEPENDS_ON, deps);
        if (in->image_id)
            m87_kvlist_set(out, COMPOSE_L_IMAGE, in->image_id);
        if (in->replace)
            m87_kvlist_set(out, COMPOSE_L_REPLACE, in->replace);
    }
}

/* The user's labels, then ours: project, kind (network or volume) = key, and version. */
static void resource_labels(const struct spec_project *p, const struct m87_kvlist *user,
                            const char *kind, const char *key, struct m87_kvlist *out)
{
    for (size_t i = 0; user && i < user->len; i++)
        m87_kvlist_set(out, user->items[i].key, user->items[i].value ? user->items[i].value : "");
    m87_kvlist_set(out, COMPOSE_L_PROJECT, p->name);
    m87_kvlist_set(out, kind, key);
    m87_kvlist_set(out, COMPOSE_L_VERSION, COMPOSE_VERSION_VALUE);
}

void compose_network_labels(const struct spec_project *p, const struct spec_network *n,
                            const char *key, struct m87_kvlist *out)
{
    resource_labels(p, n ? &n->labels : NULL, COMPOSE_L_NETWORK, key, out);
}

void compose_volume_labels(const struct spec_project *p, const struct spec_volume *v,
                           const char *key, struct m87_kvlist *out)
{
    resource_labels(p, v ? &v->labels : NULL, COMPOSE_L_VOLUME, key, out);
}

void compose_project_filter(const char *project, struct m87_kvlist *f)
{
    _cleanup_free_ char *sel = m87_xasprintf("%s=%s", COMPOSE_L_PROJECT, project);
    m87_kvlist_init(f);
    m87_kvlist_add(f, "label", sel);
}
