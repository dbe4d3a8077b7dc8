/* aws_creds.c - the credentials cache, the provider chain and clock skew. */
#include "aws_creds.h"

#include <event2/event.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "aws_creds_files.h"
#include "aws_creds_remote.h"
#include "config.h"
#include "log.h"
#include "secret.h"
#include "sigv4.h"
#include "timeutil.h"
#include "xalloc.h"

#define REFRESH_AHEAD_MS     (5 * 60 * 1000)
#define SHORT_LIFE_MS        (15 * 60 * 1000)
#define MIN_REFRESH_DELAY_MS 1000
/* Session credentials that state no expiration (environment, profile)
 * still expire: they are read again this often. */
#define SESSION_REREAD_MS (15 * 60 * 1000)
#define BACKOFF_BASE_MS   1000
#define BACKOFF_CAP_MS    60000
#define TRIED_MAX         1024

enum provider {
	PROVIDER_ENV,
	PROVIDER_PROFILE,
	PROVIDER_WEB_IDENTITY,
	PROVIDER_ECS,
	PROVIDER_IMDS,
	PROVIDER_END,
};

struct aws_creds_call {
	TAILQ_ENTRY(aws_creds_call) entry;
	struct aws_creds *owner;
	int64_t min_valid_ms;
	aws_creds_done_fn *cb;
	void *arg;
};

TAILQ_HEAD(call_list, aws_creds_call);

struct subscriber {
	aws_creds_change_fn *fn;
	void *arg;
};

struct aws_creds {
	struct event_base *base;
	const struct config_aws *cfg;
	struct aws_creds_remote *remote;
	struct aws_credentials *cur;

	struct call_list waiting; /* behind the query */
	struct call_list ready;   /* answered from the cache next turn */
	struct event *deliver_ev;
	struct event *timer; /* the query (now), a refresh or a retry */
	bool querying;
	unsigned failures;

	/* the query in flight */
	const enum provider *chain;
	size_t step;
	char tried[TRIED_MAX];
	struct err last_err;

	struct subscriber *subs;
	size_t nsubs;
	int64_t skew_ms;
	int64_t residual_ms; /* AWS ahead of local + skew, below the threshold */
};

static const enum provider chain_all[] = {
	PROVIDER_ENV, PROVIDER_PROFILE, PROVIDER_WEB_IDENTITY,
	PROVIDER_ECS, PROVIDER_IMDS,    PROVIDER_END,
};
static const enum provider chain_env[] = { PROVIDER_ENV, PROVIDER_END };
static const enum provider chain_profile[] = { PROVIDER_PROFILE, PROVIDER_END };
static const enum provider chain_web[] = { PROVIDER_WEB_IDENTITY, PROVIDER_END };
static const enum provider chain_ecs[] = { PROVIDER_ECS, PROVIDER_END };
static const enum provider chain_imds[] = { PROVIDER_IMDS, PROVIDER_END };

static void chain_next(struct aws_creds *c);

/* The credentials themselves. */

struct aws_credentials *
aws_credentials_new(const char *access_key_id, const char *secret_access_key,
                    const char *session_token, int64_t expiration_ms,
                    const char *provider)
{
	struct aws_credentials *cr = xcalloc(1, sizeof(*cr));

	cr->refs = 1;
	cr->access_key_id = xstrdup(access_key_id);
	cr->secret_access_key = secret_new_str(secret_access_key);
	if (session_token != NULL && session_token[0] != '\0')
		cr->session_token = secret_new_str(session_token);
	cr->expiration_ms = expiration_ms;
	cr->provider = provider;
	return cr;
}

struct aws_credentials *
aws_credentials_ref(struct aws_credentials *cr)
{
	if (cr != NULL)
		cr->refs++;
	return cr;
}

void
aws_credentials_unref(struct aws_credentials *cr)
{
	if (cr == NULL || --cr->refs > 0)
		return;
	free(cr->access_key_id);
	secret_unref(cr->secret_access_key);
	secret_unref(cr->session_token);
	free(cr);
}

void
aws_credentials_sigv4(const struct aws_credentials *cr, struct sigv4_creds *out)
{
	out->access_key_id = cr->access_key_id;
	out->secret_access_key = cr->secret_access_key->data;
	out->session_token = cr->session_token ? cr->session_token->data : NULL;
}

bool
aws_credentials_same(const struct aws_credentials *a, const struct aws_credentials *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	if (strcmp(a->access_key_id, b->access_key_id) != 0)
		return false;
	if ((a->session_token == NULL) != (b->session_token == NULL))
		return false;
	return a->session_token == NULL ||
	       strcmp(a->session_token->data, b->session_token->data) == 0;
}

/* Pure maths. */

int64_t
aws_creds_skew_update(int64_t skew_ms, int64_t server_ms, int64_t local_ms)
{
	int64_t off = server_ms - (local_ms + skew_ms);

	if (off >= AWS_CREDS_SKEW_THRESHOLD_MS || off <= -AWS_CREDS_SKEW_THRESHOLD_MS)
		return server_ms - local_ms;
	return skew_ms;
}

int64_t
aws_creds_refresh_at(int64_t now_ms, int64_t expiration_ms, bool session)
{
	int64_t left = expiration_ms - now_ms, at;

	if (expiration_ms == 0)
		return session ? now_ms + SESSION_REREAD_MS : -1;
	/* Short sessions (tests use 20 s) would be refreshed at once with a
	 * fixed 5 min margin: halve what is left instead. */
	if (left < SHORT_LIFE_MS)
		at = now_ms + left / 2;
	else
		at = expiration_ms - REFRESH_AHEAD_MS;
	if (at < now_ms + MIN_REFRESH_DELAY_MS)
		at = now_ms + MIN_REFRESH_DELAY_MS;
	return at;
}

static int64_t
backoff_ms(unsigned attempt)
{
	int64_t cap = BACKOFF_CAP_MS;
	uint32_t rnd = 0;

	if (attempt < 16 && ((int64_t)BACKOFF_BASE_MS << attempt) < cap)
		cap = (int64_t)BACKOFF_BASE_MS << attempt;
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (uint32_t)timeutil_mono_ms();
	/* Full jitter, with a floor so a failing chain never spins. */
	return 100 + (int64_t)((uint64_t)cap * rnd >> 32);
}

/* Skew and region. */

int64_t
aws_creds_now_ms(struct aws_creds *c)
{
	return timeutil_wall_ms() + (c != NULL ? c->skew_ms : 0);
}

int64_t
aws_creds_skew_ms(const struct aws_creds *c)
{
	return c != NULL ? c->skew_ms : 0;
}

int64_t
aws_creds_skew_residual_ms(const struct aws_creds *c)
{
	return c != NULL && c->residual_ms > 0 ? c->residual_ms : 0;
}

void
aws_creds_observe_date(struct aws_creds *c, const char *date_header,
                       int64_t local_receive_ms)
{
	int64_t server_s, skew;

	if (c == NULL || date_header == NULL ||
	    timeutil_parse_http_date(date_header, &server_s) == -1)
		return;
	skew = aws_creds_skew_update(c->skew_ms, server_s * 1000, local_receive_ms);
	/* What stays uncorrected is remembered: AWS judges an IAM token's
	 * life on its clock, so the token's expiry moves back by it. */
	c->residual_ms = server_s * 1000 - (local_receive_ms + skew);
	if (skew == c->skew_ms)
		return;
	log_warn("clock skew: AWS time is %+" PRId64
	         " ms from the local clock (was %+" PRId64
	         " ms); signing with the corrected time, check NTP",
	         skew, c->skew_ms);
	c->skew_ms = skew;
}

static const char *
nonempty_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

const char *
aws_creds_region(struct aws_creds *c, const char *override)
{
	const char *r;

	if (override != NULL && override[0] != '\0')
		return override;
	if (c != NULL && c->cfg->region != NULL && c->cfg->region[0] != '\0')
		return c->cfg->region;
	if ((r = nonempty_env("AWS_REGION")) != NULL)
		return r;
	return nonempty_env("AWS_DEFAULT_REGION");
}

int64_t
aws_creds_expiration_ms(const struct aws_creds *c)
{
	return c != NULL && c->cur != NULL ? c->cur->expiration_ms : 0;
}

const char *
aws_creds_provider(const struct aws_creds *c)
{
	return c != NULL && c->cur != NULL ? c->cur->provider : NULL;
}

/* Lifecycle. */

static void on_timer(evutil_socket_t fd, short what, void *arg);
static void on_deliver(evutil_socket_t fd, short what, void *arg);

static const enum provider *
chain_for(enum aws_creds_mode mode)
{
	switch (mode) {
	case AWS_CREDS_CHAIN: return chain_all;
	case AWS_CREDS_ENV: return chain_env;
	case AWS_CREDS_PROFILE: return chain_profile;
	case AWS_CREDS_WEB_IDENTITY: return chain_web;
	case AWS_CREDS_ECS: return chain_ecs;
	case AWS_CREDS_IMDS: return chain_imds;
	}
	return NULL;
}

void
aws_creds_set_config(struct aws_creds *c, const struct config_aws *cfg)
{
	/* The chain already running stays: credentials are not dropped by a
	 * reload. The region and profile name follow the new config. */
	c->cfg = cfg;
}

struct aws_creds *
aws_creds_new(struct event_base *base, struct http_client *http,
              const struct config_aws *cfg, struct err *err)
{
	struct aws_creds *c;

	if (chain_for(cfg->credentials) == NULL) {
		err_set(err, ERR_CONFIG, "unknown AWS credentials mode %d",
		        (int)cfg->credentials);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->cfg = cfg;
	c->chain = chain_for(cfg->credentials);
	TAILQ_INIT(&c->waiting);
	TAILQ_INIT(&c->ready);
	c->deliver_ev = event_new(base, -1, 0, on_deliver, c);
	c->timer = evtimer_new(base, on_timer, c);
	if (c->deliver_ev == NULL || c->timer == NULL) {
		err_set(err, ERR_INTERNAL, "cannot create AWS credentials events");
		aws_creds_free(c);
		return NULL;
	}
	c->remote = aws_creds_remote_new(http, c);
	return c;
}

static void
free_calls(struct call_list *list)
{
	struct aws_creds_call *call;

	while ((call = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, call, entry);
		free(call);
	}
}

void
aws_creds_free(struct aws_creds *c)
{
	if (c == NULL)
		return;
	aws_creds_remote_free(c->remote);
	if (c->deliver_ev != NULL)
		event_free(c->deliver_ev);
	if (c->timer != NULL)
		event_free(c->timer);
	free_calls(&c->waiting);
	free_calls(&c->ready);
	aws_credentials_unref(c->cur);
	free(c->subs);
	free(c);
}

static void
arm_timer(struct aws_creds *c, int64_t delay_ms)
{
	struct timeval tv;

	if (delay_ms < 0)
		delay_ms = 0;
	tv.tv_sec = (time_t)(delay_ms / 1000);
	tv.tv_usec = (suseconds_t)(delay_ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

/* Runs the query from the loop, so that no answer is ever given from
 * inside aws_creds_get. */
static void
query_soon(struct aws_creds *c)
{
	if (c->querying)
		return;
	c->querying = true;
	/* After a failure the retry is already scheduled: a caller waits for
	 * it rather than hammering the providers ahead of the backoff. */
	if (c->failures > 0 && evtimer_pending(c->timer, NULL))
		return;
	arm_timer(c, 0);
}

void
aws_creds_start(struct aws_creds *c)
{
	if (c->cur == NULL)
		query_soon(c);
}

static bool
valid_for(struct aws_creds *c, const struct aws_credentials *cr, int64_t min_valid_ms)
{
	return cr != NULL && (cr->expiration_ms == 0 ||
	                      cr->expiration_ms - aws_creds_now_ms(c) >= min_valid_ms);
}

struct aws_creds_call *
aws_creds_get_valid(struct aws_creds *c, int64_t min_valid_ms, aws_creds_done_fn *cb,
                    void *arg)
{
	struct aws_creds_call *call = xcalloc(1, sizeof(*call));

	call->owner = c;
	call->min_valid_ms = min_valid_ms;
	call->cb = cb;
	call->arg = arg;
	if (valid_for(c, c->cur, min_valid_ms)) {
		TAILQ_INSERT_TAIL(&c->ready, call, entry);
		event_active(c->deliver_ev, 0, 0);
	} else {
		TAILQ_INSERT_TAIL(&c->waiting, call, entry);
		query_soon(c);
	}
	return call;
}

struct aws_creds_call *
aws_creds_get(struct aws_creds *c, aws_creds_done_fn *cb, void *arg)
{
	return aws_creds_get_valid(c, AWS_CREDS_MIN_VALID_MS, cb, arg);
}

void
aws_creds_call_cancel(struct aws_creds_call *call)
{
	struct aws_creds *c;
	struct aws_creds_call *it;

	if (call == NULL)
		return;
	c = call->owner;
	TAILQ_FOREACH(it, &c->ready, entry)
	{
		if (it == call) {
			TAILQ_REMOVE(&c->ready, call, entry);
			free(call);
			return;
		}
	}
	TAILQ_REMOVE(&c->waiting, call, entry);
	free(call);
}

void
aws_creds_subscribe(struct aws_creds *c, aws_creds_change_fn *fn, void *arg)
{
	c->subs = xrealloc(c->subs, (c->nsubs + 1) * sizeof(*c->subs));
	c->subs[c->nsubs].fn = fn;
	c->subs[c->nsubs].arg = arg;
	c->nsubs++;
}

/* Answers one call: the cached credentials if they are good enough for
 * it, else why not. The call is unlinked before its callback runs, which
 * may ask again. */
static void
answer(struct aws_creds *c, struct aws_creds_call *call, const struct err *why)
{
	struct err e;

	if (valid_for(c, c->cur, call->min_valid_ms)) {
		call->cb(c->cur, NULL, call->arg);
	} else {
		if (c->cur != NULL && why == NULL) {
			err_set(&e, ERR_UNAVAILABLE,
			        "AWS credentials from %s expire in %" PRId64
			        " s, under the %" PRId64 " s needed",
			        c->cur->provider,
			        (c->cur->expiration_ms - aws_creds_now_ms(c)) / 1000,
			        call->min_valid_ms / 1000);
			why = &e;
		} else if (why == NULL) {
			err_set(&e, ERR_UNAVAILABLE, "no AWS credentials yet");
			why = &e;
		}
		call->cb(NULL, why, call->arg);
	}
	free(call);
}

static void
on_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct aws_creds *c = arg;
	struct aws_creds_call *call;

	while ((call = TAILQ_FIRST(&c->ready)) != NULL) {
		TAILQ_REMOVE(&c->ready, call, entry);
		answer(c, call, NULL);
	}
}

static void
notify_subscribers(struct aws_creds *c)
{
	/* By index: a subscriber may (un)subscribe from its callback. */
	for (size_t i = 0; i < c->nsubs; i++)
		c->subs[i].fn(c->subs[i].arg);
}

static void
install(struct aws_creds *c, struct aws_credentials *cr)
{
	bool changed = c->cur != NULL && !aws_credentials_same(c->cur, cr);
	int64_t now = aws_creds_now_ms(c), at;

	if (c->cur == NULL || changed || c->failures > 0) {
		if (cr->expiration_ms != 0)
			log_info("AWS credentials from %s: access key %s, expire in "
			         "%" PRId64 " s",
			         cr->provider, cr->access_key_id,
			         (cr->expiration_ms - now) / 1000);
		else if (cr->session_token != NULL)
			log_info("AWS credentials from %s: access key %s, a session "
			         "without an expiration: read again every %d min",
			         cr->provider, cr->access_key_id,
			         SESSION_REREAD_MS / 60000);
		else
			log_info("AWS credentials from %s: access key %s, static",
			         cr->provider, cr->access_key_id);
	}
	aws_credentials_unref(c->cur);
	c->cur = cr;
	c->failures = 0;
	at = aws_creds_refresh_at(now, cr->expiration_ms, cr->session_token != NULL);
	if (at > 0)
		arm_timer(c, at - now);
	if (changed)
		notify_subscribers(c);
}

/* detail: a longer form of err->msg for the log (the chain's summary
 * may not fit a struct err), or NULL. */
static void
query_done(struct aws_creds *c, struct aws_credentials *cr, const struct err *err,
           const char *detail)
{
	struct aws_creds_call *call;

	c->querying = false;
	if (cr != NULL) {
		install(c, cr);
		err = NULL;
	} else {
		c->failures++;
		if (valid_for(c, c->cur, 1))
			log_warn("AWS credentials refresh failed (keeping the current "
			         "ones, "
			         "%" PRId64 " s left): %s",
			         (c->cur->expiration_ms - aws_creds_now_ms(c)) / 1000,
			         detail ? detail : err->msg);
		else if (c->failures == 1 || log_enabled(LOG_DEBUG))
			log_error("%s", detail ? detail : err->msg);
		arm_timer(c, backoff_ms(c->failures - 1));
	}
	while ((call = TAILQ_FIRST(&c->waiting)) != NULL) {
		TAILQ_REMOVE(&c->waiting, call, entry);
		answer(c, call, err);
	}
}

static void
note_tried(struct aws_creds *c, const struct err *why)
{
	size_t len = strlen(c->tried);

	snprintf(c->tried + len, sizeof(c->tried) - len, "%s%s", len ? "; " : "",
	         why->msg);
}

/* Ends the query with the chain's summary. */
static void
chain_fail(struct aws_creds *c, enum err_code code)
{
	const char *what =
	        c->chain == chain_all ? "no AWS credentials" : "AWS credentials";
	char *detail;
	struct err e;

	err_set(&e, code, "%s: %s", what, c->tried);
	xasprintf(&detail, "%s: %s", what, c->tried);
	c->last_err = e;
	query_done(c, NULL, &e, detail);
	free(detail);
}

/* One provider's outcome (its message starts with its name): 1 got cr, 0 skip to the
 * next, -1 stop. */
static void
chain_outcome(struct aws_creds *c, int rc, struct aws_credentials *cr, struct err *e)
{
	if (rc == 1) {
		query_done(c, cr, NULL, NULL);
		return;
	}
	note_tried(c, e);
	if (rc == -1) {
		chain_fail(c, e->code);
		return;
	}
	c->step++;
	chain_next(c);
}

static void
on_remote_done(struct aws_credentials *cr, const struct err *err, void *arg)
{
	struct aws_creds *c = arg;
	struct err e;

	if (cr != NULL) {
		chain_outcome(c, 1, cr, NULL);
		return;
	}
	e = *err;
	chain_outcome(c, -1, NULL, &e);
}

static void
chain_next(struct aws_creds *c)
{
	static const enum aws_creds_remote_kind kinds[] = {
		[PROVIDER_WEB_IDENTITY] = AWS_CREDS_REMOTE_WEB_IDENTITY,
		[PROVIDER_ECS] = AWS_CREDS_REMOTE_ECS,
		[PROVIDER_IMDS] = AWS_CREDS_REMOTE_IMDS,
	};
	enum provider p = c->chain[c->step];
	struct aws_credentials *cr = NULL;
	struct err e = { 0 };
	int rc;

	switch (p) {
	case PROVIDER_END:
		/* A single provider that is not configured is an error too. */
		chain_fail(c, ERR_UNAVAILABLE);
		return;
	case PROVIDER_ENV: rc = aws_creds_files_env(&cr, &e); break;
	case PROVIDER_PROFILE:
		rc = aws_creds_files_profile(c->cfg->profile, &cr, &e);
		break;
	default:
		rc = aws_creds_remote_start(c->remote, kinds[p], on_remote_done, c, &e);
		if (rc == 1)
			return; /* on_remote_done goes on */
		break;
	}
	chain_outcome(c, rc, cr, &e);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct aws_creds *c = arg;

	/* A refresh, a retry or a query asked for by aws_creds_get. */
	c->querying = true;
	c->step = 0;
	c->tried[0] = '\0';
	chain_next(c);
}
