/* ssm.h - an asynchronous AWS Systems Manager Parameter Store client
 * (awsJson1_1, shared wire-formats §4): GetParameter, PutParameter,
 * DeleteParameter, signed with SigV4 at the skew-corrected time.
 *
 * Throttling (ThrottlingException, TooManyUpdates, HTTP 429), 5xx answers
 * and network failures are retried with exponential backoff and full
 * jitter, a bounded number of times. A clock-skew rejection is retried
 * once when the response's Date moved the skew (§7.3); an expired session
 * token once with fresh credentials. Parameter values are secrets: every
 * copy this module makes is wiped before it is freed.
 */
#ifndef TOKEND_SSM_H
#define TOKEND_SSM_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct event_base;
struct http_client;
struct aws_creds;

struct ssm_client;
struct ssm_call;

/* A PutParameter input; everything borrowed for the call only. NULL
 * members are not sent (Type is required when the parameter is new). */
struct ssm_put {
	const char *name;
	const char *value;
	const char *type; /* "String", "SecureString" */
	const char *key_id;
	bool overwrite;
	const char *tier; /* "Standard", "Advanced" */
	const char *description;
};

/* A parameter as GetParameter returns it. value is a secret. */
struct ssm_parameter {
	char *name;
	char *type;
	char *value;
	int64_t version;
	int64_t last_modified_ms;
};

/* What a call produced; borrowed during the callback only. */
struct ssm_result {
	struct err err;             /* ERR_OK on success */
	char code[64];              /* the sanitised AWS error code, or "" */
	long status;                /* the last HTTP status, 0 if none came */
	unsigned attempts;          /* requests sent */
	struct ssm_parameter param; /* GetParameter only */
	int64_t version;            /* PutParameter: the new version */
};

/* Called exactly once per call, from the loop, unless it was cancelled. */
typedef void ssm_done_fn(const struct ssm_result *res, void *arg);

/* The operations, for per-operation counters (ssm_op_name: the AWS
 * action, "GetParameter"...). */
enum ssm_op { SSM_OP_GET, SSM_OP_PUT, SSM_OP_DELETE, SSM_OPS };
const char *ssm_op_name(enum ssm_op op);

/* How a call ended, after its retries. not_found (ParameterNotFound) and
 * exists (ParameterAlreadyExists: the fleet lock is taken) are answers
 * tokend expects, not failures; throttled: still throttled after the
 * last retry. ssm_outcome_name: "ok", "not_found", ... */
enum ssm_outcome {
	SSM_OUTCOME_OK,
	SSM_OUTCOME_NOT_FOUND,
	SSM_OUTCOME_EXISTS,
	SSM_OUTCOME_THROTTLED,
	SSM_OUTCOME_ERROR,
	SSM_OUTCOMES
};
const char *ssm_outcome_name(enum ssm_outcome o);
enum ssm_outcome ssm_outcome_of(const struct err *e);

/* Counters for metrics; read-only outside ssm.c. */
struct ssm_stats {
	uint64_t requests;  /* HTTP requests sent, retries included */
	uint64_t ok;        /* calls that succeeded */
	uint64_t failed;    /* calls that failed for good */
	uint64_t throttled; /* throttling answers seen */
	uint64_t retries;
	/* The same per operation: calls by how they ended (outcomes), and
	 * the events on the way (requests sent, throttling answers,
	 * retries), kept apart so that each family sums to something. */
	struct ssm_op_stats {
		uint64_t calls[SSM_OUTCOMES];
		uint64_t requests;
		uint64_t throttled;
		uint64_t retries;
	} op[SSM_OPS];
};

/* All three objects are borrowed and must outlive the client. region is
 * copied; it picks the endpoint https://ssm.REGION.amazonaws.com unless
 * AWS_ENDPOINT_URL_SSM or AWS_ENDPOINT_URL is set. NULL with err when no
 * region is known or the endpoint is refused by the HTTP client's policy. */
struct ssm_client *ssm_client_new(struct event_base *base, struct http_client *http,
                                  struct aws_creds *creds, const char *region,
                                  struct err *err);
/* Cancels every call under way (their callbacks do not run). NULL does
 * nothing. */
void ssm_client_free(struct ssm_client *client);

/* Retry policy: at most max_attempts requests per call (2 when no answer
 * came: refused, reset, timed out), backoff uniform in
 * [0, min(cap, base * 2^n)]. Defaults: 6, 200 ms, 20 s. Also the default
 * HTTP timeout of one request (10 s); ssm_call_set_timeout overrides it. */
void ssm_client_set_retry(struct ssm_client *client, unsigned max_attempts,
                          int64_t base_ms, int64_t cap_ms);
void ssm_client_set_timeout(struct ssm_client *client, int64_t timeout_ms);

const char *ssm_client_endpoint(const struct ssm_client *client);
struct event_base *ssm_client_base(const struct ssm_client *client);
const struct ssm_stats *ssm_client_stats(const struct ssm_client *client);
/* The AWS clock (wall clock corrected by the learned skew), for times
 * that other hosts compare (lock expiry). */
int64_t ssm_client_now_ms(struct ssm_client *client);

/* Start one call; each returns a handle (never NULL) that can be
 * cancelled until the callback runs, and never calls cb from inside
 * itself. Every input is copied. */
struct ssm_call *ssm_get_parameter(struct ssm_client *client, const char *name,
                                   bool with_decryption, ssm_done_fn *cb, void *arg);
struct ssm_call *ssm_put_parameter(struct ssm_client *client, const struct ssm_put *put,
                                   ssm_done_fn *cb, void *arg);
struct ssm_call *ssm_delete_parameter(struct ssm_client *client, const char *name,
                                      ssm_done_fn *cb, void *arg);
/* The HTTP timeout of each of the call's requests, from the next one
 * sent (the first is sent from the loop, so right after starting the call
 * is in time). timeout_ms <= 0 keeps the client's. */
void ssm_call_set_timeout(struct ssm_call *call, int64_t timeout_ms);
/* How urgent a call is when the process's SSM budget is short (the
 * adaptive client-side rate limit): HOLDER calls (a lease holder's value
 * write and unlock) go first, LOW ones (a waiter's polls) last. */
enum ssm_priority {
	SSM_PRIO_LOW,
	SSM_PRIO_NORMAL,
	SSM_PRIO_HOLDER,
};
void ssm_call_set_priority(struct ssm_call *call, enum ssm_priority prio);
/* Keep retrying throttled answers (backpressure) until mono_deadline_ms
 * (timeutil_mono_ms clock) instead of giving up after max_attempts; the
 * call then ends with ERR_THROTTLED. 0 keeps the attempt bound. */
void ssm_call_set_deadline(struct ssm_call *call, int64_t mono_deadline_ms);
/* Its callback will not run. NULL does nothing, as does a call from
 * inside the call's own callback. */
void ssm_call_cancel(struct ssm_call *call);

/* The endpoint for region: the environment overrides, else the AWS one
 * (".amazonaws.com.cn" for cn- regions). A heap string. */
char *ssm_endpoint_for(const char *region);

#endif
