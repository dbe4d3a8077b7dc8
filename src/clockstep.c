/* clockstep.c - a timerfd that the kernel cancels when the clock is set. */
#include "clockstep.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"
#include "xalloc.h"

struct clockstep {
	int fd;
	struct event *ev;
	clockstep_fn *fn;
	void *arg;
	int64_t offset_ms; /* wall - boot when last armed */
};

/* Arms the timer at a time that never comes: it exists only to be
 * cancelled. */
static int
arm(struct clockstep *cs)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)1 << 40;
	cs->offset_ms = timeutil_wall_ms() - timeutil_boot_ms();
	return timerfd_settime(cs->fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its,
	                       NULL);
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct clockstep *cs = arg;
	uint64_t expirations;
	int64_t before = cs->offset_ms;

	if (read(cs->fd, &expirations, sizeof(expirations)) != -1 || errno != ECANCELED)
		return;
	if (arm(cs) == -1)
		log_warn("clock: cannot re-arm the clock-step timer: %s",
		         strerror(errno));
	cs->fn(cs->offset_ms - before, cs->arg);
}

struct clockstep *
clockstep_new(struct event_base *base, clockstep_fn *fn, void *arg)
{
	struct clockstep *cs = xcalloc(1, sizeof(*cs));

	cs->fn = fn;
	cs->arg = arg;
	cs->fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (cs->fd == -1 || arm(cs) == -1) {
		log_warn("clock: no clock-step timer (%s): steps of the wall clock are "
		         "noticed when a token is read",
		         strerror(errno));
		goto fail;
	}
	cs->ev = event_new(base, cs->fd, EV_READ | EV_PERSIST, on_readable, cs);
	if (cs->ev == NULL || event_add(cs->ev, NULL) == -1)
		goto fail;
	return cs;
fail:
	clockstep_free(cs);
	return NULL;
}

void
clockstep_free(struct clockstep *cs)
{
	if (cs == NULL)
		return;
	if (cs->ev != NULL)
		event_free(cs->ev);
	if (cs->fd >= 0)
		close(cs->fd);
	free(cs);
}
