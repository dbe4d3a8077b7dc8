/* config_check.h - tokend --check-config: what the configuration cannot
 * decide on its own (the host it will run on), as warnings. */
#ifndef TOKEND_CONFIG_CHECK_H
#define TOKEND_CONFIG_CHECK_H

#include <stdio.h>

#include "config.h"

/* Writes one "tokend: warning: ..." line per finding to out: the socket's
 * directory is missing or not a directory (systemd's RuntimeDirectory= or
 * a volume may create it later), and AWS is needed but the environment
 * offers no credentials source short of EC2 instance metadata. Returns
 * how many. */
unsigned config_check_warnings(const struct config *cfg, FILE *out);

/* The credentials sources the environment offers for mode, as a
 * comma-separated list into buf ("" when none). Reads the environment and
 * the shared files' existence only. */
void config_check_creds_sources(enum aws_creds_mode mode, char *buf, size_t size);

#endif
