/* Path names as text only: nothing here looks at the files they name (src/common/path.c). */
#ifndef M87_PATH_H
#define M87_PATH_H

/* path itself when it is absolute, else "DIR/PATH" (nothing normalised, no link followed).
 * Always a new string: caller frees. */
char *m87_absolute(const char *dir, const char *path);

#endif
