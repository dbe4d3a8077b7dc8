/* fuzz_oauth2.c - the issuer's answer (oauth2_parse_response): the JSON
 * body of a success or an error, and the Retry-After and
 * x-ratelimit-reset headers of a refusal; the Retry-After value is also
 * read as an Auth0 quota header (oauth2_quota_parse).
 *
 * Input: one byte choosing the status (STATUSES, or a raw 100..355), one
 * byte of flags (bit 0: Retry-After present, bit 1: x-ratelimit-reset
 * present, bits 2-7: seconds between request and answer), the Retry-After
 * value up to '\n', the x-ratelimit-reset value up to '\n', then the
 * body (NULs included). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "oauth2_quota.h"
#include "secret.h"
#include "source_oauth2.h"

/* Epoch ms of 2026-01-01: reset epochs in the corpus are near it. */
#define FUZZ_START_MS 1767225600000LL

static const long STATUSES[] = { 200, 400, 401, 403, 404, 429, 500, 502, 503, 504 };
#define NSTATUSES (sizeof(STATUSES) / sizeof(STATUSES[0]))

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

static long
status_of(uint8_t b)
{
	return b < NSTATUSES ? STATUSES[b] : 100 + (long)b;
}

/* What the contract promises of any answer. */
static void
check_result(int rc, const struct token_result *res, long status)
{
	if (res->http_status != (int)status)
		abort();
	if (rc == 0 && (res->value == NULL || res->err.code != ERR_OK))
		abort();
	if (rc != 0 && (res->value != NULL || res->err.code == ERR_OK))
		abort();
	if (res->retry_after_ms < 0 || res->retry_after_ms > OAUTH2_MAX_RETRY_AFTER_MS)
		abort();
}

/* What oauth2_quota.h promises of any header: label-safe names, figures
 * within Auth0's bounds, never more left than the quota. */
static void
check_quota(const char *value, int64_t now_ms)
{
	struct oauth2_quota q, kept;

	memset(&q, 0, sizeof(q));
	memset(&kept, 0, sizeof(kept));
	oauth2_quota_parse(value, OAUTH2_QUOTA_CLIENT, now_ms, &q);
	if (q.n > OAUTH2_QUOTA_MAX)
		abort();
	for (size_t i = 0; i < q.n; i++) {
		const struct oauth2_quota_bucket *b = &q.b[i];
		size_t len = strnlen(b->name, sizeof(b->name));

		if (len == 0 || len >= sizeof(b->name) ||
		    strspn(b->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                    "0123456789_") != len)
			abort();
		if (b->limit < 1 || b->limit > 2147483647LL || b->remaining < 0 ||
		    b->remaining > b->limit || b->reset_at_ms < now_ms ||
		    b->reset_at_ms > now_ms + 2147483647LL * 1000)
			abort();
		if (oauth2_quota_used_pct(b) < 0 || oauth2_quota_used_pct(b) > 100)
			abort();
	}
	if (oauth2_quota_merge(&kept, &q) >> q.n != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	long status = status_of(fuzz_take_byte(&in));
	uint8_t flags = fuzz_take_byte(&in);
	char *retry_after = fuzz_take_field(&in, '\n', NULL);
	char *reset = fuzz_take_field(&in, '\n', NULL);
	size_t len;
	char *body = fuzz_take_rest(&in, &len);
	int64_t now_ms = FUZZ_START_MS + (int64_t)(flags >> 2) * 1000;
	struct token_result res;
	int rc;

	rc = oauth2_parse_response(status, body, len, (flags & 1) ? retry_after : NULL,
	                           (flags & 2) ? reset : NULL, FUZZ_START_MS, now_ms,
	                           &res);
	check_result(rc, &res, status);
	check_quota(retry_after, now_ms);
	secret_unref(res.value);
	free(retry_after);
	free(reset);
	free(body);
	return 0;
}
