/* Where a node of an input file was written, kept in the models after loading (compose services,
 * run-spec jobs and steps) so that later messages can point into the file: "FILE:LINE:COLUMN".
 */
#ifndef M87_SPEC_POS_H
#define M87_SPEC_POS_H

#include <stddef.h>

/* Where a service or field came from, for messages after loading ("FILE:LINE:COLUMN"). */
struct spec_pos {
    char *file;
    size_t line;
    size_t column;
};

#endif
