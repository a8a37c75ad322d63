/* Allocation that cannot fail, and the cleanup attributes that free owning locals.
 *
 * Contract: the m87_x* functions never return NULL; when memory runs out they abort through
 * m87_oom() (systemd restarts the daemon). Every pointer they return is the caller's, freed with
 * free(). A local marked _cleanup_free_ or _cleanup_close_ must be initialised (NULL, -1) and is
 * released when it goes out of scope; hand it out with M87_STEAL.
 */
#ifndef M87_ALLOC_H
#define M87_ALLOC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "m87/compiler.h"

void *m87_xmalloc(size_t size);
void *m87_xcalloc(size_t nmemb, size_t size);
void *m87_xrealloc(void *ptr, size_t size);
char *m87_xstrdup(const char *s);
char *m87_xstrndup(const char *s, size_t n);
char *m87_xasprintf(const char *fmt, ...) M87_PRINTF(1, 2);
char *m87_xvasprintf(const char *fmt, va_list ap) M87_PRINTF(1, 0);
M87_NORETURN void m87_oom(void);

static inline void m87_freep(void *p)
{
    free(*(void **)p);
}

static inline void m87_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(m87_freep)
#define _cleanup_close_ _cleanup_(m87_closep)

/* Hand ownership out of a cleanup-attributed local: `*out = M87_STEAL(p);`. */
#define M87_STEAL(p)                                                                               \
    ({                                                                                             \
        __typeof__(p) m87_steal_tmp_ = (p);                                                        \
        (p) = NULL;                                                                                \
        m87_steal_tmp_;                                                                            \
    })

#endif
