/* ssm_wire.c - SSM awsJson1_1 bodies, answers and error codes. Pure. */
#include "ssm_wire.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "xalloc.h"

void
ssm_wire_buf_add(struct ssm_wire_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 128;
		char *p;

		while (b->len + n + 1 > cap)
			cap *= 2;
		/* Not realloc: the old buffer may hold a secret to wipe. */
		p = xmalloc(cap);
		if (b->p != NULL) {
			memcpy(p, b->p, b->len);
			secret_free_mem(b->p, b->cap);
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
ssm_wire_buf_add_str(struct ssm_wire_buf *b, const char *s)
{
	ssm_wire_buf_add(b, s, strlen(s));
}

void
ssm_wire_buf_add_int(struct ssm_wire_buf *b, int64_t v)
{
	char num[32];

	snprintf(num, sizeof(num), "%" PRId64, v);
	ssm_wire_buf_add_str(b, num);
}

void
ssm_wire_buf_add_json(struct ssm_wire_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t run = 0;

	ssm_wire_buf_add(b, "\"", 1);
	for (; p[run] != '\0'; run++) {
		char esc[8];

		if (p[run] >= 0x20 && p[run] != '"' && p[run] != '\\')
			continue;
		ssm_wire_buf_add(b, (const char *)p, run);
		if (p[run] == '"' || p[run] == '\\')
			snprintf(esc, sizeof(esc), "\\%c", p[run]);
		else
			snprintf(esc, sizeof(esc), "\\u%04x", p[run]);
		ssm_wire_buf_add_str(b, esc);
		p += run + 1;
		run = (size_t)-1; /* the loop's ++ makes it 0 */
	}
	ssm_wire_buf_add(b, (const char *)p, run);
	ssm_wire_buf_add(b, "\"", 1);
}

char *
ssm_wire_buf_take(struct ssm_wire_buf *b)
{
	char *p;

	if (b->p == NULL)
		ssm_wire_buf_add(b, "", 0);
	p = b->p;
	memset(b, 0, sizeof(*b));
	return p;
}

void
ssm_wire_buf_wipe(struct ssm_wire_buf *b)
{
	secret_free_mem(b->p, b->cap);
	memset(b, 0, sizeof(*b));
}

static void
add_member(struct ssm_wire_buf *b, const char *key, const char *value)
{
	if (value == NULL)
		return;
	ssm_wire_buf_add_str(b, b->len > 1 ? "," : "");
	ssm_wire_buf_add_json(b, key);
	ssm_wire_buf_add(b, ":", 1);
	ssm_wire_buf_add_json(b, value);
}

char *
ssm_wire_get_body(const char *name, bool with_decryption)
{
	struct ssm_wire_buf b = { 0 };

	ssm_wire_buf_add_str(&b, "{");
	add_member(&b, "Name", name);
	ssm_wire_buf_add_str(&b, with_decryption ? ",\"WithDecryption\":true}"
	                                         : ",\"WithDecryption\":false}");
	return ssm_wire_buf_take(&b);
}

char *
ssm_wire_put_body(const struct ssm_put *put)
{
	struct ssm_wire_buf b = { 0 };

	ssm_wire_buf_add_str(&b, "{");
	add_member(&b, "Name", put->name);
	add_member(&b, "Value", put->value);
	add_member(&b, "Type", put->type);
	add_member(&b, "KeyId", put->key_id);
	add_member(&b, "Tier", put->tier);
	add_member(&b, "Description", put->description);
	ssm_wire_buf_add_str(&b, put->overwrite ? ",\"Overwrite\":true}"
	                                        : ",\"Overwrite\":false}");
	return ssm_wire_buf_take(&b);
}

char *
ssm_wire_describe_body(const char *name)
{
	struct ssm_wire_buf b = { 0 };

	ssm_wire_buf_add_str(&b, "{\"ParameterFilters\":[{\"Key\":\"Name\","
	                         "\"Option\":\"Equals\",\"Values\":[");
	ssm_wire_buf_add_json(&b, name);
	ssm_wire_buf_add_str(&b, "]}]}");
	return ssm_wire_buf_take(&b);
}

char *
ssm_wire_delete_body(const char *name)
{
	struct ssm_wire_buf b = { 0 };

	ssm_wire_buf_add_str(&b, "{");
	add_member(&b, "Name", name);
	ssm_wire_buf_add_str(&b, "}");
	return ssm_wire_buf_take(&b);
}

#define MSG_MAX 161 /* an AWS message in our error text: 160 characters */

static const char *const op_names[SSM_OP_COUNT] = {
	[SSM_OP_GET] = "GetParameter",
	[SSM_OP_PUT] = "PutParameter",
	[SSM_OP_DELETE] = "DeleteParameter",
	[SSM_OP_DESCRIBE] = "DescribeParameters",
};

static const char *const outcome_names[SSM_OUTCOME_COUNT] = {
	[SSM_OUTCOME_OK] = "ok",         [SSM_OUTCOME_NOT_FOUND] = "not_found",
	[SSM_OUTCOME_EXISTS] = "exists", [SSM_OUTCOME_THROTTLED] = "throttled",
	[SSM_OUTCOME_ERROR] = "error",
};

const char *
ssm_op_name(enum ssm_op op)
{
	return op < SSM_OP_COUNT && op_names[op] != NULL ? op_names[op] : "?";
}

const char *
ssm_outcome_name(enum ssm_outcome o)
{
	return o < SSM_OUTCOME_COUNT ? outcome_names[o] : "?";
}

const char *
ssm_family_name(enum ssm_family f)
{
	return f == SSM_FAMILY_READ ? "read" : "write";
}

enum ssm_outcome
ssm_wire_outcome(const struct err *err)
{
	switch (err->code) {
	case ERR_OK: return SSM_OUTCOME_OK;
	case ERR_NOTFOUND: return SSM_OUTCOME_NOT_FOUND;
	case ERR_EXISTS: return SSM_OUTCOME_EXISTS;
	case ERR_THROTTLED: return SSM_OUTCOME_THROTTLED;
	default: return SSM_OUTCOME_ERROR;
	}
}

bool
ssm_result_busy(const struct ssm_result *res)
{
	switch (res->err.code) {
	case ERR_THROTTLED:
	case ERR_TIMEOUT: return true;
	case ERR_UNAVAILABLE: return res->status >= 500;
	default: return false;
	}
}

void
ssm_wire_sanitize_text(const char *raw, char *out, size_t size)
{
	size_t n = 0;

	if (size == 0)
		return;
	for (; raw[n] != '\0' && n < size - 1; n++) {
		unsigned char ch = (unsigned char)raw[n];

		out[n] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	out[n] = '\0';
	if (raw[n] != '\0' && size > 4)
		memcpy(out + size - 4, "...", 4);
}

/* Error codes are identifiers: anything else is replaced, so that a code
 * in a log line is one word. */
void
ssm_wire_sanitize_code(const char *raw, char *out, size_t size)
{
	size_t n = strcspn(raw, ":");
	const char *start = raw;

	for (size_t i = 0; i < n; i++) {
		if (raw[i] == '#')
			start = raw + i + 1;
	}
	n -= (size_t)(start - raw);
	if (n >= size)
		n = size - 1;
	for (size_t i = 0; i < n; i++) {
		char ch = start[i];
		bool word = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		            (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
		            ch == '-';

		out[i] = word ? ch : '?';
	}
	out[n] = '\0';
}

/* One row per documented code: what it means for us and what to do. */
struct code_row {
	const char *code;
	enum err_code err;
	enum ssm_retry retry;
	const char *hint;
};

static const struct code_row code_rows[] = {
	{ "ParameterNotFound", ERR_NOTFOUND, SSM_RETRY_NEVER, "no such parameter" },
	{ "ParameterVersionNotFound", ERR_NOTFOUND, SSM_RETRY_NEVER,
	  "no such parameter version" },
	{ "ParameterAlreadyExists", ERR_EXISTS, SSM_RETRY_NEVER,
	  "the parameter exists and Overwrite was false" },
	{ "ParameterLimitExceeded", ERR_UNAVAILABLE, SSM_RETRY_NEVER,
	  "the account's parameter quota is reached" },
	{ "ParameterMaxVersionLimitExceeded", ERR_UNAVAILABLE, SSM_RETRY_NEVER,
	  "100 versions exist and the oldest is labelled: remove the label" },
	{ "HierarchyLevelLimitExceededException", ERR_CONFIG, SSM_RETRY_NEVER,
	  "the name has more than 15 levels" },
	{ "HierarchyTypeMismatchException", ERR_CONFIG, SSM_RETRY_NEVER,
	  "the parameter exists with another type: match ssm_type or delete it" },
	{ "InvalidKeyId", ERR_CONFIG, SSM_RETRY_NEVER,
	  "the KMS key (ssm_kms_key_id) is invalid or not usable" },
	{ "ParameterPatternMismatchException", ERR_CONFIG, SSM_RETRY_NEVER,
	  "invalid parameter name" },
	{ "UnsupportedParameterType", ERR_CONFIG, SSM_RETRY_NEVER,
	  "unsupported parameter type" },
	{ "InvalidAllowedPatternException", ERR_CONFIG, SSM_RETRY_NEVER,
	  "the value does not match the parameter's AllowedPattern" },
	{ "ValidationException", ERR_CONFIG, SSM_RETRY_NEVER, "invalid request" },
	{ "AccessDeniedException", ERR_AUTH, SSM_RETRY_NEVER,
	  "IAM or KMS denied the call: check the role's policy" },
	{ "KMSAccessDeniedException", ERR_AUTH, SSM_RETRY_NEVER,
	  "KMS denied the key: check the key policy and the role's kms: actions" },
	{ "KMSDisabledException", ERR_CONFIG, SSM_RETRY_NEVER,
	  "the KMS key is disabled" },
	{ "KMSInvalidStateException", ERR_CONFIG, SSM_RETRY_NEVER,
	  "the KMS key is not in a usable state" },
	{ "KMSNotFoundException", ERR_CONFIG, SSM_RETRY_NEVER, "no such KMS key" },
	{ "KMSOptInRequired", ERR_CONFIG, SSM_RETRY_NEVER,
	  "the account is not subscribed to KMS" },
	{ "KMSThrottlingException", ERR_THROTTLED, SSM_RETRY_BACKOFF,
	  "KMS rate exceeded" },
	{ "ThrottlingException", ERR_THROTTLED, SSM_RETRY_BACKOFF, "rate exceeded" },
	{ "TooManyUpdates", ERR_THROTTLED, SSM_RETRY_BACKOFF,
	  "concurrent updates of the parameter" },
	{ "InternalServerError", ERR_UNAVAILABLE, SSM_RETRY_BACKOFF, "AWS-side error" },
	{ "InternalFailure", ERR_UNAVAILABLE, SSM_RETRY_BACKOFF, "AWS-side error" },
	{ "ServiceUnavailable", ERR_UNAVAILABLE, SSM_RETRY_BACKOFF,
	  "service unavailable" },
	{ "RequestTimeout", ERR_TIMEOUT, SSM_RETRY_BACKOFF, "request timed out" },
	{ "RequestTimeoutException", ERR_TIMEOUT, SSM_RETRY_BACKOFF,
	  "request timed out" },
	{ "UnrecognizedClientException", ERR_AUTH, SSM_RETRY_CREDS,
	  "unknown access key or invalid session token" },
	{ "ExpiredTokenException", ERR_AUTH, SSM_RETRY_CREDS,
	  "the session token expired" },
	{ "ExpiredToken", ERR_AUTH, SSM_RETRY_CREDS, "the session token expired" },
	{ "RequestExpired", ERR_AUTH, SSM_RETRY_SKEW, "clock skew: check NTP" },
	{ "RequestInTheFuture", ERR_AUTH, SSM_RETRY_SKEW, "clock skew: check NTP" },
	{ "RequestTimeTooSkewed", ERR_AUTH, SSM_RETRY_SKEW, "clock skew: check NTP" },
	{ "AuthFailure", ERR_AUTH, SSM_RETRY_SKEW, "authentication failed" },
	{ "IncompleteSignatureException", ERR_AUTH, SSM_RETRY_NEVER,
	  "malformed signature (a bug)" },
	{ "MissingAuthenticationTokenException", ERR_AUTH, SSM_RETRY_NEVER,
	  "no authentication sent (a bug)" },
};

/* Appendix A's throttling codes that SSM does not document itself. */
static const char *const throttle_codes[] = {
	"Throttling",
	"ThrottledException",
	"RequestThrottledException",
	"TooManyRequestsException",
	"RequestLimitExceeded",
	"RequestThrottled",
	"SlowDown",
	"PriorRequestNotComplete",
	"LimitExceededException",
};

static bool
skew_message(const char *msg)
{
	return strncmp(msg, "Signature expired", 17) == 0 ||
	       strncmp(msg, "Signature not yet current", 25) == 0;
}

static const struct code_row *
find_row(const char *code, const char *msg, struct code_row *tmp)
{
	for (size_t i = 0; i < sizeof(code_rows) / sizeof(code_rows[0]); i++) {
		if (strcmp(code, code_rows[i].code) == 0)
			return &code_rows[i];
	}
	for (size_t i = 0; i < sizeof(throttle_codes) / sizeof(throttle_codes[0]); i++) {
		if (strcmp(code, throttle_codes[i]) == 0) {
			*tmp = (struct code_row){ code, ERR_THROTTLED, SSM_RETRY_BACKOFF,
				                  "rate exceeded" };
			return tmp;
		}
	}
	if (strcmp(code, "InvalidSignatureException") == 0 ||
	    strcmp(code, "SignatureDoesNotMatch") == 0) {
		if (skew_message(msg))
			*tmp = (struct code_row){ code, ERR_AUTH, SSM_RETRY_SKEW,
				                  "clock skew: check NTP" };
		else
			*tmp = (struct code_row){ code, ERR_AUTH, SSM_RETRY_NEVER,
				                  "signature rejected (a bug)" };
		return tmp;
	}
	return NULL;
}

static void
row_for_status(long status, struct code_row *tmp)
{
	if (status == 429)
		*tmp = (struct code_row){ "", ERR_THROTTLED, SSM_RETRY_BACKOFF,
			                  "rate exceeded" };
	else if (status >= 500)
		*tmp = (struct code_row){ "", ERR_UNAVAILABLE, SSM_RETRY_BACKOFF,
			                  "AWS-side error" };
	else if (status == 401 || status == 403)
		*tmp = (struct code_row){ "", ERR_AUTH, SSM_RETRY_NEVER,
			                  "access denied" };
	else
		*tmp = (struct code_row){ "", ERR_HTTP, SSM_RETRY_NEVER,
			                  "unexpected answer" };
}

static const char *
json_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

enum ssm_retry
ssm_wire_classify(long status, const char *header_code, const char *body, const char *op,
                  const char *name, char *code, size_t code_size, struct err *err)
{
	json_t *doc = body != NULL ? json_loads(body, 0, NULL) : NULL;
	const char *raw = header_code, *msg = NULL;
	char safe_msg[MSG_MAX];
	const struct code_row *row;
	struct code_row tmp;
	enum ssm_retry retry;

	if (raw == NULL || raw[0] == '\0')
		raw = json_str(doc, "__type") ? json_str(doc, "__type")
		                              : json_str(doc, "code");
	msg = json_str(doc, "message") ? json_str(doc, "message")
	                               : json_str(doc, "Message");
	ssm_wire_sanitize_text(msg != NULL ? msg : "", safe_msg, sizeof(safe_msg));
	msg = safe_msg;
	ssm_wire_sanitize_code(raw != NULL ? raw : "", code, code_size);
	row = code[0] != '\0' ? find_row(code, msg, &tmp) : NULL;
	if (row == NULL) {
		/* An unknown code on a 5xx or a 429 is still transient. */
		row_for_status(status, &tmp);
		row = &tmp;
	}
	retry = row->retry;
	err_set(err, row->err, "ssm %s %s: %s%s%s%s (HTTP %ld: %s)", op, name,
	        code[0] ? code : "error", msg[0] ? ": \"" : "", msg, msg[0] ? "\"" : "",
	        status, row->hint);
	json_decref(doc);
	return retry;
}

void
ssm_wire_parameter_clear(struct ssm_parameter *p)
{
	free(p->name);
	free(p->type);
	free(p->description);
	secret_free_str(p->value);
	memset(p, 0, sizeof(*p));
}

static int64_t
json_int64(json_t *v)
{
	/* Numbers may come as 3, 3.0 or 1.7040672E9 (wire-formats §4.1). */
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	return (int64_t)llround(json_number_value(v));
}

int
ssm_wire_parse_get(const char *body, struct ssm_parameter *out, struct err *err)
{
	/* A value holding U+0000 is still an answer: the caller sees a
	 * truncated, malformed value and replaces it. */
	json_t *doc = json_loads(body, JSON_ALLOW_NUL, NULL);
	json_t *p = json_object_get(doc, "Parameter"), *lm;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(p) || json_str(p, "Value") == NULL ||
	    json_str(p, "Name") == NULL) {
		err_set(err, ERR_PARSE, "GetParameter: no Parameter with Name and Value");
		goto out;
	}
	out->name = xstrdup(json_str(p, "Name"));
	out->type = xstrdup(json_str(p, "Type") ? json_str(p, "Type") : "");
	out->value = xstrdup(json_str(p, "Value"));
	out->version = json_int64(json_object_get(p, "Version"));
	lm = json_object_get(p, "LastModifiedDate");
	if (json_is_number(lm))
		out->last_modified_ms = (int64_t)llround(json_number_value(lm) * 1000.0);
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

int
ssm_wire_parse_describe(const char *body, const char *name, struct ssm_parameter *out,
                        struct err *err)
{
	json_t *doc = json_loads(body, 0, NULL);
	json_t *list = json_object_get(doc, "Parameters"), *p, *lm;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!json_is_array(list)) {
		err_set(err, ERR_PARSE,
		        "DescribeParameters: no Parameters in the answer");
		goto out;
	}
	json_array_foreach(list, i, p)
	{
		if (json_str(p, "Name") == NULL || strcmp(json_str(p, "Name"), name) != 0)
			continue;
		out->name = xstrdup(name);
		out->type = xstrdup(json_str(p, "Type") ? json_str(p, "Type") : "");
		out->description = xstrdup(
		        json_str(p, "Description") ? json_str(p, "Description") : "");
		out->version = json_int64(json_object_get(p, "Version"));
		lm = json_object_get(p, "LastModifiedDate");
		if (json_is_number(lm))
			out->last_modified_ms =
			        (int64_t)llround(json_number_value(lm) * 1000.0);
		rc = 0;
		goto out;
	}
	err_set(err, ERR_NOTFOUND, "DescribeParameters: %s is not listed", name);
out:
	json_decref(doc);
	return rc;
}

int
ssm_wire_parse_put(const char *body, int64_t *version, struct err *err)
{
	json_t *doc = json_loads(body, 0, NULL);
	json_t *v = json_object_get(doc, "Version");
	int rc = -1;

	if (!json_is_number(v)) {
		err_set(err, ERR_PARSE, "PutParameter: no Version in the answer");
		goto out;
	}
	*version = json_int64(v);
	rc = 0;
out:
	json_decref(doc);
	return rc;
}
