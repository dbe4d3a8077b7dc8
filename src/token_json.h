/* token_json.h - the JSON shapes of the local API. Pure functions. */
#ifndef TOKEND_TOKEN_JSON_H
#define TOKEND_TOKEN_JSON_H

#include <jansson.h>
#include <stdint.h>

struct token;

/* GET /v1/tokens/NAME: {"name","type","token","token_type","expires_at",
 * "expires_in","issued_at","version","source"} plus the type's extras
 * ("user","host","port" for rds; "cache","user","serverless" for
 * elasticache). The caller checked the token is servable. New reference. */
json_t *token_json_detail(const struct token *tok, int64_t now_ms);

/* One entry of GET /v1/tokens: name, type, state, expires_at, expires_in,
 * refreshed_at, source, version and, after a failure, last_error; when
 * the issuer sent Auth0 quota headers, issuer_quota: [{scope, bucket,
 * limit, remaining, reset_at, seen_at}]. Never the value. New reference. */
json_t *token_json_summary(const struct token *tok, int64_t now_ms);

/* {"error": code, "message": message}. New reference. */
json_t *token_json_error(const char *code, const char *message);

#endif
