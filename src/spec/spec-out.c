/* One writer over the YAML and the JSON writers, and the UTF-8 reading that decides what YAML
 * carries unchanged (spec-out-internal.h). */
#include "m87/json-write.h"
#include "m87/yaml-write.h"
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

size_t spec_utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t n = s[0] < 0x80             ? 1
               : (s[0] & 0xe0) == 0xc0 ? 2
               : (s[0] & 0xf0) == 0xe0 ? 3
               : (s[0] & 0xf8) == 0xf0 ? 4
                                       : 0;
    if (n == 0 || n > len)
        return 0;
    uint32_t v = n == 1 ? s[0] : s[0] & (0x7fu >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3fu);
    }
    if (v < min[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

bool spec_yaml_unsafe(uint32_t cp)
{
    return (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff ||
           cp == 0xfffe || cp == 0xffff;
}
