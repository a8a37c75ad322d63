/* The typed answers of the client read from dockerd's JSON and released by one table each
 * (struct engine_fields), instead of a fill and a free function per struct. */
#include <stdint.h>
#include <string.h>

#include "engine/engine-internal.h"
#include "m87/alloc.h"
#include "m87/engine-call.h"
#include "m87/json.h"
#include "m87/list.h"

/* The placeholders an image list shows for an untagged image; inspect shows an empty list. */
#define IMAGE_NONE_TAG "<none>:<none>"
#define IMAGE_NONE_DIGEST "<none>@<none>"

static const struct m87_json *field_node(const struct engine_field *f, const struct m87_json *doc)
{
    const struct m87_json *n = doc;
    for (size_t i = 0; i < ENGINE_FIELD_DEPTH && f->path[i] != NULL; i++)
        n = m87_json_get(n, f->path[i]);
    return n;
}

static void read_refs(struct m87_strv *out, const struct m87_json *arr)
{
    for (size_t i = 0; i < m87_json_len(arr); i++) {
        const char *s = m87_json_str(m87_json_at(arr, i), NULL);
        if (s != NULL && strcmp(s, IMAGE_NONE_TAG) != 0 && strcmp(s, IMAGE_NONE_DIGEST) != 0)
            m87_strv_add(out, s);
    }
}

static void read_keys(struct m87_strv *out, const struct m87_json *obj)
{
    if (m87_json_type(obj) != M87_JSON_OBJECT)
        return;
    for (size_t i = 0; i < m87_json_len(obj); i++) {
        const char *key = NULL;
        m87_json_member(obj, i, &key);
        m87_strv_add(out, key);
    }
}

static void field_read(const struct engine_field *f, void *obj, const struct m87_json *doc)
{
    void *p = (char *)obj + f->offset;
    const struct m87_json *n = field_node(f, doc);
    switch (f->kind) {
    case ENGINE_FIELD_STR:
        *(char **)p = engine_json_strdup(n);
        break;
    case ENGINE_FIELD_TEXT:
        *(char **)p = m87_xstrdup(m87_json_str(n, ""));
        break;
    case ENGINE_FIELD_NAME:
        if (m87_json_type(n) == M87_JSON_ARRAY)
            n = m87_json_at(n, 0);
        *(char **)p = engine_strip_slash(m87_json_str(n, NULL));
        break;
    case ENGINE_FIELD_BOOL:
        *(bool *)p = m87_json_bool(n, false);
        break;
    case ENGINE_FIELD_INT:
        *(int *)p = (int)m87_json_int(n, 0);
        break;
    case ENGINE_FIELD_INT64:
        *(int64_t *)p = m87_json_int(n, 0);
        break;
    case ENGINE_FIELD_LABELS:
        m87_kvlist_init(p);
        m87_json_to_kvlist(n, p);
        break;
    case ENGINE_FIELD_REFS:
        m87_strv_init(p);
        read_refs(p, n);
        break;
    case ENGINE_FIELD_KEYS:
        m87_strv_init(p);
        read_keys(p, n);
        break;
    }
}

static void field_release(const struct engine_field *f, void *obj)
{
    void *p = (char *)obj + f->offset;
    switch (f->kind) {
    case ENGINE_FIELD_STR:
    case ENGINE_FIELD_TEXT:
    case ENGINE_FIELD_NAME:
        free(*(char **)p);
        break;
    case ENGINE_FIELD_LABELS:
        m87_kvlist_release(p);
        break;
    case ENGINE_FIELD_REFS:
    case ENGINE_FIELD_KEYS:
        m87_strv_release(p);
        break;
    case ENGINE_FIELD_BOOL:
    case ENGINE_FIELD_INT:
    case ENGINE_FIELD_INT64:
        break;
    }
}

void engine_fields_read(const struct engine_fields *t, void *obj, const struct m87_json *doc)
{
    for (size_t i = 0; i < t->n; i++)
        field_read(&t->v[i], obj, doc);
}

void engine_fields_release(const struct engine_fields *t, void *obj)
{
    for (size_t i = 0; i < t->n; i++)
        field_release(&t->v[i], obj);
}

void *engine_fields_new(const struct engine_fields *t, const struct m87_json *doc)
{
    void *obj = m87_xcalloc(1, t->size);
    engine_fields_read(t, obj, doc);
    return obj;
}

void engine_fields_free(const struct engine_fields *t, void *obj)
{
    if (obj == NULL)
        return;
    engine_fields_release(t, obj);
    free(obj);
}

void *engine_fields_array(const struct engine_fields *t, const struct m87_json *arr, size_t *n)
{
    size_t len = m87_json_len(arr);
    char *v = m87_xcalloc(len ? len : 1, t->size);
    for (size_t i = 0; i < len; i++)
        engine_fields_read(t, v + i * t->size, m87_json_at(arr, i));
    *n = len;
    return v;
}

void engine_fields_array_free(const struct engine_fields *t, void *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        engine_fields_release(t, (char *)v + i * t->size);
    free(v);
}
