/* Units: exact conversions of compose's size, duration and cpus notations, and Go's way of
 * printing a duration.
 *
 * Contract: no floating point: decimals are carried as digits and truncated towards zero at the
 * last step. Errors are M87_E_INVAL with the text quoted ("invalid size '12x'"), to be placed with
 * m87_yaml_wrap.
 */
#ifndef M87_UNITS_H
#define M87_UNITS_H

#include <stdint.h>

#include "m87/error.h"
#include "m87/yaml.h"

/* Bytes as docker/go-units RAMInBytes: digits with an optional ".digits", an optional single
 * space, an optional unit b k m g t p (any case) and an optional "i" and/or "b"; multipliers are
 * binary even for "MB" (512m = 536870912, 1.5g = 1610612736, a bare 1024 = 1024 bytes). Fractions
 * of a byte are truncated. Negative, out of int64 range, or anything else is an error. */
int m87_parse_bytes(const char *text, int64_t *out, struct m87_error **err);

/* A Go duration (time.ParseDuration) into nanoseconds: an optional sign, then one or more
 * number+unit pairs ("1h2m3s", "1.5h", "500ms", "1m30s"); units ns, us, µs, μs, ms, s, m, h, and,
 * as compose-go's str2duration, d (24h) and w (7d). "0" alone is 0. Fractions are exact to the
 * nanosecond (truncated). Out of int64 range, a missing unit, or garbage is an error. Negative
 * values are allowed, as in Go; the caller refuses them where they make no sense. */
int m87_parse_duration(const char *text, int64_t *ns, struct m87_error **err);

/* CPUs as decimal text (a YAML number's text too: "2", "0.5", ".5", "1.5e0", "+1") into NanoCpus:
 * "0.1" = 100000000, "1.5" = 1500000000. At most 9 significant decimals (more, unless zeros, is
 * an error, never rounded). Negative, out of range, or anything else is an error. */
int m87_parse_cpus(const char *text, int64_t *nano, struct m87_error **err);

/* Go's time.Duration.String(): "1h2m3s", "1.5s", "500ms", "1µs", "0s", "-2m0s". Caller frees. */
char *m87_format_duration(int64_t ns);

#endif
