/* clockstep.h - notices when the wall clock is set.
 *
 * A timerfd on CLOCK_REALTIME armed with TFD_TIMER_CANCEL_ON_SET, read on
 * the event loop: the kernel cancels it whenever the clock is set
 * (settimeofday, clock_settime, an NTP step, a resume from suspend), and
 * fn runs then so that every timer derived from the wall clock is
 * re-armed. Slews (adjtime) are not steps and are not reported.
 */
#ifndef TOKEND_CLOCKSTEP_H
#define TOKEND_CLOCKSTEP_H

#include <stdint.h>

struct event_base;
struct clockstep;

/* step_ms: how far the wall clock moved against CLOCK_BOOTTIME since the
 * last report (a resume shows as 0: both clocks counted the sleep). */
typedef void clockstep_fn(int64_t step_ms, void *arg);

/* NULL when the kernel refuses the timerfd (logged once): expiry is
 * still judged on both clocks, only the timers are not re-armed early. */
struct clockstep *clockstep_new(struct event_base *base, clockstep_fn *fn, void *arg);
/* NULL does nothing. */
void clockstep_free(struct clockstep *cs);

#endif
