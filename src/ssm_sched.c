/* ssm_sched.c - the SSM client's send budgets, their queues, and the one
 * log line per throttling episode. */
#include "ssm_sched.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>

#include "log.h"
#include "ssm_budget.h"
#include "timeutil.h"
#include "xalloc.h"

/* A throttling episode ends after this long without a throttling answer:
 * then one log line sums it up. */
#define EPISODE_QUIET_MS 10000

struct family {
	struct ssm_sched *sched;
	struct ssm_budget budget;
	struct ssm_sched_wait *queue;
	struct event *timer; /* the queue's next token is due */
};

/* The counters at an episode's start, to report its share. */
struct counts {
	uint64_t throttles, retries, waits, gave_up;
};

struct ssm_sched {
	struct family fam[SSM_FAMILY_COUNT];
	struct ssm_stats *stats;
	bool episode;
	int64_t episode_start_ms;
	struct counts at_start;
	struct event *quiet; /* no throttle for EPISODE_QUIET_MS: it is over */
};

enum ssm_family
ssm_sched_family(enum ssm_op op)
{
	/* DeleteParameter counts with PutParameter; the Get* calls share a
	 * quota of their own. */
	return op == SSM_OP_PUT || op == SSM_OP_DELETE ? SSM_FAMILY_WRITE
	                                               : SSM_FAMILY_READ;
}

static struct event *
timer_new(struct event_base *base, event_callback_fn fn, void *arg)
{
	struct event *ev = evtimer_new(base, fn, arg);

	if (ev == NULL)
		abort(); /* out of memory, as xmalloc */
	return ev;
}

static void
arm(struct event *ev, int64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(ev, &tv);
}

/* Lets the queued requests go as tokens allow, best first. Runs from the
 * family's timer only: a go can end a call, whose callback may start or
 * cancel others, so the queue's head is read again after each. */
static void
on_family_timer(evutil_socket_t fd, short what, void *arg)
{
	struct family *fam = arg;

	while (fam->queue != NULL) {
		struct ssm_sched_wait *w = fam->queue;
		int64_t wait = ssm_budget_take(&fam->budget, timeutil_mono_ms());

		if (wait > 0) {
			arm(fam->timer, wait);
			return;
		}
		fam->queue = w->next;
		w->next = NULL;
		w->queued = false;
		w->go(w->arg);
	}
}

static void on_quiet(evutil_socket_t fd, short what, void *arg);

struct ssm_sched *
ssm_sched_new(struct event_base *base, struct ssm_stats *stats)
{
	struct ssm_sched *s = xcalloc(1, sizeof(*s));

	s->stats = stats;
	for (int f = 0; f < SSM_FAMILY_COUNT; f++) {
		s->fam[f].sched = s;
		ssm_budget_init(&s->fam[f].budget, timeutil_mono_ms());
		s->fam[f].timer = timer_new(base, on_family_timer, &s->fam[f]);
	}
	s->quiet = timer_new(base, on_quiet, s);
	return s;
}

void
ssm_sched_free(struct ssm_sched *s)
{
	if (s == NULL)
		return;
	for (int f = 0; f < SSM_FAMILY_COUNT; f++)
		event_free(s->fam[f].timer);
	event_free(s->quiet);
	free(s);
}

bool
ssm_sched_enter(struct ssm_sched *s, struct ssm_sched_wait *w)
{
	struct family *fam = &s->fam[w->family];
	struct ssm_sched_wait **pp = &fam->queue;

	if (*pp == NULL && ssm_budget_take(&fam->budget, timeutil_mono_ms()) == 0)
		return true;
	/* A lease holder's calls and a refresh's first read are never held
	 * back by the adaptive wait (a fleet's budgets shrink together and a
	 * queued read would miss the value's deadline); throttled answers
	 * still slow them through the call's backoff. */
	if (w->prio == SSM_PRIO_HOLDER)
		return true;
	s->stats->budget_waits[w->family]++;
	while (*pp != NULL && (*pp)->prio >= w->prio)
		pp = &(*pp)->next;
	w->next = *pp;
	*pp = w;
	w->queued = true;
	if (!evtimer_pending(fam->timer, NULL))
		arm(fam->timer, 0);
	return false;
}

void
ssm_sched_leave(struct ssm_sched *s, struct ssm_sched_wait *w)
{
	struct ssm_sched_wait **pp = &s->fam[w->family].queue;

	if (!w->queued)
		return;
	while (*pp != NULL && *pp != w)
		pp = &(*pp)->next;
	if (*pp == w)
		*pp = w->next;
	w->next = NULL;
	w->queued = false;
}

static uint64_t
sum(const uint64_t *v, size_t n, size_t stride)
{
	uint64_t t = 0;

	for (size_t i = 0; i < n; i++)
		t += v[i * stride];
	return t;
}

static struct counts
counts_now(const struct ssm_stats *st)
{
	return (struct counts){
		.throttles = sum(st->throttles, SSM_OP_COUNT, 1),
		.retries = st->retries,
		.waits = sum(st->budget_waits, SSM_FAMILY_COUNT, 1),
		.gave_up = sum(&st->calls[0][SSM_OUTCOME_THROTTLED], SSM_OP_COUNT,
		               SSM_OUTCOME_COUNT),
	};
}

static void
on_quiet(evutil_socket_t fd, short what, void *arg)
{
	struct ssm_sched *s = arg;
	struct counts now = counts_now(s->stats);

	s->episode = false;
	log_notice("ssm: SSM throttling is over after %.1f s: %" PRIu64
	           " throttled answers, %" PRIu64 " retries, %" PRIu64
	           " sends waited for the budget, %" PRIu64
	           " calls still throttled at their deadline; budget now read %.1f/s, "
	           "write %.1f/s (0: unlimited)",
	           (double)(timeutil_mono_ms() - s->episode_start_ms) / 1000.0,
	           now.throttles - s->at_start.throttles,
	           now.retries - s->at_start.retries, now.waits - s->at_start.waits,
	           now.gave_up - s->at_start.gave_up, ssm_sched_rate(s, SSM_FAMILY_READ),
	           ssm_sched_rate(s, SSM_FAMILY_WRITE));
}

/* One warning when SSM starts throttling us, one notice once it stopped:
 * never a line per answer. */
static void
throttled(struct ssm_sched *s, enum ssm_op op, const char *name, const char *code)
{
	enum ssm_family f = ssm_sched_family(op);

	s->stats->throttles[op]++;
	if (!s->episode) {
		s->episode = true;
		s->episode_start_ms = timeutil_mono_ms();
		s->at_start = counts_now(s->stats);
		s->at_start.throttles--; /* this one belongs to the episode */
		s->stats->throttle_episodes++;
		log_warn(
		        "ssm: SSM is throttling (%s %s: %s); retrying within each call's "
		        "deadline and slowing down: the %s budget is now %.1f requests/s",
		        ssm_op_name(op), name, code[0] ? code : "HTTP 429",
		        ssm_family_name(f), ssm_sched_rate(s, f));
	}
	arm(s->quiet, EPISODE_QUIET_MS);
}

void
ssm_sched_answer(struct ssm_sched *s, enum ssm_op op, bool is_throttle, const char *name,
                 const char *code)
{
	struct family *fam = &s->fam[ssm_sched_family(op)];

	ssm_budget_answer(&fam->budget, is_throttle, timeutil_mono_ms());
	if (is_throttle)
		throttled(s, op, name, code);
	/* The rate changed: so did the time of the queue's next token. */
	if (fam->queue != NULL)
		arm(fam->timer, 0);
}

double
ssm_sched_rate(const struct ssm_sched *s, enum ssm_family f)
{
	return ssm_budget_rate(&s->fam[f].budget);
}
