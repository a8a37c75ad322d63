/* libFuzzer harness: label selectors (spec_selector_parse, _match, _format) and the label
 * arguments of `m87 devices label` (spec_label_parse_arg). The input is the text; a NUL byte ends
 * it, as the C string it is for callers. A selector that parses must write back to a text that
 * parses to the same canonical text, and a failure must say where ("column N: ...") unless it
 * is over a cap. */
#include <stdint.h>

#include "fuzz-util.h"
#include "m87/alloc.h"
#include "m87/error.h"
#include "m87/list.h"
#include "m87/spec-label.h"
#include "m87/spec-selector.h"

static void check_selector(const char *text)
{
    struct spec_selector sel;
    struct m87_error *err = NULL;
    if (spec_selector_parse(text, &sel, &err) < 0) {
        if (err == NULL || (strncmp(err->msg, "column ", 7) != 0 &&
                            strcmp(err->msg, "longer than 4096 bytes") != 0))
            abort();
        m87_error_clear(&err);
        return;
    }
    struct m87_kvlist labels;
    m87_kvlist_init(&labels);
    m87_kvlist_add(&labels, "a", "b");
    m87_kvlist_add(&labels, "site", "berlin");
    m87_kvlist_add(&labels, "e", "");
    (void)spec_selector_match(&sel, &labels);
    m87_kvlist_release(&labels);
    char *text1 = spec_selector_format(&sel);
    struct spec_selector again;
    if (spec_selector_parse(text1, &again, &err) < 0)
        abort();
    char *text2 = spec_selector_format(&again);
    if (strcmp(text1, text2) != 0 || again.n != sel.n)
        abort();
    free(text2);
    free(text1);
    spec_selector_release(&again);
    spec_selector_release(&sel);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = m87_xstrndup((const char *)data, size);
    check_selector(text);
    char *key = NULL, *value = NULL;
    struct m87_error *err = NULL;
    if (spec_label_parse_arg(text, &key, &value, &err) == 0) {
        if (err != NULL || spec_label_check_key(key, NULL) < 0 ||
            (value && spec_label_check_value(key, value, NULL) < 0))
            abort();
        free(key);
        free(value);
    } else {
        if (err == NULL)
            abort();
        m87_error_clear(&err);
    }
    free(text);
    return 0;
}
