/* token.c - the token table: values, states, refresh and retry timers.
 *
 * Each token has two timers. `timer` starts the next fetch: a refresh
 * ahead of expiry, or a retry after a failure. `expiry_timer` fires when
 * the value falls under min_remaining and drops it: from then on the
 * token answers 503 until a new value arrives. Expiries are wall times
 * (they come from issuers as such); delays are their distance from now.
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

#define BACKOFF_BASE_MS   1000
#define BACKOFF_CAP_MS    60000
#define BACKOFF_PERM_MS   (10 * 60000)
#define SHORT_LIFETIME_MS (10 * 60 * 1000)
#define MIN_REMAINING_MS  (60 * 1000)
#define MIN_GAP_FLOOR_MS  10

struct token_table {
	struct event_base *base;
	struct token **tokens;
	size_t n, cap;
	token_change_fn *observer;
	void *observer_arg;
	bool started;
	uint64_t rng; /* splitmix64 state: jitter only, not security */
};

static void token_fetch(struct token *tok);

/* --- pure scheduling maths ---------------------------------------------- */

void
token_timing_derive(const struct token_def *def, int64_t lifetime_ms,
                    struct token_timing *out)
{
	int64_t life = lifetime_ms > 0 ? lifetime_ms : 0;

	out->refresh_before_ms =
	        def->refresh_before_ms >= 0 ? def->refresh_before_ms : life / 3;
	out->jitter_ms = def->jitter_ms >= 0 ? def->jitter_ms : life / 10;
	if (def->min_remaining_ms >= 0)
		out->min_remaining_ms = def->min_remaining_ms;
	else
		out->min_remaining_ms =
		        life < SHORT_LIFETIME_MS ? life / 10 : MIN_REMAINING_MS;

	if (out->refresh_before_ms < out->min_remaining_ms)
		out->refresh_before_ms = out->min_remaining_ms;
	if (out->refresh_before_ms >= life)
		out->refresh_before_ms = life / 2;
	if (out->jitter_ms > (life - out->refresh_before_ms) / 2)
		out->jitter_ms = (life - out->refresh_before_ms) / 2;
}

int64_t
token_refresh_delay(int64_t now_ms, int64_t expires_at_ms,
                    const struct token_timing *timing, uint32_t rnd32)
{
	int64_t jitter = (int64_t)(((uint64_t)timing->jitter_ms * rnd32) >> 32);
	int64_t at = expires_at_ms - timing->refresh_before_ms - jitter;

	return at > now_ms ? at - now_ms : 0;
}

int64_t
token_backoff_delay(unsigned attempt, int64_t retry_after_ms, uint32_t rnd32)
{
	int64_t ceiling = BACKOFF_CAP_MS, delay;

	/* 2^6 s already passes the cap: no shift can overflow. */
	if (attempt < 6)
		ceiling = (int64_t)BACKOFF_BASE_MS << attempt;
	if (ceiling > BACKOFF_CAP_MS)
		ceiling = BACKOFF_CAP_MS;
	/* Uniform in [0, ceiling], both ends included. */
	delay = (int64_t)(((uint64_t)(ceiling + 1) * rnd32) >> 32);
	if (retry_after_ms > delay)
		delay = retry_after_ms;
	return delay;
}

int64_t
token_backoff_permanent(unsigned attempt, int64_t retry_after_ms, uint32_t rnd32)
{
	int64_t ceiling = BACKOFF_PERM_MS, delay;

	if (attempt < 4)
		ceiling = (int64_t)BACKOFF_CAP_MS << attempt;
	if (ceiling > BACKOFF_PERM_MS)
		ceiling = BACKOFF_PERM_MS;
	delay = ceiling / 2 + (int64_t)(((uint64_t)(ceiling / 2 + 1) * rnd32) >> 32);
	return retry_after_ms > delay ? retry_after_ms : delay;
}

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

static int64_t
servable_until(const struct token *tok)
{
	return tok->expires_at_ms - tok->timing.min_remaining_ms;
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
on_expiry(evutil_socket_t fd, short what, void *arg)
{
	struct token *tok = arg;
	int64_t now = timeutil_wall_ms();

	if (tok->value == NULL)
		return;
	/* The loop's timers run on the monotonic clock: if the wall clock
	 * lags, wait for it. */
	if (now < servable_until(tok)) {
		timer_arm(tok->expiry_timer, servable_until(tok) - now);
		return;
	}
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

/* --- fetch results ------------------------------------------------------- */

static void
fetch_failed(struct token *tok, const struct err *err, int64_t retry_after_ms,
             bool permanent)
{
	int64_t now = timeutil_wall_ms(), delay, left;
	bool serving = tok->value != NULL && now < servable_until(tok);

	tok->failures++;
	tok->failures_by_code[err->code <= ERR_INTERNAL ? err->code : ERR_INTERNAL]++;
	tok->attempt++;
	tok->last_error = *err;
	tok->last_error_at_ms = now;
	if (retry_after_ms > 0)
		tok->retry_not_before_ms = now + retry_after_ms;
	delay = (permanent ? token_backoff_permanent : token_backoff_delay)(
	        tok->attempt - 1, retry_after_ms, table_rnd32(tok->table));
	/* Backing off past the moment the value stops being served would
	 * skip the last chances to replace it in time: such a retry comes at
	 * half the time left instead, and so on, while the retries stay at
	 * least min_gap apart. A retry due within min_gap of that moment
	 * counts as past it: it would race the expiry timer and could not
	 * finish in time. After that moment the backoff runs free, so the
	 * token comes back when the issuer does. */
	left = servable_until(tok) - now;
	if (serving && delay > left - min_gap(tok) && left / 2 >= min_gap(tok))
		delay = left / 2 > retry_after_ms ? left / 2 : retry_after_ms;
	if (serving)
		tlog_warn(tok,
		          "fetch failed (attempt %u): %s; retrying in %" PRId64
		          " ms, still serving version %" PRIu64,
		          tok->attempt, err->msg, delay, tok->version);
	else
		tlog_error(tok,
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
log_new_value(struct token *tok, int64_t now, int64_t refresh_in_ms)
{
	char fp[LOG_FP_LEN], when[21];

	log_fingerprint(tok->value->data, tok->value->len, fp);
	timeutil_format_iso8601(tok->expires_at_ms / 1000, when);
	tlog_info(tok,
	          "new value %s (version %" PRIu64 ", from %s), expires %s (in %" PRId64
	          " s), refresh in %" PRId64 " s",
	          fp, tok->version, token_origin_name(tok->origin), when,
	          (tok->expires_at_ms - now) / 1000, refresh_in_ms / 1000);
}

/* Takes res->value on success; -1 with err when the value is unusable. */
static int
install(struct token *tok, struct token_result *res, int64_t now, struct err *err)
{
	struct token_timing t;
	int64_t issued = res->issued_at_ms > 0 && res->issued_at_ms <= now
	                         ? res->issued_at_ms
	                         : now;
	int64_t delay;
	char when[21];

	token_timing_derive(tok->def, res->expires_at_ms - issued, &t);
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
	tok->issued_at_ms = issued;
	tok->expires_at_ms = res->expires_at_ms;
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
	delay = token_refresh_delay(now, tok->expires_at_ms, &t, table_rnd32(tok->table));
	timer_arm(tok->timer, delay);
	timer_arm(tok->expiry_timer, servable_until(tok) - now);
	log_new_value(tok, now, delay);
	return 0;
}

static void
on_fetch_done(struct token_result *res, void *arg)
{
	struct token *tok = arg;
	struct err err;

	/* A result nobody waits for (the token was removed, or the source
	 * broke its contract) is dropped. */
	if (!tok->fetching || tok->removed) {
		secret_unref(res->value);
		res->value = NULL;
		return;
	}
	tok->fetching = false;
	if (res->err.code != ERR_OK) {
		err = res->err;
	} else if (res->value == NULL) {
		err_set(&err, ERR_INTERNAL, "%s returned no value",
		        tok->source.ops->name);
	} else if (install(tok, res, timeutil_wall_ms(), &err) == 0) {
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
	if (tok->value != NULL && timeutil_wall_ms() < servable_until(tok) &&
	    tok->state != TOKEN_REFRESHING) {
		tok->state = TOKEN_REFRESHING;
		notify(tok);
	}
}

int
token_refresh_now(struct token *tok, struct err *err)
{
	int64_t now = timeutil_wall_ms();

	if (tok->removed || !tok->table->started)
		return err_set(err, ERR_UNAVAILABLE, "token %s is not started",
		               tok->name);
	if (tok->fetching)
		return err_set(err, ERR_EXISTS, "a refresh of %s is already under way",
		               tok->name);
	if (now < tok->retry_not_before_ms)
		return err_set(err, ERR_THROTTLED,
		               "the issuer of %s asked to wait %" PRId64 " ms more",
		               tok->name, tok->retry_not_before_ms - now);
	tlog_info(tok, "refresh requested");
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

	if (tok->value != NULL && now_ms < servable_until(tok))
		return true;
	if (tok->version == 0) {
		err_set(why, ERR_UNAVAILABLE, "%s has no value yet (%s)%s%s", tok->name,
		        token_state_name(tok->state), sep, tok->last_error.msg);
	} else {
		timeutil_format_iso8601(servable_until(tok) / 1000, when);
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

	tok->removed = true;
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
	res.issued_at_ms = old->issued_at_ms;
	res.expires_at_ms = old->expires_at_ms;
	res.origin = old->origin;
	tok->version = old->version - 1; /* install() counts it back up */
	if (install(tok, &res, now, &err) == -1) {
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
	memcpy(tok->failures_by_code, old->failures_by_code, sizeof(tok->failures_by_code));
	memcpy(tok->values_by_origin, old->values_by_origin, sizeof(tok->values_by_origin));
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
