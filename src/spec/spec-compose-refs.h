/* Private to the compose loader: the other files a project's files refer to, through a service's
 * extends and the top-level include (spec-compose-extends.c, spec-compose-include.c), read into
 * the same tree before the model is read. */
#ifndef M87_SPEC_COMPOSE_REFS_H
#define M87_SPEC_COMPOSE_REFS_H

#include "spec/spec-compose-internal.h"

/* A file read for extends, its services resolved in place as they are extended from. */
struct loader_file {
    char *abs;
    const struct spec_interp *ip;
    struct cnode *root;
};

/* Files read for extends and include in one load, the project's own aside: a bound on what a
 * chain of references can make the loader read. */
#define SPEC_MAX_LOADED_FILES 256u

/* Read the compose file at path (as messages name it; abs is its absolute path) for extends or
 * include: parsed (the document kept until the load ends), a mapping at the top, strings
 * interpolated with ip; abs is added to the project's extra_files. NULL with *err. */
struct cnode *spec_loader_read_file(struct loader *l, const char *path, const char *abs,
                                    const struct spec_interp *ip, struct m87_error **err);
/* The tree of a parsed compose file: its top must be a mapping ("empty compose file" or
 * "expected a mapping at the top level" at its position otherwise). */
struct cnode *spec_loader_doc_tree(const struct m87_yaml_doc *doc, const struct spec_interp *ip,
                                   struct m87_error **err);

/* Resolve services.*.extends in root (one file's tree whose relative paths are relative to the
 * project directory), as compose v2: chains followed, cycles refused, the base (another file's
 * paths made absolute against that file's directory) merged under the service with the rules
 * of an override file; every extends key is gone afterwards. Other files are read with ip. */
int spec_compose_apply_extends(struct loader *l, struct cnode *root, const struct spec_interp *ip,
                               struct m87_error **err);
/* Make the relative host paths of a service definition (env_file, bind sources) absolute
 * against dir. */
void spec_compose_rebase_service(struct cnode *svc, const char *dir);
/* A file on the way of an include chain, back to the project's own file. */
struct include_link {
    const char *abs;
    const struct include_link *prev;
};
/* Load each project of root's (one file's) top-level include (relative to workdir, the including
 * project's directory; variables from ip, then the included env files) and add its services,
 * networks, volumes, configs and secrets to root, refusing one also defined differently there;
 * the include key is gone afterwards. chain holds the files including this one (cycles). */
int spec_compose_apply_include(struct loader *l, struct cnode *root, const char *workdir,
                               const struct spec_interp *ip, const struct include_link *chain,
                               struct m87_error **err);
/* One compose file's tree (abs: its absolute path) made whole before it is merged with the
 * other files, as compose-go does file by file: its extends (within the file, or to other files),
 * then its include (cycles through chain). */
int spec_compose_file_resolve(struct loader *l, struct cnode *tree, const char *abs,
                              const char *workdir, const struct spec_interp *ip,
                              const struct include_link *chain, struct m87_error **err);

#endif
