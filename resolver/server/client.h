/*
 * Where a reply goes, and how replies leave. A client_t is copied into
 * every forwarded query's waiter; a reply_sink_t is how the forwarder and
 * the waiters send without knowing about sockets (the worker's sink sends
 * over UDP or TCP; the unit tests' sink records).
 */
#ifndef ERDNS_SERVER_CLIENT_H
#define ERDNS_SERVER_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ops/metrics.h"

typedef struct udp_listener udp_listener_t;
typedef struct tcp_conn tcp_conn_t;

typedef struct client {
	struct sockaddr_storage addr;
	udp_listener_t *udp; /* UDP: the socket that received the query */
	tcp_conn_t *conn; /* TCP: the connection (kept alive by tcp_conn_hold) */
} client_t;

typedef struct reply_sink {
	/* Sends msg (len bytes, valid during the call) to client. */
	void (*send)(void *ctx, const client_t *client, const uint8_t *msg, size_t len);
	void *ctx;
	metrics_t *stats; /* the worker's counters */
} reply_sink_t;

#define ER_REPLY_MAX 65535 /* largest DNS message (RFC 1035 4.2.2 length prefix) */

#endif
