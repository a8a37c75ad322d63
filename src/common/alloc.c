/* Allocation that never returns NULL: running out of memory ends the process. */
#include <stdio.h>
#include <string.h>

#include "m87/alloc.h"

void m87_oom(void)
{
    static const char msg[] = "m87: out of memory\n";
    ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    (void)r;
    abort();
}

void *m87_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        m87_oom();
    return p;
}

void *m87_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (p == NULL)
        m87_oom();
    return p;
}

void *m87_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        m87_oom();
    return p;
}

char *m87_xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        m87_oom();
    return p;
}

char *m87_xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (p == NULL)
        m87_oom();
    return p;
}

char *m87_xvasprintf(const char *fmt, va_list ap)
{
    char *p = NULL;
    if (vasprintf(&p, fmt, ap) < 0)
        m87_oom();
    return p;
}

char *m87_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = m87_xvasprintf(fmt, ap);
    va_end(ap);
    return p;
}
