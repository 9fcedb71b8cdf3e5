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
#include "server/tcp_listener.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/query.h"
#include "util/log.h"

#define ER_TCP_MSG_MAX 65535
#define ER_TCP_MAX_QUEUED (1u << 20) /* reply bytes waiting for a slow reader */

struct tcp_conn_set {
	tcp_conn_t *head; /* intrusive list */
	size_t n;
};

struct tcp_conn {
	uv_tcp_t handle;
	uv_timer_t idle;
	worker_t *worker;
	tcp_conn_set_t *set;
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
	tcp_conn_set_t *set = c->set;
	if (c->prev)
		c->prev->next = c->next;
	else
		set->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	set->n--;
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
		metrics_add(&worker_stats(c->worker)->queries_tcp, 1);
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

/* The messages that arrived before the pause may fill the connection to
 * its bound again: then it stays paused, and the next release resumes it.
 * (Clearing is_paused unconditionally left such a connection unread for
 * good: nothing would ever call uv_read_start again.) */
static void resume_reading(tcp_conn_t *c)
{
	c->is_resume_due = false;
	drain_messages(c);
	if (c->is_closing)
		return;
	c->is_paused = c->holds >= ER_TCP_MAX_INFLIGHT;
	if (!c->is_paused && uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read) < 0)
		conn_close(c);
}

static void on_resume_due(uv_timer_t *t)
{
	tcp_conn_t *c = t->data;
	uv_timer_start(&c->idle, on_idle, ER_TCP_IDLE_MS, ER_TCP_IDLE_MS);
	resume_reading(c);
}

static void accept_one(tcp_listener_t *l, uv_stream_t *server)
{
	worker_t *w = l->worker;
	tcp_conn_set_t *set = l->conns;
	tcp_conn_t *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->worker = w;
	c->set = set;
	if (uv_tcp_init(worker_loop(w), &c->handle) < 0) {
		free(c);
		return;
	}
	c->handle.data = c;
	c->open_handles = 1;
	uv_timer_init(worker_loop(w), &c->idle); /* cannot fail for timers */
	c->idle.data = c;
	c->open_handles = 2;
	c->next = set->head;
	if (set->head)
		set->head->prev = c;
	set->head = c;
	set->n++;
	int len = sizeof(c->peer);
	if (uv_accept(server, (uv_stream_t *)&c->handle) < 0 ||
	    uv_tcp_getpeername(&c->handle, (struct sockaddr *)&c->peer, &len) < 0 ||
	    uv_timer_start(&c->idle, on_idle, ER_TCP_IDLE_MS, ER_TCP_IDLE_MS) < 0 ||
	    uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read) < 0) {
		conn_close(c);
		return;
	}
	if (set->n > ER_TCP_MAX_CONNS) {
		metrics_add(&worker_stats(w)->tcp_rejected, 1);
		conn_close(c);
	}
}

static void on_connection(uv_stream_t *server, int status)
{
	tcp_listener_t *l = server->data;
	if (status < 0 || worker_is_stopping(l->worker))
		return;
	accept_one(l, server);
}

int tcp_listener_start(tcp_listener_t *l, worker_t *w, tcp_conn_set_t *conns, int fd)
{
	l->worker = w;
	l->conns = conns;
	int rc = uv_tcp_init(worker_loop(w), &l->handle);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	l->is_open = true;
	l->handle.data = l;
	rc = uv_tcp_open(&l->handle, fd);
	if (rc < 0) {
		close(fd); /* not adopted: closing the handle would not close it */
		return rc;
	}
	return uv_listen((uv_stream_t *)&l->handle, 128, on_connection);
}

void tcp_listener_close(tcp_listener_t *l)
{
	if (l->is_open && !uv_is_closing((uv_handle_t *)&l->handle))
		uv_close((uv_handle_t *)&l->handle, NULL);
}

tcp_conn_set_t *tcp_conn_set_new(void)
{
	return calloc(1, sizeof(tcp_conn_set_t));
}

void tcp_conn_set_close_all(tcp_conn_set_t *s)
{
	while (s && s->head)
		conn_close(s->head);
}

void tcp_conn_set_free(tcp_conn_set_t *s)
{
	free(s);
}
