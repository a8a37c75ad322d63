/* m87-server private: secrets kept at rest (registry passwords), sealed with AES-256-GCM
 * (OpenSSL EVP) under a key of the data directory.
 *
 * The key is DATA/registry.key, 32 random bytes, mode 0600, made by `m87-server init` or by the
 * first `serve` that finds none. Anyone who can read both it and the database can read the
 * secrets: it protects a copied database or backup, not a stolen data directory. A sealed secret
 * is text: hex of a 12-byte random nonce, the ciphertext and the 16-byte tag; the associated data
 * (the registry host) binds it to its row, so a secret moved to another host does not open. */
#ifndef M87_SERVER_SECRET_H
#define M87_SERVER_SECRET_H

#include <stdbool.h>

#include "m87/error.h"

#define SRV_SECRET_KEY_FILE "registry.key"
#define SRV_SECRET_KEY_LEN 32
/* A registry password or token; a longer one is refused. */
#define SRV_SECRET_MAX 4096

struct srv_secret_key {
    unsigned char bytes[SRV_SECRET_KEY_LEN];
    bool loaded;
};

/* Read DATA/registry.key into key, making it first when it is missing and create is true.
 * M87_E_IO on a file that cannot be read or made, M87_E_INVAL on one of the wrong size or
 * readable by group or others ("chmod 600" says the message). */
int srv_secret_key_load(const char *data_dir, bool create, struct srv_secret_key *key,
                        struct m87_error **err);

/* Seal len bytes of plain with the key and aad: the text of the sealed secret, caller frees.
 * M87_E_INTERNAL when OpenSSL fails. */
char *srv_secret_seal(const struct srv_secret_key *key, const char *plain, size_t len,
                      const char *aad, struct m87_error **err);

/* Open what srv_secret_seal made with the same key and aad: the NUL-terminated secret, caller
 * wipes and frees. M87_E_PARSE for text that is not a sealed secret, M87_E_INVAL when it does not
 * open (another key, another aad, altered): the message never holds any of it. */
char *srv_secret_open(const struct srv_secret_key *key, const char *sealed, const char *aad,
                      struct m87_error **err);

/* Wipe the key. */
void srv_secret_key_release(struct srv_secret_key *key);

#endif
