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

#include "config/config.h"
#include "dns/wire.h"
#include "ops/metrics.h"

typedef struct udp_listener udp_listener_t;
typedef struct tcp_conn tcp_conn_t;

typedef struct client {
	struct sockaddr_storage addr;
	udp_listener_t *udp; /* UDP: the socket that received the query */
	tcp_conn_t *conn; /* TCP: the connection (kept alive by tcp_conn_hold) */
} client_t;

/* How a query was routed, kept with it until it is answered. */
typedef struct query_meta {
	uint16_t route_slot; /* config_t.route_slots */
	int view_index; /* -1: no view */
	const rule_t *rule; /* the deciding rule, NULL when a default decided;
			     * valid while its config snapshot is */
	uint64_t received_ns; /* uv_hrtime() at arrival, 0 when not measured */
} query_meta_t;

/* One answered query, for the metrics and the query log (SPEC 4). Every
 * pointer is valid during the call only. */
typedef struct query_event {
	const client_t *client;
	const dns_query_t *q;
	const config_t *config; /* the snapshot it was answered under */
	const query_meta_t *meta;
	uint32_t chain; /* route chain, when forwarded or cached */
	bool is_routed; /* chain is meaningful */
	bool is_fallback; /* answered by a later group than the chain's first */
	int upstream; /* health id of the server that answered, -1: none */
	unsigned rcode; /* of the reply sent */
	cache_result_kind_t cache;
	/* er_word_t (routing/er_audit.h): SPEC 4's `er`, as the CHAOS answer
	 * says it, for this answer: n/a off m365 routes (and for answers erdns
	 * gives itself), else inside/outside/off/unknown */
	uint8_t er;
} query_event_t;

typedef struct reply_sink {
	/* Sends msg (len bytes, valid during the call) to client. */
	void (*send)(void *ctx, const client_t *client, const uint8_t *msg, size_t len);
	/* Records an answered query; may be NULL. */
	void (*done)(void *ctx, const query_event_t *ev);
	void *ctx;
	metrics_t *stats; /* the worker's counters */
} reply_sink_t;

#define ER_REPLY_MAX 65535 /* largest DNS message (RFC 1035 4.2.2 length prefix) */

#endif
