/*
 * TCP listener and connections (RFC 7766): length-prefixed messages, several
 * queries in flight per connection answered in completion order (pipelining,
 * out-of-order), a 10 s idle timeout, and bounds everywhere a client could
 * make memory grow: connections per worker, in-flight queries per connection
 * (reading pauses), and queued reply bytes (a client that does not read is
 * disconnected).
 *
 * Lifetime: a connection is freed when its two handles are closed AND no
 * forwarded query holds it, so an upstream answer arriving after the client
 * left finds a valid, closed connection and drops the reply.
 */
#include <stdlib.h>
#include <string.h>

#include "server/worker.h"
#include "util/log.h"

#define ER_TCP_MSG_MAX 65535
#define ER_TCP_MAX_QUEUED (1u << 20) /* reply bytes waiting for a slow reader */

struct tcp_conn {
	uv_tcp_t handle;
	uv_timer_t idle;
	worker_t *worker;
	tcp_conn_t *prev, *next;
	struct sockaddr_storage peer;
	unsigned holds; /* forwarded queries in flight */
	uint8_t open_handles;
	bool is_closing, is_paused, is_resume_due;
	size_t used;
	uint8_t buf[2 + ER_TCP_MSG_MAX];
};

typedef struct tcp_write {
	uv_write_t req;
	uint8_t msg[];
} tcp_write_t;

static void conn_maybe_free(tcp_conn_t *c)
{
	if (c->open_handles == 0 && c->holds == 0)
		free(c);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	tcp_conn_t *c = h->data;
	c->open_handles--;
	conn_maybe_free(c);
}

static void conn_close(tcp_conn_t *c)
{
	if (c->is_closing)
		return;
	c->is_closing = true;
	worker_t *w = c->worker;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->n_conns--;
	uv_close((uv_handle_t *)&c->idle, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->handle, on_conn_handle_closed);
}

void tcp_conn_hold(tcp_conn_t *c)
{
	c->holds++;
}

static void on_resume_due(uv_timer_t *t);

void tcp_conn_release(tcp_conn_t *c)
{
	c->holds--;
	if (c->is_closing) {
		conn_maybe_free(c);
		return;
	}
	/* Resume on the next loop turn, not here: this runs while a forward is
	 * delivering answers, and draining buffered queries now would re-enter
	 * the pipeline in the middle of that delivery. The idle timer is free
	 * for this while the connection is paused (it has queries in flight). */
	if (c->is_paused && !c->is_resume_due && c->holds < ER_TCP_MAX_INFLIGHT) {
		c->is_resume_due = true;
		uv_timer_start(&c->idle, on_resume_due, 0, 0);
	}
}

static void on_written(uv_write_t *req, int status)
{
	(void)status;
	free(req->data);
}

void tcp_conn_send(tcp_conn_t *c, const uint8_t *msg, size_t len)
{
	if (c->is_closing)
		return;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->handle) > ER_TCP_MAX_QUEUED) {
		conn_close(c); /* the client is not reading its answers */
		return;
	}
	tcp_write_t *wr = malloc(sizeof(*wr) + 2 + len);
	if (wr == NULL)
		return;
	wr->req.data = wr;
	wr->msg[0] = (uint8_t)(len >> 8);
	wr->msg[1] = (uint8_t)len;
	memcpy(wr->msg + 2, msg, len);
	uv_buf_t buf = uv_buf_init((char *)wr->msg, (unsigned int)(2 + len));
	if (uv_write(&wr->req, (uv_stream_t *)&c->handle, &buf, 1, on_written) < 0) {
		free(wr);
		conn_close(c);
	}
}

static void on_idle(uv_timer_t *t)
{
	tcp_conn_t *c = t->data;
	if (c->holds > 0) {
		uv_timer_again(t); /* still answering: not idle */
		return;
	}
	conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	tcp_conn_t *c = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)c->buf + c->used, (unsigned int)(sizeof(c->buf) - c->used));
}

/* Hands complete messages to the pipeline until ER_TCP_MAX_INFLIGHT of
 * them wait on upstreams (one read may carry hundreds of pipelined
 * queries); keeps the rest for when answers have gone out. */
static void drain_messages(tcp_conn_t *c)
{
	size_t pos = 0;
	while (!c->is_closing && c->holds < ER_TCP_MAX_INFLIGHT && c->used - pos >= 2) {
		size_t len = (size_t)c->buf[pos] << 8 | c->buf[pos + 1];
		if (c->used - pos - 2 < len)
			break;
		client_t client = { .udp = NULL, .conn = c };
		memcpy(&client.addr, &c->peer, sizeof(c->peer));
		c->worker->stats.queries_tcp++;
		query_receive(c->worker, &client, c->buf + pos + 2, len);
		pos += 2 + len;
	}
	if (pos > 0) {
		memmove(c->buf, c->buf + pos, c->used - pos);
		c->used -= pos;
	}
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	tcp_conn_t *c = s->data;
	(void)buf;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->used += (size_t)nread;
	uv_timer_again(&c->idle);
	drain_messages(c);
	if (!c->is_closing && c->holds >= ER_TCP_MAX_INFLIGHT) {
		uv_read_stop(s);
		c->is_paused = true;
	}
}

static void resume_reading(tcp_conn_t *c)
{
	c->is_paused = false;
	c->is_resume_due = false;
	drain_messages(c); /* messages that arrived before the pause */
	if (!c->is_closing && c->holds < ER_TCP_MAX_INFLIGHT &&
	    uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read) < 0)
		conn_close(c);
}

static void on_resume_due(uv_timer_t *t)
{
	tcp_conn_t *c = t->data;
	uv_timer_start(&c->idle, on_idle, ER_TCP_IDLE_MS, ER_TCP_IDLE_MS);
	resume_reading(c);
}

static void accept_one(worker_t *w, uv_stream_t *server)
{
	tcp_conn_t *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->worker = w;
	if (uv_tcp_init(&w->loop, &c->handle) < 0) {
		free(c);
		return;
	}
	c->handle.data = c;
	c->open_handles = 1;
	uv_timer_init(&w->loop, &c->idle); /* cannot fail for timers */
	c->idle.data = c;
	c->open_handles = 2;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	int len = sizeof(c->peer);
	if (uv_accept(server, (uv_stream_t *)&c->handle) < 0 ||
	    uv_tcp_getpeername(&c->handle, (struct sockaddr *)&c->peer, &len) < 0 ||
	    uv_timer_start(&c->idle, on_idle, ER_TCP_IDLE_MS, ER_TCP_IDLE_MS) < 0 ||
	    uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read) < 0) {
		conn_close(c);
		return;
	}
	if (w->n_conns > ER_TCP_MAX_CONNS) {
		w->stats.tcp_rejected++;
		conn_close(c);
	}
}

static void on_connection(uv_stream_t *server, int status)
{
	tcp_listener_t *l = server->data;
	if (status < 0 || l->worker->is_stopping)
		return;
	accept_one(l->worker, server);
}

int tcp_listener_start(tcp_listener_t *l, worker_t *w, int fd)
{
	l->worker = w;
	int rc = uv_tcp_init(&w->loop, &l->handle);
	if (rc < 0)
		return rc;
	l->handle.data = l;
	rc = uv_tcp_open(&l->handle, fd);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&l->handle, 128, on_connection);
	return rc;
}

void tcp_listener_close(tcp_listener_t *l)
{
	if (!uv_is_closing((uv_handle_t *)&l->handle))
		uv_close((uv_handle_t *)&l->handle, NULL);
}

void tcp_conn_close_all(worker_t *w)
{
	while (w->conns)
		conn_close(w->conns);
}
