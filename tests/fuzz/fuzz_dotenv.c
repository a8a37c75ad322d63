/* libFuzzer harness: the .env / env_file parser (spec_dotenv_parse) over the fixed environment of
 * fuzz-util.h, starting from a list that already holds a key, as the compose loader's does. */
#include <stdint.h>

#include "fuzz-util.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-dotenv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct m87_kvlist out;
    m87_kvlist_init(&out);
    m87_kvlist_add(&out, "PRESET", "p");
    struct m87_error *err = NULL;
    int r = spec_dotenv_parse((const char *)data, size, "fuzz.env", fuzz_lookup, NULL, &out, &err);
    if (r < 0) {
        if (err == NULL || strncmp(err->msg, "fuzz.env:", 9) != 0)
            abort();
        m87_error_clear(&err);
    } else if (err != NULL) {
        abort();
    }
    for (size_t i = 0; i < out.len; i++)
        if (out.items[i].key == NULL || out.items[i].key[0] == '\0')
            abort();
    m87_kvlist_release(&out);
    return 0;
}
