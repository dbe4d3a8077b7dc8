/* config_source.h - where the configuration text comes from: a file, an
 * environment variable or an SSM parameter (tokend(8) "-c").
 *
 * Fargate cannot bind-mount a single host file, but an ECS task
 * definition can inject a variable from SSM or Secrets Manager
 * (`secrets`/`valueFrom`): `-c env:NAME` reads the whole text from it, and
 * `-c ssm:/name` reads a parameter directly, at start and at each SIGHUP.
 * Messages point at lines as for a file: "env:NAME:LINE: ...".
 */
#ifndef TOKEND_CONFIG_SOURCE_H
#define TOKEND_CONFIG_SOURCE_H

#include <stdbool.h>

#include "config.h"
#include "err.h"

/* Loads ref: "env:NAME", "ssm:/name" or a path. An ssm: reference is read
 * synchronously, on a private event loop, with the default AWS credentials
 * chain and the region from AWS_REGION or AWS_DEFAULT_REGION; the call is
 * bounded (CONFIG_SOURCE_SSM_BUDGET_MS). The config's path is ref. */
int config_source_load(const char *ref, struct config **out, struct err *err);

/* What the config text of ref is, for messages: "file", "environment
 * variable" or "SSM parameter". */
const char *config_source_kind(const char *ref);

/* The longest an ssm: load waits for SSM, credentials included. */
#define CONFIG_SOURCE_SSM_BUDGET_MS 15000

#endif
