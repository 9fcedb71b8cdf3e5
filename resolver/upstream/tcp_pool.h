/*
 * A per-worker pool of upstream DNS-over-TCP connections [libuv] (RFC 7766
 * 6.2.1-6.2.3): connections are keyed by server address and reused, each
 * carries up to `pipeline` queries at once, answers are matched to requests
 * by ID and question whatever their order, and a connection with nothing
 * pending closes after `idle_ms`. One pool per worker, used only on that
 * worker's loop (no locks).
 *
 * Bounds: at most `per_server` connections to one server and `max_conns`
 * in the whole pool (an idle connection to another server is closed to make
 * room). When neither allows another query, tcp_pool_send fails with
 * UV_EBUSY and the caller decides (attempt.c opens a short-lived connection
 * of its own, bounded by the worker's in-flight cap).
 */
#ifndef ERDNS_UPSTREAM_TCP_POOL_H
#define ERDNS_UPSTREAM_TCP_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "ops/metrics.h"

#define ER_TCP_POOL_PER_SERVER 2 /* RFC 7766 6.2.2: few connections per server */
#define ER_TCP_POOL_MAX 64 /* per worker */
#define ER_TCP_POOL_PIPELINE 32 /* queries in flight per connection */
#define ER_TCP_POOL_IDLE_MS 10000 /* RFC 7766 6.2.3; as our own listener (SPEC 3) */

typedef struct tcp_pool tcp_pool_t;
typedef struct tcp_pool_req tcp_pool_req_t;

typedef struct tcp_pool_limits {
	uint32_t max_conns; /* connections in the pool, closing ones excluded */
	uint32_t per_server; /* connections to one server address */
	uint32_t pipeline; /* pending requests per connection */
	uint32_t idle_ms; /* a connection with nothing pending closes after this */
} tcp_pool_limits_t;

/* One query: every pointer is only read during tcp_pool_send. */
typedef struct tcp_pool_query {
	const struct sockaddr *server;
	const uint8_t *msg; /* a whole DNS query, ID included, no length prefix */
	size_t len; /* 12..65535 */
	const uint8_t *qname; /* wire form, as in msg; answers must repeat it */
	uint16_t qtype, qclass;
} tcp_pool_query_t;

/*
 * status 0: resp/len is an answer to the question carrying the caller's
 * own ID (the pool may have used another on the wire); valid only during
 * the callback. Negative: the connection failed before an answer came
 * (UV_ECONNRESET when the server closed it, -EBADMSG for a malformed frame,
 * UV_ETIMEDOUT when the connection was retired as dead, or the libuv
 * error). The request is freed when the callback returns.
 */
typedef void (*tcp_pool_cb)(void *owner, int status, const uint8_t *resp, size_t len);

/* A pool on loop; stats must outlive it. limits NULL: the ER_TCP_POOL_*
 * defaults. Returns NULL when out of memory. */
tcp_pool_t *tcp_pool_new(uv_loop_t *loop, metrics_t *stats, const tcp_pool_limits_t *limits);

/*
 * Closes every connection. Callers cancel their requests first: a request
 * still pending is freed without its callback (its handle becomes invalid).
 * The pool frees itself once libuv has closed the last handle, so the loop
 * must run afterwards. NULL is a no-op.
 */
void tcp_pool_close(tcp_pool_t *pool);

/*
 * Sends q on a pooled connection to q->server (opening one if the limits
 * allow) and sets *out to the request. cb runs exactly once, later (never
 * inside this call), unless tcp_pool_cancel is called first. Returns 0,
 * UV_EBUSY when the limits leave no room, UV_EINVAL, UV_ENOMEM or a libuv
 * error; on failure cb never runs and *out is NULL.
 */
int tcp_pool_send(tcp_pool_t *pool, const tcp_pool_query_t *q, tcp_pool_cb cb, void *owner,
		  tcp_pool_req_t **out);

/* Withdraws a request whose callback has not run; it will not run, and req
 * is freed. A late answer to it is counted as mismatched and dropped. */
void tcp_pool_cancel(tcp_pool_req_t *req);

#endif
