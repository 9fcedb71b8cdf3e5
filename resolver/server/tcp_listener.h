/*
 * TCP listener and client connections of one worker (tcp_listener.c),
 * RFC 7766: pipelined, out-of-order answers, idle timeout, bounded.
 */
#ifndef ERDNS_SERVER_TCP_LISTENER_H
#define ERDNS_SERVER_TCP_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "server/client.h"
#include "server/worker.h"

#define ER_TCP_IDLE_MS 10000 /* SPEC 3, RFC 7766 6.2.3 */
#define ER_TCP_MAX_CONNS 256 /* per worker */
#define ER_TCP_MAX_INFLIGHT 32 /* per connection: reading pauses beyond */

/* The open connections of one worker (all its TCP listeners). */
typedef struct tcp_conn_set tcp_conn_set_t;

/* Embedded in its worker; the fields are tcp_listener.c's. */
typedef struct tcp_listener {
	uv_tcp_t handle;
	worker_t *worker;
	tcp_conn_set_t *conns;
	bool is_open; /* handle initialised: close it */
} tcp_listener_t;

tcp_conn_set_t *tcp_conn_set_new(void);
/* Closes every connection; their memory goes when their handles have
 * closed and no forwarded query holds them. */
void tcp_conn_set_close_all(tcp_conn_set_t *s);
/* After tcp_conn_set_close_all and the loop has run the closes. */
void tcp_conn_set_free(tcp_conn_set_t *s);

/* Adopts fd (a bound socket; taken over also on failure). Returns 0 or a UV
 * error; either way tcp_listener_close is the way out. */
int tcp_listener_start(tcp_listener_t *l, worker_t *w, tcp_conn_set_t *conns, int fd);
void tcp_listener_close(tcp_listener_t *l);

/* A forwarded query keeps its connection's memory alive until released. */
void tcp_conn_hold(tcp_conn_t *c);
void tcp_conn_release(tcp_conn_t *c);
/* Sends a length-prefixed reply if the connection is still open. */
void tcp_conn_send(tcp_conn_t *c, const uint8_t *msg, size_t len);

#endif
