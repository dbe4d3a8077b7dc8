/* store_ssm.c - a token source wrapped with SSM persistence and the fleet
 * lock (the flow is described in store_ssm.h). The record formats and the
 * adoption decision are in store_ssm_record.c. */
#include "store_ssm.h"

#include <event2/event.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secret.h"
#include "store_ssm_int.h"
#include "store_ssm_pace.h"
#include "ssm.h"
#include "timeutil.h"
#include "xalloc.h"

static void start_inner(struct store *s);

/* Every SSM call of a token gets the token's request_timeout (a slow SSM
 * must not hold the token longer than a slow issuer would), a priority in
 * the process's SSM budget and a deadline for its busy retries. */
struct ssm_call *
store_ssm_sent_until(const struct store *s, struct ssm_call *call, enum ssm_priority prio,
                     int64_t deadline_mono)
{
	int64_t now = timeutil_mono_ms();

	if (deadline_mono < now + 500)
		deadline_mono = now + 500; /* past the deadline: one short try */
	ssm_call_set_timeout(call, s->def->request_timeout_ms);
	ssm_call_set_priority(call, prio);
	ssm_call_set_deadline(call, deadline_mono);
	return call;
}

/* A fetch's call: the holder's until its lease ends, the others' until
 * the fetch's deadline (at most the client's default span from now). */
struct ssm_call *
store_ssm_sent(const struct store *s, struct ssm_call *call, enum ssm_priority prio)
{
	int64_t now = timeutil_mono_ms();
	int64_t dl = s->locked ? s->lease_end_mono : s->deadline_mono;

	if (!s->locked && dl > now + SSM_DEFAULT_DEADLINE_MS)
		dl = now + SSM_DEFAULT_DEADLINE_MS;
	return store_ssm_sent_until(s, call, prio, dl);
}

uint32_t
store_ssm_rnd32(void)
{
	uint32_t r = 0;

	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint32_t)timeutil_mono_ms();
	return r;
}

/* When to stop waiting for SSM or another instance and call the issuer,
 * in ms from now (store_ssm_pace_deadline). */
static int64_t
deadline_in(const struct store *s)
{
	return store_ssm_pace_deadline(
	        timeutil_wall_ms(), s->held_exp_ms, s->held_timing.min_remaining_ms,
	        s->def->ssm_cold_wait_ms, s->def->request_timeout_ms);
}

/* The first read's delay: spread over START_SPREAD_MS for a fleet started
 * together; none when a caller waits (urgent); else the follower's turn
 * (store_ssm_pace_first_read). */
static int64_t
first_read_delay(struct store *s, int64_t deadline_ms)
{
	struct store_ssm_pace_turn turn = {
		.now_ms = timeutil_wall_ms(),
		.held_exp_ms = s->held_exp_ms,
		.t = s->held_timing,
		.deadline_in_ms = deadline_ms,
		.leader = strcmp(s->stored_writer, s->owner) == 0,
		.leader_known = s->stored_writer[0] != '\0',
	};

	if (!s->started)
		return (int64_t)(store_ssm_rnd32() % (START_SPREAD_MS + 1));
	if (s->urgent)
		return 0;
	return store_ssm_pace_first_read(&turn, store_ssm_rnd32());
}

void
store_ssm_deliver(struct store *s, struct token_result *res)
{
	if (res->err.code == ERR_OK) {
		s->held_exp_ms = res->expires_at_ms;
		token_timing_derive(s->def, res->expires_at_ms - res->issued_at_ms,
		                    &s->held_timing);
	}
	s->waiting = false;
	s->fallback = false;
	s->fetching = false;
	/* done may start the next fetch: nothing of res is used after. */
	s->done(res, s->arg);
}

void
store_ssm_fall_back(struct store *s, const struct err *why, bool unusable)
{
	s->stats.fallbacks++;
	if (unusable) {
		s->stats.fallbacks_unusable++;
	} else {
		s->stats.fallbacks_deadline++;
		s->write_back = true; /* SSM was only busy: share the value */
	}
	s->fallback = true;
	s->waiting = false;
	slog_warn(s, "%s; fetching without SSM (%s, fallback %llu)", why->msg,
	          unusable             ? "unusable"
	          : s->held_exp_ms > 0 ? "warm deadline"
	                               : "cold deadline",
	          (unsigned long long)s->stats.fallbacks);
	start_inner(s);
}

static void
note_mints(struct store *s, const struct store_ssm_mints *seen)
{
	int64_t now = timeutil_wall_ms();

	/* The parameter holds the fleet's count; ours may be ahead of it
	 * when a write failed. */
	if (store_ssm_record_mints_now(seen, now) >=
	    store_ssm_record_mints_now(&s->stats.mints, now))
		s->stats.mints = *seen;
}

static void
ignore_value(struct store *s, int64_t version, const char *why)
{
	s->stats.ignored++;
	if (version == s->warned_version)
		return;
	s->warned_version = version;
	slog_warn(s, "ssm %s version %lld ignored: %s; it will be replaced",
	          s->def->ssm_parameter, (long long)version, why);
}

/* The record's claimed expiry, capped by what the token itself says (a
 * JWT's exp, an IAM token's X-Amz-Date + X-Amz-Expires): a record is
 * never served past its token's own end. */
static void
cap_expiry(struct store_ssm_record *rec)
{
	int64_t iat = 0, exp = 0;

	if (store_ssm_record_token_expiry(rec->token, &iat, &exp) == 0 && exp > 0 &&
	    exp < rec->expires_at_ms)
		rec->expires_at_ms = exp;
}

static int
decode(struct store *s, const struct ssm_parameter *p, struct store_ssm_record *rec)
{
	struct err e = { 0 };
	int rc;

	if (s->def->ssm_format == SSM_FORMAT_JSON)
		rc = store_ssm_record_decode_json(p->value, rec, &e);
	else
		rc = store_ssm_record_decode_value(p->value, p->description, rec, &e);
	if (rc == -1) {
		ignore_value(s, p->version, e.msg);
		return -1;
	}
	cap_expiry(rec);
	/* Whoever wrote the stored value leads the fleet's next refresh. */
	snprintf(s->stored_writer, sizeof(s->stored_writer), "%s", rec->writer);
	if (rec->expires_at_ms - timeutil_wall_ms() > MAX_LIFETIME_MS) {
		ignore_value(s, p->version, "an implausible lifetime");
		store_ssm_record_clear(rec);
		return -1;
	}
	if (rec->issued_at_ms <= 0 || rec->issued_at_ms >= rec->expires_at_ms)
		rec->issued_at_ms = p->last_modified_ms > 0 && p->last_modified_ms <
		                                                       rec->expires_at_ms
		                            ? p->last_modified_ms
		                            : rec->expires_at_ms - 1000;
	return 0;
}

/* Adopts the parameter's value if it may be served; false otherwise. */
static bool
try_adopt(struct store *s, const struct ssm_parameter *p)
{
	struct store_ssm_record rec;
	struct token_timing timing;
	struct token_result res;
	enum store_ssm_verdict v;

	if (decode(s, p, &rec) == -1)
		return false;
	s->stored_exp_ms = rec.expires_at_ms;
	note_mints(s, &rec.mints);
	token_timing_derive(s->def, rec.expires_at_ms - rec.issued_at_ms, &timing);
	v = store_ssm_record_judge(&rec, s->def->type, timeutil_wall_ms(), s->held_exp_ms,
	                           &timing);
	if (v == STORE_SSM_WRONG_TYPE)
		ignore_value(s, p->version, "a token of another type");
	else if (v == STORE_SSM_EXPIRED)
		ignore_value(s, p->version, "expired or about to");
	if (v != STORE_SSM_ADOPT) {
		store_ssm_record_clear(&rec);
		return false;
	}
	memset(&res, 0, sizeof(res));
	res.value = secret_new_str(rec.token);
	snprintf(res.token_type, sizeof(res.token_type), "%s", rec.token_type);
	res.issued_at_ms = rec.issued_at_ms;
	res.expires_at_ms = rec.expires_at_ms;
	res.origin = TOKEN_ORIGIN_SSM;
	s->stats.adopted++;
	slog_info(s, "adopted the value in ssm %s (written by %s, %llds left)",
	          s->def->ssm_parameter, rec.writer[0] ? rec.writer : "?",
	          (long long)((rec.expires_at_ms - timeutil_wall_ms()) / 1000));
	store_ssm_record_clear(&rec);
	s->result = res;
	return true;
}

/* The leader of a warm refresh takes the lease straight away: the stored
 * value is its own, so reading it and the lock first would only put two
 * more reads in the fleet's queue before the one call that matters; the
 * read after the lease still catches a value another wrote meanwhile. */
static bool
leads(const struct store *s)
{
	return s->first_read && s->held_exp_ms > 0 && !s->urgent_fetch &&
	       s->def->coordinate == COORDINATE_SSM_LOCK &&
	       strcmp(s->stored_writer, s->owner) == 0 && !store_ssm_bg_busy(s);
}

static void
on_poll_timer(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;

	if (leads(s)) {
		s->first_read = false;
		store_ssm_lease_take(s);
		return;
	}
	store_ssm_read(s);
}

/* Reads again after the waiter's interval (growing, jittered, never past
 * the deadline by more than a few milliseconds). */
void
store_ssm_poll_later(struct store *s)
{
	int64_t delay =
	        s->poll_ms * 3 / 4 + (int64_t)(store_ssm_rnd32() % (s->poll_ms / 2 + 1));
	int64_t left = s->deadline_mono - timeutil_mono_ms();
	struct timeval tv;

	if (delay > left)
		delay = left > 0 ? left : 0;
	tv.tv_sec = (time_t)(delay / 1000);
	tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
	s->poll_ms = s->poll_ms * 3 / 2 > POLL_MAX_MS ? POLL_MAX_MS : s->poll_ms * 3 / 2;
	evtimer_add(s->timer, &tv);
}

/* SSM failed a call of a non-holder: busy is waited out (polling again)
 * until the deadline; unusable, or the deadline passed, calls the issuer. */
void
store_ssm_failed(struct store *s, const struct ssm_result *res)
{
	if (!ssm_result_busy(res)) {
		store_ssm_fall_back(s, &res->err, true);
		return;
	}
	if (timeutil_mono_ms() >= s->deadline_mono) {
		store_ssm_fall_back(s, &res->err, false);
		return;
	}
	s->stats.busy_waits++;
	slog_debug(s, "%s; SSM is busy, reading again", res->err.msg);
	store_ssm_poll_later(s);
}

/* The value read was not adopted: what comes next depends on the lease. */
static void
after_no_adopt(struct store *s)
{
	if (s->def->coordinate == COORDINATE_NONE || s->locked)
		start_inner(s);
	else if (s->waiting && timeutil_mono_ms() < s->seen_lease_end_mono)
		/* The lease seen is live: only its holder's value is waited
		 * for, the lock is read again once it may have gone stale. */
		store_ssm_lease_wait(s);
	else
		/* The lock is read before it is taken: a Put costs the scarcer
		 * write quota, and a live lease needs none. */
		store_ssm_lease_read(s);
}

static void
after_value(struct store *s, const struct ssm_parameter *p)
{
	if (try_adopt(s, p))
		store_ssm_persist(s, false); /* and release a lease taken */
	else
		after_no_adopt(s);
}

static void
drop_described(struct store *s)
{
	secret_free_str(s->described.value);
	memset(&s->described, 0, sizeof(s->described));
}

/* The Description read for the value read before: adopted with it if
 * the parameter did not change in between. */
static void
on_described(const struct ssm_result *res, void *arg)
{
	struct store *s = arg;
	struct ssm_parameter p = s->described;

	s->call = NULL;
	if (res->err.code == ERR_OK && res->param.version == p.version) {
		p.description = res->param.description;
		after_value(s, &p);
	} else if (res->err.code == ERR_OK || res->err.code == ERR_NOTFOUND) {
		store_ssm_read(s); /* it changed meanwhile: read it again */
	} else if (ssm_result_busy(res)) {
		if (s->locked)
			after_no_adopt(s); /* the holder goes on: as in on_read */
		else
			store_ssm_failed(s, res);
	} else {
		if (!s->describe_warned)
			slog_warn(s,
			          "%s; an opaque token in ssm_format = value is not "
			          "adopted without its Description",
			          res->err.msg);
		s->describe_warned = true;
		after_no_adopt(s);
	}
	drop_described(s);
}

/* The value layout keeps an opaque token's expiry in the parameter's
 * Description ("expires:EPOCH_MS", the seed's readers' layout), which
 * GetParameter does not return: DescribeParameters reads it. JWTs and IAM
 * tokens carry their own expiry and need no second call. */
static bool
describe_first(struct store *s, const struct ssm_parameter *p, enum ssm_priority prio)
{
	int64_t iat = 0, exp = 0;

	if (s->def->ssm_format != SSM_FORMAT_VALUE ||
	    store_ssm_record_token_expiry(p->value, &iat, &exp) == 0)
		return false;
	drop_described(s);
	s->described.value = xstrdup(p->value);
	s->described.version = p->version;
	s->described.last_modified_ms = p->last_modified_ms;
	s->call = store_ssm_sent(
	        s, ssm_describe_parameter(s->ssm, s->def->ssm_parameter, on_described, s),
	        prio);
	return true;
}

static void
on_read(const struct ssm_result *res, void *arg)
{
	struct store *s = arg;
	enum ssm_priority prio =
	        s->locked || s->first_read ? SSM_PRIO_HOLDER : SSM_PRIO_LOW;

	s->call = NULL;
	s->first_read = false;
	if (res->err.code == ERR_OK) {
		if (!describe_first(s, &res->param, prio))
			after_value(s, &res->param);
		return;
	}
	if (res->err.code != ERR_NOTFOUND) {
		if (s->locked) {
			/* The lease is ours: fetch, write and release it. */
			start_inner(s);
			return;
		}
		store_ssm_failed(s, res);
		return;
	}
	after_no_adopt(s);
}

void
store_ssm_read(struct store *s)
{
	/* A refresh's first read and the holder's go ahead of polls. */
	enum ssm_priority prio =
	        s->locked || s->first_read ? SSM_PRIO_HOLDER : SSM_PRIO_LOW;

	if (s->first_read && store_ssm_bg_busy(s)) {
		/* The last fetch's write or release first: read what it wrote. */
		s->read_deferred = true;
		return;
	}
	s->call = ssm_get_parameter(s->ssm, s->def->ssm_parameter, true, on_read, s);
	/* The holder's read after taking the lease only saves an issuer call
	 * in a rare race; throttled for longer than HOLDER_READ_MS it gives
	 * up and the issuer is called (the lease is ours), instead of
	 * retrying behind a fleet's reads until the lease runs out. */
	if (s->locked)
		store_ssm_sent_until(s, s->call, prio,
		                     timeutil_mono_ms() + HOLDER_READ_MS);
	else
		store_ssm_sent(s, s->call, prio);
}

static void
check_budget(struct store *s)
{
	int64_t budget = s->def->issuer_budget;
	const struct store_ssm_mints *m = &s->stats.mints;

	if (budget <= 0 || m->count * 5 < budget * 4 ||
	    strcmp(s->budget_warned, m->month) == 0)
		return;
	memcpy(s->budget_warned, m->month, sizeof(s->budget_warned));
	slog_warn(s, "issuer_budget: %lld of %lld issuer calls used in %s%s",
	          (long long)m->count, (long long)budget, m->month,
	          m->count >= budget ? "; forced refreshes are refused" : "");
}

static void
on_inner(struct token_result *res, void *arg)
{
	struct store *s = arg;

	s->inner_busy = false;
	s->result = *res;
	res->value = NULL; /* ownership moved to s->result */
	if (res->err.code == ERR_OK && res->origin == TOKEN_ORIGIN_ISSUER) {
		s->stats.issuer_calls++;
		store_ssm_record_mints_next(&s->stats.mints, timeutil_wall_ms(),
		                            &s->stats.mints);
		check_budget(s);
	}
	/* A value fetched without the lease while SSM was only busy is
	 * written back when it outlives the stored one (re-convergence). */
	if (res->err.code == ERR_OK && s->fallback && s->write_back &&
	    s->result.expires_at_ms > s->stored_exp_ms)
		store_ssm_write_back(s);
	else
		store_ssm_persist(s, res->err.code == ERR_OK && !s->fallback);
}

static void
start_inner(struct store *s)
{
	struct token_result res;

	s->stats.inner_fetches++;
	s->inner_busy = true;
	if (s->inner.ops->start_fetch(s->inner.impl, on_inner, s) == 0)
		return;
	/* Only reached from SSM callbacks, so answering now is from the loop. */
	memset(&res, 0, sizeof(res));
	err_set(&res.err, ERR_INTERNAL, "%s source did not start", s->inner.ops->name);
	if (s->inner.ops->start_error != NULL)
		s->inner.ops->start_error(s->inner.impl, &res.err);
	on_inner(&res, s);
}

static void
arm_first_read(struct store *s, int64_t delay)
{
	struct timeval tv = { (time_t)(delay / 1000),
		              (suseconds_t)(delay % 1000) * 1000 };

	evtimer_add(s->timer, &tv);
}

static int
store_start_fetch(void *impl, token_fetch_done_fn *done, void *arg)
{
	struct store *s = impl;
	int64_t deadline = deadline_in(s);

	s->done = done;
	s->arg = arg;
	s->fetching = true;
	s->waiting = s->fallback = s->write_back = s->locked = false;
	s->first_read = true;
	s->lease.nonce[0] = '\0';
	s->seen_lease_end_mono = 0;
	s->poll_ms = POLL_FIRST_MS;
	s->deadline_mono = timeutil_mono_ms() + deadline;
	/* Every read answers from the loop, never from here. */
	arm_first_read(s, first_read_delay(s, deadline));
	s->started = true;
	s->urgent_fetch = s->urgent;
	s->urgent = false;
	return 0;
}

/* A forced refresh: a first read still waiting its turn goes now. */
static void
store_urgent(void *impl)
{
	struct store *s = impl;

	if (!s->fetching)
		s->urgent = true; /* for the fetch about to start */
	else if (s->first_read && s->call == NULL && evtimer_pending(s->timer, NULL))
		arm_first_read(s, 0);
}

static void
store_cancel(void *impl)
{
	struct store *s = impl;

	ssm_call_cancel(s->call);
	s->call = NULL;
	evtimer_del(s->timer);
	if (s->inner_busy && s->inner.ops->cancel != NULL)
		s->inner.ops->cancel(s->inner.impl);
	s->inner_busy = false;
	secret_unref(s->result.value);
	memset(&s->result, 0, sizeof(s->result));
	drop_described(s);
	if (s->locked)
		store_ssm_lease_drop(s);
	s->locked = false;
	s->lease.nonce[0] = '\0';
	store_ssm_bg_cancel(s);
	s->waiting = s->fetching = false;
}

static void
store_free(void *impl)
{
	struct store *s = impl;

	if (s == NULL)
		return;
	store_cancel(s);
	if (s->inner.ops != NULL && s->inner.ops->free != NULL)
		s->inner.ops->free(s->inner.impl);
	event_free(s->timer);
	free(s->lock_name);
	free(s);
}

static const struct token_source_ops store_ops = {
	.name = "store_ssm",
	.start_fetch = store_start_fetch,
	.cancel = store_cancel,
	.free = store_free,
	.urgent = store_urgent,
	.spreads_refresh = true,
};

int
store_ssm_wrap(const struct token_def *def, struct ssm_client *ssm,
               struct token_source inner, struct token_source *out, struct err *err)
{
	struct store *s;
	char host[64] = "localhost";

	if (def->ssm_parameter == NULL || ssm == NULL) {
		if (inner.ops != NULL && inner.ops->free != NULL)
			inner.ops->free(inner.impl);
		return err_set(err, ERR_INTERNAL,
		               "store_ssm: no parameter or SSM client");
	}
	s = xcalloc(1, sizeof(*s));
	s->def = def;
	s->ssm = ssm;
	s->inner = inner;
	s->warned_version = -1;
	xasprintf(&s->lock_name, "%s.lock", def->ssm_parameter);
	(void)gethostname(host, sizeof(host) - 1);
	snprintf(s->owner, sizeof(s->owner), "%s/%ld", host, (long)getpid());
	s->timer = evtimer_new(ssm_client_base(ssm), on_poll_timer, s);
	if (s->timer == NULL)
		abort(); /* out of memory, as xmalloc */
	out->ops = &store_ops;
	out->impl = s;
	return 0;
}

const struct store_ssm_stats *
store_ssm_stats(const struct token_source *src)
{
	if (src == NULL || src->ops != &store_ops)
		return NULL;
	return &((const struct store *)src->impl)->stats;
}

bool
store_ssm_persisting(const struct token_source *src)
{
	return src != NULL && src->ops == &store_ops &&
	       store_ssm_bg_busy((const struct store *)src->impl);
}

bool
store_ssm_budget_exceeded(const struct token_source *src, int64_t now_ms)
{
	const struct store *s;

	if (src == NULL || src->ops != &store_ops)
		return false;
	s = src->impl;
	return s->def->issuer_budget > 0 &&
	       store_ssm_record_mints_now(&s->stats.mints, now_ms) >=
	               s->def->issuer_budget;
}
