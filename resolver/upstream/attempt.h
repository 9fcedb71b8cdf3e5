/*
 * One exchange with one upstream server [libuv]: send the query over UDP (a
 * fresh random source port from the worker's udp_pool, a CSPRNG ID), accept only an
 * answer from that address and port with that ID and question, and retry the
 * same server over TCP when the answer is truncated (or always, with
 * tcp=always). Everything else that arrives is dropped and counted.
 */
#ifndef ERDNS_UPSTREAM_ATTEMPT_H
#define ERDNS_UPSTREAM_ATTEMPT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "dns/wire.h"
#include "ops/metrics.h"

typedef struct attempt attempt_t;
struct tcp_pool;
struct udp_pool;

/*
 * status 0: resp/len is a valid answer to the question (any rcode), valid
 * only during the callback; rtt_us measured from the send. UV_ETIMEDOUT: no
 * valid answer within the timeout. Other negative: network error or
 * unusable answer (garbage over TCP, connection closed). The attempt is
 * freed after the callback returns; do not touch it afterwards.
 */
typedef void (*attempt_cb)(void *owner, int status, const uint8_t *resp, size_t len,
			   uint32_t rtt_us);

/* The attempt's timeout passed without an answer; it goes on listening for
 * linger_ms (a late answer still counts). Runs at most once. */
typedef void (*attempt_slow_cb)(void *owner);

typedef struct attempt_params {
	const struct sockaddr *server;
	const dns_query_t *query; /* the client's query; only read during attempt_start */
	uint32_t timeout_ms; /* for the whole attempt, TCP retry included */
	uint32_t linger_ms; /* after timeout_ms: keep listening this long (0: none) */
	attempt_slow_cb on_slow; /* called at timeout_ms when linger_ms > 0 */
	bool tcp_only;
	const uint8_t *option; /* an EDNS option to send (ECS), or NULL; copied */
	size_t option_len;
	metrics_t *stats; /* the worker's counters, outlives the attempt */
	struct tcp_pool *tcp_pool; /* the worker's upstream TCP connections, or NULL
				    * for a connection of the attempt's own */
	struct udp_pool *udp_pool; /* the worker's upstream UDP sockets; required
				    * unless tcp_only */
} attempt_params_t;

/* Starts an attempt; cb runs exactly once unless attempt_cancel is called
 * first (with linger_ms > 0, on_slow may run once before it: the status is
 * then UV_ETIMEDOUT only after timeout_ms + linger_ms). Returns NULL (and
 * never calls a callback) when it cannot start. */
attempt_t *attempt_start(uv_loop_t *loop, const attempt_params_t *params, attempt_cb cb,
			 void *owner);

/* Stops an attempt whose callback has not run; it will not run. The memory
 * is released once libuv has closed the handles. */
void attempt_cancel(attempt_t *a);

#endif
