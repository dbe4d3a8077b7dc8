/* timeutil.h - clocks and the time formats AWS and HTTP use. Pure except
 * for the clock reads. */
#ifndef TOKEND_TIMEUTIL_H
#define TOKEND_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Wall clock (CLOCK_REALTIME) in milliseconds since the epoch. Token
 * expiries are wall times: they come from issuers and AWS as such. */
int64_t timeutil_wall_ms(void);
/* CLOCK_MONOTONIC in milliseconds, for measuring durations. */
int64_t timeutil_mono_ms(void);
/* CLOCK_BOOTTIME in milliseconds: monotonic, and it counts the time the
 * machine was suspended, which CLOCK_MONOTONIC (libevent's timers) does
 * not. What a value's life is measured on besides the wall clock. */
int64_t timeutil_boot_ms(void);

/* "2024-01-01T06:03:31Z", with optional fractional seconds and a numeric
 * offset ("+02:00"), to epoch seconds. 0 or -1. */
int timeutil_parse_iso8601(const char *s, int64_t *epoch_s);
/* IMF-fixdate "Mon, 01 Jan 2024 00:00:00 GMT" to epoch seconds. */
int timeutil_parse_http_date(const char *s, int64_t *epoch_s);

#define TIMEUTIL_AMZ_LEN 17 /* "20150830T123600Z" and a NUL */
/* epoch seconds to SigV4's "YYYYMMDDTHHMMSSZ". */
void timeutil_format_amz(int64_t epoch_s, char out[TIMEUTIL_AMZ_LEN]);
/* epoch seconds to "2024-01-01T06:03:31Z". */
void timeutil_format_iso8601(int64_t epoch_s, char out[21]);

#endif
