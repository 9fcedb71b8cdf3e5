/*
 * UDP listener of one worker. The socket is created and bound by the main
 * thread (before privileges are dropped) with SO_REUSEPORT; the worker adopts
 * it with uv_udp_open. Replies go out with uv_udp_try_send (no allocation,
 * no callback); only when the socket buffer is full is the reply copied and
 * queued with uv_udp_send.
 */
#include <stdlib.h>
#include <string.h>

#include "server/worker.h"
#include "util/log.h"

/* EDNS clients may send up to 65535, but a query is one question plus OPT:
 * anything beyond this is not a query we would answer anyway. */
#define ER_UDP_RECV_BUF 4096

typedef struct udp_send {
	uv_udp_send_t req;
	size_t len;
	uint8_t msg[];
} udp_send_t;

static _Thread_local uint8_t recv_buf[ER_UDP_RECV_BUF];

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)handle;
	(void)suggested;
	*buf = uv_buf_init((char *)recv_buf, sizeof(recv_buf));
}

static void on_recv(uv_udp_t *handle, ssize_t nread, const uv_buf_t *buf,
		    const struct sockaddr *from, unsigned flags)
{
	udp_listener_t *l = handle->data;
	worker_t *w = l->worker;
	if (nread <= 0 || from == NULL)
		return;
	if (flags & UV_UDP_PARTIAL) {
		w->stats.malformed_dropped++;
		return;
	}
	client_t client = { .udp = l, .conn = NULL };
	memcpy(&client.addr, from,
	       from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	w->stats.queries_udp++;
	query_receive(w, &client, (const uint8_t *)buf->base, (size_t)nread);
}

int udp_listener_start(udp_listener_t *l, worker_t *w, int fd)
{
	l->worker = w;
	int rc = uv_udp_init(&w->loop, &l->handle);
	if (rc < 0)
		return rc;
	l->handle.data = l;
	rc = uv_udp_open(&l->handle, fd);
	if (rc == 0)
		rc = uv_udp_recv_start(&l->handle, on_alloc, on_recv);
	return rc; /* on failure the caller still closes the handle */
}

void udp_listener_close(udp_listener_t *l)
{
	if (!uv_is_closing((uv_handle_t *)&l->handle))
		uv_close((uv_handle_t *)&l->handle, NULL);
}

static void on_sent(uv_udp_send_t *req, int status)
{
	(void)status; /* a lost UDP reply is the client's retry to handle */
	free(req->data);
}

void udp_listener_send(udp_listener_t *l, const struct sockaddr *to, const uint8_t *msg,
		       size_t len)
{
	uv_buf_t buf = uv_buf_init((char *)msg, (unsigned int)len);
	int rc = uv_udp_try_send(&l->handle, &buf, 1, to);
	if (rc != UV_EAGAIN)
		return;
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
