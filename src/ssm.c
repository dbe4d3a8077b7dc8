/* ssm.c - SSM Parameter Store calls: sign, send, retry, answer once.
 * The wire format (bodies, answers, error codes) is in ssm_wire.c. */
#include "ssm.h"

#include <event2/event.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws_creds.h"
#include "http_client.h"
#include "log.h"
#include "secret.h"
#include "sigv4.h"
#include "ssm_sched.h"
#include "ssm_wire.h"
#include "timeutil.h"
#include "xalloc.h"

#define DEFAULT_ATTEMPTS   6
#define DEFAULT_BASE_MS    200
#define DEFAULT_CAP_MS     20000
#define DEFAULT_TIMEOUT_MS 10000
/* A request that got no answer (refused, reset, timed out) is sent once
 * more, not max_attempts times: a token waits on SSM only to save an issuer
 * call, and an unreachable SSM must hand it to the issuer promptly. */
#define TRANSPORT_ATTEMPTS 2
#define SKEW_MAX_RTT_MS    5000 /* a slower answer says little about the clock */
#define CONTENT_TYPE       "application/x-amz-json-1.1"
struct ssm_client {
	struct event_base *base;
	struct http_client *http;
	struct aws_creds *creds;
	char *region;
	char *url;  /* endpoint and path, what is sent */
	char *host; /* the Host header, signed */
	char *path;
	unsigned max_attempts;
	int64_t base_ms, cap_ms, timeout_ms;
	struct ssm_stats stats;
	struct ssm_call *calls; /* under way, for ssm_client_free */
	struct ssm_sched *sched;
};

struct ssm_call {
	struct ssm_client *client;
	struct ssm_call *prev, *next;
	struct ssm_sched_wait wait; /* for a send token */
	enum ssm_op op;
	char *name;
	char *body; /* holds the value of a put: wiped */
	ssm_done_fn *cb;
	void *arg;
	struct event *timer;
	struct aws_creds_call *creds_call;
	struct http_call *http;
	int64_t min_valid_ms; /* > 0: ask for fresher credentials than cached */
	int64_t timeout_ms;   /* of each request */
	int64_t started_ms;   /* mono */
	int64_t deadline_ms;  /* > 0: set by the caller (mono) */
	enum ssm_priority prio;
	bool skew_retried, creds_retried, in_callback;
	struct ssm_result res;
};

static const char *
nonempty_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

char *
ssm_endpoint_for(const char *region)
{
	const char *env = nonempty_env("AWS_ENDPOINT_URL_SSM");
	char *out;
	size_t n;

	if (env == NULL)
		env = nonempty_env("AWS_ENDPOINT_URL");
	if (env == NULL) {
		xasprintf(&out, "https://ssm.%s.amazonaws.com%s", region,
		          strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
		return out;
	}
	n = strlen(env);
	while (n > 0 && env[n - 1] == '/')
		n--;
	return xstrndup(env, n);
}

/* Splits "https://host:port/base" into the URL to POST, Host and path. */
static int
split_endpoint(struct ssm_client *c, const char *endpoint, struct err *err)
{
	const char *auth = strstr(endpoint, "://"), *slash;

	if (auth == NULL || auth[3] == '\0')
		return err_set(err, ERR_CONFIG, "ssm: bad endpoint '%s'", endpoint);
	auth += 3;
	slash = strchr(auth, '/');
	c->host = slash ? xstrndup(auth, (size_t)(slash - auth)) : xstrdup(auth);
	xasprintf(&c->path, "%s/", slash ? slash : "");
	xasprintf(&c->url, "%s/", endpoint);
	return http_client_url_allowed(c->url, err);
}

struct ssm_client *
ssm_client_new(struct event_base *base, struct http_client *http, struct aws_creds *creds,
               const char *region, struct err *err)
{
	struct ssm_client *c = NULL;
	char *endpoint = NULL;

	if (region == NULL || region[0] == '\0') {
		err_set(err, ERR_CONFIG,
		        "ssm: no AWS region: set region in [aws], or AWS_REGION");
		goto out;
	}
	if (creds == NULL || http == NULL) {
		err_set(err, ERR_INTERNAL, "ssm: no HTTP client or AWS credentials");
		goto out;
	}
	c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->http = http;
	c->creds = creds;
	c->region = xstrdup(region);
	c->max_attempts = DEFAULT_ATTEMPTS;
	c->base_ms = DEFAULT_BASE_MS;
	c->cap_ms = DEFAULT_CAP_MS;
	c->timeout_ms = DEFAULT_TIMEOUT_MS;
	c->sched = ssm_sched_new(base, &c->stats);
	endpoint = ssm_endpoint_for(region);
	if (split_endpoint(c, endpoint, err) == -1) {
		ssm_client_free(c);
		c = NULL;
	}
out:
	free(endpoint);
	return c;
}

static void call_free(struct ssm_call *call);

void
ssm_client_free(struct ssm_client *c)
{
	if (c == NULL)
		return;
	while (c->calls != NULL)
		ssm_call_cancel(c->calls);
	ssm_sched_free(c->sched);
	free(c->region);
	free(c->url);
	free(c->host);
	free(c->path);
	free(c);
}

void
ssm_client_set_retry(struct ssm_client *c, unsigned max_attempts, int64_t base_ms,
                     int64_t cap_ms)
{
	c->max_attempts = max_attempts > 0 ? max_attempts : 1;
	c->base_ms = base_ms;
	c->cap_ms = cap_ms;
}

struct event_base *
ssm_client_base(const struct ssm_client *c)
{
	return c->base;
}

bool
ssm_client_busy(const struct ssm_client *c)
{
	return c->calls != NULL;
}

const struct ssm_stats *
ssm_client_stats(const struct ssm_client *c)
{
	return &c->stats;
}

double
ssm_client_budget_rate(const struct ssm_client *c, enum ssm_family f)
{
	return ssm_sched_rate(c->sched, f);
}

int64_t
ssm_client_now_ms(struct ssm_client *c)
{
	return aws_creds_now_ms(c->creds);
}

static void on_timer(evutil_socket_t fd, short what, void *arg);
static void get_creds_go(void *arg);

static struct ssm_call *
call_new(struct ssm_client *c, enum ssm_op op, const char *name, char *body,
         ssm_done_fn *cb, void *arg)
{
	struct ssm_call *call = xcalloc(1, sizeof(*call));
	struct timeval now = { 0, 0 };

	call->client = c;
	call->op = op;
	call->name = xstrdup(name != NULL ? name : "");
	call->body = body;
	call->cb = cb;
	call->arg = arg;
	call->timeout_ms = c->timeout_ms;
	call->prio = SSM_PRIO_NORMAL;
	call->started_ms = timeutil_mono_ms();
	call->timer = evtimer_new(c->base, on_timer, call);
	if (call->timer == NULL)
		abort(); /* out of memory, as xmalloc */
	call->wait.family = ssm_sched_family(op);
	call->wait.go = get_creds_go;
	call->wait.arg = call;
	call->next = c->calls;
	if (c->calls != NULL)
		c->calls->prev = call;
	c->calls = call;
	/* The first request starts from the loop: never call cb from here. */
	evtimer_add(call->timer, &now);
	return call;
}

static void
call_free(struct ssm_call *call)
{
	struct ssm_client *c = call->client;

	ssm_sched_leave(c->sched, &call->wait);
	if (call->prev != NULL)
		call->prev->next = call->next;
	else
		c->calls = call->next;
	if (call->next != NULL)
		call->next->prev = call->prev;
	aws_creds_call_cancel(call->creds_call);
	http_call_cancel(call->http);
	event_free(call->timer);
	secret_free_str(call->body);
	free(call->name);
	ssm_wire_parameter_clear(&call->res.param);
	free(call);
}

void
ssm_call_cancel(struct ssm_call *call)
{
	if (call == NULL || call->in_callback)
		return;
	call_free(call);
}

static void
finish(struct ssm_call *call)
{
	struct ssm_client *c = call->client;

	call->res.outcome = ssm_wire_outcome(&call->res.err);
	c->stats.calls[call->op][call->res.outcome]++;
	if (call->res.err.code != ERR_OK) {
		/* The parameter's value never travels in an error. */
		ssm_wire_parameter_clear(&call->res.param);
	}
	call->in_callback = true;
	call->cb(&call->res, call->arg);
	call_free(call);
}

static void
fail(struct ssm_call *call, const struct err *e)
{
	call->res.err = *e;
	finish(call);
}

static void on_creds(struct aws_credentials *cr, const struct err *err, void *arg);

static void
get_creds(struct ssm_call *call)
{
	struct aws_creds *creds = call->client->creds;

	if (call->min_valid_ms > 0)
		call->creds_call =
		        aws_creds_get_valid(creds, call->min_valid_ms, on_creds, call);
	else
		call->creds_call = aws_creds_get(creds, on_creds, call);
	call->min_valid_ms = 0;
}

static int64_t
deadline(const struct ssm_call *call)
{
	return call->deadline_ms > 0 ? call->deadline_ms
	                             : call->started_ms + SSM_DEFAULT_DEADLINE_MS;
}

/* A send is due: at once if the budget has a token and nobody waits, else
 * in the family's queue by priority, with the call's timer set to its
 * deadline. */
static void
send_when_budget(struct ssm_call *call)
{
	int64_t left = deadline(call) - timeutil_mono_ms();
	struct timeval tv;

	call->wait.prio = call->prio;
	if (ssm_sched_enter(call->client->sched, &call->wait)) {
		get_creds(call);
		return;
	}
	if (left < 0)
		left = 0;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	evtimer_add(call->timer, &tv);
}

/* The budget's token came (from the schedule's timer). */
static void
get_creds_go(void *arg)
{
	struct ssm_call *call = arg;

	evtimer_del(call->timer); /* its deadline while it waited */
	get_creds(call);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct ssm_call *call = arg;
	struct err e;

	if (!call->wait.queued) {
		send_when_budget(call);
		return;
	}
	/* Its deadline came while it waited for a token: busy. The last
	 * answer, if any, says why the budget is short. */
	ssm_sched_leave(call->client->sched, &call->wait);
	if (call->res.err.code == ERR_OK)
		err_set(&e, ERR_THROTTLED,
		        "ssm %s %s: no send slot in the SSM budget (%.1f/s since SSM "
		        "throttled) before the deadline",
		        ssm_op_name(call->op), call->name,
		        ssm_sched_rate(call->client->sched, call->wait.family));
	else
		err_set(&e, call->res.err.code,
		        "%s; the deadline came in the SSM budget's queue",
		        call->res.err.msg);
	fail(call, &e);
}

static void
retry_after(struct ssm_call *call, int64_t delay_ms)
{
	struct timeval tv = { (time_t)(delay_ms / 1000),
		              (suseconds_t)(delay_ms % 1000) * 1000 };

	evtimer_add(call->timer, &tv);
}

static int64_t
backoff_ms(const struct ssm_client *c, unsigned attempt)
{
	uint32_t rnd = 0;
	int64_t ceiling = c->base_ms;

	for (unsigned i = 1; i < attempt && ceiling < c->cap_ms; i++)
		ceiling *= 2;
	if (ceiling > c->cap_ms)
		ceiling = c->cap_ms;
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (uint32_t)timeutil_mono_ms();
	return (int64_t)((double)ceiling * ((double)rnd / 4294967296.0));
}

static void on_response(const struct http_response *resp, void *arg);

static int
send_signed(struct ssm_call *call, struct aws_credentials *cr, struct err *err)
{
	struct ssm_client *c = call->client;
	char target[64];
	struct sigv4_creds sc;
	struct sigv4_signed sig = { 0 };
	const char *lines[4 + SIGV4_ADDED_HEADERS_MAX + 1];
	char *host_line = NULL, *target_line = NULL;
	struct http_request hreq = { 0 };
	size_t n = 0;
	int rc = -1;
	struct sigv4_header hdrs[] = {
		{ "Content-Type", CONTENT_TYPE },
		{ "Host", c->host },
		{ "X-Amz-Target", target },
	};
	struct sigv4_request req = {
		.method = "POST",
		.path = c->path,
		.headers = hdrs,
		.nheaders = 3,
		.body = call->body,
		.body_len = strlen(call->body),
	};
	struct sigv4_signer signer = {
		.creds = &sc,
		.region = c->region,
		.service = "ssm",
		.time_s = aws_creds_now_ms(c->creds) / 1000,
	};

	snprintf(target, sizeof(target), "AmazonSSM.%s", ssm_op_name(call->op));
	aws_credentials_sigv4(cr, &sc);
	if (sigv4_sign_headers(&signer, &req, &sig, err) == -1)
		goto out;
	xasprintf(&host_line, "Host: %s", c->host);
	xasprintf(&target_line, "X-Amz-Target: %s", target);
	lines[n++] = "Content-Type: " CONTENT_TYPE;
	lines[n++] = host_line;
	lines[n++] = target_line;
	for (size_t i = 0; sig.headers[i] != NULL; i++)
		lines[n++] = sig.headers[i];
	lines[n] = NULL;
	hreq.method = "POST";
	hreq.url = c->url;
	hreq.headers = lines;
	hreq.body = call->body;
	hreq.body_len = req.body_len;
	hreq.timeout_ms = (long)call->timeout_ms;
	call->http = http_client_start(c->http, &hreq, on_response, call, err);
	if (call->http == NULL)
		goto out;
	c->stats.requests[call->op]++;
	call->res.attempts++;
	rc = 0;
out:
	free(host_line);
	free(target_line);
	sigv4_signed_clear(&sig);
	return rc;
}

static void
on_creds(struct aws_credentials *cr, const struct err *err, void *arg)
{
	struct ssm_call *call = arg;
	struct err e = { 0 };

	call->creds_call = NULL;
	if (cr == NULL) {
		e = *err;
		err_prefix(&e, "ssm %s %s: AWS credentials", ssm_op_name(call->op),
		           call->name);
		fail(call, &e);
		return;
	}
	if (send_signed(call, cr, &e) == -1) {
		err_prefix(&e, "ssm %s %s", ssm_op_name(call->op), call->name);
		fail(call, &e);
	}
}

/* True when the Date header moved the skew (§7.3: then re-sign once). */
static bool
observe_date(struct ssm_call *call, const struct http_response *resp)
{
	struct aws_creds *creds = call->client->creds;
	int64_t before = aws_creds_skew_ms(creds);

	if (http_response_header(resp, "Age") != NULL ||
	    resp->elapsed_ms > SKEW_MAX_RTT_MS)
		return false;
	aws_creds_observe_date(creds, http_response_header(resp, "Date"),
	                       timeutil_wall_ms());
	return aws_creds_skew_ms(creds) != before;
}

static void
parse_success(struct ssm_call *call, const struct http_response *resp)
{
	struct err *e = &call->res.err;

	if (call->op == SSM_OP_GET &&
	    ssm_wire_parse_get(resp->body, &call->res.param, e) == -1)
		err_prefix(e, "ssm %s", call->name);
	else if (call->op == SSM_OP_PUT &&
	         ssm_wire_parse_put(resp->body, &call->res.version, e) == -1)
		err_prefix(e, "ssm %s", call->name);
	else if (call->op == SSM_OP_DESCRIBE &&
	         ssm_wire_parse_describe(resp->body, call->name, &call->res.param, e) ==
	                 -1)
		err_prefix(e, "ssm %s", call->name);
	finish(call);
}

/* Decides whether and when to send again; false: the call is over. */
static bool
retry(struct ssm_call *call, enum ssm_retry how, bool skew_moved)
{
	struct ssm_client *c = call->client;
	int64_t exp;

	switch (how) {
	case SSM_RETRY_TRANSPORT:
	case SSM_RETRY_BACKOFF: {
		/* Busy answers wait and retry until the deadline (throttling:
		 * only then; 5xx: also at most max_attempts requests). */
		int64_t delay = backoff_ms(c, call->res.attempts);
		bool busy =
		        call->res.err.code == ERR_THROTTLED || how == SSM_RETRY_BACKOFF;

		if (busy && timeutil_mono_ms() + delay >= deadline(call))
			return false;
		if (call->res.err.code != ERR_THROTTLED &&
		    call->res.attempts >= (how == SSM_RETRY_TRANSPORT ? TRANSPORT_ATTEMPTS
		                                                      : c->max_attempts))
			return false;
		c->stats.retries++;
		retry_after(call, delay);
		return true;
	}
	case SSM_RETRY_SKEW:
		if (call->skew_retried || !skew_moved)
			return false;
		call->skew_retried = true;
		c->stats.retries++;
		retry_after(call, 0);
		return true;
	case SSM_RETRY_CREDS:
		exp = aws_creds_expiration_ms(c->creds);
		if (call->creds_retried || exp == 0)
			return false;
		call->creds_retried = true;
		/* Asking for more validity than the cached keys have makes
		 * aws_creds fetch new ones. */
		call->min_valid_ms = exp - aws_creds_now_ms(c->creds) + 1000;
		if (call->min_valid_ms < AWS_CREDS_MIN_VALID_MS)
			call->min_valid_ms = AWS_CREDS_MIN_VALID_MS;
		c->stats.retries++;
		retry_after(call, 0);
		return true;
	case SSM_RETRY_NEVER: break;
	}
	return false;
}

static void
on_response(const struct http_response *resp, void *arg)
{
	struct ssm_call *call = arg;
	enum ssm_retry how;
	bool skew_moved = false;

	call->http = NULL;
	call->res.status = resp->err.code == ERR_OK ? resp->status : 0;
	call->res.code[0] = '\0';
	if (resp->err.code != ERR_OK) {
		call->res.err = resp->err;
		err_prefix(&call->res.err, "ssm %s %s", ssm_op_name(call->op),
		           call->name);
		how = SSM_RETRY_TRANSPORT;
	} else {
		skew_moved = observe_date(call, resp);
		if (resp->status == 200) {
			ssm_sched_answer(call->client->sched, call->op, false, call->name,
			                 "");
			err_clear(&call->res.err);
			parse_success(call, resp);
			return;
		}
		how = ssm_wire_classify(
		        resp->status, http_response_header(resp, "X-Amzn-ErrorType"),
		        resp->body, ssm_op_name(call->op), call->name, call->res.code,
		        sizeof(call->res.code), &call->res.err);
		ssm_sched_answer(call->client->sched, call->op,
		                 call->res.err.code == ERR_THROTTLED, call->name,
		                 call->res.code);
	}
	if (retry(call, how, skew_moved)) {
		log_debug("ssm: %s; retrying (attempt %u)", call->res.err.msg,
		          call->res.attempts + 1);
		return;
	}
	finish(call);
}

void
ssm_call_set_timeout(struct ssm_call *call, int64_t timeout_ms)
{
	if (call != NULL && timeout_ms > 0)
		call->timeout_ms = timeout_ms;
}

void
ssm_call_set_priority(struct ssm_call *call, enum ssm_priority prio)
{
	if (call != NULL)
		call->prio = prio;
}

void
ssm_call_set_deadline(struct ssm_call *call, int64_t mono_deadline_ms)
{
	if (call != NULL)
		call->deadline_ms = mono_deadline_ms;
}

struct ssm_call *
ssm_get_parameter(struct ssm_client *c, const char *name, bool with_decryption,
                  ssm_done_fn *cb, void *arg)
{
	return call_new(c, SSM_OP_GET, name, ssm_wire_get_body(name, with_decryption), cb,
	                arg);
}

struct ssm_call *
ssm_put_parameter(struct ssm_client *c, const struct ssm_put *put, ssm_done_fn *cb,
                  void *arg)
{
	return call_new(c, SSM_OP_PUT, put->name, ssm_wire_put_body(put), cb, arg);
}

struct ssm_call *
ssm_describe_parameter(struct ssm_client *c, const char *name, ssm_done_fn *cb, void *arg)
{
	return call_new(c, SSM_OP_DESCRIBE, name, ssm_wire_describe_body(name), cb, arg);
}

struct ssm_call *
ssm_delete_parameter(struct ssm_client *c, const char *name, ssm_done_fn *cb, void *arg)
{
	return call_new(c, SSM_OP_DELETE, name, ssm_wire_delete_body(name), cb, arg);
}
