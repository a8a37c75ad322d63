/* libFuzzer harness: a docker config.json and a credential helper's answer, as the registry
 * credentials read them (engine_creds_parse, engine_creds_choose, the auths entries through
 * engine_creds_lookup, engine_creds_helper_answer), and the registry of a reference and of a key.
 * The first line of the input is an image reference, the rest the config; no helper is ever run:
 * the lookup is made only when the config sends the registry to its auths. */
#include <stdint.h>

#include "fuzz-util.h"
#include "m87/engine-creds.h"
#include "m87/error.h"

static void check_auth(const struct engine_registry_auth *a)
{
    if (a->registry == NULL || (a->found && a->source == NULL))
        abort();
    if (a->found && a->auth.username == NULL && a->auth.identity_token == NULL)
        abort();
}

static void lookup(const struct engine_creds *c, const char *ref)
{
    struct engine_creds_choice ch;
    char *registry = engine_ref_registry(ref);
    engine_creds_choose(c, registry, &ch);
    if (ch.source != ENGINE_CREDS_HELPER) {
        struct m87_error *err = NULL;
        struct engine_registry_auth a;
        if (engine_creds_lookup(c, ref, &a, &err) < 0 && (err == NULL || err->msg == NULL))
            abort();
        check_auth(&a);
        m87_error_clear(&err);
        engine_registry_auth_release(&a);
    }
    free(registry);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    size_t ref_len = nl ? (size_t)(nl - text) : size;
    char *ref = m87_xstrndup(text, ref_len);
    const char *rest = nl ? nl + 1 : text + size;
    size_t rest_len = size - (size_t)(rest - text);

    free(engine_creds_registry_of_key(ref));
    struct m87_error *err = NULL;
    struct engine_creds *c = engine_creds_parse(rest, rest_len, "fuzz", &err);
    if (c == NULL && (err == NULL || err->msg == NULL))
        abort();
    m87_error_clear(&err);
    if (c != NULL) {
        lookup(c, ref);
        lookup(c, "busybox");
        lookup(c, "127.0.0.1:5000/a/b:1");
    }
    engine_creds_free(c);

    struct engine_registry_auth a = {0};
    if (engine_creds_helper_answer(rest, rest_len, "fuzz", "server", &a, &err) < 0 &&
        (err == NULL || err->msg == NULL))
        abort();
    m87_error_clear(&err);
    engine_registry_auth_release(&a);
    free(ref);
    return 0;
}
