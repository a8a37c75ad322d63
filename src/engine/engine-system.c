/* System: version, info, free disk space. */
#include <errno.h>
#include <sys/statvfs.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/engine-call.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json.h"

int engine_system_version(struct engine_client *c, struct engine_version_info **out,
                          struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (engine_get_json(c, "/version", &doc, err) < 0)
        return m87_error_wrap(err, "read dockerd version");
    if (m87_json_str(m87_json_get(doc, "ApiVersion"), NULL) == NULL)
        return m87_error_set(err, M87_E_PARSE, 0, "read dockerd version: answer has no ApiVersion");
    struct engine_version_info *v = m87_xcalloc(1, sizeof(*v));
    v->version = engine_json_strdup(m87_json_get(doc, "Version"));
    v->api_version = engine_json_strdup(m87_json_get(doc, "ApiVersion"));
    v->min_api_version = engine_json_strdup(m87_json_get(doc, "MinAPIVersion"));
    v->os = engine_json_strdup(m87_json_get(doc, "Os"));
    v->arch = engine_json_strdup(m87_json_get(doc, "Arch"));
    v->kernel_version = engine_json_strdup(m87_json_get(doc, "KernelVersion"));
    *out = v;
    return 0;
}

void engine_version_info_free(struct engine_version_info *v)
{
    if (v == NULL)
        return;
    free(v->version);
    free(v->api_version);
    free(v->min_api_version);
    free(v->os);
    free(v->arch);
    free(v->kernel_version);
    free(v);
}

int engine_system_info(struct engine_client *c, struct engine_system_info **out,
                       struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (engine_get_json(c, "/info", &doc, err) < 0)
        return m87_error_wrap(err, "read dockerd info");
    if (m87_json_type(doc) != M87_JSON_OBJECT)
        return m87_error_set(err, M87_E_PARSE, 0, "read dockerd info: answer is not an object");
    struct engine_system_info *v = m87_xcalloc(1, sizeof(*v));
    v->name = engine_json_strdup(m87_json_get(doc, "Name"));
    v->server_version = engine_json_strdup(m87_json_get(doc, "ServerVersion"));
    v->docker_root_dir = engine_json_strdup(m87_json_get(doc, "DockerRootDir"));
    v->driver = engine_json_strdup(m87_json_get(doc, "Driver"));
    v->ncpu = m87_json_int(m87_json_get(doc, "NCPU"), 0);
    v->mem_total = m87_json_int(m87_json_get(doc, "MemTotal"), 0);
    v->containers = m87_json_int(m87_json_get(doc, "Containers"), 0);
    v->containers_running = m87_json_int(m87_json_get(doc, "ContainersRunning"), 0);
    v->images = m87_json_int(m87_json_get(doc, "Images"), 0);
    *out = v;
    return 0;
}

void engine_system_info_free(struct engine_system_info *v)
{
    if (v == NULL)
        return;
    free(v->name);
    free(v->server_version);
    free(v->docker_root_dir);
    free(v->driver);
    free(v);
}

static int statvfs_free(const char *path, uint64_t *bytes, struct m87_error **err)
{
    struct statvfs st;
    if (statvfs(path, &st) < 0)
        return m87_error_set(err, M87_E_IO, errno, "statvfs '%s'", path);
    /* f_bavail, not f_bfree: the blocks reserved for root are no use to dockerd's layers */
    *bytes = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
    return 0;
}

int engine_disk_free(struct engine_client *c, const char *path, uint64_t *bytes,
                     struct m87_error **err)
{
    if (path != NULL)
        return statvfs_free(path, bytes, err);
    struct engine_system_info *info = NULL;
    if (engine_system_info(c, &info, err) < 0)
        return m87_error_wrap(err, "free disk space of dockerd's data root");
    int r;
    if (info->docker_root_dir == NULL || info->docker_root_dir[0] == '\0')
        r = m87_error_set(err, M87_E_PARSE, 0,
                          "free disk space of dockerd's data root: /info has no DockerRootDir");
    else
        r = statvfs_free(info->docker_root_dir, bytes, err);
    engine_system_info_free(info);
    return r;
}
