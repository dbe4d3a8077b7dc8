/* aws_creds_remote.h - the network credential providers: web identity
 * (STS AssumeRoleWithWebIdentity), the ECS/EKS container endpoint and
 * EC2 IMDSv2. All asynchronous through http_client; one fetch at a time.
 */
#ifndef TOKEND_AWS_CREDS_REMOTE_H
#define TOKEND_AWS_CREDS_REMOTE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct aws_creds;
struct aws_credentials;
struct http_client;

enum aws_creds_remote_kind {
	AWS_CREDS_REMOTE_WEB_IDENTITY,
	AWS_CREDS_REMOTE_ECS,
	AWS_CREDS_REMOTE_IMDS,
};

/* creds is owned by the receiver (NULL on failure, with err). */
typedef void aws_creds_remote_done_fn(struct aws_credentials *creds,
                                      const struct err *err, void *arg);

/* owner receives the Date headers (clock skew). http may be NULL: every
 * remote provider then reports itself unavailable. */
struct aws_creds_remote *aws_creds_remote_new(struct http_client *http,
                                              struct aws_creds *owner);
/* Cancels a fetch under way (no callback). NULL does nothing. */
void aws_creds_remote_free(struct aws_creds_remote *r);

/* 1: started, cb runs later; 0: not configured (err says why); -1:
 * configured but unusable (err). Only one fetch at a time. */
int aws_creds_remote_start(struct aws_creds_remote *r, enum aws_creds_remote_kind kind,
                           aws_creds_remote_done_fn *cb, void *arg, struct err *err);
void aws_creds_remote_cancel(struct aws_creds_remote *r);

/* Pure helpers, unit tested. */

/* An ECS/IMDS credentials document. imds: Code must be Success and Token
 * and Expiration are required. */
int aws_creds_remote_parse_json(const char *body, const char *provider, bool imds,
                                struct aws_credentials **out, struct err *err);
/* An AssumeRoleWithWebIdentity answer (success or ErrorResponse). */
int aws_creds_remote_parse_sts(const char *body, struct aws_credentials **out,
                               struct err *err);
/* The text of the first <name>…</name> element (any namespace prefix,
 * entities decoded), or NULL. Heap string. */
char *aws_creds_remote_xml_text(const char *doc, const char *name);
/* The container endpoint URL: relative (on ecs_base, default
 * http://169.254.170.2) wins over full; full must be https or http to
 * loopback / the ECS and EKS link-local hosts. 0: *url set; 0 with *url
 * NULL: neither set; -1 with err. */
int aws_creds_remote_ecs_url(const char *relative, const char *full, const char *ecs_base,
                             char **url, struct err *err);
/* application/x-www-form-urlencoded value encoding; heap string. */
char *aws_creds_remote_form_encode(const char *s);

#endif
