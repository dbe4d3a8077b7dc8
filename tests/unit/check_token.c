/* check_token.c - scheduling maths by table, and the lifecycle on a real
 * event loop with a scripted in-test source (ms-scale lifetimes). */
#include <check.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "timeutil.h"
#include "token.h"

int main(void);

/* --- pure maths ---------------------------------------------------------- */

#define H (3600 * 1000LL)
#define M (60 * 1000LL)
#define S 1000LL

struct derive_case {
	const char *what;
	int64_t rb, jitter, mr; /* as configured; -1: derive */
	int64_t lifetime;
	struct token_timing want;
};

static const struct derive_case derive_cases[] = {
	{ "24 h defaults", -1, -1, -1, 24 * H, { 8 * H, 144 * M, 60 * S } },
	{ "15 min defaults", -1, -1, -1, 15 * M, { 5 * M, 90 * S, 60 * S } },
	{ "5 min: short min_remaining", -1, -1, -1, 5 * M, { 100 * S, 30 * S, 30 * S } },
	{ "explicit refresh_before", 2 * H, -1, -1, 24 * H, { 2 * H, 144 * M, 60 * S } },
	{ "refresh_before over lifetime: half",
	  2 * H,
	  -1,
	  -1,
	  15 * M,
	  { 450 * S, 90 * S, 60 * S } },
	{ "refresh_before under min_remaining",
	  10 * S,
	  -1,
	  -1,
	  15 * M,
	  { 60 * S, 90 * S, 60 * S } },
	{ "jitter too big", -1, 1 * H, -1, 15 * M, { 5 * M, 5 * M, 60 * S } },
	{ "explicit min_remaining", -1, -1, 10 * M, 24 * H, { 8 * H, 144 * M, 10 * M } },
	{ "explicit zeros", 0, 0, 0, 15 * M, { 0, 0, 0 } },
	{ "no lifetime", -1, -1, -1, 0, { 0, 0, 0 } },
	{ "negative lifetime", -1, -1, -1, -5 * S, { 0, 0, 0 } },
};

START_TEST(test_timing_derive)
{
	const struct derive_case *c = &derive_cases[_i];
	struct token_def def = { .name = "t" };
	struct token_timing t;

	def.refresh_before_ms = c->rb;
	def.jitter_ms = c->jitter;
	def.min_remaining_ms = c->mr;
	token_timing_derive(&def, c->lifetime, &t);
	ck_assert_msg(t.refresh_before_ms == c->want.refresh_before_ms &&
	                      t.jitter_ms == c->want.jitter_ms &&
	                      t.min_remaining_ms == c->want.min_remaining_ms,
	              "%s: got %lld/%lld/%lld", c->what, (long long)t.refresh_before_ms,
	              (long long)t.jitter_ms, (long long)t.min_remaining_ms);
}
END_TEST

struct delay_case {
	int64_t now, exp;
	struct token_timing timing;
	uint32_t rnd;
	int64_t want;
};

static const struct delay_case delay_cases[] = {
	{ 0, 15 * M, { 5 * M, 90 * S, 60 * S }, 0, 10 * M },
	{ 0, 15 * M, { 5 * M, 90 * S, 60 * S }, 0x80000000u, 10 * M - 45 * S },
	/* rnd is in [0, 1): the whole jitter is never quite taken. */
	{ 0, 15 * M, { 5 * M, 90 * S, 60 * S }, 0xffffffffu, 10 * M - 89999 },
	{ 4 * M, 15 * M, { 5 * M, 0, 60 * S }, 0xffffffffu, 6 * M },
	{ 10 * M, 15 * M, { 5 * M, 0, 60 * S }, 0, 0 },
	{ 12 * M, 15 * M, { 5 * M, 90 * S, 60 * S }, 7, 0 },
	{ 20 * M, 15 * M, { 5 * M, 90 * S, 60 * S }, 0, 0 },
};

START_TEST(test_refresh_delay)
{
	const struct delay_case *c = &delay_cases[_i];
	int64_t got = token_refresh_delay(c->now, c->exp, &c->timing, c->rnd);

	ck_assert_msg(got == c->want, "case %d: %lld, want %lld", _i, (long long)got,
	              (long long)c->want);
}
END_TEST

struct backoff_case {
	unsigned attempt;
	int64_t retry_after;
	uint32_t rnd;
	int64_t want;
};

static const struct backoff_case backoff_cases[] = {
	{ 0, 0, 0, 0 },
	{ 0, 0, 0xffffffffu, 1000 },
	{ 1, 0, 0xffffffffu, 2000 },
	{ 3, 0, 0xffffffffu, 8000 },
	{ 3, 0, 0x80000000u, 4000 },
	{ 5, 0, 0xffffffffu, 32000 },
	{ 6, 0, 0xffffffffu, 60000 },   /* 64 s capped */
	{ 200, 0, 0xffffffffu, 60000 }, /* no overflow */
	{ 200, 0, 0x80000000u, 30000 },
	{ 3, 5000, 0, 5000 },               /* Retry-After over the draw */
	{ 0, 500, 0xffffffffu, 1000 },      /* the draw over Retry-After */
	{ 6, 600000, 0xffffffffu, 600000 }, /* Retry-After beyond the cap */
};

START_TEST(test_backoff_delay)
{
	const struct backoff_case *c = &backoff_cases[_i];
	int64_t got = token_backoff_delay(c->attempt, c->retry_after, c->rnd);

	ck_assert_msg(got == c->want, "case %d: %lld, want %lld", _i, (long long)got,
	              (long long)c->want);
}
END_TEST

START_TEST(test_backoff_bounds)
{
	uint32_t x = 2463534242u;
	int64_t lo_seen = 60000, hi_seen = 0;

	for (unsigned attempt = 0; attempt < 40; attempt++) {
		int64_t ceiling = attempt < 6 ? 1000LL << attempt : 60000;

		ceiling = ceiling > 60000 ? 60000 : ceiling;
		for (int i = 0; i < 2000; i++) {
			int64_t d;

			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			d = token_backoff_delay(attempt, 0, x);
			ck_assert(d >= 0 && d <= ceiling);
			if (attempt == 39) {
				lo_seen = d < lo_seen ? d : lo_seen;
				hi_seen = d > hi_seen ? d : hi_seen;
			}
			ck_assert(token_backoff_delay(attempt, 70000, x) == 70000);
		}
	}
	/* Full jitter: the draws cover the range, not a corner of it. */
	ck_assert_int_lt(lo_seen, 1000);
	ck_assert_int_gt(hi_seen, 59000);
}
END_TEST

/* --- a scripted source ------------------------------------------------- */

struct step {
	enum err_code code; /* ERR_OK: a value */
	int64_t lifetime_ms;
	int64_t retry_after_ms;
	int64_t delay_ms; /* before the answer */
	bool hang;        /* never answers (until cancelled) */
};

struct fake_stats {
	unsigned starts, cancels, frees, answers;
};

struct fake {
	struct event_base *base;
	const struct step *steps;
	size_t nsteps, next;
	struct event *ev;
	token_fetch_done_fn *done;
	void *arg;
	struct fake_stats *stats;
	bool fail_start;
	bool break_on_start;
};

static void
fake_answer(evutil_socket_t fd, short what, void *arg)
{
	struct fake *f = arg;
	const struct step *st = &f->steps[f->next < f->nsteps ? f->next : f->nsteps - 1];
	struct token_result res = { 0 };
	int64_t now = timeutil_wall_ms();
	char val[32];

	f->next++;
	f->stats->answers++;
	if (st->code == ERR_OK) {
		snprintf(val, sizeof(val), "tok-%zu", f->next);
		res.value = secret_new_str(val);
		res.issued_at_ms = now;
		res.expires_at_ms = now + st->lifetime_ms;
		res.origin = TOKEN_ORIGIN_ISSUER;
		strcpy(res.token_type, "Bearer");
	} else {
		err_set(&res.err, st->code, "scripted failure %zu", f->next);
		res.retry_after_ms = st->retry_after_ms;
	}
	f->done(&res, f->arg);
}

static int
fake_start(void *impl, token_fetch_done_fn *done, void *arg)
{
	struct fake *f = impl;
	const struct step *st = &f->steps[f->next < f->nsteps ? f->next : f->nsteps - 1];
	struct timeval tv = { 0, (suseconds_t)st->delay_ms * 1000 };

	f->stats->starts++;
	if (f->break_on_start)
		event_base_loopbreak(f->base);
	if (f->fail_start)
		return -1;
	f->done = done;
	f->arg = arg;
	if (!st->hang)
		evtimer_add(f->ev, &tv);
	return 0;
}

static void
fake_cancel(void *impl)
{
	struct fake *f = impl;

	f->stats->cancels++;
	evtimer_del(f->ev);
}

static void
fake_free(void *impl)
{
	struct fake *f = impl;

	f->stats->frees++;
	event_free(f->ev);
	free(f);
}

static void
fake_start_error(void *impl, struct err *err)
{
	err_set(err, ERR_CONFIG, "scripted start failure");
}

static const struct token_source_ops fake_ops = {
	.name = "fake",
	.start_fetch = fake_start,
	.cancel = fake_cancel,
	.free = fake_free,
	.start_error = fake_start_error,
};

/* --- the fixture ------------------------------------------------------- */

struct seen {
	enum token_state state;
	uint64_t version;
	unsigned attempt;
	bool servable;
	int64_t at_ms;
};

static struct event_base *base;
static struct token_table *table;
static struct token_def def;
static struct fake_stats stats;
static struct fake *fake;
static struct seen seen[64];
static size_t nseen;
/* The loop stops when the token reaches this state (and version). */
static enum token_state stop_state;
static uint64_t stop_version;
static unsigned stop_attempt;

static void
observe(struct token *tok, void *arg)
{
	int64_t now = timeutil_wall_ms();

	if (nseen < sizeof(seen) / sizeof(seen[0]))
		seen[nseen++] = (struct seen){ tok->state, tok->version, tok->attempt,
			                       token_servable(tok, now, NULL),
			                       timeutil_mono_ms() };
	if (tok->state == stop_state && tok->version >= stop_version &&
	    tok->attempt >= stop_attempt)
		event_base_loopbreak(base);
}

static void
setup(void)
{
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	table = token_table_new(base);
	/* Lifetimes here are milliseconds: no floor on what is left. */
	token_table_set_min_left(table, 0);
	token_table_set_observer(table, observe, NULL);
	memset(&def, 0, sizeof(def));
	def.name = "t";
	def.refresh_before_ms = -1;
	def.jitter_ms = 0;
	def.min_remaining_ms = -1;
	memset(&stats, 0, sizeof(stats));
	nseen = 0;
	stop_state = TOKEN_VALID;
	stop_version = 1;
	stop_attempt = 0;
}

static void
teardown(void)
{
	token_table_free(table);
	table = NULL;
	event_base_free(base);
}

static struct token *
add_fake(const struct step *steps, size_t nsteps)
{
	struct token_source src = { &fake_ops, NULL };

	fake = calloc(1, sizeof(*fake));
	ck_assert_ptr_nonnull(fake);
	fake->base = base;
	fake->steps = steps;
	fake->nsteps = nsteps;
	fake->stats = &stats;
	fake->ev = evtimer_new(base, fake_answer, fake);
	src.impl = fake;
	return token_table_add(table, &def, src);
}

static bool deadline_hit;

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	deadline_hit = true;
	event_base_loopbreak(base);
}

/* Runs the loop until the observer stops it; false on the deadline. A
 * deadline event of our own (not event_base_loopexit) so that none is
 * left behind to cut a later run short. */
static bool
run_until_stop(int64_t deadline_ms)
{
	struct timeval tv = { deadline_ms / 1000, (deadline_ms % 1000) * 1000 };
	struct event *ev = evtimer_new(base, on_deadline, NULL);

	deadline_hit = false;
	evtimer_add(ev, &tv);
	event_base_dispatch(base);
	event_free(ev);
	return !deadline_hit;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* --- lifecycle ------------------------------------------------------------ */

START_TEST(test_refresh_cycle)
{
	static const struct step steps[] = {
		{ ERR_OK, 1000, 0, 0, false },
		{ ERR_OK, 1000, 0, 20, false },
	};
	struct token *tok;

	def.refresh_before_ms = 500;
	def.min_remaining_ms = 100;
	tok = add_fake(steps, N(steps));
	ck_assert_int_eq(tok->state, TOKEN_EMPTY);
	ck_assert(!token_servable(tok, timeutil_wall_ms(), NULL));
	token_table_start(table);
	stop_version = 2;
	ck_assert(run_until_stop(3000));

	ck_assert_uint_eq(nseen, 3);
	ck_assert(seen[0].state == TOKEN_VALID && seen[0].version == 1 &&
	          seen[0].servable);
	ck_assert(seen[1].state == TOKEN_REFRESHING && seen[1].version == 1 &&
	          seen[1].servable);
	ck_assert(seen[2].state == TOKEN_VALID && seen[2].version == 2 &&
	          seen[2].servable);
	/* Refreshed refresh_before ahead of expiry, not at once, not late. */
	ck_assert_int_ge(seen[1].at_ms - seen[0].at_ms, 480);
	ck_assert_int_lt(seen[1].at_ms - seen[0].at_ms, 900);
	ck_assert_str_eq(tok->value->data, "tok-2");
	ck_assert_str_eq(tok->token_type, "Bearer");
	ck_assert_int_eq(tok->origin, TOKEN_ORIGIN_ISSUER);
	ck_assert_uint_eq(tok->refreshes, 2);
	ck_assert_uint_eq(tok->failures, 0);
	ck_assert_int_eq(tok->last_error.code, ERR_OK);
	ck_assert_int_eq(tok->timing.refresh_before_ms, 500);
	ck_assert_uint_eq(stats.starts, 2);
	ck_assert(token_table_all_valid(table));
}
END_TEST

START_TEST(test_retry_after_honoured)
{
	static const struct step steps[] = {
		{ ERR_THROTTLED, 0, 150, 0, false },
		{ ERR_OK, 60000, 0, 0, false },
	};
	struct token *tok = add_fake(steps, N(steps));
	struct err err;

	token_table_start(table);
	stop_state = TOKEN_RETRYING;
	stop_version = 0;
	stop_attempt = 1;
	ck_assert(run_until_stop(3000));
	ck_assert_int_eq(tok->last_error.code, ERR_THROTTLED);
	ck_assert(!token_servable(tok, timeutil_wall_ms(), &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "no value yet"));
	ck_assert_ptr_nonnull(strstr(err.msg, "scripted failure 1"));
	/* No new attempt before the issuer's Retry-After, not even by hand. */
	ck_assert_int_eq(token_refresh_now(tok, &err), -1);
	ck_assert_int_eq(err.code, ERR_THROTTLED);

	stop_state = TOKEN_VALID;
	stop_version = 1;
	stop_attempt = 0;
	ck_assert(run_until_stop(3000));
	ck_assert_uint_eq(nseen, 2);
	ck_assert_int_ge(seen[1].at_ms - seen[0].at_ms, 140);
	ck_assert_uint_eq(tok->attempt, 0);
	ck_assert_uint_eq(tok->failures, 1);
	ck_assert_int_eq(tok->last_error.code, ERR_OK);
}
END_TEST

START_TEST(test_backoff_attempts)
{
	static const struct step steps[] = { { ERR_NET, 0, 0, 0, false } };
	struct token *tok = add_fake(steps, N(steps));

	token_table_start(table);
	stop_state = TOKEN_RETRYING;
	stop_version = 0;
	stop_attempt = 3; /* waits at most 1 s + 2 s of backoff */
	ck_assert(run_until_stop(5000));
	ck_assert_uint_eq(nseen, 3);
	for (size_t i = 0; i < nseen; i++) {
		ck_assert_int_eq(seen[i].state, TOKEN_RETRYING);
		ck_assert_uint_eq(seen[i].attempt, i + 1);
		ck_assert(!seen[i].servable);
	}
	ck_assert_uint_eq(tok->failures, 3);
	ck_assert_uint_eq(stats.starts, 3);
	ck_assert_int_eq(tok->last_error.code, ERR_NET);
	ck_assert(!token_table_all_valid(table));
	/* The next retry is scheduled. */
	ck_assert(evtimer_pending(tok->timer, NULL));
}
END_TEST

START_TEST(test_expiry)
{
	static const struct step steps[] = {
		{ ERR_OK, 600, 0, 0, false },
		{ ERR_NET, 0, 0, 0, false },
	};
	struct token *tok;
	struct err why;

	def.refresh_before_ms = 300;
	def.min_remaining_ms = 100;
	tok = add_fake(steps, N(steps));
	token_table_start(table);
	stop_state = TOKEN_EXPIRED;
	ck_assert(run_until_stop(3000));

	ck_assert_int_eq(seen[0].state, TOKEN_VALID);
	ck_assert_int_eq(seen[1].state, TOKEN_REFRESHING);
	ck_assert_int_eq(seen[2].state, TOKEN_RETRYING);
	/* Still served while retrying, until min_remaining. */
	ck_assert(seen[2].servable);
	ck_assert_int_eq(seen[nseen - 1].state, TOKEN_EXPIRED);
	ck_assert(!seen[nseen - 1].servable);
	/* Dropped at expires_at - min_remaining (500 ms after issue). The
	 * value was issued a little before seen[0] was taken (tens of ms
	 * under ASan on a loaded machine), so the bound has slack. */
	ck_assert_int_ge(seen[nseen - 1].at_ms - seen[0].at_ms, 400);
	/* Retries were pulled in so that one ran before the value expired. */
	ck_assert_uint_ge(stats.starts, 3);
	ck_assert_ptr_null(tok->value);
	ck_assert_uint_eq(tok->version, 1);
	ck_assert(!token_servable(tok, timeutil_wall_ms(), &why));
	ck_assert_ptr_nonnull(strstr(why.msg, "expired"));
	ck_assert_ptr_nonnull(strstr(why.msg, "scripted failure"));
	/* Retries go on after expiry. */
	ck_assert(evtimer_pending(tok->timer, NULL) || tok->fetching);
}
END_TEST

START_TEST(test_expired_value_not_servable_by_clock)
{
	static const struct step steps[] = { { ERR_OK, 10000, 0, 0, false } };
	struct token *tok;

	def.min_remaining_ms = 1000;
	tok = add_fake(steps, N(steps));
	token_table_start(table);
	ck_assert(run_until_stop(3000));
	/* Whatever the state says, the clock decides. */
	ck_assert_int_eq(tok->state, TOKEN_VALID);
	ck_assert(token_servable(tok, tok->expires_at_ms - 1001, NULL));
	ck_assert(!token_servable(tok, tok->expires_at_ms - 1000, NULL));
	ck_assert(!token_servable(tok, tok->expires_at_ms + 1, NULL));
}
END_TEST

START_TEST(test_short_value_rejected)
{
	static const struct step steps[] = {
		{ ERR_OK, 50, 0, 0, false },
		{ ERR_OK, 60000, 0, 0, false },
	};
	struct token *tok;

	def.min_remaining_ms = 100;
	tok = add_fake(steps, N(steps));
	token_table_start(table);
	stop_state = TOKEN_RETRYING;
	stop_version = 0;
	stop_attempt = 1;
	ck_assert(run_until_stop(3000));
	ck_assert_uint_eq(tok->version, 0);
	ck_assert_ptr_null(tok->value);
	ck_assert_int_eq(tok->last_error.code, ERR_UNAVAILABLE);
	ck_assert_ptr_nonnull(strstr(tok->last_error.msg, "min_remaining"));
	stop_state = TOKEN_VALID;
	stop_version = 1;
	stop_attempt = 0;
	ck_assert(run_until_stop(3000));
	ck_assert_str_eq(tok->value->data, "tok-2");
}
END_TEST

START_TEST(test_refresh_now)
{
	static const struct step steps[] = {
		{ ERR_OK, 60000, 0, 0, false },
		{ ERR_OK, 0, 0, 0, true },
	};
	struct token *tok = add_fake(steps, N(steps));
	struct err err;

	ck_assert_int_eq(token_refresh_now(tok, &err), -1);
	ck_assert_int_eq(err.code, ERR_UNAVAILABLE);
	token_table_start(table);
	ck_assert(run_until_stop(3000));
	ck_assert_int_eq(token_refresh_now(tok, &err), 0);
	ck_assert_int_eq(tok->state, TOKEN_REFRESHING);
	ck_assert(token_servable(tok, timeutil_wall_ms(), NULL));
	ck_assert_int_eq(token_refresh_now(tok, &err), -1);
	ck_assert_int_eq(err.code, ERR_EXISTS);
	ck_assert_uint_eq(stats.starts, 2);
	/* Freeing the table cancels the fetch under way and frees the source. */
	token_table_free(table);
	table = NULL;
	ck_assert_uint_eq(stats.cancels, 1);
	ck_assert_uint_eq(stats.frees, 1);
}
END_TEST

START_TEST(test_remove_during_fetch)
{
	static const struct step steps[] = { { ERR_OK, 60000, 0, 0, true } };
	struct token *tok = add_fake(steps, N(steps));

	fake->break_on_start = true;
	ck_assert_ptr_eq(token_table_find(table, "t"), tok);
	token_table_start(table);
	ck_assert(run_until_stop(3000));
	ck_assert(tok->fetching);
	token_table_remove(table, tok);
	ck_assert_uint_eq(stats.cancels, 1);
	ck_assert_uint_eq(stats.frees, 1);
	ck_assert_uint_eq(token_table_count(table), 0);
	ck_assert_ptr_null(token_table_find(table, "t"));
	ck_assert_ptr_null(token_table_at(table, 0));
	ck_assert(token_table_all_valid(table));
}
END_TEST

START_TEST(test_start_error)
{
	static const struct step steps[] = { { ERR_OK, 60000, 0, 0, false } };
	struct token *tok = add_fake(steps, N(steps));

	fake->fail_start = true;
	token_table_start(table);
	stop_state = TOKEN_RETRYING;
	stop_version = 0;
	stop_attempt = 1;
	ck_assert(run_until_stop(3000));
	ck_assert(!tok->fetching);
	ck_assert_int_eq(tok->last_error.code, ERR_CONFIG);
	ck_assert_str_eq(tok->last_error.msg, "scripted start failure");
	ck_assert_uint_eq(stats.answers, 0);
}
END_TEST

START_TEST(test_add_after_start_and_names)
{
	static const struct step steps[] = { { ERR_OK, 60000, 0, 0, false } };
	struct token *tok;

	token_table_start(table);
	tok = add_fake(steps, N(steps));
	ck_assert(run_until_stop(3000));
	ck_assert_uint_eq(tok->version, 1);
	ck_assert_uint_eq(token_table_count(table), 1);
	ck_assert_ptr_eq(token_table_at(table, 0), tok);
	ck_assert_str_eq(token_state_name(TOKEN_REFRESHING), "refreshing");
	ck_assert_str_eq(token_origin_name(TOKEN_ORIGIN_SSM), "ssm");
	token_table_free(NULL);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("token");
	TCase *maths = tcase_create("maths");
	TCase *life = tcase_create("lifecycle");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(maths, test_timing_derive, 0, (int)N(derive_cases));
	tcase_add_loop_test(maths, test_refresh_delay, 0, (int)N(delay_cases));
	tcase_add_loop_test(maths, test_backoff_delay, 0, (int)N(backoff_cases));
	tcase_add_test(maths, test_backoff_bounds);
	suite_add_tcase(s, maths);

	tcase_add_checked_fixture(life, setup, teardown);
	tcase_set_timeout(life, 10);
	tcase_add_test(life, test_refresh_cycle);
	tcase_add_test(life, test_retry_after_honoured);
	tcase_add_test(life, test_backoff_attempts);
	tcase_add_test(life, test_expiry);
	tcase_add_test(life, test_expired_value_not_servable_by_clock);
	tcase_add_test(life, test_short_value_rejected);
	tcase_add_test(life, test_refresh_now);
	tcase_add_test(life, test_remove_during_fetch);
	tcase_add_test(life, test_start_error);
	tcase_add_test(life, test_add_after_start_and_names);
	suite_add_tcase(s, life);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
