/* metrics.h - GET /metrics: the daemon's state in the Prometheus text
 * format 0.0.4. Nothing is kept here: every scrape reads the counters the
 * modules keep (token table, server, AWS credentials, SSM client and
 * store) and writes them out, so the metrics cannot drift from them.
 */
#ifndef TOKEND_METRICS_H
#define TOKEND_METRICS_H

#include "server.h"

struct evbuffer;

/* A server_metrics_fn: writes every family into out. daemon is the
 * struct daemon (daemon.h), borrowed; a member that is NULL (no AWS
 * credentials, no SSM, no server yet) only leaves its families out. A
 * token's series are written only if visible(tok, ctx): a peer learns
 * nothing of the tokens it may not read. */
void metrics_write(struct evbuffer *out, server_visible_fn *visible, const void *ctx,
                   void *daemon);

/* Appends value escaped for a label value: backslash, double quote and
 * newline become \\, \" and \n. */
void metrics_escape(struct evbuffer *out, const char *value);

#endif
