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
#include "ssm.h"
#include "timeutil.h"
#include "xalloc.h"

#define POLL_MS       1000 /* lock waiters read the parameter this often */
#define LOCK_SLACK_MS 5000

#define slog_warn(s, ...)  log_write(LOG_WARNING, "token", (s)->def->name, __VA_ARGS__)
#define slog_info(s, ...)  log_write(LOG_INFO, "token", (s)->def->name, __VA_ARGS__)
#define slog_debug(s, ...) log_write(LOG_DEBUG, "token", (s)->def->name, __VA_ARGS__)

struct store {
	const struct token_def *def;
	struct ssm_client *ssm;
	struct token_source inner;
	char *lock_name;
	char owner[128]; /* HOST/PID */
	token_fetch_done_fn *done;
	void *arg;

	struct ssm_call *call;
	struct event *timer;
	bool inner_busy;
	bool locked;           /* we hold NAME.lock */
	bool waiting;          /* another instance holds it */
	bool fallback;         /* SSM failed during this fetch: no write */
	int64_t wait_until_ms; /* give up waiting (AWS clock) */
	int64_t held_exp_ms;   /* expiry of the last value handed out, 0: none */
	int64_t warned_version;
	char budget_warned[STORE_SSM_MONTH_LEN];
	struct token_result result; /* the inner fetch's, until handed out */
	struct store_ssm_stats stats;
};

static void start_read(struct store *s);
static void take_lock(struct store *s);
static void start_inner(struct store *s);
static void unlock_and_deliver(struct store *s);

/* Every SSM call of a token gets the token's request_timeout: a slow SSM
 * must not hold the token longer than a slow issuer would. */
static struct ssm_call *
bounded(const struct store *s, struct ssm_call *call)
{
	ssm_call_set_timeout(call, s->def->request_timeout_ms);
	return call;
}

static int64_t
lock_span_ms(const struct store *s)
{
	int64_t timeout =
	        s->def->request_timeout_ms > 0 ? s->def->request_timeout_ms : 10000;

	/* The holder's inner fetch and its write must fit. */
	return 2 * timeout + LOCK_SLACK_MS;
}

static uint32_t
rnd32(void)
{
	uint32_t r = 0;

	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint32_t)timeutil_mono_ms();
	return r;
}

static void
deliver(struct store *s, struct token_result *res)
{
	if (res->err.code == ERR_OK)
		s->held_exp_ms = res->expires_at_ms;
	s->waiting = false;
	s->fallback = false;
	/* done may start the next fetch: nothing of res is used after. */
	s->done(res, s->arg);
}

static void
fall_back(struct store *s, const struct err *why)
{
	s->stats.fallbacks++;
	s->fallback = true;
	slog_warn(s, "%s; fetching without SSM (fallback %llu)", why->msg,
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

/* Adopts the parameter's value if it may be served; false otherwise. */
static bool
try_adopt(struct store *s, const struct ssm_parameter *p)
{
	struct store_ssm_record rec;
	struct token_timing timing;
	struct token_result res;
	struct err e = { 0 };
	enum store_ssm_verdict v;
	int rc;

	if (s->def->ssm_format == SSM_FORMAT_JSON)
		rc = store_ssm_record_decode_json(p->value, &rec, &e);
	else
		rc = store_ssm_record_decode_value(p->value, NULL, &rec, &e);
	if (rc == -1) {
		ignore_value(s, p->version, e.msg);
		return false;
	}
	if (rec.issued_at_ms <= 0 || rec.issued_at_ms >= rec.expires_at_ms)
		rec.issued_at_ms =
		        p->last_modified_ms > 0 && p->last_modified_ms < rec.expires_at_ms
		                ? p->last_modified_ms
		                : rec.expires_at_ms - 1000;
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

static void
on_poll_timer(evutil_socket_t fd, short what, void *arg)
{
	start_read(arg);
}

static void
wait_for_holder(struct store *s)
{
	int64_t delay = POLL_MS * 3 / 4 + (int64_t)(rnd32() % (POLL_MS / 2));
	struct timeval tv = { (time_t)(delay / 1000),
		              (suseconds_t)(delay % 1000) * 1000 };

	evtimer_add(s->timer, &tv);
}

static void on_lock_read(const struct ssm_result *res, void *arg);

/* The value read was not adopted: what comes next depends on the lock. */
static void
after_no_adopt(struct store *s)
{
	struct err e = { 0 };

	if (s->def->coordinate == COORDINATE_NONE || s->locked) {
		start_inner(s);
	} else if (!s->waiting) {
		take_lock(s);
	} else if (ssm_client_now_ms(s->ssm) > s->wait_until_ms) {
		err_set(&e, ERR_TIMEOUT, "ssm %s: waited too long for another instance",
		        s->lock_name);
		fall_back(s, &e);
	} else {
		s->call = bounded(s, ssm_get_parameter(s->ssm, s->lock_name, false,
		                                       on_lock_read, s));
	}
}

static void
on_read(const struct ssm_result *res, void *arg)
{
	struct store *s = arg;

	s->call = NULL;
	if (res->err.code == ERR_OK) {
		if (try_adopt(s, &res->param)) {
			unlock_and_deliver(s);
			return;
		}
	} else if (res->err.code != ERR_NOTFOUND) {
		if (s->locked) {
			/* The lock is ours: fetch, write and release it. */
			start_inner(s);
			return;
		}
		fall_back(s, &res->err);
		return;
	}
	after_no_adopt(s);
}

static void
start_read(struct store *s)
{
	s->call = bounded(
	        s, ssm_get_parameter(s->ssm, s->def->ssm_parameter, true, on_read, s));
}

static void
on_stale_deleted(const struct ssm_result *res, void *arg)
{
	struct store *s = arg;

	s->call = NULL;
	if (res->err.code != ERR_OK && res->err.code != ERR_NOTFOUND) {
		fall_back(s, &res->err);
		return;
	}
	take_lock(s);
}

static void
on_lock_read(const struct ssm_result *res, void *arg)
{
	struct store *s = arg;
	char owner[128] = "";
	int64_t until_s = 0;

	s->call = NULL;
	if (res->err.code == ERR_NOTFOUND) {
		take_lock(s); /* released: ours for the taking */
		return;
	}
	if (res->err.code != ERR_OK) {
		fall_back(s, &res->err);
		return;
	}
	/* An unreadable lock is treated as stale (until 0). */
	(void)store_ssm_record_lock_decode(res->param.value, owner, sizeof(owner),
	                                   &until_s, NULL);
	if (ssm_client_now_ms(s->ssm) / 1000 > until_s) {
		slog_warn(s, "ssm %s: lock of %s expired; deleting it", s->lock_name,
		          owner[0] ? owner : "?");
		s->call = bounded(s, ssm_delete_parameter(s->ssm, s->lock_name,
		                                          on_stale_deleted, s));
		return;
	}
	wait_for_holder(s);
}

static void
on_lock(const struct ssm_result *res, void *arg)
{
	struct store *s = arg;

	s->call = NULL;
	if (res->err.code == ERR_OK) {
		s->locked = true;
		s->waiting = false;
		/* Another holder may have written between our read and now. */
		start_read(s);
		return;
	}
	if (res->err.code != ERR_EXISTS) {
		fall_back(s, &res->err);
		return;
	}
	if (!s->waiting) {
		s->waiting = true;
		s->stats.lock_waits++;
		s->wait_until_ms = ssm_client_now_ms(s->ssm) + 2 * lock_span_ms(s);
		slog_debug(s, "ssm %s: another instance is refreshing; waiting",
		           s->lock_name);
	}
	s->call = bounded(
	        s, ssm_get_parameter(s->ssm, s->lock_name, false, on_lock_read, s));
}

static void
take_lock(struct store *s)
{
	int64_t until_s = (ssm_client_now_ms(s->ssm) + lock_span_ms(s)) / 1000;
	char *value = store_ssm_record_lock_encode(s->owner, until_s);
	struct ssm_put put = {
		.name = s->lock_name,
		.value = value,
		.type = "String",
		.overwrite = false,
		.description = "tokend refresh lock",
	};

	s->call = bounded(s, ssm_put_parameter(s->ssm, &put, on_lock, s));
	free(value);
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
on_unlocked(const struct ssm_result *res, void *arg)
{
	struct store *s = arg;
	struct token_result out;

	s->call = NULL;
	if (res->err.code != ERR_OK && res->err.code != ERR_NOTFOUND)
		slog_warn(s, "%s; the lock expires on its own", res->err.msg);
	s->locked = false;
	out = s->result;
	memset(&s->result, 0, sizeof(s->result));
	deliver(s, &out);
}

static void
unlock_and_deliver(struct store *s)
{
	struct ssm_result none;

	if (s->locked) {
		s->call = bounded(
		        s, ssm_delete_parameter(s->ssm, s->lock_name, on_unlocked, s));
		return;
	}
	memset(&none, 0, sizeof(none));
	on_unlocked(&none, s);
}

static void
on_written(const struct ssm_result *res, void *arg)
{
	struct store *s = arg;

	s->call = NULL;
	if (res->err.code == ERR_OK) {
		s->stats.writes++;
		slog_debug(s, "persisted to ssm %s version %lld", s->def->ssm_parameter,
		           (long long)res->version);
	} else {
		s->stats.write_failures++;
		slog_warn(s, "%s; the value is served but not persisted", res->err.msg);
	}
	unlock_and_deliver(s);
}

/* The value to persist, or NULL with err when it cannot be. */
static char *
encode_result(struct store *s, const struct token_result *r, char *desc, size_t size,
              struct err *err)
{
	struct store_ssm_record rec;
	char *value;

	memset(&rec, 0, sizeof(rec));
	if (s->def->ssm_format == SSM_FORMAT_VALUE) {
		value = xstrdup(r->value->data);
		store_ssm_record_description(r->expires_at_ms, desc, size);
	} else {
		rec.token = r->value->data;
		snprintf(rec.token_type, sizeof(rec.token_type), "%s", r->token_type);
		rec.issued_at_ms = r->issued_at_ms;
		rec.expires_at_ms = r->expires_at_ms;
		snprintf(rec.type, sizeof(rec.type), "%s",
		         store_ssm_record_type_name(s->def->type));
		snprintf(rec.writer, sizeof(rec.writer), "%s", s->owner);
		rec.mints = s->stats.mints;
		value = store_ssm_record_encode_json(&rec);
		snprintf(desc, size, "tokend token %s", s->def->name);
	}
	if (store_ssm_record_check_size(s->def->ssm_parameter, s->def->ssm_tier,
	                                strlen(value), err) == -1) {
		secret_free_str(value);
		return NULL;
	}
	return value;
}

static void
write_result(struct store *s)
{
	char desc[96];
	struct err e = { 0 };
	char *value = encode_result(s, &s->result, desc, sizeof(desc), &e);
	struct ssm_put put = {
		.name = s->def->ssm_parameter,
		.value = value,
		.type = s->def->ssm_type,
		.key_id = strcmp(s->def->ssm_type, "SecureString") == 0
		                  ? s->def->ssm_kms_key_id
		                  : NULL,
		.overwrite = true,
		.tier = s->def->ssm_tier,
		.description = desc,
	};

	if (value == NULL) {
		struct ssm_result failed;

		memset(&failed, 0, sizeof(failed));
		failed.err = e;
		on_written(&failed, s);
		return;
	}
	s->call = bounded(s, ssm_put_parameter(s->ssm, &put, on_written, s));
	secret_free_str(value);
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
	if (res->err.code != ERR_OK || s->fallback)
		unlock_and_deliver(s);
	else
		write_result(s);
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

static int
store_start_fetch(void *impl, token_fetch_done_fn *done, void *arg)
{
	struct store *s = impl;

	s->done = done;
	s->arg = arg;
	s->waiting = s->fallback = s->locked = false;
	/* ssm calls answer from the loop, never from here. */
	start_read(s);
	return 0;
}

static void
on_abandoned_unlock(const struct ssm_result *res, void *arg)
{
	/* Nothing waits for it: a failure leaves a lock that expires. */
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
	if (s->locked)
		(void)bounded(s, ssm_delete_parameter(s->ssm, s->lock_name,
		                                      on_abandoned_unlock, NULL));
	s->locked = s->waiting = false;
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
