/* config_secret.h - secret references in tokend.conf.
 *
 * Internal to the config module. A value is a literal secret, env:NAME,
 * file:/path (both read now, so a missing variable or file is an error
 * with its line) or ssm:/NAME[#KEY] (validated and kept for run time).
 */
#ifndef TOKEND_CONFIG_SECRET_H
#define TOKEND_CONFIG_SECRET_H

#include "config.h"
#include "err.h"

/* Replaces *cs with value resolved. Messages never contain the secret. */
int config_secret_set(struct config_secret *cs, const char *value, struct err *err);
/* Frees and wipes what cs holds and zeroes it. */
void config_secret_clear(struct config_secret *cs);

/* An SSM parameter name: '/' first, a-zA-Z0-9_.-/ only, at most 1011. */
int config_check_ssm_name(const char *name, struct err *err);

#endif
