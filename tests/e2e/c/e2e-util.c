/* Helpers for the C end-to-end tests. */
#include <stdio.h>
#include <string.h>

#include "e2e-util.h"
#include "m87/alloc.h"
#include "m87/engine-containers.h"
#include "m87/engine-images.h"
#include "m87/engine.h"
#include "m87/error.h"
#include "m87/json-write.h"
#include "m87/list.h"

const char *e2e_env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0')
        fail_msg("%s is not set: run this test through pytest tests/e2e", name);
    return v;
}

struct engine_client *e2e_client(void)
{
    struct m87_error *err = NULL;
    struct engine_client_options opts = {.host = e2e_env("M87_TEST_DOCKER_HOST")};
    struct engine_client *c = engine_client_new(&opts, &err);
    assert_non_null(c);
    assert_ok(engine_client_connect(c, &err), &err);
    return c;
}

char *e2e_name(const char *prefix)
{
    static unsigned counter;
    return m87_xasprintf("m87e2e-%s-%d-%u", prefix, (int)getpid(), ++counter);
}

void e2e_ensure_image(struct engine_client *c, const char *ref)
{
    struct m87_error *err = NULL;
    struct engine_image_info *info = NULL;
    if (engine_image_inspect(c, ref, &info, &err) == 0) {
        engine_image_info_free(info);
        return;
    }
    m87_error_clear(&err);
    assert_ok(engine_image_pull(c, ref, NULL, NULL, NULL, &err), &err);
}

char *e2e_create(struct engine_client *c, const char *name, const char *ref,
                 const char *const *argv, const struct m87_kvlist *labels)
{
    struct m87_error *err = NULL;
    struct m87_jw *w = m87_jw_new();
    m87_jw_obj_open(w);
    m87_jw_kstr(w, "Image", ref);
    if (argv) {
        m87_jw_key(w, "Cmd");
        m87_jw_arr_open(w);
        for (size_t i = 0; argv[i]; i++)
            m87_jw_str(w, argv[i]);
        m87_jw_arr_close(w);
    }
    if (labels) {
        m87_jw_key(w, "Labels");
        m87_jw_kvlist(w, labels);
    }
    m87_jw_obj_close(w);
    _cleanup_free_ char *body = m87_jw_finish(w);
    char *id = NULL;
    assert_ok(engine_container_create(c, name, NULL, body, &id, &err), &err);
    return id;
}

void e2e_remove(struct engine_client *c, const char *id)
{
    struct m87_error *err = NULL;
    if (engine_container_remove(c, id, true, true, &err) < 0 &&
        m87_error_code(err) != M87_E_NOTFOUND)
        fail_msg("remove %s: %s", id, err->msg);
    m87_error_clear(&err);
}
