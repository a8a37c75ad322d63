/* m87 common layer, all of it: each concept now has its own header (error.h, alloc.h, buf.h,
 * list.h, json.h, json-write.h, lines.h, base64.h, log.h, yaml.h, yaml-write.h, units.h, hash.h,
 * file.h, compiler.h, version.h); include those instead of this one.
 */
#ifndef M87_COMMON_H
#define M87_COMMON_H

#include "m87/alloc.h"
#include "m87/base64.h"
#include "m87/buf.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/hash.h"
#include "m87/json-write.h"
#include "m87/json.h"
#include "m87/lines.h"
#include "m87/list.h"
#include "m87/log.h"
#include "m87/units.h"
#include "m87/version.h"
#include "m87/yaml-write.h"
#include "m87/yaml.h"

#endif
