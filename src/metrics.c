/* metrics.c - the Prometheus text exposition of GET /metrics.
 *
 * Each family is written whole (HELP, TYPE, then every series) so that no
 * family is split and no series repeats. Times are written in seconds
 * with millisecond decimals, from integer maths: no float rounding.
 */
#include <event2/buffer.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_creds.h"
#include "config.h"
#include "daemon.h"
#include "err.h"
#include "metrics.h"
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
	family(out, "tokend_ready", "gauge",
	       "1 once every token held a value at start-up (READY=1 sent).");
	sample(out, "tokend_ready", none, d->ready ? "1" : "0");
	family(out, "tokend_reloads_total", "counter",
	       "Configuration reloads (SIGHUP) by result.");
	sample_u64(out, "tokend_reloads_total", ok, d->reloads_ok);
	sample_u64(out, "tokend_reloads_total", failed, d->reloads_failed);
}

static void
write_token_states(struct evbuffer *out, const struct shown *sh, int64_t now)
{
	static const char *const e = "tokend_token_expiry_seconds",
	                         *st = "tokend_token_state", *v = "tokend_token_version";
	size_t i, n = sh->n;

	family(out, e, "gauge",
	       "Seconds until the token's value expires (only with a value).");
	for (i = 0; i < n; i++) {
		struct token *tok = sh->tok[i];
		const char *l[] = { "token", tok->name, NULL };

		if (tok->value != NULL)
			sample_ms(out, e, l, tok->expires_at_ms - now);
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
	family(out, f, "counter", "Failed fetches, by reason (only reasons seen).");
	for (i = 0; i < n; i++) {
		struct token *tok = sh->tok[i];

		for (int c = ERR_OK + 1; c <= ERR_INTERNAL; c++) {
			const char *l[] = { "token", tok->name, "reason",
				            err_code_name(c), NULL };

			if (tok->failures_by_code[c] > 0)
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

static void
write_store_events(struct evbuffer *out, const struct shown *sh)
{
	static const char *const name = "tokend_ssm_store_events_total";
	size_t n = sh->n;

	family(out, name, "counter", "SSM persistence and fleet coordination events.");
	for (size_t i = 0; i < n; i++) {
		struct token *tok = sh->tok[i];
		const struct store_ssm_stats *st = store_ssm_stats(&tok->source);
		const struct {
			const char *event;
			uint64_t value;
		} ev[] = {
			{ "adopted", st ? st->adopted : 0 },
			{ "writes", st ? st->writes : 0 },
			{ "write_failures", st ? st->write_failures : 0 },
			{ "fallbacks", st ? st->fallbacks : 0 },
			{ "lock_waits", st ? st->lock_waits : 0 },
			{ "ignored", st ? st->ignored : 0 },
		};

		for (size_t j = 0; st != NULL && j < sizeof(ev) / sizeof(ev[0]); j++) {
			const char *l[] = { "token", tok->name, "event", ev[j].event,
				            NULL };

			sample_u64(out, name, l, ev[j].value);
		}
	}
}

/* The fleet-wide count of this month's issuer calls, as the json record
 * carries it (the value format has no room for it). */
static void
write_mints(struct evbuffer *out, const struct shown *sh, int64_t now)
{
	static const char *const name = "tokend_issuer_mints_month";
	size_t n = sh->n;

	family(out, name, "gauge",
	       "Issuer calls this UTC month, fleet-wide, as last seen in SSM.");
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
			const char *l[] = { "op", ssm_op_name(op), "outcome",
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
	int64_t expiration;

	write_ssm(out, d);
	if (d->creds == NULL)
		return;
	family(out, "tokend_clock_skew_seconds", "gauge",
	       "AWS clock minus the local clock, as learned from AWS Date headers.");
	sample_ms(out, "tokend_clock_skew_seconds", none, aws_creds_skew_ms(d->creds));
	expiration = aws_creds_expiration_ms(d->creds);
	if (expiration == 0)
		return;
	family(out, "tokend_aws_credentials_expiry_seconds", "gauge",
	       "Seconds until the cached AWS credentials expire (on the AWS clock).");
	sample_ms(out, "tokend_aws_credentials_expiry_seconds", none,
	          expiration - aws_creds_now_ms(d->creds));
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
	write_store_events(out, &sh);
	write_mints(out, &sh, now);
	write_aws(out, d);
	write_api(out, d);
	free(sh.tok);
}
