/* store_ssm_int.h - what store_ssm.c (the fetch: reads, adoption, waits,
 * the inner fetch and the write) and store_ssm_lease.c (the fleet lease:
 * take, judge stale, take over, release) share. Not for other modules. */
#ifndef TOKEND_STORE_SSM_INT_H
#define TOKEND_STORE_SSM_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "ssm.h"
#include "store_ssm.h"
#include "token_sched.h"

struct event;

#define POLL_FIRST_MS      500  /* a waiter's first poll; then x1.5 ... */
#define POLL_MAX_MS        4000 /* ... up to this, each jittered +-25% */
#define START_SPREAD_MS    2000 /* the first read at start-up: 0..this late */
#define LOCK_SLACK_MS      5000
#define SKEW_SLACK_MS      2000 /* error of the measured skew a lease allows */
#define HOLDER_READ_MS     2000 /* the holder's read, throttled, gives up after */
#define TAKEOVER_SPREAD_MS 1000 /* waiters judge a lease over 0..this late */
#define MAX_LIFETIME_MS    ((int64_t)31 * 24 * 3600 * 1000) /* implausible */

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
	bool fetching;               /* between start_fetch and its answer */
	bool urgent;                 /* a caller waits: no spread for the next fetch */
	bool urgent_fetch;           /* ... and this is that fetch */
	bool started;                /* a fetch ran before: no start-up spread */
	bool first_read;             /* the refresh's first read is not yet answered */
	bool locked;                 /* we hold the lease NAME.lock */
	bool waiting;                /* another instance holds it */
	bool fallback;               /* the issuer without the lease: no write */
	bool write_back;             /* ... but write the value if newer than stored */
	int64_t deadline_mono;       /* then the issuer is called, SSM busy or not */
	int64_t lease_end_mono;      /* our lease ends (our clock, with slack) */
	int64_t poll_ms;             /* the waiter's next poll interval */
	struct store_ssm_lock lease; /* ours, while locked or taking it */
	int64_t stale_version;       /* the stale lock to delete, re-read first */
	char stale_nonce[STORE_SSM_NONCE_LEN];
	char seen_nonce[STORE_SSM_NONCE_LEN]; /* the holder waited for last */
	char seen_owner[128];                 /* ... and its name, for the log */
	int64_t seen_lease_end_mono;          /* ... when its lease may be stale */
	int64_t held_exp_ms; /* expiry of the last value handed out, 0: none */
	struct token_timing held_timing; /* its refresh timing */
	int64_t stored_exp_ms;           /* expiry of the value last seen in SSM */
	char stored_writer[128];         /* ... its writer: the fleet's leader */
	int64_t warned_version;
	struct ssm_parameter described; /* a value read, its Description asked for */
	bool describe_warned;
	char budget_warned[STORE_SSM_MONTH_LEN];
	struct token_result result; /* the inner fetch's, until handed out */
	/* After a value is handed out (store_ssm_write.c): the holder's write
	 * and release, or a write-back, one call at a time. */
	struct ssm_call *bg_call;
	struct token_result wb;             /* the value written (a reference) */
	bool bg_write_back;                 /* a value fetched without the lease */
	bool bg_release;                    /* then release the lease ... */
	char bg_nonce[STORE_SSM_NONCE_LEN]; /* ... of this nonce (set: still ours) */
	int64_t bg_end_mono;                /* the calls' deadline */
	bool read_deferred; /* the next fetch's first read waits for them */
	struct store_ssm_stats stats;
};

/* store_ssm.c */
struct ssm_call *store_ssm_sent(const struct store *s, struct ssm_call *call,
                                enum ssm_priority prio);
struct ssm_call *store_ssm_sent_until(const struct store *s, struct ssm_call *call,
                                      enum ssm_priority prio, int64_t deadline_mono);
/* The issuer without the lease: SSM unusable, or the deadline came. */
void store_ssm_fall_back(struct store *s, const struct err *why, bool unusable);
void store_ssm_failed(struct store *s, const struct ssm_result *res);
void store_ssm_poll_later(struct store *s);
void store_ssm_read(struct store *s);
void store_ssm_deliver(struct store *s, struct token_result *res);
uint32_t store_ssm_rnd32(void);

/* store_ssm_lease.c */
int64_t store_ssm_lease_span(const struct store *s);
/* PutParameter NAME.lock with a new nonce; then reads the value again as
 * holder, or waits, or takes a stale lease over. */
void store_ssm_lease_take(struct store *s);
/* A waiter's look at the lease. */
void store_ssm_lease_read(struct store *s);
/* Another's lease is live: poll again, or call the issuer at the deadline. */
void store_ssm_lease_wait(struct store *s);
/* The fetch's lease passes to the background work (bg_nonce). */
void store_ssm_lease_hand_over(struct store *s);
/* Reads the lock and deletes it if the nonce is still bg_nonce. */
void store_ssm_lease_release_bg(struct store *s);
/* Deletes NAME.lock (cancelled holding it: reload, shutdown) without the
 * re-read and without waiting for the answer. */
void store_ssm_lease_drop(struct store *s);

/* store_ssm_write.c */
/* Hands s->result out; then, if write, persists it; releases a lease held. */
void store_ssm_persist(struct store *s, bool write);
/* Hands s->result (fetched without the lease) out, then writes it back. */
void store_ssm_write_back(struct store *s);
bool store_ssm_bg_busy(const struct store *s);
void store_ssm_bg_done(struct store *s);
void store_ssm_bg_cancel(struct store *s);

#endif
