/* The agent's wall clock for maintenance-window decisions. Tests move it without waiting for
 * real time: M87_AGENT_CLOCK_FILE names a file holding an offset in seconds ("-3600", "86400")
 * that is added to the real time, read again at every call so that a test can change it while
 * the daemon runs. A device never sets the variable; a missing or unreadable file is no offset. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/clock.h"
#include "agent/daemon.h"
#include "m87/alloc.h"
#include "m87/file.h"

#define CLOCK_FILE_MAX 64u

bool agent_clock_parse_offset(const char *text, int64_t *offset)
{
    char *end = NULL;

    while (*text == ' ' || *text == '\t')
        text++;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || errno != 0)
        return false;
    while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
        end++;
    if (*end != '\0' || v < -AGENT_CLOCK_MAX_OFFSET || v > AGENT_CLOCK_MAX_OFFSET)
        return false;
    *offset = v;
    return true;
}

bool agent_clock_is_moved(void)
{
    const char *path = getenv("M87_AGENT_CLOCK_FILE");
    return path && *path;
}

time_t agent_clock_now(void)
{
    const char *path = getenv("M87_AGENT_CLOCK_FILE");
    time_t now = time(NULL);
    int64_t offset = 0;

    if (!path || !*path)
        return now;
    size_t len = 0;
    _cleanup_free_ char *text = m87_read_file(path, CLOCK_FILE_MAX, &len, NULL);
    if (text && memchr(text, '\0', len) == NULL && agent_clock_parse_offset(text, &offset))
        now += (time_t)offset;
    return now;
}
