/* libarchive loaded on first use, part of the common module (src/common/archive-lib.c).
 *
 * Linking libarchive costs every process about 3 MB of resident memory at start (it pulls in
 * libxml2, ICU and libstdc++ with their relocations), while most runs of the agent and the CLI
 * never read or write a tar. So the binaries do not link it: the code that packs, extracts or
 * builds tars asks for the table below and calls through it, and the library is dlopen()ed the
 * first time. The table's members carry the types of the real declarations, so that the
 * compiler checks every call as it would a direct one. */
#ifndef M87_ARCHIVE_LIB_H
#define M87_ARCHIVE_LIB_H

#include <archive.h>
#include <archive_entry.h>
#include <limits.h>
#include <stdint.h>

#include "m87/alloc.h"
#include "m87/buf.h"
#include "m87/error.h"

#define M87_ARCHIVE_LIB_SONAME "libarchive.so.13"

/* X(member, symbol) for every libarchive function m87 calls. A new call site adds its
 * function here. */
#define M87_ARCHIVE_LIB_FUNCS(X)                                                                   \
    X(entry_filetype, archive_entry_filetype)                                                      \
    X(entry_free, archive_entry_free)                                                              \
    X(entry_hardlink, archive_entry_hardlink)                                                      \
    X(entry_mtime, archive_entry_mtime)                                                            \
    X(entry_new, archive_entry_new)                                                                \
    X(entry_pathname, archive_entry_pathname)                                                      \
    X(entry_perm, archive_entry_perm)                                                              \
    X(entry_set_filetype, archive_entry_set_filetype)                                              \
    X(entry_set_gid, archive_entry_set_gid)                                                        \
    X(entry_set_mtime, archive_entry_set_mtime)                                                    \
    X(entry_set_pathname, archive_entry_set_pathname)                                              \
    X(entry_set_perm, archive_entry_set_perm)                                                      \
    X(entry_set_size, archive_entry_set_size)                                                      \
    X(entry_set_symlink, archive_entry_set_symlink)                                                \
    X(entry_set_uid, archive_entry_set_uid)                                                        \
    X(entry_size, archive_entry_size)                                                              \
    X(entry_size_is_set, archive_entry_size_is_set)                                                \
    X(entry_symlink, archive_entry_symlink)                                                        \
    X(errno_of, archive_errno)                                                                     \
    X(error_string, archive_error_string)                                                          \
    X(filter_code, archive_filter_code)                                                            \
    X(read_data_block, archive_read_data_block)                                                    \
    X(read_extract2, archive_read_extract2)                                                        \
    X(read_free, archive_read_free)                                                                \
    X(read_new, archive_read_new)                                                                  \
    X(read_next_header, archive_read_next_header)                                                  \
    X(read_open, archive_read_open)                                                                \
    X(read_open_fd, archive_read_open_fd)                                                          \
    X(read_support_filter_gzip, archive_read_support_filter_gzip)                                  \
    X(read_support_format_tar, archive_read_support_format_tar)                                    \
    X(set_error, archive_set_error)                                                                \
    X(write_add_filter_gzip, archive_write_add_filter_gzip)                                        \
    X(write_close, archive_write_close)                                                            \
    X(write_data, archive_write_data)                                                              \
    X(write_disk_new, archive_write_disk_new)                                                      \
    X(write_disk_set_options, archive_write_disk_set_options)                                      \
    X(write_free, archive_write_free)                                                              \
    X(write_header, archive_write_header)                                                          \
    X(write_new, archive_write_new)                                                                \
    X(write_open, archive_write_open)                                                              \
    X(write_set_bytes_in_last_block, archive_write_set_bytes_in_last_block)                        \
    X(write_set_filter_option, archive_write_set_filter_option)                                    \
    X(write_set_format_pax_restricted, archive_write_set_format_pax_restricted)

/* The functions, named without their "archive_" prefix (archive_errno is errno_of, since errno
 * is a macro): la->read_new() calls archive_read_new(). */
struct m87_archive_lib {
#define M87_ARCHIVE_LIB_MEMBER(member, symbol) __typeof__(symbol) *member;
    M87_ARCHIVE_LIB_FUNCS(M87_ARCHIVE_LIB_MEMBER)
#undef M87_ARCHIVE_LIB_MEMBER
};

/* The entry's mtime through the table (call these, never la->entry_set_mtime or la->entry_mtime),
 * with the type the library was built with rather than the declaration's: Debian 12's
 * libarchive takes and returns a time_t of a long on every architecture, while m87 builds armhf
 * with _TIME_BITS=64, where the declaration's time_t is 64 bits and a call would pass the seconds
 * in the wrong registers (a tar entry of 1700000000 got another time). A long of armhf ends on
 * 2038-01-19: a later time (a device whose clock is past 2038) is stored as M87_ARCHIVE_TIME_MAX,
 * the last second the library can hold, rather than wrapped round to 1901, and a time before
 * 1901 as M87_ARCHIVE_TIME_MIN. On 64-bit architectures every time is kept. */
#define M87_ARCHIVE_TIME_MAX ((int64_t)LONG_MAX)
#define M87_ARCHIVE_TIME_MIN ((int64_t)LONG_MIN)
typedef void m87_archive_set_mtime_fn(struct archive_entry *e, long sec, long nsec);
typedef long m87_archive_mtime_fn(struct archive_entry *e);
static inline void m87_archive_entry_set_mtime(const struct m87_archive_lib *la,
                                               struct archive_entry *e, int64_t sec)
{
#if LONG_MAX < INT64_MAX
    if (sec > M87_ARCHIVE_TIME_MAX)
        sec = M87_ARCHIVE_TIME_MAX;
    else if (sec < M87_ARCHIVE_TIME_MIN)
        sec = M87_ARCHIVE_TIME_MIN;
#endif
    ((m87_archive_set_mtime_fn *)(void *)la->entry_set_mtime)(e, (long)sec, 0);
}
static inline int64_t m87_archive_entry_mtime(const struct m87_archive_lib *la,
                                              struct archive_entry *e)
{
    return ((m87_archive_mtime_fn *)(void *)la->entry_mtime)(e);
}

/* The table of the process, loading M87_ARCHIVE_LIB_SONAME on the first call (thread-safe, at
 * most one attempt per process; the library stays loaded). Returns the same table on every
 * call, never to be freed, or NULL with M87_E_IO in *err when the library or one of its
 * functions cannot be loaded ("load 'libarchive.so.13': DLERROR"); then every later call
 * fails the same way. */
const struct m87_archive_lib *m87_archive_lib(struct m87_error **err);

/* Load the library soname (for m87_archive_lib, and for tests of the failure paths) and fill
 * *out. 0, or -1 with M87_E_IO in *err ("load 'SONAME': DLERROR", which names a missing
 * function) and nothing loaded. The library is never unloaded on success. */
int m87_archive_lib_load(const char *soname, struct m87_archive_lib *out, struct m87_error **err);

/* For _cleanup_: free a reader (archive_read_free), a writer or disk writer
 * (archive_write_free), an entry (archive_entry_free); NULL is a no-op. An object exists only
 * once the library has loaded, so these need no table and no error path. */
void m87_archive_read_freep(struct archive **a);
void m87_archive_write_freep(struct archive **a);
void m87_archive_entry_freep(struct archive_entry **e);

#endif
