/* Files: read a whole file under a cap, replace one atomically, create and remove trees.
 *
 * Contract: each function returns 0 (or the data) on success and fills *err with M87_E_IO naming
 * the step and the path on failure ("open 'PATH': ..."); caps are M87_E_TOOBIG.
 */
#ifndef M87_FILE_H
#define M87_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "m87/error.h"

/* Read a whole file of at most max bytes into a NUL-terminated buffer the caller frees, length
 * in *len (may be NULL). M87_E_IO ("open 'PATH': ...", "read 'PATH': ..."), M87_E_TOOBIG
 * ("read 'PATH': file exceeds the limit of N bytes"). */
char *m87_read_file(const char *path, size_t max, size_t *len, struct m87_error **err);

/* Replace path with len bytes atomically: write PATH.tmp.PID next to it with mode, fsync it,
 * rename over path, fsync the directory. A reader sees the old or the new file, never a torn one,
 * also across a power cut. M87_E_IO naming the step and path. */
int m87_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                          struct m87_error **err);

/* mkdir -p with mode for the directories it creates; M87_E_IO naming the directory. */
int m87_mkdir_p(const char *path, mode_t mode, struct m87_error **err);

/* rm -rf that never follows symlinks and stays on path's file system; missing path is 0. */
int m87_remove_tree(const char *path, struct m87_error **err);

#endif
