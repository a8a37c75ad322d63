/* libarchive through dlopen() on first use; include/m87/archive-lib.h says why. */
#include <dlfcn.h>
#include <pthread.h>

#include "m87/archive-lib.h"
#include "m87/error.h"

/* One load per process, like the link it replaces; a failure is kept so that every caller
 * reports it rather than retrying dlopen() on each bundle. */
static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static struct m87_archive_lib lib;
static struct m87_error *lib_err;

/* dlerror() names the library for a missing file and the symbol for a missing function. */
static int load_error(const char *soname, struct m87_error **err)
{
    const char *why = dlerror();
    return m87_error_set(err, M87_E_IO, 0, "load '%s': %s", soname, why ? why : "unknown error");
}

int m87_archive_lib_load(const char *soname, struct m87_archive_lib *out, struct m87_error **err)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        return load_error(soname, err);
    struct m87_archive_lib t = {0};
    int r = 0;
#define RESOLVE(member, symbol)                                                                    \
    if (r == 0 && (t.member = (__typeof__(t.member))dlsym(h, #symbol)) == NULL)                    \
        r = load_error(soname, err);
    M87_ARCHIVE_LIB_FUNCS(RESOLVE)
#undef RESOLVE
    if (r < 0) {
        dlclose(h);
        return -1;
    }
    *out = t;
    return 0;
}

static void load_once(void)
{
    m87_archive_lib_load(M87_ARCHIVE_LIB_SONAME, &lib, &lib_err);
}

const struct m87_archive_lib *m87_archive_lib(struct m87_error **err)
{
    pthread_once(&lib_once, load_once);
    if (lib_err) {
        m87_error_set(err, lib_err->code, lib_err->sys_errno, "%s", lib_err->msg);
        return NULL;
    }
    return &lib;
}

void m87_archive_read_freep(struct archive **a)
{
    if (*a)
        m87_archive_lib(NULL)->read_free(*a);
}

void m87_archive_write_freep(struct archive **a)
{
    if (*a)
        m87_archive_lib(NULL)->write_free(*a);
}

void m87_archive_entry_freep(struct archive_entry **e)
{
    if (*e)
        m87_archive_lib(NULL)->entry_free(*e);
}
