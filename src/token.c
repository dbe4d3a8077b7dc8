/* token.c - the token table: values, states, refresh and retry timers.
 *
 * Each token has two timers. `timer` starts the next fetch: a refresh
 * ahead of expiry, or a retry after a failure. `expiry_timer` fires when
 * the value falls under min_remaining and drops it: from then on the
 * token answers 503 until a new value arrives. Expiries are wall times
 * (they come from issuers as such); delays are their distance from now.
 *
 * The loop's timers run on CLOCK_MONOTONIC, which neither follows steps
 * of the wall clock nor counts a suspend. So a value also gets a deadline
 * on CLOCK_BOOTTIME when it arrives, and it is served only while both
 * clocks allow it (token_servable): stepping the wall clock back cannot
 * stretch its life, stepping it forward (or resuming) cuts it at once.
 * Timers are re-armed when the wall clock is set
 * (token_table_clock_stepped), and a reader that finds a value held past
 * its expiry starts the fetch the timers missed (token_expired_seen).
 */
#include "token.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "secret.h"
#include "timeutil.h"
#include "xalloc.h"

#define BACKOFF_BASE_MS  1000
#define MIN_GAP_FLOOR_MS 10

struct token_table {
	struct event_base *base;
	struct token **tokens;
	size_t n, cap;
	token_change_fn *observer;
	void *observer_arg;
	bool started;
	uint64_t rng;         /* splitmix64 state: jitter only, not security */
	uint64_t generations; /* the last token generation handed out */
	int64_t min_left_ms;  /* TOKEN_MIN_LEFT_MS but in tests */
};

static void token_fetch(struct token *tok);

/* --- names --------------------------------------------------------------- */

const char *
token_state_name(enum token_state state)
{
	switch (state) {
	case TOKEN_EMPTY: return "empty";
	case TOKEN_VALID: return "valid";
	case TOKEN_REFRESHING: return "refreshing";
	case TOKEN_RETRYING: return "retrying";
	case TOKEN_EXPIRED: return "expired";
	}
	return "unknown";
}

const char *
token_origin_name(enum token_origin origin)
{
	switch (origin) {
	case TOKEN_ORIGIN_NONE: return "none";
	case TOKEN_ORIGIN_ISSUER: return "issuer";
	case TOKEN_ORIGIN_SSM: return "ssm";
	case TOKEN_ORIGIN_SIGNER: return "signer";
	}
	return "unknown";
}

/* --- helpers ------------------------------------------------------------- */

static uint32_t
table_rnd32(struct token_table *table)
{
	uint64_t z = (table->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

static void
timer_arm(struct event *ev, int64_t delay_ms)
{
	struct timeval tv;

	if (delay_ms < 0)
		delay_ms = 0;
	tv.tv_sec = (time_t)(delay_ms / 1000);
	tv.tv_usec = (suseconds_t)(delay_ms % 1000) * 1000;
	evtimer_add(ev, &tv);
}

/* How long the value lives from now, as the wall clock and CLOCK_BOOTTIME
 * tell: the shorter of the two. */
static int64_t
life_left(const struct token *tok, int64_t now)
{
	int64_t wall = tok->expires_at_ms - now, boot;

	if (tok->boot_expires_at_ms == 0) /* a token built by hand (tests) */
		return wall;
	boot = tok->boot_expires_at_ms - timeutil_boot_ms();
	return wall < boot ? wall : boot;
}

/* How long the value is still served from now (may be negative). */
static int64_t
serve_left(const struct token *tok, int64_t now)
{
	return life_left(tok, now) - tok->timing.min_remaining_ms;
}

/* The closest two retries pulled in before expiry may come. */
static int64_t
min_gap(const struct token *tok)
{
	int64_t gap = tok->timing.min_remaining_ms / 4;

	if (gap < MIN_GAP_FLOOR_MS)
		gap = MIN_GAP_FLOOR_MS;
	return gap < BACKOFF_BASE_MS ? gap : BACKOFF_BASE_MS;
}

/* The narrowest window retries before expiry are drawn from: a quarter
 * of the span between the planned refresh and the end of serving. */
static int64_t
min_window(const struct token *tok)
{
	int64_t w = (tok->timing.refresh_before_ms - tok->timing.min_remaining_ms) / 4;

	return w > min_gap(tok) ? w : min_gap(tok);
}

static void
notify(struct token *tok)
{
	struct token_table *table = tok->table;

	if (table->observer != NULL)
		table->observer(tok, table->observer_arg);
}

static void
drop_value(struct token *tok)
{
	secret_unref(tok->value);
	tok->value = NULL;
}

/* --- timers -------------------------------------------------------------- */

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct token *tok = arg;

	if (!tok->fetching)
		token_fetch(tok);
}

static void
expire(struct token *tok)
{
	drop_value(tok);
	tok->state = TOKEN_EXPIRED;
	tlog_error(tok,
	           "value expired (under min_remaining %" PRId64 " ms): not served "
	           "until a new one arrives%s%s",
	           tok->timing.min_remaining_ms,
	           tok->last_error.code ? "; last error: " : "",
	           tok->last_error.code ? tok->last_error.msg : "");
	notify(tok);
}

static void
on_expiry(evutil_socket_t fd, short what, void *arg)
{
	struct token *tok = arg;
	int64_t left;

	if (tok->value == NULL)
		return;
	/* The loop's timers run on the monotonic clock, which may run ahead
	 * of both others (a wall clock that lags, a suspend not yet seen). */
	left = serve_left(tok, timeutil_wall_ms());
	if (left > 0) {
		timer_arm(tok->expiry_timer, left);
		return;
	}
	expire(tok);
}

/* --- fetch results ------------------------------------------------------- */

static void
fetch_failed(struct token *tok, const struct err *err, int64_t retry_after_ms,
             bool permanent)
{
	int64_t now = timeutil_wall_ms(), delay, left = 0;
	bool serving = tok->value != NULL && serve_left(tok, now) > 0;

	tok->failures++;
	tok->failures_by_code[err->code <= ERR_INTERNAL ? err->code : ERR_INTERNAL]++;
	tok->attempt++;
	tok->last_error = *err;
	tok->last_error_at_ms = now;
	if (retry_after_ms > 0)
		tok->retry_not_before_ms = now + retry_after_ms;
	/* While a value is served, retries are drawn from windows that end
	 * min_gap before it stops being served (a retry later than that
	 * could not finish in time) but do not shrink onto that moment: a
	 * fleet sharing the value shares it. After it the backoff runs free,
	 * so the token comes back when the issuer does. */
	if (serving)
		left = serve_left(tok, now) - min_gap(tok);
	/* A refused configuration is not cured by asking again soon, even
	 * with a value still served: a permanent failure backs off long. */
	if (permanent)
		delay = token_backoff_permanent(tok->attempt - 1, retry_after_ms,
		                                table_rnd32(tok->table));
	else
		delay = token_retry_delay(tok->attempt - 1, retry_after_ms, left,
		                          min_window(tok), table_rnd32(tok->table));
	struct log_field fields[] = {
		{ "cause", err->msg, 0 },
		{ "error", err_code_name(err->code), 0 },
		{ "attempt", NULL, tok->attempt },
		{ "delay_ms", NULL, delay },
	};
	if (serving)
		log_write_fields(LOG_WARNING, "token", tok->name, fields, 4,
		                 "fetch failed (attempt %u): %s; retrying in %" PRId64
		                 " ms, still serving version %" PRIu64,
		                 tok->attempt, err->msg, delay, tok->version);
	else
		log_write_fields(LOG_ERR, "token", tok->name, fields, 4,
		                 "fetch failed (attempt %u): %s; no value to serve; "
		                 "retrying in %" PRId64 " ms",
		                 tok->attempt, err->msg, delay);
	tok->state =
	        tok->version > 0 && tok->value == NULL ? TOKEN_EXPIRED : TOKEN_RETRYING;
	timer_arm(tok->timer, delay);
	notify(tok);
}

static void
warn_timing(struct token *tok, const struct token_timing *t, int64_t lifetime_ms)
{
	const struct token_def *def = tok->def;

	if (tok->timing_warned)
		return;
	if ((def->refresh_before_ms < 0 ||
	     def->refresh_before_ms == t->refresh_before_ms) &&
	    (def->jitter_ms < 0 || def->jitter_ms == t->jitter_ms))
		return;
	tok->timing_warned = true;
	tlog_warn(tok,
	          "refresh_before/jitter do not fit a lifetime of %" PRId64
	          " ms: refreshing %" PRId64 " ms before expiry, jitter %" PRId64 " ms",
	          lifetime_ms, t->refresh_before_ms, t->jitter_ms);
}

static void
log_new_value(struct token *tok, int64_t now, int64_t refresh_in_ms, bool carried)
{
	char fp[LOG_FP_LEN], when[21];

	log_fingerprint(tok->value->data, tok->value->len, fp);
	timeutil_format_iso8601(tok->expires_at_ms / 1000, when);
	tlog_info(tok,
	          "%s %s (version %" PRIu64 ", from %s), expires %s (in %" PRId64
	          " s), refresh in %" PRId64 " s",
	          carried ? "value carried over by the reload:" : "new value", fp,
	          tok->version, token_origin_name(tok->origin), when,
	          (tok->expires_at_ms - now) / 1000, refresh_in_ms / 1000);
}

/* The timing for a value: derived from its nominal lifetime, with the
 * floor on what a served value has left. */
static void
value_timing(struct token *tok, const struct token_result *res, int64_t issued,
             struct token_timing *t)
{
	int64_t life =
	        res->lifetime_ms > 0 ? res->lifetime_ms : res->expires_at_ms - issued;

	/* Credentials that expire before the token cut its life, not its
	 * margins: min_remaining stays what the token's kind asks for. */
	token_timing_derive(tok->def, life, t);
	if (t->min_remaining_ms < tok->table->min_left_ms)
		t->min_remaining_ms = tok->table->min_left_ms;
	if (t->refresh_before_ms < t->min_remaining_ms)
		t->refresh_before_ms = t->min_remaining_ms;
}

/* Takes res->value on success; -1 with err when the value is unusable.
 * boot_expires: the value's deadline on CLOCK_BOOTTIME, 0 for a value
 * that arrives now. */
static int
install(struct token *tok, struct token_result *res, int64_t now, int64_t boot_expires,
        struct err *err)
{
	struct token_timing t;
	int64_t issued = res->issued_at_ms > 0 && res->issued_at_ms <= now
	                         ? res->issued_at_ms
	                         : now;
	int64_t delay;
	bool carried = boot_expires != 0;
	char when[21];

	value_timing(tok, res, issued, &t);
	if (boot_expires == 0)
		boot_expires = timeutil_boot_ms() + (res->expires_at_ms - now);
	if (res->expires_at_ms - t.min_remaining_ms <= now) {
		timeutil_format_iso8601(res->expires_at_ms / 1000, when);
		return err_set(err, ERR_UNAVAILABLE,
		               "%s gave a value that expires at %s, %" PRId64
		               " ms from now: under min_remaining (%" PRId64 " ms)",
		               tok->source.ops->name, when, res->expires_at_ms - now,
		               t.min_remaining_ms);
	}
	warn_timing(tok, &t, res->expires_at_ms - issued);
	drop_value(tok);
	tok->value = res->value;
	res->value = NULL;
	memcpy(tok->token_type, res->token_type, sizeof(tok->token_type));
	tok->token_type[sizeof(tok->token_type) - 1] = '\0';
	memcpy(tok->scope, res->scope, sizeof(tok->scope));
	tok->scope[sizeof(tok->scope) - 1] = '\0';
	memcpy(tok->token_endpoint, res->token_endpoint, sizeof(tok->token_endpoint));
	tok->token_endpoint[sizeof(tok->token_endpoint) - 1] = '\0';
	tok->issued_at_ms = issued;
	tok->expires_at_ms = res->expires_at_ms;
	tok->boot_expires_at_ms = boot_expires;
	tok->refreshed_at_ms = now;
	tok->origin = res->origin;
	tok->version++;
	tok->refreshes++;
	tok->values_by_origin[res->origin <= TOKEN_ORIGIN_SIGNER ? res->origin : 0]++;
	tok->attempt = 0;
	tok->retry_not_before_ms = 0;
	err_clear(&tok->last_error);
	tok->timing = t;
	tok->state = TOKEN_VALID;
	delay = token_refresh_delay(
	        now, now + life_left(tok, now), &t,
	        tok->source.ops->spreads_refresh ? UINT32_MAX : table_rnd32(tok->table));
	timer_arm(tok->timer, delay);
	timer_arm(tok->expiry_timer, serve_left(tok, now));
	log_new_value(tok, now, delay, carried);
	return 0;
}

/* Keeps what the issuer said of its quota; one warning per bucket when
 * its use crosses OAUTH2_QUOTA_WARN_PCT. */
static void
note_quota(struct token *tok, const struct oauth2_quota *fresh)
{
	unsigned crossed = oauth2_quota_merge(&tok->quota, fresh);

	for (size_t i = 0; i < tok->quota.n; i++) {
		const struct oauth2_quota_bucket *b = &tok->quota.b[i];

		if (!(crossed & (1u << i)))
			continue;
		tlog_warn(tok,
		          "issuer quota %s %s is %d%% used: %" PRId64 " of %" PRId64
		          " tokens left, reset in %" PRId64
		          " s; more fetches may be refused (429) until then",
		          oauth2_quota_scope_name(b->scope), b->name,
		          oauth2_quota_used_pct(b), b->remaining, b->limit,
		          (b->reset_at_ms - tok->quota.seen_at_ms) / 1000);
	}
}

static void
on_fetch_done(struct token_result *res, void *arg)
{
	struct token *tok = arg;
	struct err err;

	/* A result nobody waits for (the source broke its contract: a
	 * removed token cancels its fetch) is dropped. */
	if (!tok->fetching) {
		secret_unref(res->value);
		res->value = NULL;
		return;
	}
	tok->fetching = false;
	note_quota(tok, &res->quota);
	if (res->err.code != ERR_OK) {
		err = res->err;
	} else if (res->value == NULL) {
		err_set(&err, ERR_INTERNAL, "%s returned no value",
		        tok->source.ops->name);
	} else if (install(tok, res, timeutil_wall_ms(), 0, &err) == 0) {
		notify(tok);
		return;
	}
	secret_unref(res->value);
	res->value = NULL;
	fetch_failed(tok, &err, res->retry_after_ms, res->permanent);
}

static void
token_fetch(struct token *tok)
{
	const struct token_source_ops *ops = tok->source.ops;
	struct err err;

	evtimer_del(tok->timer);
	tok->fetching = true;
	if (ops->start_fetch(tok->source.impl, on_fetch_done, tok) == -1) {
		tok->fetching = false;
		err_set(&err, ERR_INTERNAL, "%s: the fetch could not start", ops->name);
		if (ops->start_error != NULL)
			ops->start_error(tok->source.impl, &err);
		fetch_failed(tok, &err, 0, false);
		return;
	}
	tlog_debug(tok, "fetching from %s", ops->name);
	if (tok->value != NULL && serve_left(tok, timeutil_wall_ms()) > 0 &&
	    tok->state != TOKEN_REFRESHING) {
		tok->state = TOKEN_REFRESHING;
		notify(tok);
	}
}

int
token_refresh_now(struct token *tok, struct err *err)
{
	int64_t now = timeutil_wall_ms();

	if (!tok->table->started)
		return err_set(err, ERR_UNAVAILABLE, "token %s is not started",
		               tok->name);
	if (tok->fetching) {
		/* The fetch under way may be waiting its turn in a fleet. */
		if (tok->source.ops->urgent != NULL)
			tok->source.ops->urgent(tok->source.impl);
		return err_set(err, ERR_EXISTS, "a refresh of %s is already under way",
		               tok->name);
	}
	if (now < tok->retry_not_before_ms)
		return err_set(err, ERR_THROTTLED,
		               "the issuer of %s asked to wait %" PRId64 " ms more",
		               tok->name, tok->retry_not_before_ms - now);
	tlog_info(tok, "refresh requested");
	if (tok->source.ops->urgent != NULL)
		tok->source.ops->urgent(tok->source.impl);
	token_fetch(tok);
	if (!tok->fetching) {
		if (err != NULL)
			*err = tok->last_error;
		return -1;
	}
	return 0;
}

bool
token_servable(const struct token *tok, int64_t now_ms, struct err *why)
{
	const char *sep = tok->last_error.code != ERR_OK ? "; last error: " : "";
	char when[21];

	if (tok->value != NULL && serve_left(tok, now_ms) > 0)
		return true;
	if (tok->version == 0) {
		err_set(why, ERR_UNAVAILABLE, "%s has no value yet (%s)%s%s", tok->name,
		        token_state_name(tok->state), sep, tok->last_error.msg);
	} else {
		timeutil_format_iso8601(
		        (tok->expires_at_ms - tok->timing.min_remaining_ms) / 1000, when);
		err_set(why, ERR_UNAVAILABLE, "%s expired at %s%s%s", tok->name, when,
		        sep, tok->last_error.msg);
	}
	return false;
}

/* --- the table ----------------------------------------------------------- */

struct token_table *
token_table_new(struct event_base *base)
{
	struct token_table *table = xcalloc(1, sizeof(*table));

	table->base = base;
	table->min_left_ms = TOKEN_MIN_LEFT_MS;
	/* Jitter spreads a fleet's refreshes: seeds must differ per process. */
	if (getrandom(&table->rng, sizeof(table->rng), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(table->rng))
		table->rng = (uint64_t)timeutil_mono_ms() ^ ((uint64_t)getpid() << 32) ^
		             (uint64_t)timeutil_wall_ms();
	return table;
}

static void
token_destroy(struct token *tok)
{
	const struct token_source_ops *ops = tok->source.ops;

	if (tok->fetching && ops != NULL && ops->cancel != NULL)
		ops->cancel(tok->source.impl);
	tok->fetching = false;
	event_free(tok->timer);
	event_free(tok->expiry_timer);
	if (ops != NULL && ops->free != NULL)
		ops->free(tok->source.impl);
	drop_value(tok);
	free(tok->name);
	free(tok);
}

void
token_table_free(struct token_table *table)
{
	if (table == NULL)
		return;
	for (size_t i = 0; i < table->n; i++)
		token_destroy(table->tokens[i]);
	free(table->tokens);
	free(table);
}

static struct token *
token_create(struct token_table *table, const struct token_def *def,
             struct token_source src)
{
	struct token *tok = xcalloc(1, sizeof(*tok));

	tok->name = xstrdup(def->name);
	tok->generation = ++table->generations;
	tok->def = def;
	tok->table = table;
	tok->state = TOKEN_EMPTY;
	tok->source = src;
	tok->timer = evtimer_new(table->base, on_timer, tok);
	tok->expiry_timer = evtimer_new(table->base, on_expiry, tok);
	if (tok->timer == NULL || tok->expiry_timer == NULL)
		abort(); /* only out of memory makes evtimer_new fail */
	return tok;
}

struct token *
token_table_add(struct token_table *table, const struct token_def *def,
                struct token_source src)
{
	struct token *tok = token_create(table, def, src);

	if (table->n == table->cap) {
		table->cap = table->cap ? table->cap * 2 : 8;
		table->tokens =
		        xrealloc(table->tokens, table->cap * sizeof(*table->tokens));
	}
	table->tokens[table->n++] = tok;
	/* Fetches start from the loop, never from inside a call here. */
	if (table->started)
		timer_arm(tok->timer, 0);
	return tok;
}

/* Carries old's value over to tok: the same bytes, version and expiry,
 * with the refresh rescheduled for tok's (possibly new) timing. */
static bool
carry_value(struct token *tok, const struct token *old, int64_t now)
{
	struct token_result res = { 0 };
	struct err err;

	if (old->value == NULL || !token_servable(old, now, NULL))
		return false;
	res.value = secret_ref(old->value);
	memcpy(res.token_type, old->token_type, sizeof(res.token_type));
	memcpy(res.scope, old->scope, sizeof(res.scope));
	memcpy(res.token_endpoint, old->token_endpoint, sizeof(res.token_endpoint));
	res.issued_at_ms = old->issued_at_ms;
	res.expires_at_ms = old->expires_at_ms;
	res.origin = old->origin;
	tok->version = old->version - 1; /* install() counts it back up */
	/* The value keeps its deadline on CLOCK_BOOTTIME too. */
	if (install(tok, &res, now, old->boot_expires_at_ms, &err) == -1) {
		secret_unref(res.value);
		tok->version = old->version;
		return false;
	}
	tok->refreshed_at_ms = old->refreshed_at_ms;
	return true;
}

struct token *
token_table_replace(struct token_table *table, struct token *old,
                    const struct token_def *def, struct token_source src, bool keep_value)
{
	struct token *tok = token_create(table, def, src);
	int64_t now = timeutil_wall_ms();

	if (!(keep_value && carry_value(tok, old, now))) {
		/* Versions stay monotonic for long-poll clients across a reload. */
		tok->version = old->version;
		if (table->started)
			timer_arm(tok->timer, 0);
	}
	/* After the carry, which is no new value: counters run on. */
	tok->refreshes = old->refreshes;
	tok->failures = old->failures;
	memcpy(tok->failures_by_code, old->failures_by_code,
	       sizeof(tok->failures_by_code));
	memcpy(tok->values_by_origin, old->values_by_origin,
	       sizeof(tok->values_by_origin));
	/* The issuer's count does not restart with a reload, nor its warning. */
	tok->quota = old->quota;
	for (size_t i = 0; i < table->n; i++)
		if (table->tokens[i] == old)
			table->tokens[i] = tok;
	token_destroy(old);
	notify(tok);
	return tok;
}

void
token_table_remove(struct token_table *table, struct token *tok)
{
	for (size_t i = 0; i < table->n; i++) {
		if (table->tokens[i] != tok)
			continue;
		memmove(&table->tokens[i], &table->tokens[i + 1],
		        (table->n - i - 1) * sizeof(*table->tokens));
		table->n--;
		token_destroy(tok);
		return;
	}
}

void
token_table_start(struct token_table *table)
{
	if (table->started)
		return;
	table->started = true;
	for (size_t i = 0; i < table->n; i++)
		timer_arm(table->tokens[i]->timer, 0);
}

struct token *
token_table_find(struct token_table *table, const char *name)
{
	for (size_t i = 0; i < table->n; i++)
		if (strcmp(table->tokens[i]->name, name) == 0)
			return table->tokens[i];
	return NULL;
}

size_t
token_table_count(const struct token_table *table)
{
	return table->n;
}

struct token *
token_table_at(struct token_table *table, size_t i)
{
	return i < table->n ? table->tokens[i] : NULL;
}

bool
token_table_all_valid(struct token_table *table)
{
	int64_t now = timeutil_wall_ms();

	for (size_t i = 0; i < table->n; i++)
		if (!token_servable(table->tokens[i], now, NULL))
			return false;
	return true;
}

void
token_table_set_observer(struct token_table *table, token_change_fn *fn, void *arg)
{
	table->observer = fn;
	table->observer_arg = arg;
}

void
token_table_set_min_left(struct token_table *table, int64_t ms)
{
	table->min_left_ms = ms;
}

int64_t
token_expires_at(const struct token *tok, int64_t now_ms)
{
	int64_t by_boot = now_ms + life_left(tok, now_ms);

	/* The two clocks read a few ms apart: only a real difference (a step
	 * back of the wall clock) changes what clients are told. */
	return by_boot < tok->expires_at_ms - 1000 ? by_boot : tok->expires_at_ms;
}

/* The value is held past what the clocks allow: drop it, and fetch now
 * unless a fetch is under way or the issuer asked to wait. */
static void
catch_up(struct token *tok, int64_t now)
{
	tlog_warn(tok, "value held past its expiry (the wall clock was set or the "
	               "machine resumed): dropping it");
	expire(tok);
	evtimer_del(tok->expiry_timer);
	if (!tok->fetching && tok->table->started)
		timer_arm(tok->timer, tok->retry_not_before_ms - now);
}

void
token_expired_seen(struct token *tok)
{
	int64_t now = timeutil_wall_ms();

	if (tok->value != NULL && serve_left(tok, now) <= 0)
		catch_up(tok, now);
}

void
token_table_clock_stepped(struct token_table *table)
{
	int64_t now = timeutil_wall_ms(), delay;

	for (size_t i = 0; i < table->n; i++) {
		struct token *tok = table->tokens[i];

		if (tok->value == NULL)
			continue;
		if (serve_left(tok, now) <= 0) {
			catch_up(tok, now);
			continue;
		}
		timer_arm(tok->expiry_timer, serve_left(tok, now));
		/* A planned refresh moves with the clock; a retry keeps its
		 * backoff; a fetch under way is left alone. */
		if (tok->state != TOKEN_VALID || tok->fetching)
			continue;
		delay = token_refresh_delay(now, now + life_left(tok, now), &tok->timing,
		                            table_rnd32(table));
		timer_arm(tok->timer, delay);
	}
}
