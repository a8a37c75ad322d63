/* System: version, info, free disk space. */
#include <errno.h>
#include <sys/statvfs.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/engine-call.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json.h"

#define VERSION(member, kind, ...)                                                                 \
    ENGINE_FIELD(struct engine_version_info, member, kind, __VA_ARGS__)
static const struct engine_field version_v[] = {
    VERSION(version, STR, "Version"),
    VERSION(api_version, STR, "ApiVersion"),
    VERSION(min_api_version, STR, "MinAPIVersion"),
    VERSION(os, STR, "Os"),
    VERSION(arch, STR, "Arch"),
    VERSION(kernel_version, STR, "KernelVersion"),
};
static const struct engine_fields version_fields = {sizeof(struct engine_version_info), version_v,
                                                    M87_ARRAY_LEN(version_v)};

int engine_system_version(struct engine_client *c, struct engine_version_info **out,
                          struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (engine_get_json(c, "/version", &doc, err) < 0)
        return m87_error_wrap(err, "read dockerd version");
    if (m87_json_str(m87_json_get(doc, "ApiVersion"), NULL) == NULL)
        return m87_error_set(err, M87_E_PARSE, 0, "read dockerd version: answer has no ApiVersion");
    *out = engine_fields_new(&version_fields, doc);
    return 0;
}

void engine_version_info_free(struct engine_version_info *v)
{
    engine_fields_free(&version_fields, v);
}

#define INFO(member, kind, ...) ENGINE_FIELD(struct engine_system_info, member, kind, __VA_ARGS__)
static const struct engine_field info_v[] = {
    INFO(name, STR, "Name"),
    INFO(server_version, STR, "ServerVersion"),
    INFO(docker_root_dir, STR, "DockerRootDir"),
    INFO(driver, STR, "Driver"),
    INFO(ncpu, INT64, "NCPU"),
    INFO(mem_total, INT64, "MemTotal"),
    INFO(containers, INT64, "Containers"),
    INFO(containers_running, INT64, "ContainersRunning"),
    INFO(images, INT64, "Images"),
};
static const struct engine_fields info_fields = {sizeof(struct engine_system_info), info_v,
                                                 M87_ARRAY_LEN(info_v)};

int engine_system_info(struct engine_client *c, struct engine_system_info **out,
                       struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (engine_get_json(c, "/info", &doc, err) < 0)
        return m87_error_wrap(err, "read dockerd info");
    if (m87_json_type(doc) != M87_JSON_OBJECT)
        return m87_error_set(err, M87_E_PARSE, 0, "read dockerd info: answer is not an object");
    *out = engine_fields_new(&info_fields, doc);
    return 0;
}

void engine_system_info_free(struct engine_system_info *v)
{
    engine_fields_free(&info_fields, v);
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
