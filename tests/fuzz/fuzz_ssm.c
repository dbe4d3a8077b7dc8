/* fuzz_ssm.c - what comes back from SSM and what tokend reads out of
 * its parameters: GetParameter and PutParameter answers, error answers
 * and their codes (ssm_wire.h), the persisted token in both formats, the
 * fleet lock, and the decision to adopt a persisted value
 * (store_ssm_record.h).
 *
 * Input: one byte choosing the status (STATUSES, or a raw 100..355), one
 * byte of flags (bit 0: the header line is the X-Amzn-ErrorType header
 * and the parameter's Description, else both are absent; bits 2-7: the
 * size of the code buffer, 1..64), the header line up to '\n', then the
 * body, which every parser reads in turn. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "secret.h"
#include "ssm_wire.h"
#include "store_ssm_record.h"

static const long STATUSES[] = { 400, 403, 500, 503, 200, 404, 429, 502 };
#define NSTATUSES (sizeof(STATUSES) / sizeof(STATUSES[0]))

/* 2026-01-01 in ms: the corpus's expiries are near it. */
#define FUZZ_NOW_MS 1767225600000LL

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

/* out must be a string that fits in size, always. */
static void
check_code(const char *out, size_t size)
{
	if (memchr(out, '\0', size) == NULL)
		abort();
}

static void
fuzz_wire(long status, const char *header, const char *body, size_t code_size)
{
	char code[64];
	struct ssm_parameter param;
	struct err err;
	int64_t version;

	ssm_wire_sanitize_code(body, code, code_size);
	check_code(code, code_size);
	if (header != NULL) {
		ssm_wire_sanitize_code(header, code, code_size);
		check_code(code, code_size);
	}
	memset(&err, 0, sizeof(err));
	(void)ssm_wire_classify(status, header, body, "GetParameter", "/fuzz/name", code,
	                        code_size, &err);
	check_code(code, code_size);
	if (err.code == ERR_OK)
		abort(); /* classify reads failures: there is always an error */
	if (ssm_wire_parse_get(body, &param, &err) == 0 &&
	    (param.name == NULL || param.value == NULL))
		abort();
	ssm_wire_parameter_clear(&param);
	if (ssm_wire_parse_describe(body, "/fuzz/name", &param, &err) == 0 &&
	    (param.name == NULL || param.description == NULL || param.value != NULL))
		abort();
	ssm_wire_parameter_clear(&param);
	(void)ssm_wire_parse_put(body, &version, &err);
}

/* The record keeps whole seconds. */
static int64_t
whole_seconds(int64_t ms)
{
	return ms / 1000 * 1000;
}

/* A record that decodes must survive encoding and decoding unchanged, to
 * the second (the json format keeps whole seconds). */
static void
check_round_trip(const struct store_ssm_record *rec)
{
	struct store_ssm_record again;
	struct err err;
	char *json;

	/* Sub-second lifetimes collapse into an empty one: nothing to compare. */
	if (whole_seconds(rec->expires_at_ms) <= whole_seconds(rec->issued_at_ms))
		return;
	json = store_ssm_record_encode_json(rec);
	if (store_ssm_record_decode_json(json, &again, &err) != 0 ||
	    strcmp(again.token, rec->token) != 0 ||
	    again.expires_at_ms != whole_seconds(rec->expires_at_ms) ||
	    again.issued_at_ms != whole_seconds(rec->issued_at_ms) ||
	    strcmp(again.type, rec->type) != 0)
		abort();
	store_ssm_record_clear(&again);
	secret_free_str(json);
}

static void
fuzz_record(const char *description, const char *body)
{
	static const struct token_timing timing = { 3600000, 360000, 60000 };
	struct store_ssm_record rec;
	struct err err;
	struct store_ssm_lock lock;
	int64_t iat, exp;

	if (store_ssm_record_decode_json(body, &rec, &err) == 0) {
		check_round_trip(&rec);
		(void)store_ssm_record_judge(&rec, TOKEN_TYPE_OAUTH2, FUZZ_NOW_MS, 0,
		                             &timing);
		(void)store_ssm_record_judge(&rec, TOKEN_TYPE_OAUTH2, FUZZ_NOW_MS,
		                             FUZZ_NOW_MS + 7200000, &timing);
		(void)store_ssm_record_mints_now(&rec.mints, FUZZ_NOW_MS);
	}
	store_ssm_record_clear(&rec);
	if (store_ssm_record_decode_value(body, description, &rec, &err) == 0)
		(void)store_ssm_record_judge(&rec, TOKEN_TYPE_RDS, FUZZ_NOW_MS, 0,
		                             &timing);
	store_ssm_record_clear(&rec);
	(void)store_ssm_record_token_expiry(body, &iat, &exp);
	if (store_ssm_record_lock_decode(body, &lock, &err) == 0)
		check_code(lock.owner, sizeof(lock.owner));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint8_t s = fuzz_take_byte(&in);
	long status = s < NSTATUSES ? STATUSES[s] : 100 + (long)s;
	uint8_t flags = fuzz_take_byte(&in);
	char *header = fuzz_take_field(&in, '\n', NULL);
	char *body = fuzz_take_rest(&in, NULL);
	const char *h = (flags & 1) ? header : NULL;

	fuzz_wire(status, h, body, 1 + (size_t)(flags >> 2));
	fuzz_record(h, body);
	free(header);
	free(body);
	return 0;
}
