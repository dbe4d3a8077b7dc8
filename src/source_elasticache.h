/* source_elasticache.h - ElastiCache (Redis OSS / Valkey) IAM auth
 * tokens, signed locally with SigV4 (the rds machinery, another signer). */
#ifndef TOKEND_SOURCE_ELASTICACHE_H
#define TOKEND_SOURCE_ELASTICACHE_H

#include "config.h"
#include "err.h"
#include "token.h"

struct aws_creds;

/* def and creds are borrowed and must outlive the source. -1 with err
 * when no region can be found or cache/user is missing. */
int source_elasticache_new(const struct token_def *def, struct aws_creds *creds,
                           struct token_source *out, struct err *err);

#endif
