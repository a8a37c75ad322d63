/* libFuzzer harness: compose interpolation (spec_interpolate) over the fixed environment of
 * fuzz-util.h. The input is the text; a NUL byte ends it, as the C string it is for callers. */
#include <stdint.h>

#include "fuzz-util.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-interp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = m87_xstrndup((const char *)data, size);
    struct m87_strv unset;
    m87_strv_init(&unset);
    struct spec_interp ip = {.lookup = fuzz_lookup, .unset = &unset};
    struct m87_error *err = NULL;
    char *out = spec_interpolate(&ip, text, "fuzz.yml", 3, 7, &err);
    if (out == NULL) {
        if (err == NULL || strncmp(err->msg, "fuzz.yml:3:7: ", 14) != 0)
            abort();
        m87_error_clear(&err);
    } else if (err != NULL || strlen(out) > SPEC_INTERP_MAX ||
               (strchr(text, '$') == NULL && strcmp(out, text))) {
        abort();
    }
    /* without a lookup every variable is unset; column 0 leaves the column out */
    struct spec_interp bare = {0};
    char *out2 = spec_interpolate(&bare, text, "fuzz.yml", 3, 0, &err);
    if (out2 == NULL) {
        if (err == NULL || strncmp(err->msg, "fuzz.yml:3: ", 12) != 0)
            abort();
        m87_error_clear(&err);
    }
    free(out2);
    free(out);
    m87_strv_release(&unset);
    free(text);
    return 0;
}
