/* sign-tool - prints an RDS or ElastiCache IAM token made by tokend's
 * signer, for cross-checks against AWS's own signers and for benchmarks.
 *
 *   sign-tool rds|elasticache --access-key K --secret S [--session-token T]
 *             --region R --time EPOCH_S
 *             (--host H --port P --user U | --cache C --user U [--serverless])
 *             [--bench N]
 *
 * The token comes from the cache the daemon uses (struct sigv4_iam_cache)
 * and is checked against the uncached signer. With --bench N it signs N
 * tokens through one cache and prints
 * {"ops":N,"seconds":X,"ops_per_s":Y} instead of the token.
 * Exit 0, 1 when signing fails, 2 on a usage error. */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "secret.h"
#include "sigv4.h"

struct args {
	bool rds;
	struct sigv4_creds creds;
	const char *region, *host, *cache, *user;
	int port;
	bool serverless;
	int64_t time_s;
	long bench;
};

static void
usage(void)
{
	fprintf(stderr, "usage: sign-tool rds|elasticache --access-key K --secret S "
	                "[--session-token T]\n"
	                "       --region R --time EPOCH_S\n"
	                "       (--host H --port P --user U | --cache C --user U "
	                "[--serverless])\n"
	                "       [--bench N]\n");
}

/* Whole decimal number in [min, max]; false otherwise. */
static bool
parse_num(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return false;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static int
parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "access-key", required_argument, NULL, 'a' },
		{ "secret", required_argument, NULL, 's' },
		{ "session-token", required_argument, NULL, 't' },
		{ "region", required_argument, NULL, 'r' },
		{ "time", required_argument, NULL, 'T' },
		{ "host", required_argument, NULL, 'h' },
		{ "port", required_argument, NULL, 'p' },
		{ "cache", required_argument, NULL, 'c' },
		{ "user", required_argument, NULL, 'u' },
		{ "serverless", no_argument, NULL, 'S' },
		{ "bench", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	long long n = 0;
	bool have_time = false;
	int c;

	if (argc < 2 ||
	    (strcmp(argv[1], "rds") != 0 && strcmp(argv[1], "elasticache") != 0))
		return -1;
	a->rds = strcmp(argv[1], "rds") == 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a': a->creds.access_key_id = optarg; break;
		case 's': a->creds.secret_access_key = optarg; break;
		case 't': a->creds.session_token = optarg; break;
		case 'r': a->region = optarg; break;
		case 'h': a->host = optarg; break;
		case 'c': a->cache = optarg; break;
		case 'u': a->user = optarg; break;
		case 'S': a->serverless = true; break;
		case 'T':
			if (!parse_num(optarg, 0, INT64_MAX, &n))
				return -1;
			a->time_s = n;
			have_time = true;
			break;
		case 'p':
			if (!parse_num(optarg, 1, 65535, &n))
				return -1;
			a->port = (int)n;
			break;
		case 'b':
			if (!parse_num(optarg, 1, 1000000000, &n))
				return -1;
			a->bench = (long)n;
			break;
		default: return -1;
		}
	}
	if (optind != argc || !have_time || a->region == NULL || a->user == NULL ||
	    a->creds.access_key_id == NULL || a->creds.secret_access_key == NULL)
		return -1;
	if (a->rds ? (a->host == NULL || a->port == 0 || a->cache || a->serverless)
	           : (a->cache == NULL || a->host || a->port))
		return -1;
	return 0;
}

/* The uncached signer: the reference the cache must agree with. */
static char *
sign(const struct args *a, struct err *err)
{
	if (a->rds)
		return sigv4_rds_token(&a->creds, a->region, a->host, a->port, a->user,
		                       a->time_s, err);
	return sigv4_elasticache_token(&a->creds, a->region, a->cache, a->user,
	                               a->serverless, a->time_s, err);
}

/* The cache the daemon's token sources keep, one per token. */
static struct sigv4_iam_cache *
cache_new(const struct args *a, struct err *err)
{
	if (a->rds)
		return sigv4_rds_cache_new(a->host, a->port, a->user, err);
	return sigv4_elasticache_cache_new(a->cache, a->user, a->serverless, err);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Signs as the daemon does: one cache, a token per call. Every call uses
 * the same time, so the cached path runs in full each time. */
static int
bench(const struct args *a)
{
	struct err err = { 0 };
	struct sigv4_iam_cache *c = cache_new(a, &err);
	double start = now_s(), secs;
	int rc = 1;

	if (c == NULL)
		goto out;
	for (long i = 0; i < a->bench; i++) {
		char *tok =
		        sigv4_iam_cache_token(c, &a->creds, a->region, a->time_s, &err);

		if (tok == NULL)
			goto out;
		secret_free_str(tok);
	}
	secs = now_s() - start;
	printf("{\"ops\":%ld,\"seconds\":%.6f,\"ops_per_s\":%.1f}\n", a->bench, secs,
	       secs > 0 ? (double)a->bench / secs : 0.0);
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "sign-tool: %s\n", err.msg);
	sigv4_iam_cache_free(c);
	return rc;
}

/* The cached token, checked against the uncached one. */
static char *
sign_checked(const struct args *a, struct err *err)
{
	struct sigv4_iam_cache *c = cache_new(a, err);
	char *ref = sign(a, err), *tok = NULL;

	if (c == NULL || ref == NULL)
		goto out;
	/* A first token at the start of the day builds the template, so the
	 * token printed comes from the fast path. */
	tok = sigv4_iam_cache_token(c, &a->creds, a->region,
	                            a->time_s - a->time_s % 86400, err);
	secret_free_str(tok);
	tok = sigv4_iam_cache_token(c, &a->creds, a->region, a->time_s, err);
	if (tok != NULL && strcmp(tok, ref) != 0) {
		snprintf(err->msg, sizeof(err->msg), "cached and uncached tokens differ");
		secret_free_str(tok);
		tok = NULL;
	}
out:
	sigv4_iam_cache_free(c);
	secret_free_str(ref);
	return tok;
}

int
main(int argc, char **argv)
{
	struct args a = { 0 };
	struct err err = { 0 };
	char *tok;

	if (parse_args(argc, argv, &a) < 0) {
		usage();
		return 2;
	}
	if (a.bench > 0)
		return bench(&a);
	tok = sign_checked(&a, &err);
	if (tok == NULL) {
		fprintf(stderr, "sign-tool: %s\n", err.msg);
		return 1;
	}
	printf("%s\n", tok);
	secret_free_str(tok);
	return 0;
}
