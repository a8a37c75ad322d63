/* Maintenance windows: the rule text ("mon-fri 22:00-02:00 Europe/Berlin"), its canonical form,
 * and where an instant lies relative to the windows.
 */
#ifndef M87_SPEC_WINDOW_H
#define M87_SPEC_WINDOW_H

#include <stdbool.h>
#include <time.h>

#include "m87/error.h"

/* A maintenance window rule: "DAYS START-END [ZONE]", blanks between the parts.
 *
 *   DAYS   "daily", or a comma list of days and day ranges: mon tue wed thu fri sat sun (also
 *          the full names; any case), "mon-fri", "fri-mon" (ranges wrap), "sat,sun".
 *   START  HH:MM, 00:00 to 23:59, local time in ZONE. The window starts on each listed day.
 *   END    HH:MM, 00:00 to 24:00. An END at or before START crosses midnight: the window ends
 *          the next day ("mon-fri 22:00-02:00" runs from Friday 22:00 to Saturday 02:00 too).
 *          START equal to END is refused (a whole day is "00:00-24:00").
 *   ZONE   "UTC" (the default; also "Z"), a fixed offset "+HH:MM" / "-HH:MM" (up to 14:00), or an
 *          IANA name ("Europe/Berlin") whose file exists in the system's tz database ($TZDIR or
 *          /usr/share/zoneinfo).
 *
 * Times inside a zone's daylight-saving change follow the usual rule: a local time skipped by a
 * spring-forward gap is moved later by the gap (02:30 becomes 03:30); a local time that occurs
 * twice in autumn is the earlier one. */

#define SPEC_WINDOW_MAX_TEXT 256
#define SPEC_WINDOW_MAX_ZONE 64

struct spec_window {
    unsigned days; /* bit d set (d as struct tm's tm_wday, 0 = Sunday): a window starts that day */
    int start;     /* minutes after local midnight: 0..1439 */
    int end;       /* minutes after the start day's midnight: start + 1 .. start + 1440 */
    bool fixed;    /* zone is UTC or a fixed offset */
    int offset;    /* seconds east of UTC, when fixed */
    char zone[SPEC_WINDOW_MAX_ZONE + 1]; /* "UTC", "+02:00" or the IANA name */
};

/* Parse a rule into *out. -1 with M87_E_INVAL naming the bad part ("unknown day 'sa' ...",
 * "end time '25:00': ...", "unknown time zone 'Europe/Berln' ...", "unexpected 'x' after the
 * time zone"); M87_E_TOOBIG for a text over SPEC_WINDOW_MAX_TEXT bytes. */
int spec_window_parse(const char *text, struct spec_window *out, struct m87_error **err);

/* The canonical text of w, which spec_window_parse reads back to the same window: "daily" or
 * days in week order from Monday (runs of three or more as ranges: "mon-fri", "sat,sun",
 * "mon,wed-fri"), HH:MM-HH:MM (24:00 for an end at midnight that does not cross it), then the
 * zone unless it is UTC. Caller frees. */
char *spec_window_format(const struct spec_window *w);

/* Whether instant t lies in a window of w: start <= t < end. */
bool spec_window_contains(const struct spec_window *w, time_t t);
/* The first window start at or after t. */
time_t spec_window_next_start(const struct spec_window *w, time_t t);
/* The first window end after t: the end of the window holding t, else of the next one. */
time_t spec_window_next_end(const struct spec_window *w, time_t t);
/* Over n windows: any holds t; the earliest next start (t itself when n is 0: no windows means
 * no restriction). */
bool spec_windows_contain(const struct spec_window *v, size_t n, time_t t);
time_t spec_windows_next_start(const struct spec_window *v, size_t n, time_t t);

/* Evaluating an IANA zone points the process's TZ at it (setenv, tzset, localtime_r), under a
 * process-wide mutex, and restores TZ after: glibc has no per-call zone, and hand-written zone
 * rules would go stale with the tz database. Another thread calling localtime, mktime or getenv
 * at that moment could see the window's zone: windows are evaluated where no other thread
 * depends on the local zone (the agent's loop, the CLI). UTC and fixed offsets touch nothing. */

#endif
