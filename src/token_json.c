/* token_json.c - the JSON shapes of the local API. */
#include "token_json.h"

#include "config.h"
#include "oauth2_quota.h"
#include "secret.h"
#include "token.h"

static json_int_t
secs(int64_t ms)
{
	return (json_int_t)(ms / 1000);
}

static void
add_extras(json_t *o, const struct token_def *def)
{
	switch (def->type) {
	case TOKEN_TYPE_RDS:
		json_object_set_new(o, "user", json_string(def->user));
		json_object_set_new(o, "host", json_string(def->host));
		json_object_set_new(o, "port", json_integer(def->port));
		break;
	case TOKEN_TYPE_ELASTICACHE:
		json_object_set_new(o, "cache", json_string(def->cache));
		json_object_set_new(o, "user", json_string(def->user));
		json_object_set_new(o, "serverless", json_boolean(def->serverless));
		break;
	case TOKEN_TYPE_OAUTH2:
	case TOKEN_TYPE_AUTH0:
		if (def->audience != NULL)
			json_object_set_new(o, "audience", json_string(def->audience));
		break;
	}
}

json_t *
token_json_detail(const struct token *tok, int64_t now_ms)
{
	int64_t exp = token_expires_at(tok, now_ms), left = exp - now_ms;
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(tok->name));
	json_object_set_new(o, "type",
	                    json_string(config_token_type_name(tok->def->type)));
	json_object_set_new(o, "token", json_stringn(tok->value->data, tok->value->len));
	json_object_set_new(o, "token_type", json_string(tok->token_type));
	json_object_set_new(o, "expires_at", json_integer(secs(exp)));
	json_object_set_new(o, "expires_in", json_integer(left > 0 ? secs(left) : 0));
	json_object_set_new(o, "issued_at", json_integer(secs(tok->issued_at_ms)));
	json_object_set_new(o, "version", json_integer((json_int_t)tok->version));
	json_object_set_new(o, "source", json_string(token_origin_name(tok->origin)));
	add_extras(o, tok->def);
	if (tok->scope[0] != '\0')
		json_object_set_new(o, "scope", json_string(tok->scope));
	if (tok->token_endpoint[0] != '\0')
		json_object_set_new(o, "token_endpoint",
		                    json_string(tok->token_endpoint));
	return o;
}

/* "issuer_quota": what the issuer last said of its quota (Auth0's
 * headers), one entry per bucket; absent when it never said. */
static void
add_quota(json_t *o, const struct oauth2_quota *q)
{
	json_t *a;

	if (q->n == 0)
		return;
	a = json_array();
	for (size_t i = 0; i < q->n; i++) {
		const struct oauth2_quota_bucket *b = &q->b[i];

		json_array_append_new(
		        a,
		        json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "scope",
		                  oauth2_quota_scope_name(b->scope), "bucket", b->name,
		                  "limit", (json_int_t)b->limit, "remaining",
		                  (json_int_t)b->remaining, "reset_at",
		                  secs(b->reset_at_ms), "seen_at", secs(q->seen_at_ms)));
	}
	json_object_set_new(o, "issuer_quota", a);
}

json_t *
token_json_summary(const struct token *tok, int64_t now_ms)
{
	json_t *o = json_object();
	int64_t exp = token_expires_at(tok, now_ms), left = exp - now_ms;
	enum token_state state = tok->state;

	/* A value held past its expiry (a clock step not yet handled) is
	 * not called valid. */
	if (tok->value != NULL && !token_servable(tok, now_ms, NULL))
		state = TOKEN_EXPIRED;

	json_object_set_new(o, "name", json_string(tok->name));
	json_object_set_new(o, "type",
	                    json_string(config_token_type_name(tok->def->type)));
	json_object_set_new(o, "state", json_string(token_state_name(state)));
	json_object_set_new(o, "version", json_integer((json_int_t)tok->version));
	if (tok->version > 0) {
		json_object_set_new(o, "expires_at", json_integer(secs(exp)));
		json_object_set_new(o, "expires_in",
		                    json_integer(left > 0 ? secs(left) : 0));
		json_object_set_new(o, "refreshed_at",
		                    json_integer(secs(tok->refreshed_at_ms)));
		json_object_set_new(o, "source",
		                    json_string(token_origin_name(tok->origin)));
	} else {
		json_object_set_new(o, "expires_at", json_null());
		json_object_set_new(o, "expires_in", json_null());
		json_object_set_new(o, "refreshed_at", json_null());
		json_object_set_new(o, "source", json_null());
	}
	if (tok->scope[0] != '\0')
		json_object_set_new(o, "scope", json_string(tok->scope));
	if (tok->token_endpoint[0] != '\0')
		json_object_set_new(o, "token_endpoint",
		                    json_string(tok->token_endpoint));
	if (tok->last_error.code != ERR_OK)
		json_object_set_new(o, "last_error", json_string(tok->last_error.msg));
	add_quota(o, &tok->quota);
	return o;
}

json_t *
token_json_error(const char *code, const char *message)
{
	return json_pack("{s:s, s:s}", "error", code, "message", message);
}
