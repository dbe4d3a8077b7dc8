/* store_ssm_record.h - what store_ssm keeps in SSM, pure: the persisted
 * token in its two formats, the fleet lock, the monthly mint count and
 * the decision to adopt a persisted value. No loop, no network; unit
 * tested in check_store_ssm.c. */
#ifndef TOKEND_STORE_SSM_RECORD_H
#define TOKEND_STORE_SSM_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "token.h"

#define STORE_SSM_MONTH_LEN 8 /* "2026-11" and a NUL */

/* Issuer calls in one UTC month, shared by every writer (json format). */
struct store_ssm_mints {
	char month[STORE_SSM_MONTH_LEN]; /* "" when unknown */
	int64_t count;
};

struct store_ssm_record {
	char *token; /* a secret: store_ssm_record_clear wipes it */
	char token_type[32];
	int64_t issued_at_ms;
	int64_t expires_at_ms;
	char type[16]; /* "oauth2", "rds", "elasticache" */
	char writer[128];
	struct store_ssm_mints mints;
};

enum store_ssm_verdict {
	STORE_SSM_ADOPT,      /* serve it without calling the issuer */
	STORE_SSM_STALE,      /* valid but not fresher than ours: refresh */
	STORE_SSM_EXPIRED,    /* too close to its expiry to be served */
	STORE_SSM_WRONG_TYPE, /* another kind of token */
};

/* The record type of a token type (auth0 is "oauth2"). */
const char *store_ssm_record_type_name(enum token_type type);

/* ssm_format = json: {"v":1,"token":...,"expires_at":S,...}; a heap
 * string to free with secret_free_str. */
char *store_ssm_record_encode_json(const struct store_ssm_record *r);
/* 0, or -1 with ERR_PARSE saying what is wrong (never quoting the value). */
int store_ssm_record_decode_json(const char *value, struct store_ssm_record *out,
                                 struct err *err);

/* ssm_format = value: the raw token is the Value; the Description is
 * "expires:EPOCH_MS". description may be NULL (GetParameter does not
 * return it): the expiry is then read from the token itself (a JWT's exp,
 * an IAM token's X-Amz-Date + X-Amz-Expires), and a token without one
 * cannot be decoded. type comes from the token's shape. issued_at_ms is
 * 0 when unknown (the caller takes the parameter's LastModifiedDate). */
void store_ssm_record_description(int64_t expires_at_ms, char *out, size_t size);
int store_ssm_record_decode_value(const char *value, const char *description,
                                  struct store_ssm_record *out, struct err *err);

/* The expiry a token carries: a JWT's exp, or a presigned IAM token's
 * X-Amz-Date + X-Amz-Expires (which also gives issued_at; 0 for a JWT).
 * -1 when it carries none. */
int store_ssm_record_token_expiry(const char *token, int64_t *issued_at_ms,
                                  int64_t *expires_at_ms);

/* Wipes the token; the struct can be reused. */
void store_ssm_record_clear(struct store_ssm_record *r);

/* May r be served instead of calling the issuer? held_expires_at_ms is
 * the expiry of the value this instance holds, 0 at start-up. timing is
 * the token's timing for r's lifetime. At start-up anything with more
 * than min_remaining left is adopted; on a refresh only a value that
 * expires later than the held one and is outside its own refresh window
 * (more than refresh_before + jitter left), so that adopting it never
 * triggers another refresh at once and a fleet converges on one value. */
enum store_ssm_verdict store_ssm_record_judge(const struct store_ssm_record *r,
                                              enum token_type type, int64_t now_ms,
                                              int64_t held_expires_at_ms,
                                              const struct token_timing *timing);

/* 0 when a value of len bytes fits tier ("Standard": 4096 bytes,
 * "Advanced": 8192), else -1 with ERR_TOOBIG and a message naming param
 * and, for Standard, ssm_tier = Advanced. */
int store_ssm_record_check_size(const char *param, const char *tier, size_t len,
                                struct err *err);

/* The fleet lease's value: {"owner":"HOST/PID","nonce":HEX,"until":EPOCH_S}.
 * The nonce (random per lease) tells a holder its own lock apart from
 * another's, also when its PutParameter's answer was lost; a lock without
 * one (older tokend) decodes with nonce "". */
#define STORE_SSM_NONCE_LEN 33 /* 16 random bytes in hex and a NUL */
struct store_ssm_lock {
	char owner[128];
	char nonce[STORE_SSM_NONCE_LEN];
	int64_t until_s;
};
char *store_ssm_record_lock_encode(const struct store_ssm_lock *lock);
int store_ssm_record_lock_decode(const char *value, struct store_ssm_lock *out,
                                 struct err *err);

/* "YYYY-MM" of now_ms (UTC). */
void store_ssm_record_month(int64_t now_ms, char out[STORE_SSM_MONTH_LEN]);
/* The count after one more issuer call at now_ms: seen + 1 in the same
 * month, 1 in a new one. */
void store_ssm_record_mints_next(const struct store_ssm_mints *seen, int64_t now_ms,
                                 struct store_ssm_mints *out);
/* The month's count at now_ms (0 when m is of another month). */
int64_t store_ssm_record_mints_now(const struct store_ssm_mints *m, int64_t now_ms);

#endif
