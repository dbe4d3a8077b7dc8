/* store_ssm_secrets.h - ssm:/path and ssm:/path#KEY secret references
 * (DESIGN.md "Persistence in SSM Parameter Store"), resolved from SSM
 * Parameter Store once, before the tokens start. */
#ifndef TOKEND_STORE_SSM_SECRETS_H
#define TOKEND_STORE_SSM_SECRETS_H

#include <stdbool.h>

#include "config.h"
#include "err.h"

struct ssm_client;
struct secret;
struct store_ssm_secrets;

/* err is ERR_OK, or says which token, which reference and why (parameter
 * missing, not JSON, key missing, SSM failure). */
typedef void store_ssm_secrets_done_fn(const struct err *err, void *arg);

/* Fills every config_secret of cfg that has an ssm_name and no value yet
 * (the one documented exception to the config being immutable) from
 * GetParameter WithDecryption; "#KEY" takes a string member of the
 * parameter's JSON object. done runs exactly once, later, from the loop.
 * Never NULL. cfg is borrowed until done runs or the call is cancelled. */
struct store_ssm_secrets *store_ssm_secrets_resolve(struct ssm_client *ssm,
                                                    struct config *cfg,
                                                    store_ssm_secrets_done_fn *done,
                                                    void *arg);
/* done will not run. NULL does nothing. */
void store_ssm_secrets_cancel(struct store_ssm_secrets *r);

/* True when cfg has an ssm: secret still to resolve. */
bool store_ssm_secrets_needed(const struct config *cfg);

/* A secret's value from a parameter's plaintext: all of it (key NULL), or
 * the string member key of its JSON object. A new secret, or NULL with
 * err (ERR_PARSE: not a JSON object; ERR_NOTFOUND: no such string member).
 * Pure. */
struct secret *store_ssm_secrets_value(const char *value, const char *key,
                                       struct err *err);

#endif
