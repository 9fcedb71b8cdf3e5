/*
 * One upstream exchange. The attempt owns up to three handles (timer, UDP
 * socket, TCP stream), counts the ones still open, and frees itself in the
 * last close callback, so no path frees an initialised handle.
 *
 * A fresh random source port per attempt rather than one shared socket per
 * worker: a shared socket makes the ID the only entropy an off-path attacker
 * must guess (RFC 5452 sec 4, 9.2); a fresh port adds ~15-16 bits. The
 * sockets come from the worker's udp_pool (reused, re-bound to a new
 * kernel-chosen random port each time; see udp_pool.c for the measurement
 * and the port range). They are not connect()ed, so that answers from other
 * addresses or ports are seen and counted instead of silently filtered.
 *
 * TCP goes through the worker's pool (tcp_pool.c: reused, pipelined
 * connections, RFC 7766 6.2.1) when the caller passes one; the pool matches
 * the answer, and the attempt keeps only a request handle, cancelled with
 * the attempt. When the pool is full, or no pool is given (unit tests,
 * tools), the attempt opens a short-lived connection of its own, as the
 * foundation did: bounded by the worker's in-flight cap, and the query is
 * answered rather than failed.
 */
#include "upstream/attempt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dname.h"
#include "dns/reply.h"
#include "upstream/tcp_pool.h"
#include "upstream/udp_pool.h"
#include "util/random.h"
#include "util/sockaddr.h"

#define ER_ATTEMPT_TCP_BUF (2 + 65535)

/* outcome.c classifies results without libuv's headers. */
_Static_assert(UV_ETIMEDOUT == -ETIMEDOUT, "libuv passes errno values through on Unix");
#define ER_ATTEMPT_QUERY_MAX 600 /* 12 + 255 + 4 + 11 (OPT) + an ECS option */

/* Our advertised EDNS size bounds honest UDP answers; a larger datagram is
 * cut by the kernel (truncated) and handled like TC=1. */
_Static_assert(ER_UDP_POOL_RECV_BUF > ER_EDNS_ADVERTISED, "room for an honest EDNS answer");

/* A connection of the attempt's own (no pool, or the pool full): allocated
 * only then, so the UDP attempt stays small. */
struct own_tcp {
	uv_tcp_t handle;
	uv_connect_t connect_req;
	uv_write_t write_req;
	size_t used;
	uint8_t buf[ER_ATTEMPT_TCP_BUF];
};

/*
 * Sized to its query: ~390 bytes plus the message (~460 for a plain A
 * query) instead of 1 792 with a fixed query buffer and the TCP handle
 * inline, so memory per attempt in flight is a quarter. It did not save
 * CPU (perf, all-miss dnsperf load, one worker: libc 4.1 % of the worker
 * before, 4.2 % after): a loop turn starts and ends ~30 attempts at once,
 * more than glibc's 7-entry per-thread cache holds.
 */
struct attempt {
	uv_loop_t *loop;
	uv_timer_t timer;
	udp_pool_sock_t *udp; /* taken from the worker's udp_pool while the UDP exchange lasts */
	struct own_tcp *tcp; /* allocated on the first TCP exchange without the pool */
	uint8_t open_handles;
	bool is_tcp_open, is_done;
	struct sockaddr_storage server;
	uint16_t id;
	uint16_t qtype, qclass;
	size_t query_len;
	uint64_t sent_at_us;
	metrics_t *stats;
	struct tcp_pool *tcp_pool; /* borrowed from the caller, or NULL */
	tcp_pool_req_t *pool_req; /* while the pool holds our query */
	attempt_cb cb;
	attempt_slow_cb on_slow;
	uint32_t linger_ms;
	void *owner;
	uint8_t query[]; /* TCP length prefix + message (query_len) */
};

/* The question's name, as written into the query (uncompressed, after the
 * header). */
static const uint8_t *question_name(const attempt_t *a)
{
	return a->query + 2 + ER_DNS_HEADER_LEN;
}

static void on_handle_closed(uv_handle_t *handle)
{
	attempt_t *a = handle->data;
	if (--a->open_handles == 0) {
		free(a->tcp);
		free(a);
	}
}

static void close_handle(attempt_t *a, uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, on_handle_closed);
	(void)a;
}

static void release_udp(attempt_t *a)
{
	if (a->udp) {
		udp_pool_release(a->udp);
		a->udp = NULL;
	}
}

static void close_all(attempt_t *a)
{
	if (a->pool_req) {
		tcp_pool_cancel(a->pool_req);
		a->pool_req = NULL;
	}
	uv_timer_stop(&a->timer);
	close_handle(a, (uv_handle_t *)&a->timer);
	release_udp(a);
	if (a->is_tcp_open) {
		a->is_tcp_open = false;
		close_handle(a, (uv_handle_t *)&a->tcp->handle);
	}
}

static void finish(attempt_t *a, int status, const uint8_t *resp, size_t len)
{
	if (a->is_done)
		return;
	a->is_done = true;
	uint64_t rtt = uv_hrtime() / 1000 - a->sent_at_us;
	if (a->cb)
		a->cb(a->owner, status, resp, len, rtt > UINT32_MAX ? UINT32_MAX : (uint32_t)rtt);
	close_all(a);
}

void attempt_cancel(attempt_t *a)
{
	a->cb = NULL;
	if (!a->is_done) {
		a->is_done = true;
		close_all(a);
	}
}

static void on_timeout(uv_timer_t *timer)
{
	attempt_t *a = timer->data;
	if (a->on_slow && a->linger_ms > 0) {
		/* Slow, not dead: the owner tries another server meanwhile, and
		 * whichever valid answer comes first wins (as Unbound and BIND
		 * keep listening after a retransmission to another server). */
		attempt_slow_cb slow = a->on_slow;
		a->on_slow = NULL;
		metrics_add(&a->stats->upstream_timeouts, 1);
		uv_timer_start(&a->timer, on_timeout, a->linger_ms, 0);
		slow(a->owner);
		return;
	}
	if (a->linger_ms == 0)
		metrics_add(&a->stats->upstream_timeouts, 1);
	finish(a, UV_ETIMEDOUT, NULL, 0);
}

static bool answer_matches(attempt_t *a, const uint8_t *pkt, size_t len)
{
	return wire_check_response(pkt, len, a->id, question_name(a), a->qtype, a->qclass) == 0;
}

/* ---- TCP (fallback on TC=1, or tcp=always) ---- */

static void on_tcp_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	attempt_t *a = handle->data;
	(void)suggested;
	*buf = uv_buf_init((char *)a->tcp->buf + a->tcp->used,
			   (unsigned int)(ER_ATTEMPT_TCP_BUF - a->tcp->used));
}

static void on_tcp_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	attempt_t *a = stream->data;
	(void)buf;
	if (nread < 0) {
		metrics_add(&a->stats->upstream_errors, 1);
		finish(a, nread == UV_EOF ? -ECONNRESET : (int)nread, NULL, 0);
		return;
	}
	struct own_tcp *t = a->tcp;
	t->used += (size_t)nread;
	if (t->used < 2)
		return;
	size_t msg_len = wire_read_u16(t->buf);
	if (t->used < 2 + msg_len)
		return;
	if (!answer_matches(a, t->buf + 2, msg_len)) {
		/* A stream cannot resynchronise past a wrong answer. Nobody off
		 * path wrote it on our own connection, so it is the server's
		 * garbage, counted as the pool counts it (mismatched_dropped is
		 * for datagrams). */
		metrics_add(&a->stats->upstream_errors, 1);
		finish(a, -EBADMSG, NULL, 0);
		return;
	}
	finish(a, 0, t->buf + 2, msg_len);
}

static void on_tcp_written(uv_write_t *req, int status)
{
	attempt_t *a = req->data;
	if (status < 0 && !a->is_done) {
		metrics_add(&a->stats->upstream_errors, 1);
		finish(a, status, NULL, 0);
	}
}

static void on_tcp_connected(uv_connect_t *req, int status)
{
	attempt_t *a = req->data;
	if (a->is_done)
		return;
	if (status < 0) {
		metrics_add(&a->stats->upstream_errors, 1);
		finish(a, status, NULL, 0);
		return;
	}
	uv_buf_t buf = uv_buf_init((char *)a->query, (unsigned int)(2 + a->query_len));
	uv_stream_t *stream = (uv_stream_t *)&a->tcp->handle;
	int rc = uv_write(&a->tcp->write_req, stream, &buf, 1, on_tcp_written);
	if (rc == 0)
		rc = uv_read_start(stream, on_tcp_alloc, on_tcp_read);
	if (rc < 0) {
		metrics_add(&a->stats->upstream_errors, 1);
		finish(a, rc, NULL, 0);
	}
}

static void on_pool_answer(void *owner, int status, const uint8_t *resp, size_t len)
{
	attempt_t *a = owner;
	a->pool_req = NULL; /* freed by the pool after this callback */
	if (status < 0)
		metrics_add(&a->stats->upstream_errors, 1);
	finish(a, status, resp, len);
}

/* 0 when the pool took the query, UV_EBUSY when it is full, or an error. */
static int start_pooled_tcp(attempt_t *a)
{
	tcp_pool_query_t q = {
		.server = (const struct sockaddr *)&a->server,
		.msg = a->query + 2,
		.len = a->query_len,
		.qname = question_name(a),
		.qtype = a->qtype,
		.qclass = a->qclass,
	};
	int rc = tcp_pool_send(a->tcp_pool, &q, on_pool_answer, a, &a->pool_req);
	if (rc == UV_EBUSY)
		metrics_add(&a->stats->upstream_tcp_pool_full, 1);
	return rc;
}

static int start_tcp(attempt_t *a)
{
	if (a->tcp_pool) {
		int rc = start_pooled_tcp(a);
		if (rc != UV_EBUSY)
			return rc;
	}
	if (a->tcp == NULL) {
		a->tcp = malloc(sizeof(*a->tcp));
		if (a->tcp == NULL)
			return UV_ENOMEM;
	}
	struct own_tcp *t = a->tcp;
	t->used = 0;
	int rc = uv_tcp_init(a->loop, &t->handle);
	if (rc < 0)
		return rc;
	t->handle.data = a;
	a->open_handles++;
	a->is_tcp_open = true;
	t->connect_req.data = a;
	t->write_req.data = a;
	return uv_tcp_connect(&t->connect_req, &t->handle, (const struct sockaddr *)&a->server,
			      on_tcp_connected);
}

/* ---- UDP ---- */

static void switch_to_tcp(attempt_t *a)
{
	metrics_add(&a->stats->upstream_tcp_retries, 1);
	release_udp(a);
	int rc = start_tcp(a);
	if (rc < 0) {
		metrics_add(&a->stats->upstream_errors, 1);
		finish(a, rc, NULL, 0);
	}
}

static void on_udp_recv(void *owner, ssize_t nread, const uint8_t *pkt,
			const struct sockaddr *from, bool is_truncated)
{
	attempt_t *a = owner;
	if (a->is_done)
		return;
	if (nread < 0) {
		metrics_add(&a->stats->upstream_errors, 1);
		finish(a, (int)nread, NULL, 0);
		return;
	}
	if (!sockaddr_equal(from, (const struct sockaddr *)&a->server)) {
		metrics_add(&a->stats->mismatched_dropped, 1);
		return;
	}
	/* A datagram larger than we advertised (cut by the kernel) or marked
	 * TC=1 may end mid-record, so only its ID is checked before the retry
	 * over TCP: the worst a spoofer who knows the port gains is moving this
	 * attempt to TCP, and only with the right ID. */
	bool is_cut = is_truncated ||
		      (nread >= ER_DNS_HEADER_LEN && (wire_read_u16(pkt + 2) & DNS_FLAG_TC));
	if (is_cut) {
		if (nread < ER_DNS_HEADER_LEN || wire_read_u16(pkt) != a->id) {
			metrics_add(&a->stats->mismatched_dropped, 1);
			return;
		}
		switch_to_tcp(a);
		return;
	}
	if (!answer_matches(a, pkt, (size_t)nread)) {
		metrics_add(&a->stats->mismatched_dropped, 1);
		return;
	}
	finish(a, 0, pkt, (size_t)nread);
}

static int start_udp(attempt_t *a, udp_pool_t *pool)
{
	if (pool == NULL)
		return UV_EINVAL;
	return udp_pool_send(pool, (const struct sockaddr *)&a->server, a->query + 2,
			     a->query_len, on_udp_recv, a, &a->udp);
}

/* A zeroed attempt holding the query for p, with a fresh ID; NULL when the
 * query cannot be built or memory is short. */
static attempt_t *attempt_new(const attempt_params_t *p)
{
	const dns_query_t *q = p->query;
	uint8_t query[2 + ER_ATTEMPT_QUERY_MAX];
	uint16_t id = random_u16();
	size_t len = reply_build_upstream_query(q, id, p->option, p->option_len, query + 2,
						ER_ATTEMPT_QUERY_MAX);
	if (len == 0)
		return NULL;
	wire_write_u16(query, (uint16_t)len);
	/* Only the header needs zeroing: the query is copied in whole. */
	attempt_t *a = malloc(sizeof(*a) + 2 + len);
	if (a == NULL)
		return NULL;
	memset(a, 0, sizeof(*a));
	memcpy(a->query, query, 2 + len);
	a->query_len = len;
	a->id = id;
	a->qtype = q->qtype;
	a->qclass = q->qclass;
	memcpy(&a->server, p->server, sockaddr_len(p->server));
	return a;
}

attempt_t *attempt_start(uv_loop_t *loop, const attempt_params_t *p, attempt_cb cb, void *owner)
{
	attempt_t *a = attempt_new(p);
	if (a == NULL)
		return NULL;
	a->loop = loop;
	a->stats = p->stats;
	a->tcp_pool = p->tcp_pool;
	if (uv_timer_init(loop, &a->timer) < 0) {
		free(a);
		return NULL;
	}
	a->timer.data = a;
	a->open_handles = 1;
	a->sent_at_us = uv_hrtime() / 1000;
	a->cb = cb;
	a->owner = owner;
	a->on_slow = p->on_slow;
	a->linger_ms = p->on_slow ? p->linger_ms : 0;
	int rc = p->tcp_only ? start_tcp(a) : start_udp(a, p->udp_pool);
	if (rc == 0)
		rc = uv_timer_start(&a->timer, on_timeout, p->timeout_ms, 0);
	if (rc < 0) {
		/* No callback has been promised yet: close quietly, report NULL. */
		attempt_cancel(a);
		return NULL;
	}
	metrics_add(&p->stats->upstream_attempts, 1);
	return a;
}
