/* Device labels: the rules for a label's key and value (those of Kubernetes), and the
 * command-line form that sets or removes one ("site=berlin", "site-"). Pure: no I/O.
 */
#ifndef M87_SPEC_LABEL_H
#define M87_SPEC_LABEL_H

#include <stdbool.h>

#include "m87/error.h"

#define SPEC_LABEL_MAX_NAME 63    /* bytes of a key's name (the part after the prefix) */
#define SPEC_LABEL_MAX_PREFIX 253 /* bytes of a key's DNS prefix (a DNS name's limit) */
#define SPEC_LABEL_MAX_VALUE 63   /* bytes of a value */
#define SPEC_LABELS_MAX 64        /* labels of one device */

/* A key is an optional prefix and '/' then a name. The name has 1 to 63 bytes of
 * [A-Za-z0-9][-A-Za-z0-9_.]* ending in [A-Za-z0-9]; the prefix is a DNS subdomain (lower case
 * labels of [a-z0-9-], each starting and ending in [a-z0-9], joined by '.', 253 bytes at most).
 * -1 with M87_E_INVAL "label key 'KEY': WHY" when key is not one. */
int spec_label_check_key(const char *key, struct m87_error **err);

/* A value is empty or has 1 to 63 bytes of the name's alphabet, starting and ending in
 * [A-Za-z0-9]. -1 with M87_E_INVAL "label 'KEY': value 'VALUE': WHY" when value is not one. */
int spec_label_check_value(const char *key, const char *value, struct m87_error **err);

/* One argument of `m87 devices label`: "KEY=VALUE" sets (VALUE may be empty), "KEY-" removes.
 * *key and *value are the caller's; *value is NULL for a removal. -1 with M87_E_INVAL naming the
 * argument when it is neither form or its key or value is bad. */
int spec_label_parse_arg(const char *arg, char **key, char **value, struct m87_error **err);

#endif
