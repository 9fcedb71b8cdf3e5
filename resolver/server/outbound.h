/*
 * The outbound layer as the forwarder and the prober see it: start an
 * upstream attempt, cancel it. The worker's implementation wraps
 * upstream/attempt.c with its loop and socket pools; tests/unit/test_forward.c
 * plugs in a replay fake, so every forwarding rule is tested without a
 * socket or a clock.
 */
#ifndef ERDNS_SERVER_OUTBOUND_H
#define ERDNS_SERVER_OUTBOUND_H

#include "upstream/attempt.h"

typedef struct outbound {
	/* As attempt_start: cb runs exactly once unless cancelled first;
	 * NULL (and no callback) when it cannot start. params->stats,
	 * tcp_pool and udp_pool are the implementation's to fill. */
	void *(*start)(void *ctx, const attempt_params_t *params, attempt_cb cb, void *owner);
	/* As attempt_cancel: the callback will not run. */
	void (*cancel)(void *ctx, void *attempt);
	/* The loop's clock, ms. */
	uint64_t (*now_ms)(void *ctx);
	void *ctx;
} outbound_t;

#endif
