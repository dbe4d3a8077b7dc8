/* metrics.c - the Prometheus text exposition of GET /metrics.
 *
 * Each family is written whole (HELP, TYPE, then every series) so that no
 * family is split and no series repeats. Times are written in seconds
 * with millisecond decimals, from integer maths: no float rounding.
 *
 * Conventions (tokend(8) lists the families): a family counts either how
 * things ended (a `result` label whose values sum to the things counted)
 * or one kind of event, never both, so sum() means something; every
 * series a token or component can have exists from the start, at 0;
 * times are absolute (`*_timestamp_seconds`, Unix time on the local
 * clock), not "seconds from now".
 */
#include <event2/buffer.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_creds.h"
#include "config.h"
#include "daemon.h"
#include "err.h"
#include "metrics.h"
#include "oauth2_quota.h"
#include "server.h"
#include "ssm.h"
#include "store_ssm.h"
#include "timeutil.h"
#include "token.h"
#include "xalloc.h"

/* The statuses the local API answers with, all listed so that a series
 * exists (at 0) before its first request: rate() needs the start. */
static const int api_codes[] = { 200, 202, 204, 400, 403, 404, 405,
	                         409, 413, 429, 431, 500, 503 };

void
metrics_escape(struct evbuffer *out, const char *value)
{
	const char *p = value, *run = value;

	for (; *p != '\0'; p++) {
		const char *esc = *p == '\\'   ? "\\\\"
		                  : *p == '"'  ? "\\\""
		                  : *p == '\n' ? "\\n"
		                               : NULL;

		if (esc == NULL)
			continue;
		evbuffer_add(out, run, (size_t)(p - run));
		evbuffer_add(out, esc, 2);
		run = p + 1;
	}
	evbuffer_add(out, run, (size_t)(p - run));
}

static void
family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* labels: name, value pairs ending with NULL; value is already formatted. */
static void
sample(struct evbuffer *out, const char *name, const char *const *labels,
       const char *value)
{
	evbuffer_add_printf(out, "%s", name);
	for (size_t i = 0; labels[i] != NULL; i += 2) {
		evbuffer_add_printf(out, "%s%s=\"", i == 0 ? "{" : ",", labels[i]);
		metrics_escape(out, labels[i + 1]);
		evbuffer_add(out, "\"", 1);
	}
	evbuffer_add_printf(out, "%s %s\n", labels[0] != NULL ? "}" : "", value);
}

static void
sample_u64(struct evbuffer *out, const char *name, const char *const *labels, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	sample(out, name, labels, buf);
}

static void
sample_ms(struct evbuffer *out, const char *name, const char *const *labels, int64_t ms)
{
	uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
	char buf[32];

	snprintf(buf, sizeof(buf), "%s%" PRIu64 ".%03" PRIu64, ms < 0 ? "-" : "",
	         a / 1000, a % 1000);
	sample(out, name, labels, buf);
}

static size_t
ntokens(const struct daemon *d)
{
	return d->tokens != NULL ? token_table_count(d->tokens) : 0;
}

/* The tokens whose series this scrape shows. */
struct shown {
	struct token **tok;
	size_t n;
};

static bool
from_issuer(const struct token *tok)
{
	return tok->def->type == TOKEN_TYPE_OAUTH2 || tok->def->type == TOKEN_TYPE_AUTH0;
}

static void
write_daemon(struct evbuffer *out, const struct daemon *d)
{
	static const char *const none[] = { NULL };
	const char *version[] = { "version", PACKAGE_VERSION, NULL };
	const char *ok[] = { "result", "ok", NULL },
	           *failed[] = { "result", "failed", NULL };

	family(out, "tokend_build_info", "gauge",
	       "The running tokend's version (always 1).");
	sample(out, "tokend_build_info", version, "1");
	/* What /readyz answers (200 or 503), not whether READY=1 was sent:
	 * after startup_timeout READY=1 is sent with tokens still missing. */
	family(out, "tokend_ready", "gauge",
	       "1 while every token holds a servable value (/readyz answers 200).");
	sample(out, "tokend_ready", none,
	       d->tokens != NULL && token_table_all_valid(d->tokens) ? "1" : "0");
	family(out, "tokend_reloads_total", "counter",
	       "Configuration reloads (SIGHUP) by result.");
	sample_u64(out, "tokend_reloads_total", ok, d->reloads_ok);
	sample_u64(out, "tokend_reloads_total", failed, d->reloads_failed);
}

static void
write_token_states(struct evbuffer *out, const struct shown *sh, int64_t now)
{
	static const char *const e = "tokend_token_expiry_timestamp_seconds",
	                         *st = "tokend_token_state", *v = "tokend_token_version";
	size_t i, n = sh->n;

	family(out, e, "gauge",
	       "When the token's value expires, Unix time (0: no value).");
	for (i = 0; i < n; i++) {
		struct token *tok = sh->tok[i];
		const char *l[] = { "token", tok->name, NULL };

		sample_ms(out, e, l, tok->value != NULL ? tok->expires_at_ms : 0);
	}
	family(out, st, "gauge",
	       "The token's state: 1 for the current one, 0 for the others.");
	for (i = 0; i < n; i++) {
		struct token *tok = sh->tok[i];

		for (int s = TOKEN_EMPTY; s <= TOKEN_EXPIRED; s++) {
			const char *l[] = { "token", tok->name, "state",
				            token_state_name(s), NULL };

			sample(out, st, l, tok->state == (enum token_state)s ? "1" : "0");
		}
	}
	family(out, v, "gauge", "The version of the token's value (0: never had one).");
	for (i = 0; i < n; i++) {
		struct token *tok = sh->tok[i];
		const char *l[] = { "token", tok->name, NULL };

		sample_u64(out, v, l, tok->version);
	}
}

/* The origins a token can get values from are always listed; another
 * one (after a reload changed the token) only once it counted. */
static bool
origin_listed(const struct token *tok, enum token_origin o)
{
	if (tok->values_by_origin[o] > 0)
		return true;
	if (o == TOKEN_ORIGIN_SSM)
		return store_ssm_stats(&tok->source) != NULL;
	return o == (from_issuer(tok) ? TOKEN_ORIGIN_ISSUER : TOKEN_ORIGIN_SIGNER);
}

static void
write_token_counts(struct evbuffer *out, const struct shown *sh)
{
	static const char *const r = "tokend_token_refreshes_total",
	                         *f = "tokend_token_failures_total";
	size_t i, n = sh->n;

	family(out, r, "counter", "New values installed, by where they came from.");
	for (i = 0; i < n; i++) {
		struct token *tok = sh->tok[i];

		for (int o = TOKEN_ORIGIN_ISSUER; o <= TOKEN_ORIGIN_SIGNER; o++) {
			const char *l[] = { "token", tok->name, "source",
				            token_origin_name(o), NULL };

			if (origin_listed(tok, o))
				sample_u64(out, r, l, tok->values_by_origin[o]);
		}
	}
	family(out, f, "counter", "Failed fetches, by reason.");
	for (i = 0; i < n; i++) {
		struct token *tok = sh->tok[i];

		for (int c = ERR_OK + 1; c <= ERR_INTERNAL; c++) {
			const char *l[] = { "token", tok->name, "reason",
				            err_code_name(c), NULL };

			sample_u64(out, f, l, tok->failures_by_code[c]);
		}
	}
}

/* Calls of the OAuth2 issuer. A wrapped token counts only the values the
 * issuer minted (not those adopted from SSM); SSM trouble falls back to
 * the issuer, so every failed fetch is the issuer's. */
static void
write_issuer_calls(struct evbuffer *out, const struct shown *sh)
{
	static const char *const name = "tokend_issuer_calls_total";
	size_t n = sh->n;

	family(out, name, "counter", "Calls of the OAuth2 issuer by result.");
	for (size_t i = 0; i < n; i++) {
		struct token *tok = sh->tok[i];
		const struct store_ssm_stats *st = store_ssm_stats(&tok->source);
		const char *ok[] = { "token", tok->name, "result", "ok", NULL };
		const char *failed[] = { "token", tok->name, "result", "failed", NULL };

		if (!from_issuer(tok))
			continue;
		sample_u64(out, name, ok,
		           st != NULL ? st->issuer_calls
		                      : tok->values_by_origin[TOKEN_ORIGIN_ISSUER]);
		sample_u64(out, name, failed, tok->failures);
	}
}

/* Auth0's quota headers, as the issuer's last answer that had them said:
 * series only for the buckets it reported (a quota is the issuer's
 * setting, not known before). */
static void
write_issuer_quota(struct evbuffer *out, const struct shown *sh)
{
	static const char *const names[] = {
		"tokend_issuer_quota_limit",
		"tokend_issuer_quota_remaining",
		"tokend_issuer_quota_reset_timestamp_seconds",
	};
	static const char *const help[] = {
		"The issuer's token quota for the bucket (Auth0-*-Quota-Limit q).",
		"Tokens the issuer said were left in the bucket (r).",
		"When the bucket resets, Unix time (seen at plus t).",
	};

	for (int f = 0; f < 3; f++) {
		bool any = false;

		for (size_t i = 0; i < sh->n; i++) {
			const struct oauth2_quota *q = &sh->tok[i]->quota;

			for (size_t j = 0; j < q->n; j++) {
				const struct oauth2_quota_bucket *b = &q->b[j];
				const char *l[] = {
					"token",  sh->tok[i]->name,
					"scope",  oauth2_quota_scope_name(b->scope),
					"bucket", b->name,
					NULL
				};

				if (!any)
					family(out, names[f], "gauge", help[f]);
				any = true;
				if (f == 2)
					sample_ms(out, names[f], l, b->reset_at_ms);
				else
					sample_u64(out, names[f], l,
					           (uint64_t)(f == 0 ? b->limit
					                             : b->remaining));
			}
		}
	}
}

/* A per-token counter of the SSM store, for tokens with an ssm_parameter;
 * get picks it out of the token's stats. */
typedef uint64_t store_counter_fn(const struct store_ssm_stats *st);

static void
write_store_counter(struct evbuffer *out, const struct shown *sh, const char *name,
                    const char *help, store_counter_fn *get)
{
	size_t n = sh->n;

	family(out, name, "counter", help);
	for (size_t i = 0; i < n; i++) {
		struct token *tok = sh->tok[i];
		const struct store_ssm_stats *st = store_ssm_stats(&tok->source);
		const char *l[] = { "token", tok->name, NULL };

		if (st != NULL)
			sample_u64(out, name, l, get(st));
	}
}

static uint64_t
st_adopted(const struct store_ssm_stats *st)
{
	return st->adopted;
}

static uint64_t
st_takeovers(const struct store_ssm_stats *st)
{
	return st->takeovers;
}

static uint64_t
st_write_backs(const struct store_ssm_stats *st)
{
	return st->write_backs;
}

static uint64_t
st_busy_waits(const struct store_ssm_stats *st)
{
	return st->busy_waits;
}

/* Fetches without the lease, by why: SSM unusable, or the deadline came
 * while SSM was busy or another instance held the lease. */
static void
write_store_fallbacks(struct evbuffer *out, const struct shown *sh)
{
	static const char *const name = "tokend_ssm_fallbacks_total";
	size_t n = sh->n;

	family(out, name, "counter",
	       "Issuer calls made without the fleet lease, by reason.");
	for (size_t i = 0; i < n; i++) {
		struct token *tok = sh->tok[i];
		const struct store_ssm_stats *st = store_ssm_stats(&tok->source);
		const char *u[] = { "token", tok->name, "reason", "unusable", NULL };
		const char *d[] = { "token", tok->name, "reason", "deadline", NULL };

		if (st == NULL)
			continue;
		sample_u64(out, name, u, st->fallbacks_unusable);
		sample_u64(out, name, d, st->fallbacks_deadline);
	}
}

static uint64_t
st_lock_waits(const struct store_ssm_stats *st)
{
	return st->lock_waits;
}

static uint64_t
st_ignored(const struct store_ssm_stats *st)
{
	return st->ignored;
}

/* Writes of a token's value to SSM, an outcome family. */
static void
write_store_writes(struct evbuffer *out, const struct shown *sh)
{
	static const char *const name = "tokend_ssm_store_writes_total";
	size_t n = sh->n;

	family(out, name, "counter",
	       "Values written to the token's SSM parameter, by result.");
	for (size_t i = 0; i < n; i++) {
		struct token *tok = sh->tok[i];
		const struct store_ssm_stats *st = store_ssm_stats(&tok->source);
		const char *ok[] = { "token", tok->name, "result", "ok", NULL };
		const char *failed[] = { "token", tok->name, "result", "failed", NULL };

		if (st == NULL)
			continue;
		sample_u64(out, name, ok, st->writes);
		sample_u64(out, name, failed, st->write_failures);
	}
}

/* SSM persistence and fleet coordination: one family per kind of event.
 * Fleet counters (lease takeovers, waits, fallbacks by reason) belong
 * here, each its own family. */
static void
write_store(struct evbuffer *out, const struct shown *sh)
{
	write_store_writes(out, sh);
	write_store_counter(out, sh, "tokend_ssm_values_adopted_total",
	                    "Values another instance wrote to SSM and this one served.",
	                    st_adopted);
	write_store_fallbacks(out, sh);
	write_store_counter(out, sh, "tokend_ssm_lock_waits_total",
	                    "Waits for another instance holding the refresh lease.",
	                    st_lock_waits);
	write_store_counter(out, sh, "tokend_ssm_lease_takeovers_total",
	                    "Stale leases of other instances deleted and taken over.",
	                    st_takeovers);
	write_store_counter(out, sh, "tokend_ssm_write_backs_total",
	                    "Values fetched without the lease written back to SSM.",
	                    st_write_backs);
	write_store_counter(out, sh, "tokend_ssm_busy_waits_total",
	                    "Reads repeated later because SSM was busy.", st_busy_waits);
	write_store_counter(out, sh, "tokend_ssm_records_ignored_total",
	                    "SSM parameter values tokend could not use (to be replaced).",
	                    st_ignored);
}

/* The fleet-wide count of this month's issuer calls, as the json record
 * carries it (the value format has no room for it). */
static void
write_mints(struct evbuffer *out, const struct shown *sh, int64_t now)
{
	static const char *const name = "tokend_fleet_issuer_calls_this_month";
	size_t n = sh->n;

	family(out, name, "gauge",
	       "Issuer calls this UTC month by the whole fleet, as last read from SSM.");
	for (size_t i = 0; i < n; i++) {
		struct token *tok = sh->tok[i];
		const struct store_ssm_stats *st = store_ssm_stats(&tok->source);
		const char *l[] = { "token", tok->name, NULL };

		if (st != NULL && from_issuer(tok) &&
		    tok->def->ssm_format == SSM_FORMAT_JSON)
			sample_u64(out, name, l,
			           (uint64_t)store_ssm_record_mints_now(&st->mints, now));
	}
}

/* The SSM client's families, every series present from the start. */
static void
write_ssm_calls(struct evbuffer *out, const struct ssm_stats *s)
{
	static const char *const calls = "tokend_ssm_calls_total",
	                         *reqs = "tokend_ssm_requests_total",
	                         *thr = "tokend_ssm_throttles_total";

	family(out, calls, "counter",
	       "SSM Parameter Store calls ended, by operation and outcome (throttled: "
	       "still throttled at the call's deadline).");
	for (int op = 0; op < SSM_OP_COUNT; op++) {
		for (int o = 0; o < SSM_OUTCOME_COUNT; o++) {
			const char *l[] = { "op", ssm_op_name(op), "result",
				            ssm_outcome_name(o), NULL };

			sample_u64(out, calls, l, s->calls[op][o]);
		}
	}
	family(out, reqs, "counter",
	       "HTTP requests sent to SSM Parameter Store, retries included.");
	for (int op = 0; op < SSM_OP_COUNT; op++) {
		const char *l[] = { "op", ssm_op_name(op), NULL };

		sample_u64(out, reqs, l, s->requests[op]);
	}
	family(out, thr, "counter", "Throttling answers from SSM (each one retried).");
	for (int op = 0; op < SSM_OP_COUNT; op++) {
		const char *l[] = { "op", ssm_op_name(op), NULL };

		sample_u64(out, thr, l, s->throttles[op]);
	}
}

static void
write_ssm(struct evbuffer *out, struct daemon *d)
{
	static const char *const none[] = { NULL };
	static const char *const waits = "tokend_ssm_budget_waits_total",
	                         *rate = "tokend_ssm_budget_rate";
	const struct ssm_stats *s;

	if (d->ssm == NULL)
		return;
	s = ssm_client_stats(d->ssm);
	write_ssm_calls(out, s);
	family(out, "tokend_ssm_retries_total", "counter", "SSM requests sent again.");
	sample_u64(out, "tokend_ssm_retries_total", none, s->retries);
	family(out, "tokend_ssm_throttle_episodes_total", "counter",
	       "Times SSM started throttling this process (one warning each).");
	sample_u64(out, "tokend_ssm_throttle_episodes_total", none, s->throttle_episodes);
	family(out, waits, "counter",
	       "SSM requests that waited for the adaptive budget, by quota family.");
	for (int f = 0; f < SSM_FAMILY_COUNT; f++) {
		const char *l[] = { "family", ssm_family_name(f), NULL };

		sample_u64(out, waits, l, s->budget_waits[f]);
	}
	family(out, rate, "gauge",
	       "SSM requests per second the adaptive budget allows, by quota family "
	       "(0: no limit, SSM has not throttled lately).");
	for (int f = 0; f < SSM_FAMILY_COUNT; f++) {
		const char *l[] = { "family", ssm_family_name(f), NULL };
		char buf[32];

		snprintf(buf, sizeof(buf), "%.3f", ssm_client_budget_rate(d->ssm, f));
		sample(out, rate, l, buf);
	}
}

static void
write_aws(struct evbuffer *out, struct daemon *d)
{
	static const char *const none[] = { NULL };
	int64_t expiration, skew;

	write_ssm(out, d);
	if (d->creds == NULL)
		return;
	skew = aws_creds_skew_ms(d->creds);
	family(out, "tokend_clock_skew_seconds", "gauge",
	       "AWS clock minus the local clock, as learned from AWS Date headers.");
	sample_ms(out, "tokend_clock_skew_seconds", none, skew);
	expiration = aws_creds_expiration_ms(d->creds);
	if (expiration == 0)
		return;
	/* The expiration is on the AWS clock: minus the skew, local time. */
	family(out, "tokend_aws_credentials_expiry_timestamp_seconds", "gauge",
	       "When the cached AWS credentials expire, Unix time on the local clock.");
	sample_ms(out, "tokend_aws_credentials_expiry_timestamp_seconds", none,
	          expiration - skew);
}

static void
write_api(struct evbuffer *out, const struct daemon *d)
{
	static const char *const name = "tokend_api_requests_total";

	if (d->server == NULL)
		return;
	family(out, name, "counter", "Local API requests answered, by HTTP status.");
	for (size_t i = 0; i < sizeof(api_codes) / sizeof(api_codes[0]); i++) {
		char code[8];
		const char *l[] = { "code", code, NULL };

		snprintf(code, sizeof(code), "%d", api_codes[i]);
		sample_u64(out, name, l, server_requests(d->server, api_codes[i]));
	}
}

void
metrics_write(struct evbuffer *out, server_visible_fn *visible, const void *ctx,
              void *daemon)
{
	struct daemon *d = daemon;
	int64_t now = timeutil_wall_ms();
	size_t n = ntokens(d);
	struct shown sh = { .tok = xcalloc(n + 1, sizeof(*sh.tok)) };

	for (size_t i = 0; i < n; i++) {
		struct token *tok = token_table_at(d->tokens, i);

		if (visible == NULL || visible(tok, ctx))
			sh.tok[sh.n++] = tok;
	}
	write_daemon(out, d);
	write_token_states(out, &sh, now);
	write_token_counts(out, &sh);
	write_issuer_calls(out, &sh);
	write_issuer_quota(out, &sh);
	write_store(out, &sh);
	write_mints(out, &sh, now);
	write_aws(out, d);
	write_api(out, d);
	free(sh.tok);
}
