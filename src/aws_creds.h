/* aws_creds.h - AWS credentials: the SDK provider chain behind a cache.
 *
 * One struct aws_creds per daemon. It resolves credentials from the
 * environment, the shared files, web identity (STS), the ECS container
 * endpoint or EC2 IMDSv2 (config `credentials = chain`, the default), or
 * from a single named provider. Temporary credentials are refreshed in the
 * background ahead of their Expiration; while a refresh fails the old ones
 * keep being handed out as long as they are valid. Callers are queued
 * behind one query in flight and are always answered later, from the loop.
 *
 * It also keeps the clock skew AWS reports (Date headers, wire-formats
 * §7.3): every SigV4 signature is made at aws_creds_now_ms().
 */
#ifndef TOKEND_AWS_CREDS_H
#define TOKEND_AWS_CREDS_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct event_base;
struct http_client;
struct config_aws;
struct secret;
struct sigv4_creds;

/* Immutable once built, refcounted; the last unref wipes the secrets. */
struct aws_credentials {
	unsigned refs;
	char *access_key_id;
	struct secret *secret_access_key;
	struct secret *session_token; /* NULL for long-term keys */
	int64_t expiration_ms;        /* wall time (AWS clock); 0: never expires */
	const char
	        *provider; /* static: "env", "profile", "web_identity", "ecs", "imds" */
};

/* Copies every string; session_token may be NULL; never NULL. */
struct aws_credentials *aws_credentials_new(const char *access_key_id,
                                            const char *secret_access_key,
                                            const char *session_token,
                                            int64_t expiration_ms, const char *provider);
struct aws_credentials *aws_credentials_ref(struct aws_credentials *c);
/* NULL does nothing. */
void aws_credentials_unref(struct aws_credentials *c);
/* Borrowed view for the signer, valid while c is. */
void aws_credentials_sigv4(const struct aws_credentials *c, struct sigv4_creds *out);
/* True when a and b are the same keys (access key and session token). */
bool aws_credentials_same(const struct aws_credentials *a,
                          const struct aws_credentials *b);

struct aws_creds;
struct aws_creds_call;

/* creds is BORROWED: valid during the callback only; take
 * aws_credentials_ref() to keep it. On failure creds is NULL and err says
 * why (for the chain: every provider tried and its reason). The call
 * handle is gone once the callback runs. */
typedef void aws_creds_done_fn(struct aws_credentials *creds, const struct err *err,
                               void *arg);
/* New credentials (different keys) replaced the old ones. */
typedef void aws_creds_change_fn(void *arg);

/* http may be NULL only when no remote provider can be used (tests). cfg
 * is borrowed and must outlive the object. Starts nothing: the first
 * aws_creds_get or aws_creds_start does. NULL with err if cfg cannot
 * work (unknown mode). */
struct aws_creds *aws_creds_new(struct event_base *base, struct http_client *http,
                                const struct config_aws *cfg, struct err *err);
/* Cancels the query and pending calls (their callbacks do not run) and
 * frees the cached credentials. NULL does nothing. */
void aws_creds_free(struct aws_creds *c);
/* After a reload: cfg (borrowed) replaces the [aws] section the provider
 * reads its region and profile from; the running chain is kept. */
void aws_creds_set_config(struct aws_creds *c, const struct config_aws *cfg);

/* Resolves eagerly (start-up); the outcome is logged. Optional. */
void aws_creds_start(struct aws_creds *c);

/* Calls cb later with credentials valid for at least AWS_CREDS_MIN_VALID_MS
 * more (by aws_creds_now_ms). Cached ones are answered without a query;
 * otherwise the call waits for the one query in flight (starting it if
 * needed). Never NULL. */
#define AWS_CREDS_MIN_VALID_MS 5000
struct aws_creds_call *aws_creds_get(struct aws_creds *c, aws_creds_done_fn *cb,
                                     void *arg);
/* The same, asking for at least min_valid_ms of validity (IAM token
 * sources ask for their serve window). If even freshly fetched credentials
 * expire sooner, cb gets ERR_UNAVAILABLE. */
struct aws_creds_call *aws_creds_get_valid(struct aws_creds *c, int64_t min_valid_ms,
                                           aws_creds_done_fn *cb, void *arg);
/* Its callback will not run. NULL does nothing. */
void aws_creds_call_cancel(struct aws_creds_call *call);

/* Registers fn, called from the loop each time a refresh brings different
 * keys. Several subscribers may register, for the life of c. */
void aws_creds_subscribe(struct aws_creds *c, aws_creds_change_fn *fn, void *arg);

/* Region: override (a token's region), [aws] region, AWS_REGION,
 * AWS_DEFAULT_REGION; NULL if none. The string lives as long as c or the
 * override. */
const char *aws_creds_region(struct aws_creds *c, const char *override);

/* Clock skew (wire-formats §7.3). */
/* Wall clock corrected by the learned skew: sign with this. */
int64_t aws_creds_now_ms(struct aws_creds *c);
/* Feeds the Date header of an AWS response (IMDS, ECS, STS, SSM) that
 * arrived at local wall time local_receive_ms. NULL date does nothing. */
void aws_creds_observe_date(struct aws_creds *c, const char *date_header,
                            int64_t local_receive_ms);
/* server - local, in ms (positive: the local clock is slow). */
int64_t aws_creds_skew_ms(const struct aws_creds *c);
/* How far AWS's clock was ahead of the corrected local one at the last
 * Date seen (0 when behind): left uncorrected under the threshold, it
 * shortens an IAM token's life as AWS judges it. */
int64_t aws_creds_skew_residual_ms(const struct aws_creds *c);
/* Expiration of the cached credentials (0: none or static) and who gave
 * them (NULL: none yet), for metrics and status. */
int64_t aws_creds_expiration_ms(const struct aws_creds *c);
const char *aws_creds_provider(const struct aws_creds *c);

/* Pure maths, unit tested. */

/* The skew to keep after seeing server_ms at local_ms: skew unchanged
 * unless |server - (local + skew)| >= AWS_CREDS_SKEW_THRESHOLD_MS. */
#define AWS_CREDS_SKEW_THRESHOLD_MS (4 * 60 * 1000)
int64_t aws_creds_skew_update(int64_t skew_ms, int64_t server_ms, int64_t local_ms);
/* When to refresh credentials expiring at expiration_ms (both on the AWS
 * clock): 5 min ahead, or at half the remaining life when less than 15
 * min remain; never sooner than 1 s from now. For expiration 0: -1
 * (long-term keys), or 15 min from now for session credentials, which
 * expire even when they do not say when. */
int64_t aws_creds_refresh_at(int64_t now_ms, int64_t expiration_ms, bool session);

#endif
