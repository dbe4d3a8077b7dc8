/* store_ssm_record.c - the persisted token, the lock and the mint count:
 * encoding, decoding and the adoption decision. Pure. */
#include "store_ssm_record.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwt.h"
#include "secret.h"
#include "ssm_wire.h"
#include "xalloc.h"

#define RECORD_VERSION 1
#define STANDARD_MAX   4096
#define ADVANCED_MAX   8192
#define MAX_EPOCH_S    253402300799LL /* 9999-12-31T23:59:59Z */

const char *
store_ssm_record_type_name(enum token_type type)
{
	switch (type) {
	case TOKEN_TYPE_OAUTH2:
	case TOKEN_TYPE_AUTH0: return "oauth2";
	case TOKEN_TYPE_RDS: return "rds";
	case TOKEN_TYPE_ELASTICACHE: return "elasticache";
	}
	return "unknown";
}

void
store_ssm_record_clear(struct store_ssm_record *r)
{
	secret_free_str(r->token);
	memset(r, 0, sizeof(*r));
}

static void
add_key(struct ssm_wire_buf *b, const char *key)
{
	ssm_wire_buf_add_str(b, b->len > 1 ? "," : "");
	ssm_wire_buf_add_json(b, key);
	ssm_wire_buf_add_str(b, ":");
}

char *
store_ssm_record_encode_json(const struct store_ssm_record *r)
{
	struct ssm_wire_buf b = { 0 };

	ssm_wire_buf_add_str(&b, "{\"v\":1");
	add_key(&b, "token");
	ssm_wire_buf_add_json(&b, r->token);
	if (r->token_type[0] != '\0') {
		add_key(&b, "token_type");
		ssm_wire_buf_add_json(&b, r->token_type);
	}
	add_key(&b, "expires_at");
	ssm_wire_buf_add_int(&b, r->expires_at_ms / 1000);
	add_key(&b, "issued_at");
	ssm_wire_buf_add_int(&b, r->issued_at_ms / 1000);
	add_key(&b, "type");
	ssm_wire_buf_add_json(&b, r->type);
	add_key(&b, "writer");
	ssm_wire_buf_add_json(&b, r->writer);
	if (r->mints.month[0] != '\0') {
		add_key(&b, "mints");
		ssm_wire_buf_add_str(&b, "{\"month\":");
		ssm_wire_buf_add_json(&b, r->mints.month);
		ssm_wire_buf_add_str(&b, ",\"count\":");
		ssm_wire_buf_add_int(&b, r->mints.count);
		ssm_wire_buf_add_str(&b, "}");
	}
	ssm_wire_buf_add_str(&b, "}");
	return ssm_wire_buf_take(&b);
}

/* Epoch seconds as an integer or a real (1.7E9); false if neither, or
 * if beyond year 9999 either way (so that the milliseconds fit). */
static bool
json_seconds(json_t *v, int64_t *ms)
{
	if (json_is_integer(v) && json_integer_value(v) >= -MAX_EPOCH_S &&
	    json_integer_value(v) <= MAX_EPOCH_S)
		*ms = (int64_t)json_integer_value(v) * 1000;
	else if (json_is_real(v) && fabs(json_real_value(v)) <= MAX_EPOCH_S)
		*ms = (int64_t)llround(json_real_value(v) * 1000.0);
	else
		return false;
	return true;
}

static void
copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src != NULL ? src : "");
}

static void
decode_mints(json_t *m, struct store_ssm_mints *out)
{
	const char *month = json_string_value(json_object_get(m, "month"));
	json_t *count = json_object_get(m, "count");

	/* A damaged count starts the month over rather than failing the token. */
	if (month == NULL || strlen(month) != 7 || !json_is_integer(count) ||
	    json_integer_value(count) < 0)
		return;
	copy_str(out->month, sizeof(out->month), month);
	out->count = (int64_t)json_integer_value(count);
}

int
store_ssm_record_decode_json(const char *value, struct store_ssm_record *out,
                             struct err *err)
{
	json_t *doc = json_loads(value, JSON_REJECT_DUPLICATES, NULL);
	const char *token = json_string_value(json_object_get(doc, "token"));
	const char *type = json_string_value(json_object_get(doc, "type"));
	json_t *v = json_object_get(doc, "v");
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(doc)) {
		err_set(err, ERR_PARSE, "not a JSON object");
		goto out;
	}
	if (!json_is_integer(v) || json_integer_value(v) != RECORD_VERSION) {
		err_set(err, ERR_PARSE, "\"v\" is not %d", RECORD_VERSION);
		goto out;
	}
	if (token == NULL || token[0] == '\0' || type == NULL) {
		err_set(err, ERR_PARSE, "\"token\" or \"type\" missing");
		goto out;
	}
	if (!json_seconds(json_object_get(doc, "expires_at"), &out->expires_at_ms) ||
	    !json_seconds(json_object_get(doc, "issued_at"), &out->issued_at_ms) ||
	    out->expires_at_ms <= out->issued_at_ms) {
		err_set(err, ERR_PARSE,
		        "\"expires_at\"/\"issued_at\" missing or inverted");
		goto out;
	}
	out->token = xstrdup(token);
	copy_str(out->type, sizeof(out->type), type);
	copy_str(out->token_type, sizeof(out->token_type),
	         json_string_value(json_object_get(doc, "token_type")));
	copy_str(out->writer, sizeof(out->writer),
	         json_string_value(json_object_get(doc, "writer")));
	decode_mints(json_object_get(doc, "mints"), &out->mints);
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

void
store_ssm_record_description(int64_t expires_at_ms, char *out, size_t size)
{
	snprintf(out, size, "expires:%" PRId64, expires_at_ms);
}

static const char *
query_param(const char *token, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = strchr(token, '?'); p != NULL; p = strchr(p + 1, '&')) {
		if (strncmp(p + 1, name, n) == 0 && p[1 + n] == '=')
			return p + 2 + n;
	}
	return NULL;
}

static int
iam_expiry(const char *token, int64_t *iat_ms, int64_t *exp_ms)
{
	const char *date = query_param(token, "X-Amz-Date");
	const char *expires = query_param(token, "X-Amz-Expires");
	struct tm tm = { 0 };
	char *end;
	long secs;

	if (date == NULL || expires == NULL ||
	    sscanf(date, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	           &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	secs = strtol(expires, &end, 10);
	if (end == expires || secs <= 0 || secs > 604800) /* SigV4's ceiling, 7 days */
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*iat_ms = (int64_t)timegm(&tm) * 1000;
	*exp_ms = *iat_ms + (int64_t)secs * 1000;
	return 0;
}

int
store_ssm_record_token_expiry(const char *token, int64_t *issued_at_ms,
                              int64_t *expires_at_ms)
{
	int64_t exp_s;

	if (query_param(token, "X-Amz-Date") != NULL)
		return iam_expiry(token, issued_at_ms, expires_at_ms);
	*issued_at_ms = 0; /* a JWT's iat is not read: LastModifiedDate stands in */
	if (jwt_decode_exp(token, &exp_s) == -1)
		return -1;
	*expires_at_ms = exp_s * 1000;
	return 0;
}

static const char *
value_type(const char *token)
{
	if (query_param(token, "X-Amz-Date") == NULL)
		return "oauth2";
	return query_param(token, "DBUser") != NULL ? "rds" : "elasticache";
}

int
store_ssm_record_decode_value(const char *value, const char *description,
                              struct store_ssm_record *out, struct err *err)
{
	int64_t iat = 0, exp = 0;
	char *end;

	memset(out, 0, sizeof(*out));
	if (value[0] == '\0' || strpbrk(value, " \t\r\n") != NULL)
		return err_set(err, ERR_PARSE, "not a bare token");
	if (description != NULL && strncmp(description, "expires:", 8) == 0) {
		exp = strtoll(description + 8, &end, 10);
		if (end == description + 8 || *end != '\0' || exp <= 0)
			return err_set(err, ERR_PARSE, "bad Description \"expires:\"");
		(void)store_ssm_record_token_expiry(value, &iat, &(int64_t){ 0 });
	} else if (store_ssm_record_token_expiry(value, &iat, &exp) == -1) {
		return err_set(err, ERR_PARSE,
		               "the token carries no expiry (neither a JWT exp nor "
		               "X-Amz-Expires)");
	}
	out->token = xstrdup(value);
	out->issued_at_ms = iat > 0 && iat < exp ? iat : 0;
	out->expires_at_ms = exp;
	copy_str(out->type, sizeof(out->type), value_type(value));
	copy_str(out->token_type, sizeof(out->token_type),
	         strcmp(out->type, "oauth2") == 0 ? "Bearer" : "");
	return 0;
}

enum store_ssm_verdict
store_ssm_record_judge(const struct store_ssm_record *r, enum token_type type,
                       int64_t now_ms, int64_t held_expires_at_ms,
                       const struct token_timing *timing)
{
	int64_t left = r->expires_at_ms - now_ms;

	if (strcmp(r->type, store_ssm_record_type_name(type)) != 0)
		return STORE_SSM_WRONG_TYPE;
	if (left <= timing->min_remaining_ms)
		return STORE_SSM_EXPIRED;
	if (held_expires_at_ms <= 0)
		return STORE_SSM_ADOPT;
	if (r->expires_at_ms > held_expires_at_ms &&
	    left > timing->refresh_before_ms + timing->jitter_ms)
		return STORE_SSM_ADOPT;
	return STORE_SSM_STALE;
}

int
store_ssm_record_check_size(const char *param, const char *tier, size_t len,
                            struct err *err)
{
	bool advanced = strcmp(tier, "Advanced") == 0;
	size_t max = advanced ? ADVANCED_MAX : STANDARD_MAX;

	if (len <= max)
		return 0;
	return err_set(err, ERR_TOOBIG,
	               "ssm %s: the value is %zu bytes, over the %s tier's %zu%s", param,
	               len, tier, max, advanced ? "" : ": set ssm_tier = Advanced");
}

char *
store_ssm_record_lock_encode(const struct store_ssm_lock *lock)
{
	struct ssm_wire_buf b = { 0 };

	ssm_wire_buf_add_str(&b, "{\"owner\":");
	ssm_wire_buf_add_json(&b, lock->owner);
	ssm_wire_buf_add_str(&b, ",\"nonce\":");
	ssm_wire_buf_add_json(&b, lock->nonce);
	ssm_wire_buf_add_str(&b, ",\"until\":");
	ssm_wire_buf_add_int(&b, lock->until_s);
	ssm_wire_buf_add_str(&b, "}");
	return ssm_wire_buf_take(&b);
}

int
store_ssm_record_lock_decode(const char *value, struct store_ssm_lock *out,
                             struct err *err)
{
	json_t *doc = json_loads(value, 0, NULL);
	json_t *until = json_object_get(doc, "until");
	int64_t ms;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(doc) || !json_seconds(until, &ms)) {
		err_set(err, ERR_PARSE, "lock: not {\"owner\":...,\"until\":EPOCH_S}");
		goto out;
	}
	out->until_s = ms / 1000;
	copy_str(out->owner, sizeof(out->owner),
	         json_string_value(json_object_get(doc, "owner")));
	copy_str(out->nonce, sizeof(out->nonce),
	         json_string_value(json_object_get(doc, "nonce")));
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

void
store_ssm_record_month(int64_t now_ms, char out[STORE_SSM_MONTH_LEN])
{
	time_t t = (time_t)(now_ms / 1000);
	struct tm tm;
	char buf[32];

	gmtime_r(&t, &tm);
	snprintf(buf, sizeof(buf), "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
	snprintf(out, STORE_SSM_MONTH_LEN, "%.7s", buf);
}

int64_t
store_ssm_record_mints_now(const struct store_ssm_mints *m, int64_t now_ms)
{
	char month[STORE_SSM_MONTH_LEN];

	store_ssm_record_month(now_ms, month);
	return strcmp(month, m->month) == 0 ? m->count : 0;
}

void
store_ssm_record_mints_next(const struct store_ssm_mints *seen, int64_t now_ms,
                            struct store_ssm_mints *out)
{
	int64_t count = store_ssm_record_mints_now(seen, now_ms);

	store_ssm_record_month(now_ms, out->month);
	out->count = count + 1;
}
