/* Label selectors as Kubernetes writes them: "site=berlin,hw in (pi4,pi5),!retired". A pure
 * parser and matcher: no I/O. The server filters devices with it and the CLI checks a selector
 * with it before sending.
 */
#ifndef M87_SPEC_SELECTOR_H
#define M87_SPEC_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "m87/error.h"
#include "m87/list.h"

#define SPEC_SELECTOR_MAX_TEXT 4096 /* bytes of a selector */
#define SPEC_SELECTOR_MAX_TERMS 64  /* requirements of one selector */
#define SPEC_SELECTOR_MAX_VALUES 64 /* values of one in or notin list */

enum spec_sel_op {
    SPEC_SEL_EQ,     /* k=v, k==v: k is present with value v */
    SPEC_SEL_NE,     /* k!=v: k is absent or its value is not v */
    SPEC_SEL_IN,     /* k in (a,b): k is present with one of the values */
    SPEC_SEL_NOTIN,  /* k notin (a,b): k is absent or its value is none of them */
    SPEC_SEL_EXISTS, /* k */
    SPEC_SEL_ABSENT, /* !k */
};

struct spec_sel_term {
    enum spec_sel_op op;
    char *key;
    struct m87_strv values; /* one for EQ and NE, one or more for IN and NOTIN, none else */
};

/* The requirements, all of which a set of labels must meet (the empty selector matches every
 * set). */
struct spec_selector {
    struct spec_sel_term *terms;
    size_t n;
};

/* Parse text: requirements separated by ',', blanks allowed around every token; keys and values
 * as spec-label.h says. *out is the caller's (spec_selector_release) and untouched on failure.
 * -1 with M87_E_INVAL "column N: WHY" (N 1-based, in bytes; the column after the text for what
 * is missing at its end): "column 12: expected ')'", "column 1: expected a label key",
 * "column 6: label key 'a b': ..."; M87_E_TOOBIG past SPEC_SELECTOR_MAX_TEXT,
 * SPEC_SELECTOR_MAX_TERMS or SPEC_SELECTOR_MAX_VALUES. */
int spec_selector_parse(const char *text, struct spec_selector *out, struct m87_error **err);

void spec_selector_release(struct spec_selector *sel);

/* Whether labels (keys unique, as a device's) meet every requirement of sel. */
bool spec_selector_match(const struct spec_selector *sel, const struct m87_kvlist *labels);

/* The canonical text of sel ("a=b,c!=d,e in (f,g),h,!i"), which parses back to the same
 * selector. Caller frees. */
char *spec_selector_format(const struct spec_selector *sel);

#endif
