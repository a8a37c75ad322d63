/* Volumes: create, inspect, list, remove. */
#include <string.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/engine-call.h"
#include "m87/engine-volumes.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"

#define VOLUME(member, kind, ...) ENGINE_FIELD(struct engine_volume_info, member, kind, __VA_ARGS__)
static const struct engine_field volume_v[] = {
    VOLUME(name, STR, "Name"),
    VOLUME(driver, STR, "Driver"),
    VOLUME(mountpoint, STR, "Mountpoint"),
    VOLUME(scope, STR, "Scope"),
    VOLUME(labels, LABELS, "Labels"),
    VOLUME(options, LABELS, "Options"),
};
static const struct engine_fields volume_fields = {sizeof(struct engine_volume_info), volume_v,
                                                   M87_ARRAY_LEN(volume_v)};

/* Hand out a parsed volume object; a volume without a name is a broken answer. */
static int volume_out(const struct m87_json *doc, struct engine_volume_info **out,
                      struct m87_error **err)
{
    if (m87_json_str(m87_json_get(doc, "Name"), NULL) == NULL)
        return m87_error_set(err, M87_E_PARSE, 0, "answer is not a volume");
    if (out == NULL)
        return 0;
    *out = engine_fields_new(&volume_fields, doc);
    return 0;
}

static char *volume_create_body(const struct engine_volume_config *cfg)
{
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "Name", cfg->name);
    m87_jw_kstr(w, "Driver", cfg->driver ? cfg->driver : "local");
    if (cfg->driver_opts) {
        m87_jw_key(w, "DriverOpts");
        m87_jw_kvlist(w, cfg->driver_opts);
    }
    if (cfg->labels) {
        m87_jw_key(w, "Labels");
        m87_jw_kvlist(w, cfg->labels);
    }
    m87_jw_obj_close(w);
    return m87_jw_finish(w);
}

int engine_volume_create(struct engine_client *c, const struct engine_volume_config *cfg,
                         struct engine_volume_info **out, struct m87_error **err)
{
    if (cfg == NULL || cfg->name == NULL || cfg->name[0] == '\0')
        return m87_error_set(err, M87_E_INVAL, 0, "create volume: a name is required");
    _cleanup_free_ char *body = volume_create_body(cfg);
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (engine_send_json(c, "POST", "/volumes/create", body, &doc, err) < 0 ||
        volume_out(doc, out, err) < 0)
        return m87_error_wrap(err, "create volume '%s'", cfg->name);
    return 0;
}

int engine_volume_inspect(struct engine_client *c, const char *name,
                          struct engine_volume_info **out, struct m87_error **err)
{
    _cleanup_free_ char *path = engine_path_seg("/volumes/", name, NULL);
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (engine_get_json(c, path, &doc, err) < 0 || volume_out(doc, out, err) < 0)
        return m87_error_wrap(err, "inspect volume '%s'", name);
    return 0;
}

void engine_volume_info_free(struct engine_volume_info *v)
{
    engine_fields_free(&volume_fields, v);
}

int engine_volume_list(struct engine_client *c, const struct m87_kvlist *filters,
                       struct engine_volume_info **out, size_t *n, struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (engine_get_list(c, "/volumes", filters, M87_JSON_OBJECT, "volumes", &doc, err) < 0)
        return -1;
    /* older daemons send "Volumes": null when there are none */
    const struct m87_json *vols = m87_json_get(doc, "Volumes");
    *out =
        engine_fields_array(&volume_fields, m87_json_type(vols) == M87_JSON_ARRAY ? vols : NULL, n);
    return 0;
}

void engine_volume_infos_free(struct engine_volume_info *v, size_t n)
{
    engine_fields_array_free(&volume_fields, v, n);
}

int engine_volume_remove(struct engine_client *c, const char *name, bool force,
                         struct m87_error **err)
{
    _cleanup_free_ char *path = engine_path_seg("/volumes/", name, force ? "?force=1" : NULL);
    if (engine_send_json(c, "DELETE", path, NULL, NULL, err) < 0)
        return m87_error_wrap(err, "remove volume '%s'", name);
    return 0;
}
