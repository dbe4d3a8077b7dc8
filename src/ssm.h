/* ssm.h - an asynchronous AWS Systems Manager Parameter Store client
 * (awsJson1_1, shared wire-formats §4): GetParameter, PutParameter,
 * DeleteParameter, signed with SigV4 at the skew-corrected time.
 *
 * Throttling is backpressure: a throttled answer (ThrottlingException,
 * TooManyUpdates, HTTP 429) and a 5xx are retried with exponential backoff
 * and full jitter until the call's deadline (ssm_call_set_deadline, else
 * SSM_DEFAULT_DEADLINE_MS after the call started). Every request, retries
 * included, first takes a token from the process's adaptive budget for
 * its quota (ssm_budget.h): reads and writes apart, off until SSM first
 * throttles, then shrinking on throttles and growing back. A request
 * waiting for a token waits on a timer, never blocking the loop; when
 * tokens are short, HOLDER calls go first and LOW ones last.
 *
 * A request that got no answer is sent once more. A clock-skew rejection
 * is retried once when the response's Date moved the skew (§7.3); an
 * expired session token once with fresh credentials. Parameter values are
 * secrets: every copy this module makes is wiped before it is freed.
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
	char *value;       /* NULL from DescribeParameters */
	char *description; /* DescribeParameters only: "" when none */
	int64_t version;
	int64_t last_modified_ms;
};

/* How a call ended, for callers and metrics. */
enum ssm_outcome {
	SSM_OUTCOME_OK,
	SSM_OUTCOME_NOT_FOUND, /* ParameterNotFound (an answer, not a fault) */
	SSM_OUTCOME_EXISTS,    /* ParameterAlreadyExists */
	SSM_OUTCOME_THROTTLED, /* still throttled at the deadline: busy */
	SSM_OUTCOME_ERROR,     /* anything else: see ssm_result_busy */
	SSM_OUTCOME_COUNT
};

/* What a call produced; borrowed during the callback only. */
struct ssm_result {
	struct err err; /* ERR_OK on success */
	enum ssm_outcome outcome;
	char code[64];              /* the sanitised AWS error code, or "" */
	long status;                /* the last HTTP status, 0 if none came */
	unsigned attempts;          /* requests sent */
	struct ssm_parameter param; /* GetParameter, DescribeParameters */
	int64_t version;            /* PutParameter: the new version */
};

/* Called exactly once per call, from the loop, unless it was cancelled. */
typedef void ssm_done_fn(const struct ssm_result *res, void *arg);

/* Busy or unusable? True when the call failed because SSM (or the way
 * to it) is busy: throttled up to the deadline, 5xx answers, timeouts.
 * Waiting and calling again is the answer to busy; it is never a reason
 * to call the issuer. False on success, on answers (ParameterNotFound,
 * ParameterAlreadyExists), and when SSM is unusable: no route, connection
 * refused, DNS, TLS failures, AccessDenied, an unknown client or a
 * rejected signature, KMS errors (InvalidKeyId, KMS access denied or key
 * disabled), malformed answers, no AWS credentials. */
bool ssm_result_busy(const struct ssm_result *res);

/* The operations, for stats and metrics labels (ssm_op_name). */
enum ssm_op { SSM_OP_GET, SSM_OP_PUT, SSM_OP_DELETE, SSM_OP_DESCRIBE, SSM_OP_COUNT };
const char *ssm_op_name(enum ssm_op op);          /* "GetParameter", ... */
const char *ssm_outcome_name(enum ssm_outcome o); /* "ok", "not_found", ... */

/* SSM's quotas: Get* calls share one, PutParameter and DeleteParameter
 * another. One adaptive budget each. */
enum ssm_family { SSM_FAMILY_READ, SSM_FAMILY_WRITE, SSM_FAMILY_COUNT };
const char *ssm_family_name(enum ssm_family f); /* "read", "write" */

/* Counters for metrics; read-only outside ssm.c. */
struct ssm_stats {
	uint64_t requests[SSM_OP_COUNT]; /* HTTP requests sent, retries included */
	uint64_t calls[SSM_OP_COUNT][SSM_OUTCOME_COUNT]; /* calls ended */
	uint64_t throttles[SSM_OP_COUNT];                /* throttling answers seen */
	uint64_t retries;                                /* requests sent again */
	uint64_t budget_waits[SSM_FAMILY_COUNT]; /* sends that waited for a token */
	uint64_t throttle_episodes;
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

/* Retry policy: backoff uniform in [0, min(cap, base * 2^n)]; at most
 * max_attempts requests for an answer that is neither throttling nor 5xx
 * (2 when no answer came: refused, reset, timed out). Defaults: 6, 200 ms,
 * 20 s. The HTTP timeout of one request is 10 s unless
 * ssm_call_set_timeout says otherwise. */
void ssm_client_set_retry(struct ssm_client *client, unsigned max_attempts,
                          int64_t base_ms, int64_t cap_ms);

struct event_base *ssm_client_base(const struct ssm_client *client);
/* A call is under way (sent, waiting for credentials, a budget token or
 * a retry): the shutdown drain waits for these (drain.h). */
bool ssm_client_busy(const struct ssm_client *client);
const struct ssm_stats *ssm_client_stats(const struct ssm_client *client);
/* The sends per second the family's budget allows now; 0 while it is off
 * (SSM has not throttled us lately: no limit). */
double ssm_client_budget_rate(const struct ssm_client *client, enum ssm_family f);
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
/* DescribeParameters of one name: its metadata and Description (the
 * value layout's "expires:"), no value; ERR_NOTFOUND when not listed. */
struct ssm_call *ssm_describe_parameter(struct ssm_client *client, const char *name,
                                        ssm_done_fn *cb, void *arg);
/* The HTTP timeout of each of the call's requests, from the next one
 * sent (the first is sent from the loop, so right after starting the call
 * is in time). timeout_ms <= 0 keeps the client's. */
void ssm_call_set_timeout(struct ssm_call *call, int64_t timeout_ms);
/* How urgent a call is when the process's SSM budget is short (the
 * adaptive client-side rate limit): HOLDER calls (a lease holder's calls,
 * a refresh's first read) are sent without waiting for a token, LOW ones
 * (a waiter's polls) go last. */
enum ssm_priority {
	SSM_PRIO_LOW,
	SSM_PRIO_NORMAL,
	SSM_PRIO_HOLDER,
};
void ssm_call_set_priority(struct ssm_call *call, enum ssm_priority prio);
/* Keep retrying throttled and 5xx answers (backpressure), and waiting for
 * the budget, until mono_deadline_ms (timeutil_mono_ms clock); the call
 * then ends busy (ERR_THROTTLED, or the last 5xx). 0 restores the default,
 * SSM_DEFAULT_DEADLINE_MS after the call started. */
#define SSM_DEFAULT_DEADLINE_MS 4000
void ssm_call_set_deadline(struct ssm_call *call, int64_t mono_deadline_ms);
/* Its callback will not run. NULL does nothing, as does a call from
 * inside the call's own callback. */
void ssm_call_cancel(struct ssm_call *call);

/* The endpoint for region: the environment overrides, else the AWS one
 * (".amazonaws.com.cn" for cn- regions). A heap string. */
char *ssm_endpoint_for(const char *region);

#endif
