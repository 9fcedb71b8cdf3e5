/*
 * UDP listener of one worker. The socket is created and bound by the main
 * thread (before privileges are dropped) with SO_REUSEPORT; the worker adopts
 * it with uv_udp_open.
 *
 * Batching, both ways, because ~90% of the CPU on the cache-hit path and
 * most of it on the miss path is the kernel (perf, dnsperf on loopback):
 * queries are read with libuv's recvmmsg mode, and every reply produced in
 * one turn of the loop (cache hits of a receive batch, forwarded answers of
 * all the upstream sockets that became readable together) is collected and
 * sent with one sendmmsg(2) from the worker's prepare handle, which runs
 * before the loop next waits (udp_listener_flush). Replies held when a new
 * batch of queries arrives go out first (worker_flush_replies), so an
 * upstream answer read early in a turn does not wait while the rest of the
 * turn forwards new queries; a turn that catches up after a stall holds
 * dozens of those (issue 13, docs/benchmarks.md). libuv 1.44 has no
 * batched send (uv_udp_try_send2 arrived in 1.50), hence the direct call on
 * the handle's fd. Measured on this 2-core VM, one worker: 7.7 us of CPU
 * per cached answer with recvmsg/sendmsg per query, 5.9 us with recvmmsg;
 * forwarded answers went out one sendmmsg each before they were batched too
 * (see docs/benchmarks.md). Only when the socket buffer is full is a reply
 * copied and queued with uv_udp_send, and only up to ER_UDP_SEND_QUEUE_MAX
 * replies per socket: clients asking faster than the link can carry the
 * answers (large ones, a slow uplink) would otherwise grow that queue
 * without end. Beyond it a reply is dropped and counted, which to the
 * client is one more lost datagram to retry (as Unbound and dnsdist drop
 * on a full socket).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server/udp_listener.h"

#include <unistd.h>

#include "server/query.h"
#include "util/log.h"
#include "util/sockaddr.h"


#define ER_UDP_SEND_QUEUE_MAX 1024 /* replies; at most ~1.3 MB per socket */

struct udp_outbox {
	size_t n;
	struct mmsghdr msgs[ER_UDP_OUTBOX];
	struct iovec iov[ER_UDP_OUTBOX];
	struct sockaddr_storage to[ER_UDP_OUTBOX];
	uint8_t data[ER_UDP_OUTBOX][ER_EDNS_ADVERTISED];
};

typedef struct udp_send {
	uv_udp_send_t req;
	size_t len;
	uint8_t msg[];
} udp_send_t;

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	udp_listener_t *l = handle->data;
	(void)suggested;
	*buf = uv_buf_init((char *)l->recv_buf, ER_UDP_RECV_BUF);
}

static void send_one(udp_listener_t *l, const struct sockaddr *to, const uint8_t *msg,
		     size_t len);

/* Sends what the turn produced; anything the kernel refuses is retried one
 * by one through libuv (which queues it if the socket buffer is full). */
void udp_listener_flush(udp_listener_t *l)
{
	struct udp_outbox *o = l->outbox;
	if (o == NULL || o->n == 0)
		return;
	if (uv_is_closing((uv_handle_t *)&l->handle)) {
		o->n = 0; /* shutting down: nobody is waiting for these */
		return;
	}
	uv_os_fd_t fd;
	size_t sent = 0;
	if (uv_fileno((uv_handle_t *)&l->handle, &fd) == 0) {
		int rc;
		do {
			rc = sendmmsg(fd, o->msgs, (unsigned int)o->n, MSG_DONTWAIT);
		} while (rc < 0 && errno == EINTR);
		sent = rc > 0 ? (size_t)rc : 0;
	}
	for (size_t i = sent; i < o->n; i++)
		send_one(l, (const struct sockaddr *)&o->to[i], o->data[i], o->iov[i].iov_len);
	o->n = 0;
}

static bool outbox_add(udp_listener_t *l, const struct sockaddr *to, const uint8_t *msg,
		       size_t len)
{
	struct udp_outbox *o = l->outbox;
	if (len > sizeof(o->data[0]))
		return false;
	if (o->n == ER_UDP_OUTBOX)
		udp_listener_flush(l);
	size_t i = o->n++;
	memcpy(o->data[i], msg, len);
	memcpy(&o->to[i], to, sockaddr_len(to));
	o->iov[i] = (struct iovec){ .iov_base = o->data[i], .iov_len = len };
	o->msgs[i] = (struct mmsghdr){ .msg_hdr = {
		.msg_name = &o->to[i],
		.msg_namelen = sockaddr_len(to),
		.msg_iov = &o->iov[i],
		.msg_iovlen = 1,
	} };
	return true;
}

static void on_recv(uv_udp_t *handle, ssize_t nread, const uv_buf_t *buf,
		    const struct sockaddr *from, unsigned flags)
{
	udp_listener_t *l = handle->data;
	worker_t *w = l->worker;
	/* In recvmmsg mode buf is a slice of the worker's buffer: nothing to free.
	 * Chunks of one recvmmsg come with UV_UDP_MMSG_CHUNK, then one call with
	 * UV_UDP_MMSG_FREE closes the batch. */
	if (flags & UV_UDP_MMSG_FREE) {
		l->is_reading_batch = false;
		return;
	}
	if (nread <= 0 || from == NULL)
		return;
	if (!l->is_reading_batch) {
		/* Answers from upstream sockets read earlier in this turn go out
		 * before a batch of new queries is worked through, instead of
		 * waiting for the whole turn. */
		l->is_reading_batch = true;
		worker_flush_replies(w);
	}
	if (flags & UV_UDP_PARTIAL) {
		metrics_add(&worker_stats(w)->malformed_dropped, 1);
		return;
	}
	client_t client = { .udp = l, .conn = NULL };
	memcpy(&client.addr, from,
	       from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	metrics_add(&worker_stats(w)->queries_udp, 1);
	query_receive(w, &client, (const uint8_t *)buf->base, (size_t)nread);
}

int udp_listener_start(udp_listener_t *l, worker_t *w, uint8_t *recv_buf, int fd)
{
	l->worker = w;
	l->recv_buf = recv_buf;
	l->outbox = calloc(1, sizeof(*l->outbox)); /* freed by udp_listener_free */
	int rc = l->outbox ? uv_udp_init_ex(worker_loop(w), &l->handle,
					    AF_UNSPEC | UV_UDP_RECVMMSG)
			   : UV_ENOMEM;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	l->is_open = true;
	l->handle.data = l;
	rc = uv_udp_open(&l->handle, fd);
	if (rc < 0) {
		close(fd); /* not adopted: closing the handle would not close it */
		return rc;
	}
	return uv_udp_recv_start(&l->handle, on_alloc, on_recv);
}

void udp_listener_close(udp_listener_t *l)
{
	if (l->is_open && !uv_is_closing((uv_handle_t *)&l->handle))
		uv_close((uv_handle_t *)&l->handle, NULL);
}

void udp_listener_free(udp_listener_t *l)
{
	free(l->outbox);
	l->outbox = NULL;
}

static void on_sent(uv_udp_send_t *req, int status)
{
	(void)status; /* a lost UDP reply is the client's retry to handle */
	free(req->data);
}

void udp_listener_send(udp_listener_t *l, const struct sockaddr *to, const uint8_t *msg,
		       size_t len)
{
	if (!outbox_add(l, to, msg, len))
		send_one(l, to, msg, len);
}

static void send_one(udp_listener_t *l, const struct sockaddr *to, const uint8_t *msg,
		     size_t len)
{
	uv_buf_t buf = uv_buf_init((char *)msg, (unsigned int)len);
	int rc = uv_udp_try_send(&l->handle, &buf, 1, to);
	if (rc != UV_EAGAIN)
		return;
	if (uv_udp_get_send_queue_count(&l->handle) >= ER_UDP_SEND_QUEUE_MAX) {
		metrics_add(&worker_stats(l->worker)->replies_dropped, 1);
		return;
	}
	udp_send_t *s = malloc(sizeof(*s) + len);
	if (s == NULL)
		return;
	memcpy(s->msg, msg, len);
	s->len = len;
	s->req.data = s;
	buf = uv_buf_init((char *)s->msg, (unsigned int)len);
	if (uv_udp_send(&s->req, &l->handle, &buf, 1, to, on_sent) < 0)
		free(s);
}
