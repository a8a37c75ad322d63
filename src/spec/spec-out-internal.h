
#include "m87/json-write.h"
#include "m87/yaml-write.h"
/* Private to src/spec: one writer over the YAML and the JSON writers, for the outputs that can be
 * either (`compose config` in spec-compose-dump.c, the run spec's dump in spec-runspec-out.c), and
 * the UTF-8 reading that decides what text YAML carries unchanged (spec-convert.c too). Nothing
 * outside src/spec includes this. */
#ifndef M87_SPEC_OUT_INTERNAL_H
#define M87_SPEC_OUT_INTERNAL_H


/* Exactly one of jw and yw is set; both are borrowed. */
struct spec_out {
    struct m87_jw *jw;
    struct m87_yw *yw;
};

/* Each writes through the writer that is set, as its m87_jw_* or m87_yw_* namesake. */
void out_map_open(struct spec_out *o);
void out_map_close(struct spec_out *o);
void out_seq_open(struct spec_out *o);
void out_seq_close(struct spec_out *o);
void out_key(struct spec_out *o, const char *key);
void out_str(struct spec_out *o, const char *s);
void out_int(struct spec_out *o, int64_t v);
void out_bool(struct spec_out *o, bool v);
void out_null(struct spec_out *o);

/* The length of the UTF-8 sequence at s (at most len bytes), 0 when it is not valid: overlong
 * forms, surrogates and code points past U+10FFFF are refused; *cp gets the code point. */
size_t spec_utf8_next(const unsigned char *s, size_t len, uint32_t *cp);
/* True for the characters that YAML refuses or reads as line breaks but yajl writes raw: DEL,
 * the C1 controls, U+2028, U+2029, U+FEFF, U+FFFE and U+FFFF. */
bool spec_yaml_unsafe(uint32_t cp);

#endif
