/* uds-load - an HTTP/1.1 load generator for Unix-domain sockets.
 *
 *   uds-load -s SOCKET [-c CONNS] [-d SECONDS] [-p PATH] [-w WARMUP_S]
 *            [-t THREADS] [-H 'Name: value']... [-n|--new-conn]
 *
 * CONNS connections each keep exactly one request in flight (no
 * pipelining) for SECONDS after WARMUP_S; with --new-conn every request
 * opens its own connection (sent with "Connection: close") and its latency
 * includes the connect. Prints one JSON line on stdout and one line for
 * people on stderr. Exit 0 when at least one response came back, 1 when
 * none did or the socket cannot be reached, 2 on a usage error.
 *
 * Built to cost the server's neighbour as little CPU as possible: raw
 * read/send on level-triggered persistent events (no bufferevents, no
 * epoll_ctl per request), one read per readiness, headers parsed in place.
 * Latencies go into a log-linear histogram (64 sub-buckets per power of two
 * of nanoseconds: 1.6 % resolution) so percentiles cost nothing per
 * request. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#define HIST_SUB     64
#define HIST_BUCKETS (2 * HIST_SUB + 57 * HIST_SUB)
#define CONN_BUF     16384
#define MAX_HEADERS  16
#define REQ_MAX      4096

struct hist {
	uint64_t counts[HIST_BUCKETS];
	uint64_t n, sum_ns, max_ns;
};

struct opts {
	const char *socket, *path;
	int conns, threads;
	double duration, warmup;
	bool new_conn;
	const char *headers[MAX_HEADERS];
	int nheaders;
	char request[REQ_MAX];
	size_t request_len;
};

struct stats {
	uint64_t requests, status_errors, io_errors, reconnects, connect_retries;
	struct hist hist;
};

struct worker {
	const struct opts *o;
	struct event_base *base;
	struct event *warm_ev, *end_ev;
	struct conn *conns;
	int nconns;
	bool recording;
	uint64_t rec_start_ns, rec_end_ns;
	struct stats st;
	pthread_t tid;
};

/* Parse state of the response in flight. body_left < 0: read until EOF. */
struct conn {
	struct worker *w;
	int fd;
	struct event *ev_read, *ev_write, *ev_retry;
	size_t sent, len;
	bool headers_done, close_after, reused;
	int status;
	long long body_left;
	uint64_t start_ns;
	char buf[CONN_BUF];
};

static void conn_open(struct conn *c);
static void conn_send(struct conn *c);

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned
hist_index(uint64_t v)
{
	int b, shift;

	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	b = 63 - __builtin_clzll(v); /* >= 7 */
	shift = b - 6;
	return 2 * HIST_SUB + (unsigned)(b - 7) * HIST_SUB +
	       (unsigned)((v >> shift) - HIST_SUB);
}

/* Middle of bucket i, in nanoseconds. */
static double
hist_value(unsigned i)
{
	unsigned j, b, shift;

	if (i < 2 * HIST_SUB)
		return i;
	j = i - 2 * HIST_SUB;
	b = j / HIST_SUB + 7;
	shift = b - 6;
	return (double)(((uint64_t)HIST_SUB + j % HIST_SUB) << shift) +
	       (double)((uint64_t)1 << shift) / 2;
}

static void
hist_add(struct hist *h, uint64_t v)
{
	h->counts[hist_index(v)]++;
	h->n++;
	h->sum_ns += v;
	if (v > h->max_ns)
		h->max_ns = v;
}

static void
hist_merge(struct hist *into, const struct hist *h)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->counts[i] += h->counts[i];
	into->n += h->n;
	into->sum_ns += h->sum_ns;
	if (h->max_ns > into->max_ns)
		into->max_ns = h->max_ns;
}

/* Value at or below which a fraction q of the samples lie, in ns. */
static double
hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (h->n == 0)
		return 0;
	rank = (uint64_t)(q * (double)h->n + 0.999999);
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			double v = hist_value(i);
			return v > (double)h->max_ns ? (double)h->max_ns : v;
		}
	}
	return (double)h->max_ns;
}

static void
conn_close(struct conn *c)
{
	if (c->ev_read != NULL)
		event_free(c->ev_read);
	if (c->ev_write != NULL)
		event_free(c->ev_write);
	c->ev_read = c->ev_write = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void
retry_later(struct conn *c, long usec)
{
	struct timeval tv = { 0, usec };

	event_add(c->ev_retry, &tv);
}

/* Drops the connection and opens another a little later (not at once: a
 * server that fails every request would recurse); the request is lost. */
static void
conn_fail(struct conn *c)
{
	if (c->w->recording)
		c->w->st.io_errors++;
	conn_close(c);
	retry_later(c, 1000);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_open(arg);
}

static void
try_write(struct conn *c)
{
	const struct opts *o = c->w->o;

	while (c->sent < o->request_len) {
		ssize_t n = send(c->fd, o->request + c->sent, o->request_len - c->sent,
		                 MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(c->ev_write, NULL);
			return;
		}
		if (n < 0) {
			conn_fail(c);
			return;
		}
		c->sent += (size_t)n;
	}
	if (event_pending(c->ev_write, EV_WRITE, NULL))
		event_del(c->ev_write);
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	try_write(arg);
}

static void
conn_send(struct conn *c)
{
	c->sent = 0;
	c->len = 0;
	c->headers_done = false;
	c->close_after = false;
	c->status = 0;
	c->body_left = -1;
	if (!c->w->o->new_conn)
		c->start_ns = now_ns();
	try_write(c);
}

static void
conn_done(struct conn *c)
{
	struct worker *w = c->w;

	if (w->recording) {
		w->st.requests++;
		if (c->status < 200 || c->status > 299)
			w->st.status_errors++;
		hist_add(&w->st.hist, now_ns() - c->start_ns);
	}
	if (c->close_after || w->o->new_conn) {
		conn_close(c);
		conn_open(c);
		return;
	}
	c->reused = true;
	conn_send(c);
}

/* Header line [p, end) other than the status line. */
static int
parse_header(struct conn *c, const char *p, const char *end)
{
	const char *colon = memchr(p, ':', (size_t)(end - p));
	const char *v;
	size_t name_len;

	if (colon == NULL)
		return -1;
	name_len = (size_t)(colon - p);
	for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	if (name_len == 14 && strncasecmp(p, "content-length", 14) == 0) {
		char *stop;

		c->body_left = strtoll(v, &stop, 10);
		if (stop == v || c->body_left < 0)
			return -1;
	} else if (name_len == 10 && strncasecmp(p, "connection", 10) == 0) {
		if (end - v >= 5 && strncasecmp(v, "close", 5) == 0)
			c->close_after = true;
		else if (end - v >= 10 && strncasecmp(v, "keep-alive", 10) == 0)
			c->close_after = false;
	} else if (name_len == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
		return -1; /* chunked bodies are not needed for what we measure */
	}
	return 0;
}

/* Parses the head once "\r\n\r\n" is in; returns its length, 0 if more is
 * needed, -1 on a malformed or unsupported response. */
static long
parse_head(struct conn *c)
{
	char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
	char *p, *eol;

	if (end == NULL)
		return c->len == CONN_BUF ? -1 : 0;
	if (c->len < 12 || memcmp(c->buf, "HTTP/1.", 7) != 0 || c->buf[8] != ' ')
		return -1;
	c->status = atoi(c->buf + 9);
	/* HTTP/1.0 closes unless it says keep-alive. */
	c->close_after = c->buf[7] == '0';
	eol = memmem(c->buf, (size_t)(end + 2 - c->buf), "\r\n", 2);
	for (p = eol + 2; p < end + 2; p = eol + 2) {
		eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
		if (parse_header(c, p, eol) < 0)
			return -1;
	}
	if (c->status == 204 || c->status == 304)
		c->body_left = 0;
	if (c->body_left < 0 && !c->close_after)
		return -1; /* a keep-alive response must say where it ends */
	c->headers_done = true;
	return end + 4 - c->buf;
}

/* Accounts for the n new bytes at the end of buf. */
static void
conn_consume(struct conn *c, size_t n)
{
	long head;

	if (!c->headers_done) {
		head = parse_head(c);
		if (head < 0) {
			conn_fail(c);
			return;
		}
		if (head == 0)
			return;
		n = c->len - (size_t)head;
	}
	c->len = 0; /* the body is counted, not kept */
	if (c->body_left < 0)
		return;
	if ((long long)n > c->body_left) {
		conn_fail(c); /* bytes nobody asked for: the server is broken */
		return;
	}
	c->body_left -= (long long)n;
	if (c->body_left == 0)
		conn_done(c);
}

static void
on_eof(struct conn *c)
{
	if (c->headers_done && c->body_left < 0) {
		conn_done(c);
		return;
	}
	/* A server may close an idle keep-alive connection just as we reuse
	 * it: retry on a new one rather than count an error. */
	if (c->len == 0 && !c->headers_done && c->reused) {
		c->w->st.reconnects++;
		conn_close(c);
		conn_open(c);
		return;
	}
	conn_fail(c);
}

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	ssize_t n;

	(void)what;
	n = read(fd, c->buf + c->len, CONN_BUF - c->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_fail(c);
		return;
	}
	if (n == 0) {
		on_eof(c);
		return;
	}
	c->len += (size_t)n;
	conn_consume(c, (size_t)n);
}

static int
connect_unix(const char *path, int flags)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static void
conn_open(struct conn *c)
{
	struct worker *w = c->w;

	c->reused = false;
	if (w->o->new_conn)
		c->start_ns = now_ns();
	c->fd = connect_unix(w->o->socket, SOCK_NONBLOCK);
	if (c->fd < 0) {
		/* EAGAIN: the listen backlog is full; anything else is an
		 * error, retried slowly so a dead server is not spun on. */
		if (errno == EAGAIN) {
			if (w->recording)
				w->st.connect_retries++;
			retry_later(c, 50);
		} else {
			if (w->recording)
				w->st.io_errors++;
			retry_later(c, 10000);
		}
		return;
	}
	c->ev_read = event_new(w->base, c->fd, EV_READ | EV_PERSIST, on_read, c);
	c->ev_write = event_new(w->base, c->fd, EV_WRITE, on_write, c);
	if (c->ev_read == NULL || c->ev_write == NULL ||
	    event_add(c->ev_read, NULL) < 0) {
		fprintf(stderr, "uds-load: cannot add an event\n");
		abort();
	}
	conn_send(c);
}

static void
on_warm(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	memset(&w->st, 0, sizeof(w->st));
	w->recording = true;
	w->rec_start_ns = now_ns();
}

static void
on_end(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	w->rec_end_ns = now_ns();
	w->recording = false;
	event_base_loopbreak(w->base);
}

static struct timeval
tv_of(double s)
{
	struct timeval tv = { (time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6) };

	return tv;
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct timeval warm = tv_of(w->o->warmup),
	               end = tv_of(w->o->warmup + w->o->duration);

	event_add(w->warm_ev, &warm);
	event_add(w->end_ev, &end);
	for (int i = 0; i < w->nconns; i++)
		conn_open(&w->conns[i]);
	event_base_dispatch(w->base);
	return NULL;
}

static void
worker_init(struct worker *w, const struct opts *o, int nconns)
{
	struct event_config *cfg = event_config_new();

	/* One thread per base: no locks needed. */
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	w->o = o;
	w->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (w->base == NULL) {
		fprintf(stderr, "uds-load: event_base_new failed\n");
		exit(1);
	}
	w->warm_ev = evtimer_new(w->base, on_warm, w);
	w->end_ev = evtimer_new(w->base, on_end, w);
	w->nconns = nconns;
	w->conns = calloc((size_t)nconns, sizeof(*w->conns));
	if (w->conns == NULL || w->warm_ev == NULL || w->end_ev == NULL)
		abort();
	for (int i = 0; i < nconns; i++) {
		w->conns[i].w = w;
		w->conns[i].fd = -1;
		w->conns[i].ev_retry = evtimer_new(w->base, on_retry, &w->conns[i]);
		if (w->conns[i].ev_retry == NULL)
			abort();
	}
	/* With no warm-up the window opens now rather than one loop later. */
	if (o->warmup <= 0)
		on_warm(-1, 0, w);
}

static void
worker_free(struct worker *w)
{
	for (int i = 0; i < w->nconns; i++) {
		conn_close(&w->conns[i]);
		event_free(w->conns[i].ev_retry);
	}
	free(w->conns);
	event_free(w->warm_ev);
	event_free(w->end_ev);
	event_base_free(w->base);
}

static void
usage(void)
{
	fprintf(stderr,
	        "usage: uds-load -s SOCKET [-c CONNS] [-d SECONDS] [-p PATH] [-w "
	        "WARMUP_S]\n"
	        "                [-t THREADS] [-H 'Name: value']... [-n|--new-conn]\n");
}

static bool
parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0')
		return false;
	v = strtod(s, &end);
	if (*end != '\0' || !(v >= min && v <= max))
		return false;
	*out = v;
	return true;
}

static int
build_request(struct opts *o)
{
	int n = snprintf(o->request, sizeof(o->request),
	                 "GET %s HTTP/1.1\r\nHost: localhost\r\n%s", o->path,
	                 o->new_conn ? "Connection: close\r\n" : "");

	for (int i = 0; i < o->nheaders && n >= 0 && (size_t)n < sizeof(o->request); i++)
		n += snprintf(o->request + n, sizeof(o->request) - (size_t)n, "%s\r\n",
		              o->headers[i]);
	if (n >= 0 && (size_t)n < sizeof(o->request))
		n += snprintf(o->request + n, sizeof(o->request) - (size_t)n, "\r\n");
	if (n < 0 || (size_t)n >= sizeof(o->request))
		return -1;
	o->request_len = (size_t)n;
	return 0;
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "new-conn", no_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double v;
	int ch;

	while ((ch = getopt_long(argc, argv, "s:c:d:p:w:t:H:nh", longopts, NULL)) != -1) {
		switch (ch) {
		case 's': o->socket = optarg; break;
		case 'p': o->path = optarg; break;
		case 'n': o->new_conn = true; break;
		case 'd':
			if (!parse_double(optarg, 0.01, 86400, &o->duration))
				return -1;
			break;
		case 'w':
			if (!parse_double(optarg, 0, 3600, &o->warmup))
				return -1;
			break;
		case 'c':
		case 't':
			if (!parse_double(optarg, 1, 10000, &v) || v != (int)v)
				return -1;
			*(ch == 'c' ? &o->conns : &o->threads) = (int)v;
			break;
		case 'H':
			if (o->nheaders == MAX_HEADERS || strpbrk(optarg, "\r\n"))
				return -1;
			o->headers[o->nheaders++] = optarg;
			break;
		default: return -1;
		}
	}
	if (optind != argc || o->socket == NULL || o->path[0] != '/' ||
	    o->threads > o->conns || strpbrk(o->path, " \r\n"))
		return -1;
	return build_request(o);
}

static void
print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Sums the workers' windows; the window is the longest of them. */
static void
report(const struct opts *o, struct worker *ws, double cpu_pct)
{
	struct stats *t = calloc(1, sizeof(*t));
	double secs = 0, rps, us = 1e3;
	uint64_t errors;

	if (t == NULL)
		abort();
	for (int i = 0; i < o->threads; i++) {
		struct stats *s = &ws[i].st;
		double w = (double)(ws[i].rec_end_ns - ws[i].rec_start_ns) / 1e9;

		t->requests += s->requests;
		t->status_errors += s->status_errors;
		t->io_errors += s->io_errors;
		t->reconnects += s->reconnects;
		t->connect_retries += s->connect_retries;
		hist_merge(&t->hist, &s->hist);
		if (w > secs)
			secs = w;
	}
	rps = secs > 0 ? (double)t->requests / secs : 0;
	errors = t->status_errors + t->io_errors;
	printf("{\"socket\":");
	print_json_string(o->socket);
	printf(",\"path\":");
	print_json_string(o->path);
	printf(",\"mode\":\"%s\",\"conns\":%d,\"threads\":%d,\"seconds\":%.3f,"
	       "\"requests\":%" PRIu64 ",\"rps\":%.1f,\"errors\":%" PRIu64
	       ",\"status_errors\":%" PRIu64 ",\"io_errors\":%" PRIu64
	       ",\"reconnects\":%" PRIu64 ",\"connect_retries\":%" PRIu64
	       ",\"latency_us\":{\"mean\":%.2f,\"p50\":%.2f,\"p99\":%.2f,"
	       "\"p99_9\":%.2f,\"max\":%.2f},\"client_cpu_pct\":%.1f}\n",
	       o->new_conn ? "new-conn" : "keepalive", o->conns, o->threads, secs,
	       t->requests, rps, errors, t->status_errors, t->io_errors, t->reconnects,
	       t->connect_retries,
	       t->hist.n ? (double)t->hist.sum_ns / (double)t->hist.n / us : 0.0,
	       hist_quantile(&t->hist, 0.50) / us, hist_quantile(&t->hist, 0.99) / us,
	       hist_quantile(&t->hist, 0.999) / us, (double)t->hist.max_ns / us, cpu_pct);
	fflush(stdout);
	fprintf(stderr,
	        "uds-load: %s %d conns, %.1f s: %.0f req/s, %" PRIu64 " errors, "
	        "latency p50 %.1f us p99 %.1f us p99.9 %.1f us max %.1f us, client CPU "
	        "%.0f%%\n",
	        o->new_conn ? "new-conn" : "keep-alive", o->conns, secs, rps, errors,
	        hist_quantile(&t->hist, 0.50) / us, hist_quantile(&t->hist, 0.99) / us,
	        hist_quantile(&t->hist, 0.999) / us, (double)t->hist.max_ns / us,
	        cpu_pct);
	free(t);
}

static int
run(const struct opts *o)
{
	struct worker *ws = calloc((size_t)o->threads, sizeof(*ws));
	double cpu0 = cpu_seconds(), wall0 = (double)now_ns() / 1e9, wall;
	uint64_t requests = 0;

	if (ws == NULL)
		abort();
	for (int i = 0; i < o->threads; i++)
		worker_init(&ws[i], o,
		            o->conns / o->threads + (i < o->conns % o->threads));
	for (int i = 1; i < o->threads; i++)
		if (pthread_create(&ws[i].tid, NULL, worker_run, &ws[i]) != 0)
			abort();
	worker_run(&ws[0]);
	for (int i = 1; i < o->threads; i++)
		pthread_join(ws[i].tid, NULL);
	wall = (double)now_ns() / 1e9 - wall0;
	report(o, ws, wall > 0 ? 100 * (cpu_seconds() - cpu0) / wall : 0);
	for (int i = 0; i < o->threads; i++) {
		requests += ws[i].st.requests;
		worker_free(&ws[i]);
	}
	free(ws);
	return requests > 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct opts o = { .path = "/", .conns = 1, .threads = 1, .duration = 10 };
	int fd;

	if (parse_args(argc, argv, &o) < 0) {
		usage();
		return 2;
	}
	/* Fail at once, with the reason, if nothing listens there. */
	fd = connect_unix(o.socket, 0);
	if (fd < 0) {
		fprintf(stderr, "uds-load: %s: %s\n", o.socket, strerror(errno));
		return 1;
	}
	close(fd);
	signal(SIGPIPE, SIG_IGN);
	return run(&o);
}
