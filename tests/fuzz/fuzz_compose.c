/* libFuzzer harness: the compose loader on one file given in memory (spec_compose_parse), over
 * the fixed environment of fuzz-util.h, in an empty project directory on tmpfs (no .env; files
 * the text names are looked up there and not found). A project that loads is ordered and dumped
 * as YAML and JSON, as `compose config` would. */
#include <stdint.h>

#include "fuzz-util.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/spec-project.h"

static const char *project_dir;
static char *file;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    project_dir = fuzz_scratch_dir("compose");
    file = m87_xasprintf("%s/compose.yaml", project_dir);
    return 0;
}

static void use(const struct spec_project *p)
{
    size_t *order = m87_xcalloc(p->n_services + 1, sizeof(*order));
    spec_project_order(p, order);
    for (size_t i = 0; i < p->n_services; i++) {
        if (order[i] >= p->n_services)
            abort();
        if (spec_project_service(p, p->services[order[i]].name) == NULL)
            abort();
    }
    free(order);
    for (size_t i = 0; i < p->n_networks; i++)
        if (spec_project_network(p, p->networks[i].key) == NULL)
            abort();
    for (size_t i = 0; i < p->n_volumes; i++)
        if (spec_project_volume(p, p->volumes[i].key) == NULL)
            abort();
    free(spec_project_dump(p, false));
    free(spec_project_dump(p, true));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const profiles[] = {"debug", "*"};
    struct spec_load_options o = {
        .project_dir = project_dir,
        .profiles = profiles,
        .n_profiles = size % 2 ? 1 : 0, /* both ways, without taking bytes from the text */
        .lookup = fuzz_lookup,
    };
    struct m87_error *err = NULL;
    struct spec_project *p = spec_compose_parse((const char *)data, size, file, &o, &err);
    if (p == NULL) {
        if (err == NULL || err->msg == NULL)
            abort();
        m87_error_clear(&err);
        return 0;
    }
    if (err != NULL) /* an error left behind by a load that claims success */
        abort();
    use(p);
    spec_project_free(p);
    return 0;
}
