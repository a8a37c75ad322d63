/* The compose loader's shared readers, below the files that read the parts of a project: the
 * project's environment (the process, then .env), its warnings, and paths made absolute against
 * the project directory. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/list.h"
#include "m87/spec-project.h"
#include "m87/yaml.h"
#include "spec/spec-compose-internal.h"
#include "spec/spec-compose-refs.h"

const char *spec_loader_process_lookup(void *ctx, const char *name)
{
    const struct loader *l = ctx;
    if (l->opts->lookup)
        return l->opts->lookup(l->opts->lookup_ctx, name);
    return getenv(name);
}

const char *spec_loader_lookup(void *ctx, const char *name)
{
    const struct loader *l = ctx;
    const char *v = spec_loader_process_lookup(ctx, name);
    return v ? v : m87_kvlist_get(&l->dotenv, name);
}

void spec_loader_warn(struct loader *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = m87_xvasprintf(fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < l->p->warnings.len; i++)
        if (strcmp(l->p->warnings.items[i], msg) == 0)
            return;
    m87_strv_add(&l->p->warnings, msg);
}

/* path cleaned lexically, absolute ("/a/../b" is "/b", ".." at the root stays there) or relative
 * ("a/../../b" is "../b": leading ".." are kept; nothing left is "."). */
static char *clean(const char *path, bool absolute)
{
    struct m87_strv parts;
    m87_strv_init(&parts);
    _cleanup_free_ char *copy = m87_xstrdup(path);
    for (char *seg = copy, *next; seg; seg = next) {
        next = strchr(seg, '/');
        if (next)
            *next++ = '\0';
        if (*seg == '\0' || strcmp(seg, ".") == 0)
            continue;
        bool up = strcmp(seg, "..") == 0;
        if (up && parts.len && strcmp(parts.items[parts.len - 1], "..") != 0)
            free(parts.items[--parts.len]);
        else if (!up || !absolute)
            m87_strv_add(&parts, seg);
    }
    struct m87_buf b;
    m87_buf_init(&b, 0);
    for (size_t i = 0; i < parts.len; i++)
        m87_buf_appendf(&b, NULL, "%s%s", absolute || i ? "/" : "", parts.items[i]);
    if (b.len == 0)
        m87_buf_append(&b, absolute ? "/" : ".", 1, NULL);
    m87_strv_release(&parts);
    return m87_buf_steal(&b);
}

char *spec_compose_clean_path(const char *path)
{
    return clean(path, true);
}

char *spec_compose_clean_relative(const char *path)
{
    return clean(path, false);
}

char *spec_compose_join_clean(const char *dir, const char *path)
{
    if (path[0] == '/')
        return spec_compose_clean_path(path);
    _cleanup_free_ char *joined = m87_xasprintf("%s/%s", dir, path);
    return spec_compose_clean_path(joined);
}

char *spec_loader_abspath(struct loader *l, const struct cnode *n, const char *path,
                          const char *where, struct m87_error **err)
{
    if (path[0] != '~')
        return spec_compose_join_clean(l->p->working_dir, path);
    if (path[1] != '\0' && path[1] != '/') {
        spec_cn_error(n, err, "%s: '%s': only '~' and '~/' paths can be expanded", where, path);
        return NULL;
    }
    const char *home = spec_loader_lookup(l, "HOME");
    if (home == NULL || home[0] != '/') {
        spec_cn_error(n, err, "%s: cannot expand '~' in '%s': HOME is not set", where, path);
        return NULL;
    }
    _cleanup_free_ char *joined = m87_xasprintf("%s%s", home, path + 1);
    return spec_compose_clean_path(joined);
}

char *spec_loader_cwd_abs(const char *path, struct m87_error **err)
{
    if (path[0] == '/')
        return spec_compose_clean_path(path);
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        m87_error_set(err, M87_E_IO, errno, "getcwd");
        return NULL;
    }
    return spec_compose_join_clean(cwd, path);
}

struct cnode *spec_loader_read_file(struct loader *l, const char *path, const char *abs,
                                    const struct spec_interp *ip, struct m87_error **err)
{
    if (l->n_docs >= SPEC_MAX_LOADED_FILES) {
        m87_error_set(err, M87_E_INVAL, 0,
                      "'%s': more than %u files read through extends and include", path,
                      SPEC_MAX_LOADED_FILES);
        return NULL;
    }
    /* a fifo or a device could block the load or feed it without end */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        m87_error_set(err, M87_E_IO, 0, "open '%s': not a regular file", path);
        return NULL;
    }
    struct m87_yaml_doc *doc = m87_yaml_load(path, err);
    if (doc == NULL)
        return NULL;
    l->docs = m87_xrealloc(l->docs, (l->n_docs + 1) * sizeof(*l->docs));
    l->docs[l->n_docs++] = doc;
    bool seen = false;
    for (size_t i = 0; i < l->p->extra_files.len && !seen; i++)
        seen = strcmp(l->p->extra_files.items[i], abs) == 0;
    if (!seen)
        m87_strv_add(&l->p->extra_files, abs);
    return spec_loader_doc_tree(doc, ip, err);
}

struct cnode *spec_loader_doc_tree(const struct m87_yaml_doc *doc, const struct spec_interp *ip,
                                   struct m87_error **err)
{
    const struct m87_yaml_node *r = m87_yaml_root(doc);
    if (m87_yaml_is_null(r)) {
        m87_yaml_error(r, err, M87_E_INVAL, "empty compose file");
        return NULL;
    }
    if (m87_yaml_kind(r) != M87_YAML_MAPPING) {
        m87_yaml_error(r, err, M87_E_INVAL, "expected a mapping at the top level, got a %s",
                       m87_yaml_kind(r) == M87_YAML_SEQUENCE ? "sequence" : "scalar");
        return NULL;
    }
    return spec_cnode_from_yaml(r, ip, err);
}
