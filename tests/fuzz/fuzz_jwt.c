/* fuzz_jwt.c - the dates tokend reads from its peers: a JWT's exp claim
 * (jwt_decode_exp), the expiry a persisted token carries
 * (store_ssm_record_token_expiry: JWT or presigned IAM token), ISO 8601
 * (credentials' Expiration, SSM's LastModifiedDate) and HTTP dates (Date,
 * Retry-After). The input is the string, read by each parser in turn. */
#include <stdlib.h>

#include "fuzz.h"
#include "jwt.h"
#include "store_ssm_record.h"
#include "timeutil.h"

/* 9999-12-31T23:59:59Z, the latest exp jwt_decode_exp accepts. */
#define FUZZ_MAX_EXP_S 253402300799LL

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

/* A date that parsed prints as one that parses to the same second. */
static void
check_iso8601(int64_t v)
{
	char text[21];
	int64_t again;

	if (v < 0 || v > FUZZ_MAX_EXP_S)
		return;
	timeutil_format_iso8601(v, text);
	if (timeutil_parse_iso8601(text, &again) != 0 || again != v)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	char *s = fuzz_take_rest(&in, NULL);
	int64_t v, iat, exp;

	/* The contract: a positive exp, no later than year 9999. */
	if (jwt_decode_exp(s, &v) == 0 && (v <= 0 || v > FUZZ_MAX_EXP_S))
		abort();
	(void)store_ssm_record_token_expiry(s, &iat, &exp);
	if (timeutil_parse_iso8601(s, &v) == 0)
		check_iso8601(v);
	if (timeutil_parse_http_date(s, &v) == 0)
		check_iso8601(v);
	free(s);
	return 0;
}
