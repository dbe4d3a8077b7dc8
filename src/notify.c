/* notify.c - the systemd notification protocol. */
#include "notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"

static void
say(const char *msg)
{
	int r = sd_notify(0, msg);

	if (r < 0)
		log_warn("sd_notify(%s): error %d", msg, -r);
}

void
notify_ready(void)
{
	say("READY=1");
}

void
notify_reloading(void)
{
	struct timespec ts;
	char msg[64];

	/* systemd >= 253 wants MONOTONIC_USEC with RELOADING=1; older versions
	 * ignore it. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL +
			 (unsigned long long)ts.tv_nsec / 1000ULL);
	say(msg);
}

void
notify_stopping(void)
{
	say("STOPPING=1");
}

void
notify_watchdog(void)
{
	say("WATCHDOG=1");
}

void
notify_status(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "STATUS=");
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	say(msg);
}

uint64_t
notify_watchdog_usec(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec;
}

int
notify_listen_fd(void)
{
	int n = sd_listen_fds(1);

	if (n <= 0)
		return -1;
	if (n > 1)
		return -2;
	return SD_LISTEN_FDS_START;
}
