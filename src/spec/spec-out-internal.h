/* Private to src/spec: one writer over the YAML and the JSON writers, for the outputs that can be
 * either (`compose config` in spec-compose-dump.c, the run spec's dump in spec-runspec-out.c).
 * Nothing outside src/spec includes this. */
#ifndef M87_SPEC_OUT_INTERNAL_H
#define M87_SPEC_OUT_INTERNAL_H

#include "m87/common.h"

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

#endif
