/* notify.c - the systemd notification protocol. */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"

/* One datagram socket for the life of the process. sd_notify opens a
 * socket, checks the process's ids and closes it again for every message:
 * 12 system calls per watchdog ping, most of what an idle tokend does.
 * Only the usual NOTIFY_SOCKET forms (a path, or '@' for the abstract
 * namespace) are handled here; anything else goes to sd_notify. The
 * kernel attaches our credentials, since systemd sets SO_PASSCRED. */
static struct {
	int fd; /* -1 not opened yet, -2 not a form we handle */
	struct sockaddr_un addr;
	socklen_t len;
} chan = { .fd = -1 };

static void
chan_open(const char *where)
{
	size_t n = strlen(where);

	chan.fd = -2;
	if ((where[0] != '/' && where[0] != '@') || n < 2 ||
	    n >= sizeof(chan.addr.sun_path))
		return;
	chan.addr.sun_family = AF_UNIX;
	memcpy(chan.addr.sun_path, where, n);
	if (where[0] == '@')
		chan.addr.sun_path[0] = '\0';
	chan.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	chan.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (chan.fd == -1)
		chan.fd = -2;
}

static void
say(const char *msg)
{
	const char *where = getenv("NOTIFY_SOCKET");
	int r;

	if (where == NULL || where[0] == '\0')
		return;
	if (chan.fd == -1)
		chan_open(where);
	if (chan.fd >= 0) {
		if (sendto(chan.fd, msg, strlen(msg), MSG_NOSIGNAL,
		           (struct sockaddr *)&chan.addr, chan.len) == -1)
			log_warn("notify %.*s: %s", (int)strcspn(msg, "\n="), msg,
			         strerror(errno));
		return;
	}
	r = sd_notify(0, msg);
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
