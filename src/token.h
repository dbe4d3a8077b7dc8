/* token.h - the token table: each token's value, state and refresh timer.
 *
 * token.c owns the lifecycle and scheduling. It obtains values through a
 * source (oauth2, rds, elasticache, possibly wrapped by the SSM store)
 * behind a small vtable, and knows nothing of how they are fetched or
 * served. Values are refcounted secrets: a refresh swaps in a new one; a
 * reader that wants to keep a value takes its own reference.
 */
#ifndef TOKEND_TOKEN_H
#define TOKEND_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "oauth2_quota.h"
#include "token_sched.h"

struct event_base;
struct event;
struct secret;

#define tlog_error(tok, ...)  log_write(LOG_ERR, "token", (tok)->name, __VA_ARGS__)
#define tlog_warn(tok, ...)   log_write(LOG_WARNING, "token", (tok)->name, __VA_ARGS__)
#define tlog_notice(tok, ...) log_write(LOG_NOTICE, "token", (tok)->name, __VA_ARGS__)
#define tlog_info(tok, ...)   log_write(LOG_INFO, "token", (tok)->name, __VA_ARGS__)
#define tlog_debug(tok, ...)  log_write(LOG_DEBUG, "token", (tok)->name, __VA_ARGS__)

enum token_state {
	TOKEN_EMPTY,      /* no value yet, first fetch under way or pending */
	TOKEN_VALID,      /* a value with more than min_remaining left */
	TOKEN_REFRESHING, /* a value is being served and a fetch is under way */
	TOKEN_RETRYING,   /* the last fetch failed; a retry is scheduled */
	TOKEN_EXPIRED,    /* the value fell under min_remaining; not served */
};

enum token_origin {
	TOKEN_ORIGIN_NONE,
	TOKEN_ORIGIN_ISSUER, /* fetched from the OAuth2 issuer */
	TOKEN_ORIGIN_SSM,    /* adopted from SSM Parameter Store */
	TOKEN_ORIGIN_SIGNER, /* signed locally (SigV4) */
};

/* What a source hands back. On success value is set (ownership passes to
 * the receiver) and err.code is ERR_OK. */
struct token_result {
	struct err err;
	struct secret *value;
	char token_type[32]; /* "Bearer"; empty for IAM tokens */
	int64_t issued_at_ms;
	int64_t expires_at_ms;
	enum token_origin origin;
	/* The value's nominal lifetime when something else cut expires_at
	 * short (the credentials that signed an IAM token expire first): the
	 * timing is derived from it, not from the shortened life. 0: none. */
	int64_t lifetime_ms;
	int64_t retry_after_ms; /* > 0 when the peer said when to retry */
	int http_status;        /* the issuer's status, 0 if none */
	/* The peer refused the configuration itself (invalid_client,
	 * invalid_scope, ...): retrying soon cannot help, so the token backs
	 * off to a long cap and err says which setting to check. */
	bool permanent;
	/* The scope the issuer granted (RFC 6749 §5.1), empty when it said
	 * none; cut to fit. */
	char scope[256];
	/* The token endpoint discovered from the issuer's metadata that gave
	 * the value; empty when token_url is configured. */
	char token_endpoint[256];
	/* Auth0's quota headers of the issuer's answer, success or not
	 * (n == 0: none). */
	struct oauth2_quota quota;
};

typedef void token_fetch_done_fn(struct token_result *res, void *arg);

/* A source obtains values. start_fetch calls done exactly once, never from
 * inside start_fetch itself, unless cancel is called first. Only one fetch
 * is under way per source at a time. start_fetch returns -1 when the fetch
 * cannot even start (done is then never called): the token counts a failed
 * fetch, with the reason start_error gives if the source has one. */
struct token_source_ops {
	const char *name;
	int (*start_fetch)(void *impl, token_fetch_done_fn *done, void *arg);
	void (*cancel)(void *impl);
	void (*free)(void *impl);
	/* Optional: why the last start_fetch returned -1. */
	void (*start_error)(void *impl, struct err *err);
	/* Optional: a caller waits for this fetch now (a forced refresh):
	 * the fetch under way, or the next one, starts without any delay. */
	void (*urgent)(void *impl);
	/* The source spreads a fleet's refreshes itself (store_ssm: the
	 * instance that wrote the shared value first, the others after it):
	 * the refresh timer fires at the earliest point of the jitter window
	 * instead of a random one. */
	bool spreads_refresh;
};

struct token_source {
	const struct token_source_ops *ops;
	void *impl;
};

/* Read-only outside token.c. */
struct token {
	char *name;
	/* Which token object this is: a reload rebuilds every token under
	 * the same name with a new generation. Never 0. */
	uint64_t generation;
	const struct token_def *def; /* borrowed from the running config */
	struct token_table *table;
	enum token_state state;
	enum token_origin origin;
	struct secret *value; /* NULL when none */
	char token_type[32];
	char scope[256];          /* granted with the value; empty: not said */
	char token_endpoint[256]; /* discovered, that gave the value; or empty */
	int64_t issued_at_ms;
	int64_t expires_at_ms;
	/* The same expiry on CLOCK_BOOTTIME, fixed when the value arrived: a
	 * value is served only while both clocks allow it, so no step of the
	 * wall clock (and no suspend) can stretch its life. */
	int64_t boot_expires_at_ms;
	int64_t refreshed_at_ms; /* wall time the value was installed */
	uint64_t version;        /* 0: never had a value; +1 per new value */
	struct err last_error;   /* ERR_OK when the last fetch succeeded */
	int64_t last_error_at_ms;
	unsigned attempt; /* consecutive failures */
	uint64_t refreshes, failures;
	/* For metrics: failed fetches by reason, new values by origin. */
	uint64_t failures_by_code[ERR_INTERNAL + 1];
	uint64_t values_by_origin[TOKEN_ORIGIN_SIGNER + 1];
	struct token_timing timing;
	/* The issuer's quota as its last answer that had one said. */
	struct oauth2_quota quota;

	struct token_source source;
	struct event *timer;         /* the next refresh or retry */
	struct event *expiry_timer;  /* the value falls under min_remaining */
	int64_t retry_not_before_ms; /* the issuer's Retry-After, as a wall time */
	bool fetching;
	bool timing_warned; /* the configured timing did not fit; said once */
};

typedef void token_change_fn(struct token *tok, void *arg);

struct token_table *token_table_new(struct event_base *base);
/* Stops every timer and fetch and frees every token. NULL does nothing. */
void token_table_free(struct token_table *table);

/* Adds a token for def, taking ownership of src. The token schedules its
 * first fetch when token_table_start is called (or at once if the table
 * is already started). */
struct token *token_table_add(struct token_table *table, const struct token_def *def,
                              struct token_source src);
/* Stops and frees one token. */
void token_table_remove(struct token_table *table, struct token *tok);
/* Reload: a token for def (taking ownership of src) takes old's place in
 * the table; old is freed. With keep_value, old's value, version and
 * expiry carry over and only the refresh is rescheduled for def's timing;
 * otherwise a fetch starts at once (versions still continue from old's). */
struct token *token_table_replace(struct token_table *table, struct token *old,
                                  const struct token_def *def, struct token_source src,
                                  bool keep_value);
void token_table_start(struct token_table *table);

struct token *token_table_find(struct token_table *table, const char *name);
size_t token_table_count(const struct token_table *table);
struct token *token_table_at(struct token_table *table, size_t i);
/* True when every token can be served now. */
bool token_table_all_valid(struct token_table *table);

/* Called after every change of a token's value or state (long-poll
 * watchers, readiness, metrics). */
void token_table_set_observer(struct token_table *table, token_change_fn *fn, void *arg);

/* Asks for a refresh now (POST /refresh). -1 with err if one is under
 * way already (ERR_EXISTS), the issuer asked us to wait (ERR_THROTTLED),
 * or the table is not started (ERR_UNAVAILABLE). */
int token_refresh_now(struct token *tok, struct err *err);

/* True when tok's value may be served at wall time now_ms: it exists and
 * has more than min_remaining (and at least TOKEN_MIN_LEFT_MS) left by the
 * wall clock and by CLOCK_BOOTTIME. Otherwise fills why (the 503 reason). */
bool token_servable(const struct token *tok, int64_t now_ms, struct err *why);
/* The wall time the value expires at as far as both clocks tell: its
 * expires_at, or earlier when the wall clock was stepped back since it
 * arrived. What clients are told (expires_at, expires_in). */
int64_t token_expires_at(const struct token *tok, int64_t now_ms);
/* A reader found tok not servable. When its value is held past expiry
 * (a clock step or a suspend the timers did not see) and no fetch is
 * under way, the value is dropped and a fetch starts (from the loop, and
 * not before the issuer's Retry-After). Otherwise nothing. */
void token_expired_seen(struct token *tok);
/* The wall clock was set (or the machine resumed): every timer is
 * re-armed from the clocks as they now read. */
void token_table_clock_stepped(struct token_table *table);

/* No served token has less than this left: a client needs time to use
 * it. Applies over min_remaining (also min_remaining = 0). */
#define TOKEN_MIN_LEFT_MS 1000
/* Tests with millisecond lifetimes lower the floor. */
void token_table_set_min_left(struct token_table *table, int64_t ms);

const char *token_state_name(enum token_state state);
const char *token_origin_name(enum token_origin origin);

#endif
