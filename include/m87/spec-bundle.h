/* Bundles: content-addressed, reproducible tar.gz archives of workdir files that travel beside
 * a run spec, and their checked extraction on the device.
 */
#ifndef M87_SPEC_BUNDLE_H
#define M87_SPEC_BUNDLE_H

#include "m87/error.h"
#include "m87/list.h"

/* A bundle is a gzip-compressed tar of workdir files that do not belong inline in a run spec
 * (binary, large, whole directories). It is content-addressed: its name is "sha256:HEX", HEX the
 * lower-case SHA-256 of the .tar.gz bytes, and it is stored as "sha256-HEX.tar.gz".
 *
 * Packing is reproducible: the same files give the same bytes (entries sorted bytewise by path,
 * directories before their contents, mtime 0, uid/gid 0, no user or group names, mode 0755 for
 * directories and executable files and 0644 for the rest, pax-restricted tar, gzip header
 * without name or timestamp). Extraction trusts nothing: see spec_bundle_extract. */
#define SPEC_BUNDLE_DIGEST_LEN 71                    /* "sha256:" + 64 hex */
#define SPEC_BUNDLE_FILE_LEN 78                      /* "sha256-" + 64 hex + ".tar.gz" */
#define SPEC_BUNDLE_MAX_ENTRY (64u * 1024 * 1024)    /* bytes of one unpacked file */
#define SPEC_BUNDLE_MAX_ENTRIES 10000u               /* entries (files and directories) */
#define SPEC_BUNDLE_MAX_TOTAL (256u * 1024 * 1024)   /* bytes unpacked in all */
#define SPEC_BUNDLE_MAX_ARCHIVE (256u * 1024 * 1024) /* bytes of the .tar.gz itself */

/* True when s is "sha256:" followed by 64 lower-case hex digits. */
bool spec_bundle_digest_valid(const char *s);

/* The file name of a bundle, "sha256-HEX.tar.gz", from its digest "sha256:HEX" (which must be
 * valid) into out. */
void spec_bundle_file_name(const char *digest, char out[SPEC_BUNDLE_FILE_LEN + 1]);

/* Check that the file at path has the digest "sha256:HEX": M87_E_INVAL "bundle 'PATH': digest is
 * sha256:GOT, expected DIGEST" when not (a corrupt or wrong download), M87_E_IO when it cannot be
 * read. Extraction does not check the digest itself: call this first. */
int spec_bundle_verify(const char *path, const char *digest, struct m87_error **err);

/* Pack paths (relative to base_dir, files or directories, directories recursively; no absolute
 * path, no ".." component) into out_dir/sha256-HEX.tar.gz, written atomically (temporary file,
 * fsync, rename), and put "sha256:HEX" into digest. Only regular files and directories are
 * packed: a symlink, device, fifo or socket in the input is M87_E_INVAL naming it; the caps
 * above apply (M87_E_TOOBIG); M87_E_IO for a file that cannot be read or written, or when
 * libarchive cannot be loaded ("bundle: load 'libarchive.so.13': ..."). A path given
 * twice, or inside a directory also given, is packed once. */
int spec_bundle_pack(const char *base_dir, const struct m87_strv *paths, const char *out_dir,
                     char digest[SPEC_BUNDLE_DIGEST_LEN + 1], struct m87_error **err);

/* Extract the bundle at archive_path into dest_dir, which must exist. The whole archive is
 * checked in a first pass and nothing is written unless every entry passes: refused (M87_E_INVAL,
 * "bundle 'PATH': entry 'NAME': REASON") are absolute names, ".." components, symlinks and hard
 * links, devices, fifos and sockets, any other type but regular files and directories, a file
 * named twice or used as a directory, and an entry whose way in dest_dir goes through an existing
 * symlink or needs an existing directory replaced by a file; M87_E_TOOBIG for an entry over
 * SPEC_BUNDLE_MAX_ENTRY bytes, more than SPEC_BUNDLE_MAX_ENTRIES entries, more than
 * SPEC_BUNDLE_MAX_TOTAL bytes unpacked, or an archive file over SPEC_BUNDLE_MAX_ARCHIVE;
 * M87_E_PARSE for anything that is not a complete tar.gz ("not a tar.gz archive (no gzip)",
 * "not a complete tar.gz archive: REASON" for another format, a truncated or corrupt stream);
 * M87_E_IO when libarchive cannot be loaded ("bundle 'PATH': load 'libarchive.so.13': ...").
 * Existing files are replaced (an existing symlink at a file's own name is replaced, never
 * followed); other files in dest_dir are left alone. Files get mode 0755 when packed executable,
 * else 0644, minus the umask; owners and times are not restored. "./" prefixes are accepted. The
 * second pass runs with dest_dir as the process's working directory (restored before returning),
 * so that libarchive's own secure-extraction checks judge the entry names alone: do not call it
 * while another thread relies on the working directory. M87_E_IO for a system call that fails. */
int spec_bundle_extract(const char *archive_path, const char *dest_dir, struct m87_error **err);

#endif
