/* ssm_sched.h - when the SSM client may send: one adaptive budget per
 * quota family (ssm_budget.h), the requests waiting for a token in
 * priority order, and throttling episodes (one warning when SSM starts
 * throttling, one notice with counts when it stopped). Used by ssm.c. */
#ifndef TOKEND_SSM_SCHED_H
#define TOKEND_SSM_SCHED_H

#include <stdbool.h>

#include "ssm.h"

struct event_base;
struct ssm_sched;

typedef void ssm_sched_go_fn(void *arg);

/* A request waiting for a send token, embedded in the caller's object. */
struct ssm_sched_wait {
	struct ssm_sched_wait *next;
	enum ssm_priority prio;
	enum ssm_family family;
	bool queued;
	ssm_sched_go_fn *go; /* the token came: send now */
	void *arg;
};

/* stats is borrowed (the client's): the schedule counts budget waits and
 * throttling episodes in it. */
struct ssm_sched *ssm_sched_new(struct event_base *base, struct ssm_stats *stats);
void ssm_sched_free(struct ssm_sched *s);

/* True: a token was taken, send now. False: w waits in its family's queue
 * (after every wait of its priority or higher), and w->go runs from a
 * timer when its token comes. */
bool ssm_sched_enter(struct ssm_sched *s, struct ssm_sched_wait *w);
/* Takes w out of its queue (nothing if it is not in one). */
void ssm_sched_leave(struct ssm_sched *s, struct ssm_sched_wait *w);

/* Every HTTP answer SSM gave: its operation, whether it was throttling,
 * and, for the first throttle of an episode, what to say (name, code). */
void ssm_sched_answer(struct ssm_sched *s, enum ssm_op op, bool throttled,
                      const char *name, const char *code);

double ssm_sched_rate(const struct ssm_sched *s, enum ssm_family f);

/* The quota an operation counts against. */
enum ssm_family ssm_sched_family(enum ssm_op op);

#endif
