/* source_elasticache.c - ElastiCache IAM auth tokens. */
#include "source_elasticache.h"

#include "sigv4.h"
#include "source_rds.h"

static char *
sign_elasticache(const struct token_def *def, const char *region,
                 const struct sigv4_creds *creds, int64_t time_s, struct err *err)
{
	return sigv4_elasticache_token(creds, region, def->cache, def->user,
	                               def->serverless, time_s, err);
}

int
source_elasticache_new(const struct token_def *def, struct aws_creds *creds,
                       struct token_source *out, struct err *err)
{
	if (def->cache == NULL || def->user == NULL)
		return err_set(err, ERR_CONFIG,
		               "elasticache: cache and user are required");
	return source_rds_new_signer(def, creds, "elasticache", sign_elasticache, out,
	                             err);
}
