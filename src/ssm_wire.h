/* ssm_wire.h - the SSM awsJson1_1 wire format, pure: request bodies,
 * responses, error codes and how to retry them (wire-formats §4.5-4.6,
 * §7, appendix A). No loop, no network; unit tested in check_ssm.c. */
#ifndef TOKEND_SSM_WIRE_H
#define TOKEND_SSM_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "ssm.h"

enum ssm_retry {
	SSM_RETRY_NEVER,
	SSM_RETRY_BACKOFF,   /* throttling, 5xx: backoff and jitter */
	SSM_RETRY_TRANSPORT, /* no answer: as BACKOFF, but one retry only */
	SSM_RETRY_SKEW,      /* clock skew: once, if the skew moved */
	SSM_RETRY_CREDS,     /* expired or unknown session: once, fresh credentials */
};

/* A growable string whose old buffers are wiped: it holds secrets. */
struct ssm_wire_buf {
	char *p;
	size_t len, cap;
};

void ssm_wire_buf_add(struct ssm_wire_buf *b, const char *s, size_t n);
void ssm_wire_buf_add_str(struct ssm_wire_buf *b, const char *s);
void ssm_wire_buf_add_int(struct ssm_wire_buf *b, int64_t v);
/* s as a JSON string, quotes included (control characters escaped). */
void ssm_wire_buf_add_json(struct ssm_wire_buf *b, const char *s);
/* The NUL-terminated string (never NULL); b is empty afterwards. */
char *ssm_wire_buf_take(struct ssm_wire_buf *b);
void ssm_wire_buf_wipe(struct ssm_wire_buf *b);

/* Request bodies, heap strings to free with secret_free_str. */
char *ssm_wire_get_body(const char *name, bool with_decryption);
char *ssm_wire_put_body(const struct ssm_put *put);
char *ssm_wire_delete_body(const char *name);
/* DescribeParameters of one name (ParameterFilters Name Equals). */
char *ssm_wire_describe_body(const char *name);

/* "com.amazon.coral.service#Code:http://..." to "Code": cut from the
 * first ':', keep what follows the last '#'. */
void ssm_wire_sanitize_code(const char *raw, char *out, size_t size);

/* raw as log-safe text: printable ASCII only (anything else becomes '?'),
 * at most size - 1 bytes, "..." at the end when cut. For what SSM sends
 * that reaches a log line or an error message. */
void ssm_wire_sanitize_text(const char *raw, char *out, size_t size);

/* How an error ends a call: ok, not_found, exists, throttled, error. */
enum ssm_outcome ssm_wire_outcome(const struct err *err);

/* Reads a non-200 answer: the code from the X-Amzn-ErrorType header
 * (header_code, may be NULL) or the body's __type/code, the message from
 * message/Message. Fills code (sanitised, "" if none) and err with a
 * message naming op, name, the code and what to do; returns how to
 * retry. */
enum ssm_retry ssm_wire_classify(long status, const char *header_code, const char *body,
                                 const char *op, const char *name, char *code,
                                 size_t code_size, struct err *err);

/* GetParameter's answer into out (cleared first); -1 with ERR_PARSE. */
int ssm_wire_parse_get(const char *body, struct ssm_parameter *out, struct err *err);
/* DescribeParameters' entry for name into out (no value; description
 * "" when there is none); -1 with ERR_NOTFOUND when name is not listed,
 * ERR_PARSE when the answer is malformed. */
int ssm_wire_parse_describe(const char *body, const char *name, struct ssm_parameter *out,
                            struct err *err);
/* PutParameter's answer: {"Version":N,"Tier":...}. */
int ssm_wire_parse_put(const char *body, int64_t *version, struct err *err);
/* Wipes the value and frees every member; the struct can be reused. */
void ssm_wire_parameter_clear(struct ssm_parameter *p);

#endif
