/* source_elasticache.c - ElastiCache IAM auth tokens. */
#include "source_elasticache.h"

#include "sigv4.h"
#include "source_rds.h"

int
source_elasticache_new(const struct token_def *def, struct aws_creds *creds,
                       struct token_source *out, struct err *err)
{
	struct err why = { 0 };
	struct sigv4_iam_cache *cache;

	if (def->cache == NULL || def->user == NULL)
		return err_set(err, ERR_CONFIG,
		               "elasticache: cache and user are required");
	cache = sigv4_elasticache_cache_new(def->cache, def->user, def->serverless, &why);
	return source_rds_new_signer(def, creds, "elasticache", cache, &why, out, err);
}
