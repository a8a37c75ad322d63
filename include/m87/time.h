/* The monotonic clock in milliseconds and a sleep on it (src/common/time.c): for deadlines,
 * timers and polling periods, which a change of the wall clock must not move. */
#ifndef M87_TIME_H
#define M87_TIME_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC: only differences between two values mean anything. */
int64_t m87_mono_ms(void);

/* Sleep ms milliseconds, the whole time even when signals arrive (a signal's handler runs, then
 * the sleep goes on). ms <= 0 returns at once. */
void m87_sleep_ms(int64_t ms);

#endif
