/* Logging to stderr, with an optional "<N>" priority prefix that journald understands. */
#include <stdio.h>
#include <time.h>

#include "m87/alloc.h"
#include "m87/log.h"

static enum m87_log_level log_max = M87_LOG_INFO;
static bool log_syslog_prefix;

void m87_log_setup(enum m87_log_level max, bool syslog_prefix)
{
    log_max = max;
    log_syslog_prefix = syslog_prefix;
}

void m87_log(enum m87_log_level level, const char *fmt, ...)
{
    if (level > log_max)
        return;
    static const char *const names[] = {
        [M87_LOG_ERR] = "error",
        [M87_LOG_WARN] = "warning",
        [M87_LOG_INFO] = "info",
        [M87_LOG_DEBUG] = "debug",
    };
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = m87_xvasprintf(fmt, ap);
    va_end(ap);
    if (log_syslog_prefix)
        fprintf(stderr, "<%d>%s\n", (int)level, msg);
    else
        fprintf(stderr, "%s: %s\n", names[level] ? names[level] : "log", msg);
}
