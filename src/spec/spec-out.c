/* One writer over the YAML and the JSON writers (spec-out-internal.h). */
#include "spec/spec-out-internal.h"

void out_map_open(struct spec_out *o)
{
    o->jw ? m87_jw_obj_open(o->jw) : m87_yw_map_open(o->yw);
}

void out_map_close(struct spec_out *o)
{
    o->jw ? m87_jw_obj_close(o->jw) : m87_yw_map_close(o->yw);
}

void out_seq_open(struct spec_out *o)
{
    o->jw ? m87_jw_arr_open(o->jw) : m87_yw_seq_open(o->yw);
}

void out_seq_close(struct spec_out *o)
{
    o->jw ? m87_jw_arr_close(o->jw) : m87_yw_seq_close(o->yw);
}

void out_key(struct spec_out *o, const char *key)
{
    o->jw ? m87_jw_key(o->jw, key) : m87_yw_key(o->yw, key);
}

void out_str(struct spec_out *o, const char *s)
{
    o->jw ? m87_jw_str(o->jw, s) : m87_yw_str(o->yw, s);
}

void out_int(struct spec_out *o, int64_t v)
{
    o->jw ? m87_jw_int(o->jw, v) : m87_yw_int(o->yw, v);
}

void out_bool(struct spec_out *o, bool v)
{
    o->jw ? m87_jw_bool(o->jw, v) : m87_yw_bool(o->yw, v);
}

void out_null(struct spec_out *o)
{
    o->jw ? m87_jw_null(o->jw) : m87_yw_null(o->yw);
}
