/*
 * Upstream TCP connection pool (RFC 7766 6.2.1-6.2.3).
 *
 * The pool keeps a list of active connections; a request goes to the
 * least-loaded connection to its server that has room, a new connection is
 * opened only when every one to that server is full (6.2.2 asks clients to
 * keep few connections per server), and at the pool-wide cap an idle
 * connection to some other server is closed to make room. Each connection
 * embeds two handles (the stream and its idle timer) and is freed in the
 * last close callback; the pool frees itself after its last connection once
 * tcp_pool_close has been called.
 *
 * Callbacks of failed requests run from that last close callback, never
 * from inside tcp_pool_send or tcp_pool_cancel, so a caller is never
 * re-entered while it is half-way through starting or stopping a request.
 *
 * IDs: the caller's query ID is kept when no pending request on the chosen
 * connection uses it, otherwise a fresh CSPRNG ID goes on the wire and the
 * answer's ID is rewritten back before the callback (6.2.1.1: IDs must be
 * unique among the queries outstanding on one connection). An answer is
 * matched by ID and then question; one that matches nothing (typically a
 * late answer to a cancelled request) is counted and dropped, while a frame
 * that is not a DNS response at all means the stream cannot be trusted: the
 * connection closes and its pending requests fail with -EBADMSG.
 *
 * A connection on which ER_TCP_POOL_DEAD_CANCELS requests in a row were
 * cancelled unanswered (their attempts timed out) is retired: a half-open
 * connection would otherwise swallow every query, health probes included,
 * for as long as traffic keeps it from going idle.
 *
 * Each connection writes a copy of a query (a small malloc freed in the
 * write callback) so that cancelling a request never frees memory libuv is
 * still writing from. Queries accepted while connecting are written once
 * the connection is up. Memory: one 64 KiB frame buffer per connection, so
 * at most max_conns x 64 KiB per worker.
 *
 * Rejected: a queue of requests waiting for room (the attempt's own timer
 * already bounds waiting, and a short-lived extra connection is simpler);
 * one connection per server only (a burst of more than `pipeline` queries
 * would spill into short-lived connections at once).
 */
#include "upstream/tcp_pool.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dname.h"
#include "dns/wire.h"
#include "util/random.h"
#include "util/sockaddr.h"

#define ER_TCP_POOL_FRAME_MAX (2 + 65535) /* RFC 7766 8: length prefix + message */
#define ER_TCP_POOL_DEAD_CANCELS 2 /* unanswered cancellations in a row */
#define ER_TCP_POOL_PIPELINE_LIMIT 1024 /* keeps random ID picking cheap */

_Static_assert(ER_TCP_POOL_PIPELINE <= ER_TCP_POOL_PIPELINE_LIMIT, "pipeline within the limit");
_Static_assert(ER_TCP_POOL_PIPELINE_LIMIT < 65536 / 16, "IDs stay mostly free on a connection");

typedef struct upconn upconn_t;

struct tcp_pool_req {
	upconn_t *conn;
	tcp_pool_req_t *prev, *next;
	tcp_pool_cb cb;
	void *owner;
	uint16_t caller_id, wire_id;
	uint16_t qtype, qclass;
	uint8_t qname[ER_DNAME_MAX];
	size_t frame_len;
	uint8_t frame[]; /* length prefix + query with wire_id */
};

struct upconn {
	tcp_pool_t *pool;
	upconn_t *prev, *next; /* in pool->conns while active */
	uv_tcp_t tcp;
	uv_timer_t idle;
	uv_connect_t connect_req;
	uint8_t open_handles;
	bool is_connected, is_closing;
	uint8_t unanswered_cancels;
	int close_status; /* what pending requests are told */
	uint64_t n_sent;
	struct sockaddr_storage server;
	tcp_pool_req_t *pending;
	uint32_t n_pending;
	size_t used;
	uint8_t buf[ER_TCP_POOL_FRAME_MAX];
};

struct tcp_pool {
	uv_loop_t *loop;
	metrics_t *stats;
	tcp_pool_limits_t lim;
	upconn_t *conns; /* active: not closing */
	uint32_t n_active;
	uint32_t n_alive; /* active + closing, i.e. not yet freed */
	bool is_closed;
};

struct tcp_write {
	uv_write_t req;
	uint8_t data[];
};

static void conn_close(upconn_t *c, int status);

/* ---- requests on a connection ---- */

static void on_idle(uv_timer_t *timer)
{
	conn_close(timer->data, UV_ETIMEDOUT);
}

/* RFC 7766 6.2.3: a connection with nothing pending is closed after a
 * while; the timer runs only while nothing is pending. */
static void idle_timer_update(upconn_t *c)
{
	if (c->is_closing)
		return;
	if (c->n_pending == 0 && c->is_connected)
		uv_timer_start(&c->idle, on_idle, c->pool->lim.idle_ms, 0);
	else
		uv_timer_stop(&c->idle);
}

static void req_link(upconn_t *c, tcp_pool_req_t *r)
{
	r->conn = c;
	r->prev = NULL;
	r->next = c->pending;
	if (c->pending)
		c->pending->prev = r;
	c->pending = r;
	c->n_pending++;
	idle_timer_update(c);
}

static void req_unlink(tcp_pool_req_t *r)
{
	upconn_t *c = r->conn;
	if (r->prev)
		r->prev->next = r->next;
	else
		c->pending = r->next;
	if (r->next)
		r->next->prev = r->prev;
	c->n_pending--;
	r->conn = NULL;
	idle_timer_update(c);
}

static tcp_pool_req_t *req_find(const upconn_t *c, uint16_t wire_id)
{
	for (tcp_pool_req_t *r = c->pending; r; r = r->next) {
		if (r->wire_id == wire_id)
			return r;
	}
	return NULL;
}

/* The caller's ID unless a pending request on c already uses it; at most
 * ER_TCP_POOL_PIPELINE_LIMIT of 65536 are taken, so this ends fast. */
static uint16_t wire_id_pick(const upconn_t *c, uint16_t caller_id)
{
	uint16_t id = caller_id;
	while (req_find(c, id) != NULL)
		id = random_u16();
	return id;
}

/* ---- writing ---- */

static void on_written(uv_write_t *req, int status)
{
	upconn_t *c = req->data; /* write callbacks run before the close callback */
	free((struct tcp_write *)req); /* req is the first member */
	if (status < 0 && status != UV_ECANCELED)
		conn_close(c, status);
}

/* Writes a copy of r's frame, so that cancelling r cannot pull the bytes
 * from under libuv. */
static int conn_write(upconn_t *c, tcp_pool_req_t *r)
{
	struct tcp_write *w = malloc(sizeof(*w) + r->frame_len);
	if (w == NULL)
		return UV_ENOMEM;
	memcpy(w->data, r->frame, r->frame_len);
	w->req.data = c;
	uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned int)r->frame_len);
	int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written);
	if (rc < 0) {
		free(w);
		return rc;
	}
	if (c->n_sent++ > 0)
		metrics_add(&c->pool->stats->upstream_tcp_reused, 1);
	return 0;
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	upconn_t *c = handle->data;
	(void)suggested;
	*buf = uv_buf_init((char *)c->buf + c->used, (unsigned int)(sizeof(c->buf) - c->used));
}

static void deliver(tcp_pool_req_t *r, uint8_t *resp, size_t len)
{
	r->conn->unanswered_cancels = 0;
	req_unlink(r);
	wire_write_u16(resp, r->caller_id);
	r->cb(r->owner, 0, resp, len);
	free(r);
}

/* One whole frame from the server. May close c. */
static void on_frame(upconn_t *c, uint8_t *msg, size_t len)
{
	if (len < ER_DNS_HEADER_LEN || !(wire_read_u16(msg + 2) & DNS_FLAG_QR)) {
		conn_close(c, -EBADMSG); /* not a DNS response: the stream is lost */
		return;
	}
	tcp_pool_req_t *r = req_find(c, wire_read_u16(msg));
	int rc = r ? wire_check_response(msg, len, r->wire_id, r->qname, r->qtype, r->qclass)
		   : -ENOENT;
	if (rc == -ENOENT) {
		metrics_add(&c->pool->stats->mismatched_dropped, 1); /* late, or another question */
		return;
	}
	if (rc < 0) {
		conn_close(c, -EBADMSG);
		return;
	}
	deliver(r, msg, len);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	upconn_t *c = stream->data;
	(void)buf;
	if (nread < 0) {
		/* RFC 7766 6.2.3: the server may close at any time; what it
		 * left unanswered fails now so the attempt can move on. */
		conn_close(c, nread == UV_EOF ? UV_ECONNRESET : (int)nread);
		return;
	}
	c->used += (size_t)nread;
	size_t off = 0;
	while (!c->is_closing && c->used - off >= 2) {
		size_t len = wire_read_u16(c->buf + off);
		if (c->used - off - 2 < len)
			break;
		on_frame(c, c->buf + off + 2, len);
		off += 2 + len;
	}
	if (c->is_closing)
		return;
	memmove(c->buf, c->buf + off, c->used - off);
	c->used -= off;
}

/* ---- connection life cycle ---- */

static void on_connected(uv_connect_t *req, int status)
{
	upconn_t *c = req->data;
	if (c->is_closing)
		return; /* UV_ECANCELED from uv_close, or closed meanwhile */
	int rc = status < 0 ? status : uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	for (tcp_pool_req_t *r = c->pending; r && rc == 0; r = r->next) {
		rc = conn_write(c, r); /* none was written before the connect */
	}
	if (rc < 0) {
		conn_close(c, rc);
		return;
	}
	c->is_connected = true;
	idle_timer_update(c);
}

static void pool_maybe_free(tcp_pool_t *pool)
{
	if (pool->is_closed && pool->n_alive == 0)
		free(pool);
}

/* The last handle is closed: fail what is still pending (unless the pool
 * was closed: its users have cancelled), then free the connection. */
static void conn_finish(upconn_t *c)
{
	tcp_pool_t *pool = c->pool;
	tcp_pool_req_t *r;
	while ((r = c->pending) != NULL) {
		req_unlink(r);
		if (!pool->is_closed)
			r->cb(r->owner, c->close_status, NULL, 0);
		free(r);
	}
	free(c);
	pool->n_alive--;
	pool_maybe_free(pool);
}

static void on_handle_closed(uv_handle_t *handle)
{
	upconn_t *c = handle->data;
	if (--c->open_handles == 0)
		conn_finish(c);
}

static void pool_unlink(upconn_t *c)
{
	tcp_pool_t *pool = c->pool;
	if (c->prev)
		c->prev->next = c->next;
	else
		pool->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	pool->n_active--;
}

/* Idempotent. Pending requests fail with status from the close callback;
 * no new request is given to c from now on. */
static void conn_close(upconn_t *c, int status)
{
	if (c->is_closing)
		return;
	c->is_closing = true;
	c->close_status = status;
	pool_unlink(c);
	uv_timer_stop(&c->idle);
	uv_close((uv_handle_t *)&c->idle, on_handle_closed);
	uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void pool_link(tcp_pool_t *pool, upconn_t *c)
{
	c->prev = NULL;
	c->next = pool->conns;
	if (pool->conns)
		pool->conns->prev = c;
	pool->conns = c;
	pool->n_active++;
	pool->n_alive++;
}

/* Starts a connection to server; *out is NULL on failure. */
static int conn_open(tcp_pool_t *pool, const struct sockaddr *server, upconn_t **out)
{
	*out = NULL;
	upconn_t *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return UV_ENOMEM;
	int rc = uv_tcp_init(pool->loop, &c->tcp);
	if (rc < 0) {
		free(c);
		return rc;
	}
	uv_timer_init(pool->loop, &c->idle); /* cannot fail for timers */
	c->pool = pool;
	c->tcp.data = c->idle.data = c->connect_req.data = c;
	c->open_handles = 2;
	memcpy(&c->server, server, sockaddr_len(server));
	pool_link(pool, c);
	rc = uv_tcp_connect(&c->connect_req, &c->tcp, server, on_connected);
	if (rc < 0) {
		conn_close(c, rc); /* nothing pending: no callback */
		return rc;
	}
	metrics_add(&pool->stats->upstream_tcp_connects, 1);
	*out = c;
	return 0;
}

/* ---- choosing a connection ---- */

/* The least-loaded active connection to server with room; *n_server gets
 * how many active connections go to server. */
static upconn_t *conn_find(tcp_pool_t *pool, const struct sockaddr *server, uint32_t *n_server)
{
	upconn_t *best = NULL;
	*n_server = 0;
	for (upconn_t *c = pool->conns; c; c = c->next) {
		if (!sockaddr_equal((const struct sockaddr *)&c->server, server))
			continue;
		(*n_server)++;
		if (c->n_pending < pool->lim.pipeline && (!best || c->n_pending < best->n_pending))
			best = c;
	}
	return best;
}

/* At the pool-wide cap, closes one idle connection. False if none is. */
static bool evict_idle(tcp_pool_t *pool)
{
	for (upconn_t *c = pool->conns; c; c = c->next) {
		if (c->n_pending == 0) {
			conn_close(c, UV_ECANCELED);
			return true;
		}
	}
	return false;
}

static int conn_for(tcp_pool_t *pool, const struct sockaddr *server, upconn_t **out)
{
	uint32_t n_server;
	*out = conn_find(pool, server, &n_server);
	if (*out)
		return 0;
	if (n_server >= pool->lim.per_server)
		return UV_EBUSY;
	if (pool->n_active >= pool->lim.max_conns && !evict_idle(pool))
		return UV_EBUSY;
	return conn_open(pool, server, out);
}

/* ---- API ---- */

/* A request carrying a framed copy of q; q has been checked. */
static tcp_pool_req_t *req_new(const tcp_pool_query_t *q, tcp_pool_cb cb, void *owner)
{
	size_t qname_len = dname_wire_len(q->qname, ER_DNAME_MAX);
	tcp_pool_req_t *r = calloc(1, sizeof(*r) + 2 + q->len);
	if (r == NULL)
		return NULL;
	r->cb = cb;
	r->owner = owner;
	r->caller_id = wire_read_u16(q->msg);
	r->qtype = q->qtype;
	r->qclass = q->qclass;
	memcpy(r->qname, q->qname, qname_len);
	r->frame_len = 2 + q->len;
	wire_write_u16(r->frame, (uint16_t)q->len);
	memcpy(r->frame + 2, q->msg, q->len);
	return r;
}

int tcp_pool_send(tcp_pool_t *pool, const tcp_pool_query_t *q, tcp_pool_cb cb, void *owner,
		  tcp_pool_req_t **out)
{
	*out = NULL;
	if (pool->is_closed)
		return UV_ECANCELED;
	if (q->len < ER_DNS_HEADER_LEN || q->len > UINT16_MAX ||
	    dname_wire_len(q->qname, ER_DNAME_MAX) == 0)
		return UV_EINVAL;
	tcp_pool_req_t *r = req_new(q, cb, owner);
	if (r == NULL)
		return UV_ENOMEM;
	upconn_t *c;
	int rc = conn_for(pool, q->server, &c);
	if (rc < 0) {
		free(r);
		return rc;
	}
	r->wire_id = wire_id_pick(c, r->caller_id);
	wire_write_u16(r->frame + 2, r->wire_id);
	req_link(c, r);
	rc = c->is_connected ? conn_write(c, r) : 0;
	if (rc < 0) {
		req_unlink(r);
		free(r);
		conn_close(c, rc); /* the others fail from the close callback */
		return rc;
	}
	*out = r;
	return 0;
}

void tcp_pool_cancel(tcp_pool_req_t *r)
{
	upconn_t *c = r->conn;
	req_unlink(r);
	free(r);
	if (c->is_closing)
		return;
	if (++c->unanswered_cancels >= ER_TCP_POOL_DEAD_CANCELS)
		conn_close(c, UV_ETIMEDOUT); /* likely half-open: start afresh */
}

static uint32_t limit_or(uint32_t value, uint32_t fallback, uint32_t max)
{
	if (value == 0)
		return fallback;
	return value > max ? max : value;
}

tcp_pool_t *tcp_pool_new(uv_loop_t *loop, metrics_t *stats, const tcp_pool_limits_t *limits)
{
	tcp_pool_t *pool = calloc(1, sizeof(*pool));
	if (pool == NULL)
		return NULL;
	tcp_pool_limits_t none = { 0 };
	const tcp_pool_limits_t *l = limits ? limits : &none;
	pool->loop = loop;
	pool->stats = stats;
	pool->lim = (tcp_pool_limits_t){
		.max_conns = limit_or(l->max_conns, ER_TCP_POOL_MAX, UINT32_MAX),
		.per_server = limit_or(l->per_server, ER_TCP_POOL_PER_SERVER, UINT32_MAX),
		.pipeline = limit_or(l->pipeline, ER_TCP_POOL_PIPELINE, ER_TCP_POOL_PIPELINE_LIMIT),
		.idle_ms = limit_or(l->idle_ms, ER_TCP_POOL_IDLE_MS, UINT32_MAX),
	};
	return pool;
}

void tcp_pool_close(tcp_pool_t *pool)
{
	if (pool == NULL || pool->is_closed)
		return;
	pool->is_closed = true;
	while (pool->conns)
		conn_close(pool->conns, UV_ECANCELED);
	pool_maybe_free(pool);
}
