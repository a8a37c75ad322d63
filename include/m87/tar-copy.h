/* A file or a tree copied as a tar stream (`m87 cp`, docs/remote.md), through libarchive
 * (archive-lib.h): one side packs, the other unpacks into a temporary directory beside the
 * destination and renames it into place once the whole stream came (src/common/tar-copy.c).
 *
 * The stream is a pax tar whose entries all sit under one top name (the source's base name),
 * followed by M87_TAR_COPY_END: a stream cut anywhere (a side killed, the channel broken) lacks
 * the mark, even when the cut falls between two entries, which a tar reader alone would take for
 * the end. */
#ifndef M87_TAR_COPY_H
#define M87_TAR_COPY_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "m87/error.h"

#define M87_TAR_COPY_END "\n\0m87 cp: the end of the copy, v1\0\n"
#define M87_TAR_COPY_END_LEN (sizeof(M87_TAR_COPY_END) - 1)
#define M87_TAR_COPY_MAX_DEPTH 128  /* directories within directories of one tree */
#define M87_TAR_COPY_TMP ".m87-cp-" /* the temporary directory's prefix, beside the destination */

/* Told the bytes of the stream so far, as they go (done: the last call). */
typedef void (*m87_tar_progress_fn)(void *ctx, int64_t bytes, bool done);

/* Write path as a tar stream to fd, and the end mark. path is followed when it is a symbolic
 * link; within a tree, links are copied as links. A directory needs recursive ("'P' is a
 * directory (use -r)"). Regular files, directories and symbolic links only. Modes (07777 but
 * set-user and set-group ID) and modification times are kept; owners are not. 0, or -1 with
 * M87_E_IO (or M87_E_INVAL for a directory without recursive or another kind of file); some of
 * the stream may have been written then, never its end mark. progress may be NULL. */
int m87_tar_pack(const char *path, bool recursive, int fd, m87_tar_progress_fn progress, void *ctx,
                 struct m87_error **err);

/* Read a stream m87_tar_pack wrote from fd until its end and put its tree at dest: inside dest
 * when dest is an existing directory (dest/TOP), else at dest, whose directory must exist. The
 * entries go into a new directory M87_TAR_COPY_TMP* in the destination's directory, renamed
 * into place only once the end mark came; on any failure it is removed and nothing is left.
 * Refused, with nothing written: an entry not under the first entry's top name, absolute, with a
 * ".." or empty component, a symbolic link pointing out of the tree (absolute, or with too many
 * ".."), a hard link or another kind of file, a duplicate entry, a destination that is an
 * existing directory (not replaced) or where a directory would replace a file. *stop set (by a
 * signal handler installed without SA_RESTART) stops a waiting read: M87_E_CANCELLED. On success
 * *final (when not NULL) is where the copy went (caller frees). progress may be NULL. */
int m87_tar_unpack(int fd, const char *dest, volatile sig_atomic_t *stop,
                   m87_tar_progress_fn progress, void *ctx, char **final, struct m87_error **err);

/* Whether dest can take a copy: an existing directory, or a name in one. 0, or -1 with
 * M87_E_INVAL ("no such directory 'D'"). */
int m87_tar_dest_check(const char *dest, struct m87_error **err);

/* The checks of one entry: name (no trailing '/') must be top or under it, relative, without ".."
 * or empty components; link (NULL: not a symbolic link) must stay within top when resolved from
 * the entry's directory. 0, or -1 with M87_E_INVAL naming the entry. */
int m87_tar_check_entry(const char *top, const char *name, const char *link,
                        struct m87_error **err);

#endif
