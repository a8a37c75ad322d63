/* State files (src/common/state-file.c): the JSON files a program keeps between runs, absent
 * until the first run writes them, and the fsync of a directory after a file was renamed or
 * created in it.
 */
#ifndef M87_STATE_FILE_H
#define M87_STATE_FILE_H

#include <stddef.h>

#include "m87/error.h"
#include "m87/json.h"

/* Read and parse the JSON file at path (at most max bytes). 1 and the document in *doc (the
 * caller's), 0 when the file does not exist (*doc untouched), -1 with *err otherwise: what
 * m87_read_file says, or the parser's message after "read 'PATH': ". err may be NULL. */
int m87_state_read_json(const char *path, size_t max, struct m87_json **doc,
                        struct m87_error **err);

/* fsync the directory that holds path (the part before its last '/'; "." without one), so that
 * a rename or a creation in it survives a power cut. 0, or -1 with M87_E_IO
 * "sync directory 'DIR'" and the errno. */
int m87_state_sync_dir(const char *path, struct m87_error **err);

#endif
