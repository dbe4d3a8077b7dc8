/* source_rds.c - IAM auth tokens: credentials from aws_creds, SigV4
 * presigning from sigv4.c. No network call of its own. */
#include "source_rds.h"

#include <stdlib.h>
#include <string.h>

#include "aws_creds.h"
#include "secret.h"
#include "sigv4.h"
#include "xalloc.h"

#define MIN_VALID_FLOOR_MS 5000

struct iam_source {
	const struct token_def *def;
	struct aws_creds *creds;
	const char *name;
	struct sigv4_iam_cache *cache; /* NULL: the target was rejected */
	struct err rejected;           /* why, reported at each fetch */
	char *region;
	struct aws_creds_call *call;
	token_fetch_done_fn *done;
	void *arg;
};

int64_t
source_rds_min_valid_ms(const struct token_def *def)
{
	struct token_timing t;

	/* The token is served until min_remaining before the credentials
	 * expire: credentials closer to it than that are refreshed first. */
	token_timing_derive(def, SIGV4_IAM_TOKEN_TTL_S * 1000LL, &t);
	return t.min_remaining_ms > MIN_VALID_FLOOR_MS ? t.min_remaining_ms
	                                               : MIN_VALID_FLOOR_MS;
}

static void
sign_with(struct iam_source *s, struct aws_credentials *cr, struct token_result *res)
{
	struct sigv4_creds sc;
	int64_t signed_ms = aws_creds_now_ms(s->creds);
	/* Skew under the correction threshold is not corrected when signing,
	 * but AWS's clock ahead of ours shortens the token's life. */
	int64_t skew = aws_creds_skew_ms(s->creds) + aws_creds_skew_residual_ms(s->creds);
	int64_t time_s = signed_ms / 1000, exp;
	char *tok;

	if (s->cache == NULL) {
		res->err = s->rejected;
		return;
	}
	aws_credentials_sigv4(cr, &sc);
	tok = sigv4_iam_cache_token(s->cache, &sc, s->region, time_s, &res->err);
	if (tok == NULL)
		return;
	res->value = secret_new_str(tok);
	secret_free_str(tok);
	/* AWS judges both bounds on its clock; token.c on ours. Both the
	 * X-Amz-Date window and the credentials' Expiration are moved back
	 * by the skew so that expires_at is a local wall time. */
	exp = (time_s + SIGV4_IAM_TOKEN_TTL_S) * 1000;
	if (cr->expiration_ms != 0 && cr->expiration_ms < exp)
		exp = cr->expiration_ms;
	res->issued_at_ms = signed_ms - skew;
	res->expires_at_ms = exp - skew;
	/* min_remaining and the refresh follow the token's own 15 minutes,
	 * not what the credentials leave of them. */
	res->lifetime_ms = SIGV4_IAM_TOKEN_TTL_S * 1000LL;
	res->origin = TOKEN_ORIGIN_SIGNER;
	res->token_type[0] = '\0';
}

static void
on_creds(struct aws_credentials *cr, const struct err *err, void *arg)
{
	struct iam_source *s = arg;
	struct token_result res;

	memset(&res, 0, sizeof(res));
	s->call = NULL;
	if (cr == NULL)
		res.err = *err;
	else
		sign_with(s, cr, &res);
	/* done may start the next fetch: nothing of s is used after. */
	s->done(&res, s->arg);
}

static int
iam_start_fetch(void *impl, token_fetch_done_fn *done, void *arg)
{
	struct iam_source *s = impl;

	s->done = done;
	s->arg = arg;
	/* aws_creds_get answers from the loop, never from here. */
	s->call = aws_creds_get_valid(s->creds, source_rds_min_valid_ms(s->def), on_creds,
	                              s);
	return 0;
}

static void
iam_cancel(void *impl)
{
	struct iam_source *s = impl;

	aws_creds_call_cancel(s->call);
	s->call = NULL;
}

static void
iam_free(void *impl)
{
	struct iam_source *s = impl;

	if (s == NULL)
		return;
	aws_creds_call_cancel(s->call);
	sigv4_iam_cache_free(s->cache);
	free(s->region);
	free(s);
}

static const struct token_source_ops rds_ops = {
	.name = "rds",
	.start_fetch = iam_start_fetch,
	.cancel = iam_cancel,
	.free = iam_free,
};

static const struct token_source_ops elasticache_ops = {
	.name = "elasticache",
	.start_fetch = iam_start_fetch,
	.cancel = iam_cancel,
	.free = iam_free,
};

int
source_rds_new_signer(const struct token_def *def, struct aws_creds *creds,
                      const char *name, struct sigv4_iam_cache *cache,
                      const struct err *why, struct token_source *out, struct err *err)
{
	struct iam_source *s;
	const char *region = creds ? aws_creds_region(creds, def->region) : NULL;

	if (creds == NULL || region == NULL) {
		sigv4_iam_cache_free(cache);
		if (creds == NULL)
			return err_set(err, ERR_INTERNAL, "%s: no AWS credentials object",
			               name);
		return err_set(err, ERR_CONFIG,
		               "%s: no AWS region: set region in the token or [aws], or "
		               "AWS_REGION",
		               name);
	}
	s = xcalloc(1, sizeof(*s));
	s->def = def;
	s->creds = creds;
	s->name = name;
	s->cache = cache;
	if (cache == NULL)
		s->rejected = *why;
	s->region = xstrdup(region);
	out->ops = strcmp(name, "elasticache") == 0 ? &elasticache_ops : &rds_ops;
	out->impl = s;
	return 0;
}

int
source_rds_new(const struct token_def *def, struct aws_creds *creds,
               struct token_source *out, struct err *err)
{
	struct err why = { 0 };
	struct sigv4_iam_cache *cache;

	if (def->host == NULL || def->user == NULL || def->port <= 0)
		return err_set(err, ERR_CONFIG, "rds: host, port and user are required");
	cache = sigv4_rds_cache_new(def->host, def->port, def->user, &why);
	return source_rds_new_signer(def, creds, "rds", cache, &why, out, err);
}
