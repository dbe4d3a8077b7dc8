/* metrics.h - GET /metrics: the daemon's state in the Prometheus text
 * format 0.0.4. Nothing is kept here: every scrape reads the counters the
 * modules keep (token table, server, AWS credentials, SSM client and
 * store) and writes them out, so the metrics cannot drift from them.
 */
#ifndef TOKEND_METRICS_H
#define TOKEND_METRICS_H

struct evbuffer;

/* A server_metrics_fn: writes every family into out. daemon is the
 * struct daemon (daemon.h), borrowed; a member that is NULL (no AWS
 * credentials, no SSM, no server yet) only leaves its families out. */
void metrics_write(struct evbuffer *out, void *daemon);

/* Appends value escaped for a label value: backslash, double quote and
 * newline become \\, \" and \n. */
void metrics_escape(struct evbuffer *out, const char *value);

#endif
