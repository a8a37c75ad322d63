/* Compose to run spec: load the project, gather every local file it references, decide for each
 * whether it travels inline or in the bundle, and make the job. The job is then dumped and parsed
 * back, so that what the caller gets is exactly what a device will read. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "m87/alloc.h"
#include "m87/compiler.h"
#include "m87/error.h"
#include "m87/file.h"
#include "m87/list.h"
#include "m87/spec-bundle.h"
#include "m87/spec-convert.h"
#include "m87/spec-project.h"
#include "m87/spec-runspec.h"
#include "m87/spec-service.h"
#include "spec/spec-convert-internal.h"
#include "spec/spec-out-internal.h"

struct conv {
    const struct spec_convert_options *o;
    const struct spec_project *p;
    struct convert_ref *refs;
    size_t n_refs;
    struct convert_plan plan;
    struct m87_error **err;
};

static void add_ref(struct conv *c, struct convert_ref r)
{
    c->refs = m87_xrealloc(c->refs, (c->n_refs + 1) * sizeof(*c->refs));
    c->refs[c->n_refs++] = r;
}

static void gather_refs(struct conv *c)
{
    const struct spec_project *p = c->p;
    if (p->env_file)
        add_ref(c, (struct convert_ref){.kind = CONVERT_REF_DOTENV, .abs = p->env_file});
    for (size_t i = 0; i < p->extra_files.len; i++)
        add_ref(c,
                (struct convert_ref){.kind = CONVERT_REF_LOADED, .abs = p->extra_files.items[i]});
    for (size_t i = 0; i < p->n_services; i++) {
        const struct spec_service *s = &p->services[i];
        for (size_t j = 0; j < s->env_files.len; j++)
            add_ref(c, (struct convert_ref){CONVERT_REF_ENV_FILE, s->env_files.items[j], s->name, j,
                                            NULL, &s->pos});
        for (size_t j = 0; j < s->label_files.len; j++)
            add_ref(c, (struct convert_ref){CONVERT_REF_LABEL_FILE, s->label_files.items[j],
                                            s->name, j, NULL, &s->pos});
        for (size_t j = 0; j < s->n_mounts; j++)
            if (s->mounts[j].type == SPEC_MOUNT_BIND)
                add_ref(c, (struct convert_ref){CONVERT_REF_BIND, s->mounts[j].source, s->name, j,
                                                NULL, &s->pos});
    }
    for (size_t i = 0; i < p->n_configs; i++)
        if (p->configs[i].source == SPEC_SOURCE_FILE)
            add_ref(c, (struct convert_ref){.kind = CONVERT_REF_CONFIG,
                                            .abs = p->configs[i].file,
                                            .key = p->configs[i].key});
    for (size_t i = 0; i < p->n_secrets; i++)
        if (p->secrets[i].source == SPEC_SOURCE_FILE)
            add_ref(c, (struct convert_ref){.kind = CONVERT_REF_SECRET,
                                            .abs = p->secrets[i].file,
                                            .key = p->secrets[i].key});
}

/* path relative to the project directory, "" for the directory itself, NULL when outside. */
static const char *relative(const struct spec_project *p, const char *abs)
{
    size_t n = strlen(p->working_dir);
    if (n == 1)
        return abs + 1;
    if (strncmp(abs, p->working_dir, n) != 0 || (abs[n] != '/' && abs[n] != '\0'))
        return NULL;
    return abs[n] == '/' ? abs + n + 1 : abs + n;
}

/* ---- what can go inline ---------------------------------------------------------------------- */

/* Text a run spec carries unchanged through YAML: UTF-8 without NUL, without control characters
 * but tab and newline (a CR would be folded), and without the characters YAML refuses or reads
 * as line breaks. */
static bool inline_text(const char *data, size_t len)
{
    const unsigned char *s = (const unsigned char *)data;
    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        size_t n = spec_utf8_next(s + i, len - i, &cp);
        if (n == 0)
            return false;
        if ((cp < 0x20 && cp != '\t' && cp != '\n') || spec_yaml_unsafe(cp))
            return false;
        i += n;
    }
    return true;
}

static void add_bundle(struct conv *c, const char *rel)
{
    for (size_t i = 0; i < c->plan.bundle.len; i++)
        if (strcmp(c->plan.bundle.items[i], rel) == 0)
            return;
    m87_strv_add(&c->plan.bundle, rel);
}

static bool has_file(const struct conv *c, const char *rel)
{
    for (size_t i = 0; i < c->plan.n_files; i++)
        if (strcmp(c->plan.files[i].name, rel) == 0)
            return true;
    return false;
}

/* Inline when it is text and the run spec's caps allow, else into the bundle. */
static int place_file(struct conv *c, const char *abs, const char *rel, size_t max)
{
    if (has_file(c, rel))
        return 0;
    struct stat st;
    if (stat(abs, &st) < 0)
        return m87_error_set(c->err, M87_E_IO, errno, "stat '%s'", abs);
    size_t len = 0;
    _cleanup_free_ char *data = NULL;
    if ((uint64_t)st.st_size <= max && (data = m87_read_file(abs, max, &len, c->err)) == NULL)
        return -1;
    struct convert_plan *pl = &c->plan;
    if (data == NULL || !inline_text(data, len) || pl->n_files >= SPEC_RUNSPEC_MAX_FILES ||
        len > SPEC_RUNSPEC_MAX_CONTENT - pl->content) {
        add_bundle(c, rel);
        return 0;
    }
    pl->files = m87_xrealloc(pl->files, (pl->n_files + 1) * sizeof(*pl->files));
    pl->files[pl->n_files].name = m87_xstrdup(rel);
    pl->files[pl->n_files++].content = M87_STEAL(data);
    pl->content += len;
    return 0;
}

/* ---- the references -------------------------------------------------------------------------- */

static int ref_error(struct conv *c, const struct convert_ref *r, enum m87_errcode code, int e,
                     const char *fmt, ...) M87_PRINTF(5, 6);

static int ref_error(struct conv *c, const struct convert_ref *r, enum m87_errcode code, int e,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = m87_xvasprintf(fmt, ap);
    va_end(ap);
    _cleanup_free_ char *where = spec_convert_ref_where(c->p, &c->o->load, r);
    return m87_error_set(c->err, code, e, "%s: %s", where, msg);
}

static const char *kind_name(mode_t mode)
{
    if (S_ISLNK(mode))
        return "a symbolic link";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISFIFO(mode))
        return "a fifo";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "a device file";
    return "not a regular file or directory";
}

/* The type of abs, refusing symlinks on the way from the project directory: a link would make
 * the job carry something else than what the path names. 1 when it does not exist. */
static int inspect(struct conv *c, const struct convert_ref *r, const char *rel, mode_t *mode)
{
    _cleanup_free_ char *path = m87_xstrdup(r->abs);
    char *tail = path + (strlen(r->abs) - strlen(rel));
    for (char *p = tail;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        struct stat st;
        if (lstat(path, &st) < 0)
            return errno == ENOENT ? 1 : ref_error(c, r, M87_E_IO, errno, "stat '%s'", path);
        if (saved == '\0' || !S_ISDIR(st.st_mode)) {
            if (saved != '\0' || (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)))
                return ref_error(c, r, M87_E_INVAL, 0,
                                 "'%s' is %s: only regular files and directories can travel "
                                 "with the job",
                                 path, kind_name(st.st_mode));
            *mode = st.st_mode;
            return 0;
        }
        *p = saved;
    }
}

/* The whole project directory is bind-mounted: everything in it travels in the bundle. */
static int bundle_root(struct conv *c)
{
    DIR *d = opendir(c->p->working_dir);
    if (d == NULL)
        return m87_error_set(c->err, M87_E_IO, errno, "open directory '%s'", c->p->working_dir);
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            add_bundle(c, e->d_name);
    closedir(d);
    c->plan.bundle_has_root = true;
    return 0;
}

static int place_ref(struct conv *c, const struct convert_ref *r)
{
    const char *rel = relative(c->p, r->abs);
    if (rel == NULL && r->kind == CONVERT_REF_BIND)
        return 0;
    if (rel == NULL)
        return ref_error(c, r, M87_E_INVAL, 0,
                         "'%s' is outside the project directory '%s': it would not exist on the "
                         "device",
                         r->abs, c->p->working_dir);
    if (*rel == '\0')
        return bundle_root(c);
    mode_t mode = 0;
    int found = inspect(c, r, rel, &mode);
    if (found < 0)
        return -1;
    if (found == 1 && r->kind == CONVERT_REF_BIND)
        return 0; /* docker creates a missing bind source on the device, as it would here */
    if (found == 1)
        return ref_error(c, r, M87_E_IO, ENOENT, "open '%s'", r->abs);
    if (S_ISDIR(mode)) {
        add_bundle(c, rel);
        return 0;
    }
    if (place_file(c, r->abs, rel, SPEC_CONVERT_MAX_INLINE) < 0) {
        _cleanup_free_ char *where = spec_convert_ref_where(c->p, &c->o->load, r);
        return m87_error_wrap(c->err, "%s", where);
    }
    return 0;
}

static int cmp_ref(const void *a, const void *b)
{
    return strcmp(((const struct convert_ref *)a)->abs, ((const struct convert_ref *)b)->abs);
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const struct spec_job_file *)a)->name, ((const struct spec_job_file *)b)->name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool inside(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* Paths inside a directory also bundled are packed with it: list them once. */
static void drop_nested(struct m87_strv *v)
{
    size_t out = 0;
    for (size_t i = 0; i < v->len; i++) {
        bool nested = false;
        for (size_t j = 0; j < out && !nested; j++)
            nested = inside(v->items[i], v->items[j]);
        if (nested)
            free(v->items[i]);
        else
            v->items[out++] = v->items[i];
    }
    v->len = out;
}

static int plan_files(struct conv *c)
{
    const struct spec_project *p = c->p;
    for (size_t i = 0; i < p->config_files.len; i++) {
        const char *abs = p->config_files.items[i], *rel = relative(p, abs);
        if (rel == NULL || *rel == '\0')
            return m87_error_set(c->err, M87_E_INVAL, 0,
                                 "compose file '%s' is outside the project directory '%s'", abs,
                                 p->working_dir);
        m87_strv_add(&c->plan.compose_names, rel);
        if (place_file(c, abs, rel, SPEC_RUNSPEC_MAX_CONTENT) < 0)
            return -1;
    }
    size_t n_compose = c->plan.n_files;
    gather_refs(c);
    /* in name order, so that which files fit inline does not depend on the compose file's order */
    if (c->n_refs > 1)
        qsort(c->refs, c->n_refs, sizeof(*c->refs), cmp_ref);
    for (size_t i = 0; i < c->n_refs; i++)
        if (place_ref(c, &c->refs[i]) < 0)
            return -1;
    if (c->plan.n_files - n_compose > 1)
        qsort(c->plan.files + n_compose, c->plan.n_files - n_compose, sizeof(*c->plan.files),
              cmp_file);
    if (c->plan.bundle.len > 1)
        qsort(c->plan.bundle.items, c->plan.bundle.len, sizeof(char *), cmp_str);
    drop_nested(&c->plan.bundle);
    return 0;
}

/* ---- entry points ---------------------------------------------------------------------------- */

/* Dump the job and parse it back: the caller gets what a device reads, and a file that did not
 * survive the trip (a bug in the inline rule) is caught here rather than on the device. */
static struct spec_runspec *round_trip(struct spec_job *job, struct m87_error **err)
{
    struct spec_runspec one = {job, 1};
    _cleanup_free_ char *text = spec_runspec_dump(&one, false);
    struct spec_runspec *rs = spec_runspec_parse(text, strlen(text), "converted job", err);
    if (rs == NULL)
        return NULL;
    bool same = strcmp(rs->jobs[0].hash, job->hash) == 0 && rs->jobs[0].n_files == job->n_files;
    for (size_t i = 0; same && i < job->n_files; i++)
        same = strcmp(rs->jobs[0].files[i].content, job->files[i].content) == 0;
    if (!same) {
        spec_runspec_free(rs);
        m87_error_set(err, M87_E_INTERNAL, 0, "the converted job does not read back the same");
        return NULL;
    }
    return rs;
}

static int pack(struct conv *c, struct spec_conversion *out, char *digest)
{
    if (c->plan.bundle.len == 0)
        return 0;
    if (spec_bundle_pack(c->p->working_dir, &c->plan.bundle, c->o->bundle_dir, digest, c->err) < 0)
        return -1;
    char name[SPEC_BUNDLE_FILE_LEN + 1];
    spec_bundle_file_name(digest, name);
    out->bundle_path = m87_xasprintf("%s/%s", c->o->bundle_dir, name);
    for (size_t i = 0; i < c->plan.bundle.len; i++)
        m87_strv_add(&out->bundled, c->plan.bundle.items[i]);
    return 0;
}

static void plan_release(struct convert_plan *pl)
{
    for (size_t i = 0; i < pl->n_files; i++) {
        free(pl->files[i].name);
        free(pl->files[i].content);
    }
    free(pl->files);
    m87_strv_release(&pl->bundle);
    m87_strv_release(&pl->compose_names);
}

static struct spec_conversion *convert(struct conv *c, const char *id)
{
    _cleanup_(spec_conversion_freep) struct spec_conversion *out = m87_xcalloc(1, sizeof(*out));
    char digest[SPEC_BUNDLE_DIGEST_LEN + 1] = "";
    if (plan_files(c) < 0 || pack(c, out, digest) < 0)
        return NULL;
    struct spec_job job;
    spec_convert_build_job(c->p, id, &c->plan, *digest ? digest : NULL, &job);
    out->rs = round_trip(&job, c->err);
    spec_job_release(&job);
    if (out->rs == NULL)
        return NULL;
    for (size_t i = 0; i < c->p->warnings.len; i++)
        m87_strv_add(&out->warnings, c->p->warnings.items[i]);
    return M87_STEAL(out);
}

struct spec_conversion *spec_convert_compose(const struct spec_convert_options *o,
                                             struct m87_error **err)
{
    _cleanup_(spec_project_freep) struct spec_project *p = spec_compose_load(&o->load, err);
    if (p == NULL)
        return NULL;
    const char *id = o->id ? o->id : p->name;
    if (!spec_runspec_safe_name(id)) {
        _cleanup_free_ char *q = m87_quote_excerpt(id, 80);
        m87_error_set(err, M87_E_INVAL, 0,
                      "invalid job id %s: use 1 to 63 letters, digits, '_', '.' or '-', starting "
                      "with a letter or digit",
                      q);
        return NULL;
    }
    struct conv c = {.o = o, .p = p, .err = err};
    struct spec_conversion *out = convert(&c, id);
    plan_release(&c.plan);
    free(c.refs);
    return out;
}

void spec_conversion_free(struct spec_conversion *c)
{
    if (c == NULL)
        return;
    spec_runspec_free(c->rs);
    free(c->bundle_path);
    m87_strv_release(&c->bundled);
    m87_strv_release(&c->warnings);
    free(c);
}
