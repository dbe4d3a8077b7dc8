/* drain.h - bounded waits, on the event loop, for the SSM work that must
 * outlive a refresh: values being written and leases being released
 * (store_ssm_write.c). --once and SIGTERM wait for the writes before the
 * tokens go (drain_writes); once the tokens are freed, the lease deletes
 * their cancellation sent get a short time to reach SSM before the SSM
 * client goes (drain_ssm_calls). */
#ifndef TOKEND_DRAIN_H
#define TOKEND_DRAIN_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct ssm_client;
struct token_table;

struct drain;

/* finished: false when max_ms passed with a write still under way. */
typedef void drain_done_fn(bool finished, void *arg);

/* Calls done once no token's store is writing or releasing, or after
 * max_ms: at once (from this call) when nothing is under way, else from
 * the loop. The tokens must outlive the drain. */
struct drain *drain_writes(struct event_base *base, struct token_table *tokens,
                           int64_t max_ms, drain_done_fn *done, void *arg);
void drain_free(struct drain *drain);

/* Runs the loop until the SSM client has no call under way, max_ms pass
 * or the loop is broken (a second SIGTERM). For the shutdown path only:
 * every other event that touches freed state must be deleted first. */
void drain_ssm_calls(struct event_base *base, struct ssm_client *ssm, int64_t max_ms);

#endif
