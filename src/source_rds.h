/* source_rds.h - RDS IAM auth tokens, signed locally with SigV4.
 *
 * Also the generic "presigned IAM token" source that elasticache reuses:
 * get credentials from aws_creds, sign at the skew-corrected time, and
 * cap the token's expiry by the credentials' own.
 */
#ifndef TOKEND_SOURCE_RDS_H
#define TOKEND_SOURCE_RDS_H

#include <stdint.h>

#include "config.h"
#include "err.h"
#include "token.h"

struct aws_creds;
struct sigv4_iam_cache;

/* Fills *out with an rds source for def (borrowed, as is creds; both
 * must outlive the source). -1 with err when no region can be found or a
 * field is missing. */
int source_rds_new(const struct token_def *def, struct aws_creds *creds,
                   struct token_source *out, struct err *err);

/* The same machinery for another target (elasticache): tokens come from
 * cache, which the source takes and frees. A NULL cache means the signer
 * rejected the target; every fetch then fails with why. */
int source_rds_new_signer(const struct token_def *def, struct aws_creds *creds,
                          const char *name, struct sigv4_iam_cache *cache,
                          const struct err *why, struct token_source *out,
                          struct err *err);

/* The credentials' validity a token source asks for before signing: the
 * token must stay servable for a while (def->min_remaining, at least 5 s). */
int64_t source_rds_min_valid_ms(const struct token_def *def);

#endif
