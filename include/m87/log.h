/* Logging to stderr, one line per call, with levels as syslog numbers them.
 *
 * Contract: the log is process-wide, set up once by a program's main; a line above the level set
 * with m87_log_setup is dropped. Logging never fails.
 */
#ifndef M87_LOG_H
#define M87_LOG_H

#include <stdbool.h>

#include "m87/compiler.h"

enum m87_log_level {
    M87_LOG_ERR = 3,
    M87_LOG_WARN = 4,
    M87_LOG_INFO = 6,
    M87_LOG_DEBUG = 7,
};

/* Set the highest level written (default INFO) and whether lines carry a "<N>" syslog priority
 * prefix, which journald reads from a service's stderr. */
void m87_log_setup(enum m87_log_level max, bool syslog_prefix);
void m87_log(enum m87_log_level level, const char *fmt, ...) M87_PRINTF(2, 3);

#endif
