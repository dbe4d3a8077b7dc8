/* store_ssm_lease.c - the fleet lease of store_ssm: NAME.lock holds
 * {owner, nonce, until}; its protocol and bounds are in
 * docs/architecture.md "Fleet coordination". */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_ssm_int.h"
#include "timeutil.h"

int64_t
store_ssm_lease_span(const struct store *s)
{
	int64_t timeout =
	        s->def->request_timeout_ms > 0 ? s->def->request_timeout_ms : 10000;

	/* The holder's inner fetch and its write must fit. */
	return 2 * timeout + LOCK_SLACK_MS;
}

static void
new_nonce(char out[STORE_SSM_NONCE_LEN])
{
	unsigned char b[16];
	size_t i;

	if (RAND_bytes(b, sizeof(b)) != 1)
		for (i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)store_ssm_rnd32();
	for (i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Is the lock read stale? Judged on the AWS clock (ours corrected by the
 * skew measured from SSM's Date headers) with SKEW_SLACK_MS to spare, and
 * its "until" bounded by SSM's own LastModifiedDate: a lock claiming a far
 * future is stale after twice our lease span all the same. */
static int64_t
lock_until_ms(const struct store *s, const struct store_ssm_lock *l, int64_t modified_ms)
{
	int64_t until = l->until_s * 1000;
	int64_t bound = 2 * store_ssm_lease_span(s);

	return modified_ms > 0 && until > modified_ms + bound ? modified_ms + bound
	                                                      : until;
}

static bool
lock_stale(struct store *s, const struct store_ssm_lock *l, int64_t modified_ms)
{
	return ssm_client_now_ms(s->ssm) >
	       lock_until_ms(s, l, modified_ms) + SKEW_SLACK_MS;
}

/* Cold, a live lease is waited out whatever ssm_cold_wait says: its end
 * is bounded, and the takeover that follows costs one issuer call where
 * giving up costs one per waiter. Warm, the held value's deadline rules.
 * Every waiter of one lease would find it stale at the same instant and
 * race to take it over (SSM deletes unconditionally: two may win); each
 * looks a random part of TAKEOVER_SPREAD_MS later, so the first taker's
 * lock is usually in place before the next one looks. */
static void
wait_out(struct store *s, const struct store_ssm_lock *l, int64_t modified_ms)
{
	int64_t spread = (int64_t)(store_ssm_rnd32() % (TAKEOVER_SPREAD_MS + 1));
	int64_t left = lock_until_ms(s, l, modified_ms) + SKEW_SLACK_MS + 250 + spread -
	               ssm_client_now_ms(s->ssm);
	int64_t end = timeutil_mono_ms() + left;

	s->seen_lease_end_mono = end;
	if (s->held_exp_ms <= 0 && end > s->deadline_mono)
		s->deadline_mono = end;
}

static void
got_lease(struct store *s)
{
	s->locked = true;
	s->waiting = false;
	/* Another holder may have written between our read and now. */
	store_ssm_read(s);
}

static void
on_stale_deleted(const struct ssm_result *res, void *arg)
{
	struct store *s = arg;

	s->call = NULL;
	if (res->err.code != ERR_OK && res->err.code != ERR_NOTFOUND) {
		store_ssm_failed(s, res);
		return;
	}
	s->stats.takeovers++;
	store_ssm_lease_take(s);
}

/* The stale lock read again before deleting it: deleted only if it is
 * still the very record judged stale. */
static void
on_stale_reread(const struct ssm_result *res, void *arg)
{
	struct store *s = arg;
	struct store_ssm_lock l;

	s->call = NULL;
	if (res->err.code == ERR_NOTFOUND) {
		store_ssm_lease_take(s);
		return;
	}
	if (res->err.code != ERR_OK) {
		store_ssm_failed(s, res);
		return;
	}
	(void)store_ssm_record_lock_decode(res->param.value, &l, NULL);
	if (res->param.version != s->stale_version ||
	    strcmp(l.nonce, s->stale_nonce) != 0) {
		/* Someone else took it over meanwhile: its value comes soon. */
		s->poll_ms = POLL_FIRST_MS;
		store_ssm_poll_later(s);
		return;
	}
	slog_warn(s, "ssm %s: lock of %s expired; deleting it and taking it over",
	          s->lock_name, l.owner[0] ? l.owner : "?");
	s->call = store_ssm_sent(
	        s, ssm_delete_parameter(s->ssm, s->lock_name, on_stale_deleted, s),
	        SSM_PRIO_NORMAL);
}

static void
on_lock_read(const struct ssm_result *res, void *arg)
{
	struct store *s = arg;
	struct store_ssm_lock l;

	s->call = NULL;
	if (res->err.code == ERR_NOTFOUND) {
		store_ssm_lease_take(s); /* released: ours for the taking */
		return;
	}
	if (res->err.code != ERR_OK) {
		store_ssm_failed(s, res);
		return;
	}
	/* An unreadable lock is treated as stale (until 0). */
	(void)store_ssm_record_lock_decode(res->param.value, &l, NULL);
	if (s->lease.nonce[0] && strcmp(l.nonce, s->lease.nonce) == 0) {
		/* Our PutParameter succeeded but its answer was lost. */
		slog_debug(s, "ssm %s: the lock is ours", s->lock_name);
		got_lease(s);
		return;
	}
	if (lock_stale(s, &l, res->param.last_modified_ms)) {
		s->stale_version = res->param.version;
		snprintf(s->stale_nonce, sizeof(s->stale_nonce), "%s", l.nonce);
		s->call = store_ssm_sent(s,
		                         ssm_get_parameter(s->ssm, s->lock_name, false,
		                                           on_stale_reread, s),
		                         SSM_PRIO_NORMAL);
		return;
	}
	wait_out(s, &l, res->param.last_modified_ms);
	if (strcmp(l.nonce, s->seen_nonce) != 0) {
		/* A new holder: polls start short again. */
		snprintf(s->seen_nonce, sizeof(s->seen_nonce), "%s", l.nonce);
		s->poll_ms = POLL_FIRST_MS;
	}
	snprintf(s->seen_owner, sizeof(s->seen_owner), "%s",
	         l.owner[0] ? l.owner : "another instance");
	store_ssm_lease_wait(s);
}

void
store_ssm_lease_wait(struct store *s)
{
	if (timeutil_mono_ms() >= s->deadline_mono) {
		struct err e = { 0 };

		err_set(&e, ERR_TIMEOUT, "ssm %s: waited too long for %s", s->lock_name,
		        s->seen_owner);
		store_ssm_fall_back(s, &e, false);
		return;
	}
	if (!s->waiting) {
		s->waiting = true;
		s->stats.lock_waits++;
		slog_debug(s, "ssm %s: another instance is refreshing; waiting (%s)",
		           s->lock_name, s->seen_owner);
	}
	store_ssm_poll_later(s);
}

void
store_ssm_lease_read(struct store *s)
{
	s->call = store_ssm_sent(
	        s, ssm_get_parameter(s->ssm, s->lock_name, false, on_lock_read, s),
	        s->waiting ? SSM_PRIO_LOW : SSM_PRIO_NORMAL);
}

static void
on_lock(const struct ssm_result *res, void *arg)
{
	struct store *s = arg;

	s->call = NULL;
	if (res->err.code == ERR_OK) {
		got_lease(s);
		return;
	}
	if (res->err.code != ERR_EXISTS) {
		store_ssm_failed(s, res);
		return;
	}
	/* Held, or ours from a retried request whose first answer was lost:
	 * the lock's nonce tells. */
	s->call = store_ssm_sent(
	        s, ssm_get_parameter(s->ssm, s->lock_name, false, on_lock_read, s),
	        SSM_PRIO_NORMAL);
}

void
store_ssm_lease_take(struct store *s)
{
	int64_t span = store_ssm_lease_span(s);
	char *value;
	struct ssm_put put = {
		.name = s->lock_name,
		.type = "String",
		.overwrite = false,
		.description = "tokend refresh lease",
	};

	snprintf(s->lease.owner, sizeof(s->lease.owner), "%s", s->owner);
	/* One nonce per fetch: a resent Put after a busy or lost answer
	 * still finds its own lock. */
	if (s->lease.nonce[0] == '\0')
		new_nonce(s->lease.nonce);
	s->lease.until_s = (ssm_client_now_ms(s->ssm) + span) / 1000;
	/* Ours ends earlier than others judge it stale by twice the slack. */
	s->lease_end_mono = timeutil_mono_ms() + span - 1000 - SKEW_SLACK_MS;
	value = store_ssm_record_lock_encode(&s->lease);
	put.value = value;
	s->call = store_ssm_sent(s, ssm_put_parameter(s->ssm, &put, on_lock, s),
	                         SSM_PRIO_HOLDER);
	free(value);
}

static void
on_unlocked(const struct ssm_result *res, void *arg)
{
	struct store *s = arg;

	s->bg_call = NULL;
	if (res->err.code != ERR_OK && res->err.code != ERR_NOTFOUND)
		slog_warn(s, "%s; the lease runs out on its own", res->err.msg);
	store_ssm_bg_done(s);
}

/* The lock read again before releasing it: deleted only while it is ours
 * (after a takeover it is another's, and stays). */
static void
on_unlock_read(const struct ssm_result *res, void *arg)
{
	struct store *s = arg;
	struct store_ssm_lock l;

	s->bg_call = NULL;
	if (res->err.code == ERR_OK &&
	    store_ssm_record_lock_decode(res->param.value, &l, NULL) == 0 &&
	    strcmp(l.nonce, s->bg_nonce) == 0) {
		s->bg_call = store_ssm_sent_until(
		        s, ssm_delete_parameter(s->ssm, s->lock_name, on_unlocked, s),
		        SSM_PRIO_HOLDER, s->bg_end_mono);
		return;
	}
	if (res->err.code == ERR_OK)
		slog_warn(s, "ssm %s: our lease was taken over; not released",
		          s->lock_name);
	on_unlocked(res, s);
}

void
store_ssm_lease_hand_over(struct store *s)
{
	snprintf(s->bg_nonce, sizeof(s->bg_nonce), "%s", s->locked ? s->lease.nonce : "");
	s->locked = false;
	s->lease.nonce[0] = '\0';
}

void
store_ssm_lease_release_bg(struct store *s)
{
	s->bg_release = false;
	s->bg_call = store_ssm_sent_until(
	        s, ssm_get_parameter(s->ssm, s->lock_name, false, on_unlock_read, s),
	        SSM_PRIO_HOLDER, s->bg_end_mono);
}

static void
on_abandoned_unlock(const struct ssm_result *res, void *arg)
{
	/* Nothing waits for it: a failure leaves a lease that runs out. */
}

/* Cancelled holding a lease (reload, shutdown): released without the
 * re-read, nothing waiting for the answer; at worst another's fresh lock
 * goes and one more instance refreshes. */
void
store_ssm_lease_drop(struct store *s)
{
	slog_info(s, "ssm %s: refresh cancelled holding the lease; releasing it",
	          s->lock_name);
	(void)store_ssm_sent_until(
	        s, ssm_delete_parameter(s->ssm, s->lock_name, on_abandoned_unlock, NULL),
	        SSM_PRIO_HOLDER, timeutil_mono_ms() + STORE_SSM_DROP_MS);
}
