/* clockshift.c - an LD_PRELOAD shim that shifts the wall clock of the
 * process it is loaded into, for tests of clock steps.
 *
 * CLOCK_REALTIME (and its _COARSE variant), gettimeofday() and time()
 * read offset seconds later than they do, offset being the integer in
 * the file named by $CLOCKSHIFT_FILE (re-read at most every 20 ms of
 * CLOCK_MONOTONIC, so a test steps the clock by rewriting the file).
 * Monotonic clocks are left alone, as a real step leaves them.
 *
 * What it cannot fake: CLOCK_BOOTTIME (a suspend), and the kernel's own
 * notice of a set clock (a TFD_TIMER_CANCEL_ON_SET timerfd is not
 * cancelled). The test build: cc -shared -fPIC -o clockshift.so
 * clockshift.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int clock_gettime_fn(clockid_t, struct timespec *);

static clock_gettime_fn *real_clock_gettime;
static long long offset_s;
static long long next_read_ns;

static void
load(void)
{
	if (real_clock_gettime == NULL)
		real_clock_gettime =
		        (clock_gettime_fn *)dlsym(RTLD_NEXT, "clock_gettime");
}

static long long
mono_ns(void)
{
	struct timespec ts;

	real_clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long
offset(void)
{
	const char *path = getenv("CLOCKSHIFT_FILE");
	long long now = mono_ns();
	char buf[32];
	ssize_t n;
	int fd;

	if (path == NULL || now < next_read_ns)
		return offset_s;
	next_read_ns = now + 20000000LL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return offset_s;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		offset_s = strtoll(buf, NULL, 10);
	}
	return offset_s;
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	int rc;

	load();
	rc = real_clock_gettime(id, ts);
	if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec += (time_t)offset();
	return rc;
}

int
gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;

	(void)tz;
	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return -1;
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

time_t
time(time_t *out)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (out != NULL)
		*out = ts.tv_sec;
	return ts.tv_sec;
}
