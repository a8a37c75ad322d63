/* Images: inspect, list, remove, and splitting a reference for a pull. */
#include <curl/curl.h>
#include <pthread.h>
#include <regex.h>
#include <string.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/engine-call.h"
#include "m87/engine-images.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json.h"
#include "m87/list.h"

/* The grammar of github.com/distribution/reference, as POSIX extended expressions. */
#define REF_PATH_COMP "[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*"
#define REF_DOMAIN_COMP "([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
#define REF_DOMAIN "(" REF_DOMAIN_COMP "(\\." REF_DOMAIN_COMP ")*|\\[[a-fA-F0-9:]+\\])(:[0-9]+)?"
#define REF_NAME "^(" REF_DOMAIN "/)?" REF_PATH_COMP "(/" REF_PATH_COMP ")*$"
#define REF_TAG "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
#define REF_DIGEST "^[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$"
#define REF_SHA256 "^sha256:[0-9a-f]{64}$"
#define REF_NAME_MAX 255

/* dockerd routes /images/{name:.*}/json on the decoded path, so a reference may keep its '/',
 * ':' and '@' readable; everything between them is escaped. */
static char *ref_path(const char *ref, const char *after)
{
    struct m87_buf b;
    m87_buf_init(&b, 0);
    m87_buf_append(&b, "/images/", strlen("/images/"), NULL);
    while (*ref != '\0') {
        size_t span = strcspn(ref, "/:@");
        if (span > 0) {
            char *esc = curl_easy_escape(NULL, ref, (int)span);
            if (esc == NULL)
                m87_oom();
            m87_buf_append(&b, esc, strlen(esc), NULL);
            curl_free(esc);
        }
        ref += span;
        if (*ref != '\0')
            m87_buf_append(&b, ref++, 1, NULL);
    }
    m87_buf_append(&b, after, strlen(after), NULL);
    return m87_buf_steal(&b);
}

/* No name or ID has a "." or ".." segment, and libcurl would resolve one, sending the call to
 * another endpoint ("../containers/x" would inspect a container). */
static bool ref_path_safe(const char *ref)
{
    if (ref == NULL || ref[0] == '\0')
        return false;
    const char *seg = ref;
    for (;;) {
        size_t len = strcspn(seg, "/");
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        if (seg[len] == '\0')
            break;
        seg += len + 1;
    }
    return true;
}

/* Labels stand at "Labels" in a list and at "Config.Labels" in an inspect; a list has no os,
 * architecture, and its "Created" is a number, which reads as NULL. */
#define IMAGE(member, kind, ...) ENGINE_FIELD(struct engine_image_info, member, kind, __VA_ARGS__)
static const struct engine_field image_v[] = {
    IMAGE(id, STR, "Id"),
    IMAGE(repo_tags, REFS, "RepoTags"),
    IMAGE(repo_digests, REFS, "RepoDigests"),
    IMAGE(size, INT64, "Size"),
    IMAGE(created, STR, "Created"),
    IMAGE(os, STR, "Os"),
    IMAGE(architecture, STR, "Architecture"),
};
static const struct engine_fields image_fields = {sizeof(struct engine_image_info), image_v,
                                                  M87_ARRAY_LEN(image_v)};

static void image_fill(struct engine_image_info *v, const struct m87_json *n,
                       const struct m87_json *labels)
{
    engine_fields_read(&image_fields, v, n);
    m87_kvlist_init(&v->labels);
    m87_json_to_kvlist(labels, &v->labels);
}

static void image_release(struct engine_image_info *v)
{
    engine_fields_release(&image_fields, v);
    m87_kvlist_release(&v->labels);
}

int engine_image_inspect(struct engine_client *c, const char *ref, struct engine_image_info **out,
                         struct m87_error **err)
{
    if (!ref_path_safe(ref))
        return m87_error_set(err, M87_E_INVAL, 0, "inspect image '%s': not a usable reference",
                             ref ? ref : "");
    _cleanup_free_ char *path = ref_path(ref, "/json");
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (engine_get_json(c, path, &doc, err) < 0)
        return m87_error_wrap(err, "inspect image '%s'", ref);
    if (m87_json_type(doc) != M87_JSON_OBJECT || m87_json_get(doc, "Id") == NULL)
        return m87_error_set(err, M87_E_PARSE, 0, "inspect image '%s': answer has no Id", ref);
    struct engine_image_info *v = m87_xcalloc(1, sizeof(*v));
    image_fill(v, doc, m87_json_path(doc, "Config", "Labels", NULL));
    *out = v;
    return 0;
}

void engine_image_info_free(struct engine_image_info *v)
{
    if (v == NULL)
        return;
    image_release(v);
    free(v);
}

int engine_image_list(struct engine_client *c, const struct m87_kvlist *filters,
                      struct engine_image_info **out, size_t *n, struct m87_error **err)
{
    _cleanup_(m87_json_freep) struct m87_json *doc = NULL;
    if (engine_get_list(c, "/images/json", filters, M87_JSON_ARRAY, "images", &doc, err) < 0)
        return -1;
    size_t len = m87_json_len(doc);
    struct engine_image_info *v = m87_xcalloc(len ? len : 1, sizeof(*v));
    for (size_t i = 0; i < len; i++) {
        const struct m87_json *item = m87_json_at(doc, i);
        image_fill(&v[i], item, m87_json_get(item, "Labels"));
    }
    *out = v;
    *n = len;
    return 0;
}

void engine_image_infos_free(struct engine_image_info *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        image_release(&v[i]);
    free(v);
}

int engine_image_remove(struct engine_client *c, const char *ref, bool force, bool noprune,
                        struct m87_error **err)
{
    if (!ref_path_safe(ref))
        return m87_error_set(err, M87_E_INVAL, 0, "remove image '%s': not a usable reference",
                             ref ? ref : "");
    struct m87_buf path;
    m87_buf_init(&path, 0);
    _cleanup_free_ char *base = ref_path(ref, "");
    m87_buf_append(&path, base, strlen(base), NULL);
    if (force)
        engine_qs_add(&path, "force", "1");
    if (noprune)
        engine_qs_add(&path, "noprune", "1");
    struct engine_call call = {.method = "DELETE"};
    int r = engine_do(c, &call, path.data, NULL, err);
    m87_buf_release(&path);
    return r < 0 ? m87_error_wrap(err, "remove image '%s'", ref) : 0;
}

enum { RE_NAME, RE_TAG, RE_DIGEST, RE_SHA256, RE_COUNT };

static regex_t ref_res[RE_COUNT];
static pthread_once_t ref_res_once = PTHREAD_ONCE_INIT;

/* Compiled once for the process (the compose pool's threads share them: regexec is thread-safe)
 * and kept until exit: compiling the name pattern costs more than the rest of a pull's setup. */
static void ref_res_compile(void)
{
    static const char *const patterns[RE_COUNT] = {REF_NAME, REF_TAG, REF_DIGEST, REF_SHA256};

    for (size_t i = 0; i < RE_COUNT; i++)
        if (regcomp(&ref_res[i], patterns[i], REG_EXTENDED | REG_NOSUB) != 0)
            m87_oom(); /* the patterns are constants: only memory can make this fail */
}

static bool ref_matches(int which, const char *s)
{
    pthread_once(&ref_res_once, ref_res_compile);
    return regexec(&ref_res[which], s, 0, NULL, 0) == 0;
}

static int ref_check(const char *ref, const char *name, const char *tag, const char *digest,
                     struct m87_error **err)
{
    const char *bad = NULL;
    if (name[0] == '\0')
        bad = "no repository name";
    else if (strlen(name) > REF_NAME_MAX)
        bad = "repository name longer than 255 characters";
    else if (!ref_matches(RE_NAME, name))
        bad = "invalid repository name";
    else if (tag && !ref_matches(RE_TAG, tag))
        bad = "invalid tag";
    else if (digest && (!ref_matches(RE_DIGEST, digest) ||
                        (strncmp(digest, "sha256:", 7) == 0 && !ref_matches(RE_SHA256, digest))))
        bad = "invalid digest";
    if (bad)
        return m87_error_set(err, M87_E_INVAL, 0, "image reference '%s': %s", ref, bad);
    return 0;
}

int engine_ref_split(const char *ref, char **repo, char **tag, struct m87_error **err)
{
    if (ref == NULL || ref[0] == '\0')
        return m87_error_set(err, M87_E_INVAL, 0, "image reference '': empty");
    const char *at = strchr(ref, '@');
    _cleanup_free_ char *name = at ? m87_xstrndup(ref, (size_t)(at - ref)) : m87_xstrdup(ref);
    const char *digest = at ? at + 1 : NULL;
    /* a ':' after the last '/' starts the tag; one before it belongs to a registry port */
    char *colon = strrchr(name, ':');
    char *slash = strrchr(name, '/');
    const char *name_tag = NULL;
    if (colon && (slash == NULL || colon > slash)) {
        *colon = '\0';
        name_tag = colon + 1;
    }
    if (ref_check(ref, name, name_tag, digest, err) < 0)
        return -1;
    *repo = m87_xstrdup(name);
    *tag = m87_xstrdup(digest ? digest : name_tag ? name_tag : "latest");
    return 0;
}
