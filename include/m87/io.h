/* Reading and writing file descriptors to the end (src/common/io.c). */
#ifndef M87_IO_H
#define M87_IO_H

#include <stddef.h>
#include <sys/types.h>

/* Write all len bytes of data to fd, again after short writes and EINTR. 0, or -1 with errno
 * set by write(2) (some bytes may have been written). */
int m87_write_all(int fd, const void *data, size_t len);

/* read(2) into buf, again after EINTR: the bytes read, 0 at the end, or -1 with errno set. */
ssize_t m87_read_some(int fd, void *buf, size_t len);

#endif
