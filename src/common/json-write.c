/* JSON writing over yajl's generator. Misuse (unbalanced containers) is a bug and aborts. */
#include <string.h>
#include <yajl/yajl_gen.h>

#include "m87/alloc.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/list.h"

struct m87_jw {
    yajl_gen g;
};

static void jw_check(yajl_gen_status st)
{
    if (st != yajl_gen_status_ok && st != yajl_gen_generation_complete) {
        static const char msg[] = "m87: json generator misuse\n";
        ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)r;
        abort();
    }
}

struct m87_jw *m87_jw_new(void)
{
    struct m87_jw *w = m87_xcalloc(1, sizeof(*w));
    w->g = yajl_gen_alloc(NULL);
    if (w->g == NULL)
        m87_oom();
    /* keep "/" as is: paths and image references are full of them */
    yajl_gen_config(w->g, yajl_gen_escape_solidus, 0);
    return w;
}

void m87_jw_free(struct m87_jw *w)
{
    if (w == NULL)
        return;
    yajl_gen_free(w->g);
    free(w);
}

void m87_jw_obj_open(struct m87_jw *w)
{
    jw_check(yajl_gen_map_open(w->g));
}

void m87_jw_obj_close(struct m87_jw *w)
{
    jw_check(yajl_gen_map_close(w->g));
}

void m87_jw_arr_open(struct m87_jw *w)
{
    jw_check(yajl_gen_array_open(w->g));
}

void m87_jw_arr_close(struct m87_jw *w)
{
    jw_check(yajl_gen_array_close(w->g));
}

void m87_jw_str(struct m87_jw *w, const char *s)
{
    if (s == NULL) {
        m87_jw_null(w);
        return;
    }
    jw_check(yajl_gen_string(w->g, (const unsigned char *)s, strlen(s)));
}

void m87_jw_key(struct m87_jw *w, const char *key)
{
    m87_jw_str(w, key);
}

void m87_jw_int(struct m87_jw *w, int64_t v)
{
    jw_check(yajl_gen_integer(w->g, (long long)v));
}

void m87_jw_bool(struct m87_jw *w, bool v)
{
    jw_check(yajl_gen_bool(w->g, v));
}

void m87_jw_null(struct m87_jw *w)
{
    jw_check(yajl_gen_null(w->g));
}

void m87_jw_kstr(struct m87_jw *w, const char *key, const char *s)
{
    m87_jw_key(w, key);
    m87_jw_str(w, s);
}

void m87_jw_kstr_opt(struct m87_jw *w, const char *key, const char *s)
{
    if (s)
        m87_jw_kstr(w, key, s);
}

void m87_jw_kint(struct m87_jw *w, const char *key, int64_t v)
{
    m87_jw_key(w, key);
    m87_jw_int(w, v);
}

void m87_jw_kbool(struct m87_jw *w, const char *key, bool v)
{
    m87_jw_key(w, key);
    m87_jw_bool(w, v);
}

void m87_jw_kvlist(struct m87_jw *w, const struct m87_kvlist *l)
{
    m87_jw_obj_open(w);
    for (size_t i = 0; i < l->len; i++)
        m87_jw_kstr(w, l->items[i].key, l->items[i].value ? l->items[i].value : "");
    m87_jw_obj_close(w);
}

void m87_jw_strv(struct m87_jw *w, const struct m87_strv *v)
{
    m87_jw_arr_open(w);
    for (size_t i = 0; i < v->len; i++)
        m87_jw_str(w, v->items[i]);
    m87_jw_arr_close(w);
}

void m87_jw_node(struct m87_jw *w, const struct m87_json *n)
{
    switch (m87_json_type(n)) {
    case M87_JSON_NULL:
        m87_jw_null(w);
        break;
    case M87_JSON_BOOL:
        m87_jw_bool(w, m87_json_bool(n, false));
        break;
    case M87_JSON_NUMBER:
        if (m87_json_double(n, 0) == (double)m87_json_int(n, 0))
            m87_jw_int(w, m87_json_int(n, 0));
        else
            jw_check(yajl_gen_double(w->g, m87_json_double(n, 0)));
        break;
    case M87_JSON_STRING:
        m87_jw_str(w, m87_json_str(n, ""));
        break;
    case M87_JSON_ARRAY:
        m87_jw_arr_open(w);
        for (size_t i = 0; i < m87_json_len(n); i++)
            m87_jw_node(w, m87_json_at(n, i));
        m87_jw_arr_close(w);
        break;
    case M87_JSON_OBJECT:
        m87_jw_obj_open(w);
        for (size_t i = 0; i < m87_json_len(n); i++) {
            const char *key = NULL;
            const struct m87_json *v = m87_json_member(n, i, &key);
            m87_jw_key(w, key);
            m87_jw_node(w, v);
        }
        m87_jw_obj_close(w);
        break;
    }
}

const char *m87_jw_text(struct m87_jw *w, size_t *len)
{
    const unsigned char *buf = NULL;
    size_t n = 0;
    jw_check(yajl_gen_get_buf(w->g, &buf, &n));
    if (len)
        *len = n;
    return (const char *)buf;
}

char *m87_jw_finish(struct m87_jw *w)
{
    size_t len = 0;
    const char *text = m87_jw_text(w, &len);
    char *out = m87_xstrndup(text, len);
    m87_jw_free(w);
    return out;
}
