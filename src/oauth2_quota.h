/* oauth2_quota.h - Auth0's token quota headers.
 *
 * With fine-grained M2M token quotas, Auth0 answers client-credentials
 * requests (successes and 429s alike) with
 *   Auth0-Client-Quota-Limit: b=per_hour;q=10;r=7;t=3540,b=per_day;q=50;r=47;t=43200
 * and Auth0-Organization-Quota-Limit in the same format: comma-separated
 * buckets of ';'-separated key=value pairs, b the bucket's name, q its
 * quota, r the tokens left, t the seconds until it resets. Only the
 * quotas that apply to the request are sent.
 *
 * The parser is pure and takes hostile input: a malformed bucket is
 * skipped, never half-kept; unknown keys are ignored.
 */
#ifndef TOKEND_OAUTH2_QUOTA_H
#define TOKEND_OAUTH2_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_response;

#define OAUTH2_QUOTA_MAX      4  /* buckets kept: client and organization, hour and day */
#define OAUTH2_QUOTA_NAME_MAX 16 /* bucket name, NUL included */
#define OAUTH2_QUOTA_WARN_PCT 80 /* used share that is warned about */

enum oauth2_quota_scope {
	OAUTH2_QUOTA_CLIENT,       /* Auth0-Client-Quota-Limit */
	OAUTH2_QUOTA_ORGANIZATION, /* Auth0-Organization-Quota-Limit */
};

struct oauth2_quota_bucket {
	enum oauth2_quota_scope scope;
	char name[OAUTH2_QUOTA_NAME_MAX]; /* [A-Za-z0-9_]+: "per_hour", "per_day" */
	int64_t limit;                    /* q */
	int64_t remaining;                /* r, never above limit */
	int64_t reset_at_ms;              /* wall time: when seen plus t */
	bool warned;                      /* over OAUTH2_QUOTA_WARN_PCT, said once */
};

struct oauth2_quota {
	size_t n; /* 0: the issuer sent no quota header */
	int64_t seen_at_ms;
	struct oauth2_quota_bucket b[OAUTH2_QUOTA_MAX];
};

/* Appends the well-formed buckets of one header value (NUL-terminated)
 * to q, up to OAUTH2_QUOTA_MAX, resets measured from now_ms; a bucket of
 * a scope and name q holds already replaces it. Returns how many were
 * taken. */
size_t oauth2_quota_parse(const char *value, enum oauth2_quota_scope scope,
                          int64_t now_ms, struct oauth2_quota *q);

/* Fills q (cleared first) from every quota header of resp. */
void oauth2_quota_read(const struct http_response *resp, int64_t now_ms,
                       struct oauth2_quota *q);

/* Takes fresh into kept when fresh has buckets, carrying the warned flags
 * of the buckets in both. Returns a mask of kept's buckets (bit i for
 * kept->b[i]) that crossed OAUTH2_QUOTA_WARN_PCT used with this answer:
 * each is warned about once, until its use falls back under the mark
 * (the bucket reset). */
unsigned oauth2_quota_merge(struct oauth2_quota *kept, const struct oauth2_quota *fresh);

/* The share of the bucket used, 0..100 (rounded down). */
int oauth2_quota_used_pct(const struct oauth2_quota_bucket *b);

const char *oauth2_quota_scope_name(enum oauth2_quota_scope scope);

#endif
