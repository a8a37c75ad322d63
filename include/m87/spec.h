/* m87 spec module: every public header of the module, one per concept (spec-*.h). Being removed:
 * include the specific headers instead.
 */
#ifndef M87_SPEC_H
#define M87_SPEC_H

#include "m87/spec-pos.h"
#include "m87/spec-interp.h"
#include "m87/spec-dotenv.h"
#include "m87/spec-service.h"
#include "m87/spec-project.h"
#include "m87/spec-runspec.h"
#include "m87/spec-revision.h"
#include "m87/spec-bundle.h"
#include "m87/spec-convert.h"
#include "m87/spec-window.h"

#endif
