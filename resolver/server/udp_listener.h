/*
 * UDP listener of one worker (udp_listener.c): reads queries in batches,
 * hands each to the pipeline (query.c), and sends the replies of a loop
 * turn with one sendmmsg: at the end of the turn, when a reply comes with
 * ER_UDP_OUTBOX already held, or when a new batch of queries starts (the
 * replies held then are sent before the first of them is handled).
 */
#ifndef ERDNS_SERVER_UDP_LISTENER_H
#define ERDNS_SERVER_UDP_LISTENER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "server/client.h"
#include "server/worker.h"

/* libuv's recvmmsg mode (UV_UDP_RECVMMSG) reads one datagram per 64 KiB
 * slice of the buffer; ER_UDP_BATCH slices let one system call drain up to
 * that many queries. */
#define ER_UDP_SLICE (64 * 1024)
#define ER_UDP_BATCH 16
#define ER_UDP_RECV_BUF ((size_t)ER_UDP_SLICE * ER_UDP_BATCH)
/* Replies held for one sendmmsg (80 KiB per listener; a UDP reply is at
 * most ER_EDNS_ADVERTISED bytes, reply_size_limit). */
#define ER_UDP_OUTBOX 64

/* Embedded in its worker; the fields are udp_listener.c's. */
struct udp_listener {
	uv_udp_t handle;
	worker_t *worker;
	uint8_t *recv_buf; /* the worker's, ER_UDP_RECV_BUF bytes, shared by its listeners */
	struct udp_outbox *outbox; /* replies batched for sendmmsg */
	bool is_open; /* handle initialised: close it */
	bool is_reading_batch; /* between a recvmmsg's first datagram and its end */
};

/* Adopts fd (a bound socket; taken over also on failure: closed then).
 * Returns 0 or a UV error; either way udp_listener_close and then
 * udp_listener_free are the way out. */
int udp_listener_start(udp_listener_t *l, worker_t *w, uint8_t *recv_buf, int fd);
void udp_listener_close(udp_listener_t *l);
/* Frees what the listener allocated; after its handle is closed. */
void udp_listener_free(udp_listener_t *l);
/* Queues a reply; it is sent by the next udp_listener_flush (or at once
 * when ER_UDP_OUTBOX were already held: those go out first). */
void udp_listener_send(udp_listener_t *l, const struct sockaddr *to, const uint8_t *msg,
		       size_t len);
/* Sends the queued replies with one sendmmsg; the worker's prepare handle
 * calls it on every loop turn. */
void udp_listener_flush(udp_listener_t *l);

#endif
