/* store_ssm.h - persistence of tokens in SSM Parameter Store, warm starts
 * and fleet coordination (DESIGN.md "Persistence in SSM Parameter Store",
 * "Many instances, one issuer call"), and ssm: secret references.
 *
 * store_ssm_wrap puts a token source behind the same vtable. One fetch
 * (the protocol and its bounds: docs/architecture.md "Fleet coordination"):
 *  1. GetParameter, when its turn comes (store_ssm_pace.h: spread over
 *     START_SPREAD_MS at start-up; on a refresh at once for the instance
 *     that wrote the stored value, later for the others; at once when
 *     urgent): a persisted value that is well-formed, of this type and
 *     fresh enough (store_ssm_record_judge, its expiry capped by the
 *     token's own) is handed back as it is (origin TOKEN_ORIGIN_SSM).
 *  2. coordinate = ssm-lock: a lease NAME.lock {owner, nonce, until},
 *     PutParameter Overwrite=false. Held by another: poll the parameter
 *     (interval growing from 0.5 s to 4 s, jittered; the lock read again
 *     only once the lease may be stale) until a fresher value appears or
 *     the lease is stale (judged on the skew-corrected clock, "until"
 *     bounded by its LastModifiedDate); a stale lease is read again and
 *     deleted only if unchanged, then taken. The holder reads once more
 *     and calls the inner source.
 *     coordinate = none: the inner fetch.
 *  3. SSM busy (throttled, 5xx, timeouts) is waited out; the issuer is
 *     called without the lease only when SSM is unusable (no route, TLS,
 *     denied, KMS, signature) or at the fetch's deadline: cold, after
 *     ssm_cold_wait; warm, before the held value stops being served.
 *     Such a value is written back when it outlives the stored one.
 *  4. Serve first: the value is handed to the token table, then written
 *     and the lease released in the background (store_ssm_write.c),
 *     retried first in the SSM budget until the lease runs out.
 * A write that fails (too large for the tier, denied...) is logged and
 * counted; the value is served all the same: persistence never stops
 * serving. `tokend --once` waits for the writes (store_ssm_persisting).
 * ssm: secret references are resolved by store_ssm_secrets.h.
 */
#ifndef TOKEND_STORE_SSM_H
#define TOKEND_STORE_SSM_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "store_ssm_record.h"
#include "token.h"

struct ssm_client;

/* Counters per token, for metrics; read-only outside store_ssm.c. */
struct store_ssm_stats {
	uint64_t adopted;       /* values taken from SSM instead of the issuer */
	uint64_t inner_fetches; /* calls of the wrapped source */
	uint64_t issuer_calls;  /* of those, values the issuer minted */
	uint64_t writes;        /* values persisted */
	uint64_t write_failures;
	uint64_t fallbacks;           /* the wrapped source without the lease: */
	uint64_t fallbacks_unusable;  /* ... SSM unusable (no route, denied, KMS) */
	uint64_t fallbacks_deadline;  /* ... SSM busy or the lease held too long */
	uint64_t lock_waits;          /* another instance held the lease */
	uint64_t busy_waits;          /* SSM busy: read again later */
	uint64_t takeovers;           /* stale leases deleted and taken */
	uint64_t write_backs;         /* values fetched without the lease, shared */
	uint64_t ignored;             /* malformed, expired or wrong-type values seen */
	struct store_ssm_mints mints; /* this month's issuer calls, fleet-wide */
};

/* Wraps inner (ownership passes to *out, also on failure) for def, which
 * must have ssm_parameter set. def and ssm are borrowed and must outlive
 * the source. -1 with err when def cannot be persisted. */
int store_ssm_wrap(const struct token_def *def, struct ssm_client *ssm,
                   struct token_source inner, struct token_source *out, struct err *err);

/* The counters of a wrapped source, NULL for any other source. */
const struct store_ssm_stats *store_ssm_stats(const struct token_source *src);

/* A source freed holding its lease (reload, shutdown) sends the lease's
 * delete with this deadline and nothing waits for it: whoever frees the
 * SSM client after a shutdown gives it that long to go out. */
#define STORE_SSM_DROP_MS 2000

/* True while a value already handed out is still being written to SSM or
 * its lease released (serve first, persist after); false for a source
 * that is not wrapped. */
bool store_ssm_persisting(const struct token_source *src);

/* True when def->issuer_budget is set and this month's issuer calls
 * (fleet-wide, as last read from or written to the parameter) reached
 * it. token.c / the server refuse a *forced* refresh then; scheduled
 * refreshes go on. False for a source that is not wrapped. */
bool store_ssm_budget_exceeded(const struct token_source *src, int64_t now_ms);

#endif
