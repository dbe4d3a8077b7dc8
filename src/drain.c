/* drain.c - see drain.h. */
#include "drain.h"

#include <event2/event.h>
#include <stdlib.h>

#include "ssm.h"
#include "store_ssm.h"
#include "timeutil.h"
#include "token.h"
#include "xalloc.h"

#define DRAIN_STEP_MS 20

struct drain {
	struct token_table *tokens;
	struct event *timer;
	int64_t until_mono;
	drain_done_fn *done;
	void *arg;
};

static bool
writing(struct token_table *tokens)
{
	size_t n = token_table_count(tokens);

	for (size_t i = 0; i < n; i++)
		if (store_ssm_persisting(&token_table_at(tokens, i)->source))
			return true;
	return false;
}

/* Polled, not signalled: the stores know nothing of who waits for them,
 * and a 20 ms step costs nothing beside an exit. */
static void
on_step(evutil_socket_t fd, short what, void *arg)
{
	struct drain *dr = arg;
	struct timeval tv = { 0, DRAIN_STEP_MS * 1000 };
	bool busy = writing(dr->tokens);

	if (busy && timeutil_mono_ms() < dr->until_mono) {
		evtimer_add(dr->timer, &tv);
		return;
	}
	dr->done(!busy, dr->arg);
}

struct drain *
drain_writes(struct event_base *base, struct token_table *tokens, int64_t max_ms,
             drain_done_fn *done, void *arg)
{
	struct drain *dr = xcalloc(1, sizeof(*dr));

	dr->tokens = tokens;
	dr->until_mono = timeutil_mono_ms() + max_ms;
	dr->done = done;
	dr->arg = arg;
	dr->timer = evtimer_new(base, on_step, dr);
	if (dr->timer == NULL)
		abort(); /* out of memory, as xmalloc */
	on_step(-1, 0, dr);
	return dr;
}

void
drain_free(struct drain *dr)
{
	if (dr == NULL)
		return;
	event_free(dr->timer);
	free(dr);
}

static void
on_bound(evutil_socket_t fd, short what, void *arg)
{
	/* Only wakes the loop: its firing ends drain_ssm_calls. */
}

void
drain_ssm_calls(struct event_base *base, struct ssm_client *ssm, int64_t max_ms)
{
	struct timeval tv = { (time_t)(max_ms / 1000),
		              (suseconds_t)(max_ms % 1000) * 1000 };
	struct event *bound;

	if (ssm == NULL || !ssm_client_busy(ssm))
		return;
	bound = evtimer_new(base, on_bound, NULL);
	if (bound == NULL)
		abort(); /* out of memory, as xmalloc */
	evtimer_add(bound, &tv);
	while (ssm_client_busy(ssm) && evtimer_pending(bound, NULL)) {
		if (event_base_loop(base, EVLOOP_ONCE) != 0 || event_base_got_break(base))
			break;
	}
	event_free(bound);
}
