/*
 * Event tests for the upstream TCP pool (libuv style): a tiny DNS-over-TCP
 * responder on 127.0.0.1 runs on the same loop as the pool, in one of a few
 * scripted modes (answer, hold N then answer in reverse, answer once then
 * close, silent, malformed frames). Each test checks its callback counters
 * are 0 before the loop runs and exact afterwards, counts connections from
 * the responder's side, and ends with uv_loop_close() == 0.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dname.h"
#include "dns/wire.h"
#include "upstream/tcp_pool.h"

#define RCONNS_MAX 8
#define HELD_MAX 16
#define QUERY_MAX 300
#define RUN_LIMIT_MS 3000 /* a test waiting longer has failed */

/* ---- the responder ---- */

enum rmode { R_ANSWER, R_HOLD, R_CLOSE_AFTER_FIRST, R_SILENT, R_MALFORMED };

typedef struct responder responder_t;

typedef struct rconn {
	uv_tcp_t handle;
	uv_shutdown_t shutdown_req;
	responder_t *r;
	bool is_used, is_closing;
	size_t used;
	uint8_t buf[4096];
} rconn_t;

struct responder {
	uv_loop_t *loop;
	uv_tcp_t listener;
	struct sockaddr_storage addr;
	enum rmode mode;
	int hold_n;
	int accepted, eofs, queries;
	uint64_t last_eof_ms;
	uint16_t ids[64];
	rconn_t *held_conn;
	uint8_t held[HELD_MAX][QUERY_MAX];
	size_t held_len[HELD_MAX];
	int n_held;
	rconn_t conns[RCONNS_MAX];
};

struct rwrite {
	uv_write_t req;
	uint8_t data[];
};

static void on_rwritten(uv_write_t *req, int status)
{
	(void)status;
	free(req->data);
}

static void rsend(rconn_t *c, const uint8_t *msg, size_t len)
{
	if (c->is_closing)
		return;
	struct rwrite *w = malloc(sizeof(*w) + 2 + len);
	assert_non_null(w);
	wire_write_u16(w->data, (uint16_t)len);
	memcpy(w->data + 2, msg, len);
	w->req.data = w;
	uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned int)(2 + len));
	assert_int_equal(uv_write(&w->req, (uv_stream_t *)&c->handle, &buf, 1, on_rwritten), 0);
}

/* The query echoed as a response: QR=1, same ID and question, no records. */
static void ranswer(rconn_t *c, const uint8_t *query, size_t len)
{
	uint8_t msg[QUERY_MAX];
	assert_true(len <= sizeof(msg));
	memcpy(msg, query, len);
	msg[2] |= 0x80;
	rsend(c, msg, len);
}

static void on_rconn_closed(uv_handle_t *h)
{
	rconn_t *c = h->data;
	c->is_used = false;
}

static void rconn_close(rconn_t *c)
{
	if (c->is_closing)
		return;
	c->is_closing = true;
	uv_close((uv_handle_t *)&c->handle, on_rconn_closed);
}

/* The FIN is out; the connection closes when the client hangs up (an
 * early close could reset the answer away before the client reads it). */
static void on_rshutdown(uv_shutdown_t *req, int status)
{
	(void)req;
	(void)status;
}

static bool id_seen(const responder_t *r, uint16_t id)
{
	for (int i = 0; i < r->queries && i < 64; i++)
		if (r->ids[i] == id)
			return true;
	return false;
}

/* Answers every held query, last first, after one frame with an ID nobody
 * asked for (the pool must drop and count it). */
static void release_held(responder_t *r)
{
	uint8_t stray[QUERY_MAX];
	memcpy(stray, r->held[0], r->held_len[0]);
	uint16_t id = 0;
	while (id_seen(r, id))
		id++;
	wire_write_u16(stray, id);
	ranswer(r->held_conn, stray, r->held_len[0]);
	for (int i = r->n_held - 1; i >= 0; i--)
		ranswer(r->held_conn, r->held[i], r->held_len[i]);
	r->n_held = 0;
}

static void rquery(rconn_t *c, const uint8_t *msg, size_t len)
{
	responder_t *r = c->r;
	assert_true(len >= ER_DNS_HEADER_LEN && len <= QUERY_MAX);
	if (r->queries < 64)
		r->ids[r->queries] = wire_read_u16(msg);
	r->queries++;
	switch (r->mode) {
	case R_ANSWER:
		ranswer(c, msg, len);
		break;
	case R_HOLD:
		assert_true(r->n_held < HELD_MAX);
		memcpy(r->held[r->n_held], msg, len);
		r->held_len[r->n_held++] = len;
		r->held_conn = c;
		if (r->n_held == r->hold_n)
			release_held(r);
		break;
	case R_CLOSE_AFTER_FIRST:
		if (r->queries > 1)
			break;
		ranswer(c, msg, len);
		c->shutdown_req.data = c; /* FIN once the answer is out */
		assert_int_equal(uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->handle,
					     on_rshutdown),
				 0);
		break;
	case R_SILENT:
		break;
	case R_MALFORMED:
		rsend(c, (const uint8_t *)"\x80\x00\x00", 3);
		break;
	}
}

static void on_ralloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	rconn_t *c = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)c->buf + c->used, (unsigned int)(sizeof(c->buf) - c->used));
}

static void on_rread(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	rconn_t *c = s->data;
	(void)buf;
	if (nread < 0) {
		c->r->eofs++;
		c->r->last_eof_ms = uv_now(c->r->loop);
		rconn_close(c);
		return;
	}
	c->used += (size_t)nread;
	size_t off = 0;
	while (c->used - off >= 2 && c->used - off - 2 >= wire_read_u16(c->buf + off)) {
		size_t len = wire_read_u16(c->buf + off);
		rquery(c, c->buf + off + 2, len);
		off += 2 + len;
	}
	memmove(c->buf, c->buf + off, c->used - off);
	c->used -= off;
}

static void on_raccept(uv_stream_t *server, int status)
{
	responder_t *r = server->data;
	assert_int_equal(status, 0);
	rconn_t *c = NULL;
	for (int i = 0; i < RCONNS_MAX && !c; i++)
		if (!r->conns[i].is_used)
			c = &r->conns[i];
	assert_non_null(c);
	memset(c, 0, sizeof(*c));
	c->is_used = true;
	c->r = r;
	assert_int_equal(uv_tcp_init(r->loop, &c->handle), 0);
	c->handle.data = c;
	assert_int_equal(uv_accept(server, (uv_stream_t *)&c->handle), 0);
	assert_int_equal(uv_read_start((uv_stream_t *)&c->handle, on_ralloc, on_rread), 0);
	r->accepted++;
}

static void responder_start(responder_t *r, uv_loop_t *loop, enum rmode mode)
{
	memset(r, 0, sizeof(*r));
	r->loop = loop;
	r->mode = mode;
	struct sockaddr_in any;
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &any), 0);
	assert_int_equal(uv_tcp_init(loop, &r->listener), 0);
	r->listener.data = r;
	assert_int_equal(uv_tcp_bind(&r->listener, (const struct sockaddr *)&any, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&r->listener, 16, on_raccept), 0);
	int len = sizeof(r->addr);
	assert_int_equal(uv_tcp_getsockname(&r->listener, (struct sockaddr *)&r->addr, &len), 0);
}

static void responder_close(responder_t *r)
{
	uv_close((uv_handle_t *)&r->listener, NULL);
	for (int i = 0; i < RCONNS_MAX; i++)
		if (r->conns[i].is_used)
			rconn_close(&r->conns[i]);
}

/* ---- the client side ---- */

typedef struct client_req {
	tcp_pool_req_t *req;
	int calls;
	int status;
	uint16_t id;
	uint8_t qname[ER_DNAME_MAX];
	bool is_right_question;
	uint64_t done_ms;
	uv_loop_t *loop;
} client_req_t;

static void on_answer(void *owner, int status, const uint8_t *resp, size_t len)
{
	client_req_t *c = owner;
	c->calls++;
	c->status = status;
	c->req = NULL;
	c->done_ms = uv_now(c->loop);
	if (status == 0) {
		size_t qlen = dname_wire_len(c->qname, ER_DNAME_MAX);
		c->is_right_question = wire_check_response(resp, len, c->id, c->qname,
							   DNS_TYPE_A, DNS_CLASS_IN) == 0 &&
				       len >= ER_DNS_HEADER_LEN + qlen;
	}
}

/* Sends "<name>" IN A with ID id to r through pool; returns the rc. */
static int send_query(tcp_pool_t *pool, const responder_t *r, client_req_t *c, uint16_t id,
		      const char *name, uv_loop_t *loop)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->id = id;
	size_t qlen = dname_from_text(name, c->qname);
	assert_true(qlen > 0);
	uint8_t msg[QUERY_MAX] = { 0 };
	wire_write_u16(msg, id);
	wire_write_u16(msg + 2, DNS_FLAG_RD);
	wire_write_u16(msg + 4, 1);
	memcpy(msg + ER_DNS_HEADER_LEN, c->qname, qlen);
	wire_write_u16(msg + ER_DNS_HEADER_LEN + qlen, DNS_TYPE_A);
	wire_write_u16(msg + ER_DNS_HEADER_LEN + qlen + 2, DNS_CLASS_IN);
	tcp_pool_query_t q = {
		.server = (const struct sockaddr *)&r->addr,
		.msg = msg,
		.len = ER_DNS_HEADER_LEN + qlen + 4,
		.qname = c->qname,
		.qtype = DNS_TYPE_A,
		.qclass = DNS_CLASS_IN,
	};
	return tcp_pool_send(pool, &q, on_answer, c, &c->req);
}

static void on_tick(uv_timer_t *t)
{
	(void)t; /* only wakes uv_run(UV_RUN_ONCE) up */
}

typedef bool (*pred_fn)(void *arg);

/* Runs the loop until pred holds; fails the test after RUN_LIMIT_MS. */
static void run_until(uv_loop_t *loop, pred_fn pred, void *arg)
{
	uv_timer_t tick;
	assert_int_equal(uv_timer_init(loop, &tick), 0);
	assert_int_equal(uv_timer_start(&tick, on_tick, 5, 5), 0);
	uint64_t deadline = uv_now(loop) + RUN_LIMIT_MS;
	while (!pred(arg) && uv_now(loop) < deadline)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop, UV_RUN_NOWAIT); /* tick lives on this stack: finish closing it */
	assert_true(pred(arg));
}

typedef struct fixture {
	uv_loop_t loop;
	metrics_t stats;
	tcp_pool_t *pool;
} fixture_t;

static void fixture_start(fixture_t *f, const tcp_pool_limits_t *limits)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->pool = tcp_pool_new(&f->loop, &f->stats, limits);
	assert_non_null(f->pool);
}

/* Closes the pool and the responders, drains, insists on a clean close. */
static void fixture_stop(fixture_t *f, responder_t *r1, responder_t *r2, responder_t *r3)
{
	tcp_pool_close(f->pool);
	responder_t *rs[] = { r1, r2, r3 };
	for (size_t i = 0; i < 3; i++)
		if (rs[i])
			responder_close(rs[i]);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

static bool all_called(void *arg)
{
	client_req_t **cs = arg;
	for (size_t i = 0; cs[i]; i++)
		if (cs[i]->calls == 0)
			return false;
	return true;
}

static bool has_eof(void *arg)
{
	return ((responder_t *)arg)->eofs > 0;
}

static bool has_accepted(void *arg)
{
	return ((responder_t *)arg)->accepted > 0;
}

/* ---- tests ---- */

static void test_reuse_sequential(void **state)
{
	(void)state;
	fixture_t f;
	responder_t r;
	fixture_start(&f, NULL);
	responder_start(&r, &f.loop, R_ANSWER);
	client_req_t a, b;
	assert_int_equal(send_query(f.pool, &r, &a, 100, "a.example", &f.loop), 0);
	assert_int_equal(a.calls, 0);
	run_until(&f.loop, all_called, (client_req_t *[]){ &a, NULL });
	assert_int_equal(send_query(f.pool, &r, &b, 101, "b.example", &f.loop), 0);
	run_until(&f.loop, all_called, (client_req_t *[]){ &b, NULL });

	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(a.status, 0);
	assert_int_equal(b.status, 0);
	assert_true(a.is_right_question && b.is_right_question);
	assert_int_equal(r.accepted, 1);
	assert_int_equal(f.stats.upstream_tcp_connects, 1);
	assert_int_equal(f.stats.upstream_tcp_reused, 1);
	fixture_stop(&f, &r, NULL, NULL);
}

/* Five queries, all with the caller's ID 0x1234, answered last first after
 * a stray frame: each callback gets its own answer with its own ID. */
static void test_pipelined_out_of_order(void **state)
{
	(void)state;
	fixture_t f;
	responder_t r;
	fixture_start(&f, NULL);
	responder_start(&r, &f.loop, R_HOLD);
	r.hold_n = 5;
	client_req_t c[5];
	client_req_t *all[6] = { 0 };
	for (int i = 0; i < 5; i++) {
		char name[32];
		snprintf(name, sizeof(name), "n%d.example", i);
		assert_int_equal(send_query(f.pool, &r, &c[i], 0x1234, name, &f.loop), 0);
		all[i] = &c[i];
	}
	for (int i = 0; i < 5; i++)
		assert_int_equal(c[i].calls, 0);
	run_until(&f.loop, all_called, all);

	for (int i = 0; i < 5; i++) {
		assert_int_equal(c[i].calls, 1);
		assert_int_equal(c[i].status, 0);
		assert_true(c[i].is_right_question); /* ID 0x1234 and its own name */
	}
	assert_int_equal(r.accepted, 1);
	assert_int_equal(r.queries, 5);
	for (int i = 0; i < 5; i++) /* distinct IDs on the wire */
		for (int j = i + 1; j < 5; j++)
			assert_int_not_equal(r.ids[i], r.ids[j]);
	assert_int_equal(f.stats.upstream_tcp_connects, 1);
	assert_int_equal(f.stats.upstream_tcp_reused, 4);
	assert_int_equal(f.stats.mismatched_dropped, 1);
	fixture_stop(&f, &r, NULL, NULL);
}

/* The server answers one query and closes: the others fail at once. */
static void test_server_close_fails_pending(void **state)
{
	(void)state;
	fixture_t f;
	responder_t r;
	fixture_start(&f, NULL);
	responder_start(&r, &f.loop, R_CLOSE_AFTER_FIRST);
	client_req_t c[3];
	for (int i = 0; i < 3; i++) {
		char name[32];
		snprintf(name, sizeof(name), "c%d.example", i);
		assert_int_equal(send_query(f.pool, &r, &c[i], (uint16_t)(7 + i), name, &f.loop),
				 0);
	}
	uint64_t start = uv_now(&f.loop);
	run_until(&f.loop, all_called, (client_req_t *[]){ &c[0], &c[1], &c[2], NULL });

	int answered = 0, reset = 0;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(c[i].calls, 1);
		answered += c[i].status == 0;
		reset += c[i].status == UV_ECONNRESET;
		assert_true(c[i].done_ms - start < 1000);
	}
	assert_int_equal(answered, 1);
	assert_int_equal(reset, 2);
	assert_int_equal(r.accepted, 1);
	fixture_stop(&f, &r, NULL, NULL);
}

/* per_server 2 and pipeline 2 bound one server; max_conns 3 the pool; an
 * idle connection to another server is closed to make room. */
static void test_caps(void **state)
{
	(void)state;
	fixture_t f;
	responder_t a, b, c;
	tcp_pool_limits_t lim = { .max_conns = 3, .per_server = 2, .pipeline = 2 };
	fixture_start(&f, &lim);
	responder_start(&a, &f.loop, R_SILENT);
	responder_start(&b, &f.loop, R_ANSWER);
	responder_start(&c, &f.loop, R_ANSWER);
	client_req_t qa[5], qb[2], qc[3];
	for (int i = 0; i < 4; i++)
		assert_int_equal(send_query(f.pool, &a, &qa[i], 1, "a.example", &f.loop), 0);
	assert_int_equal(send_query(f.pool, &a, &qa[4], 1, "a.example", &f.loop), UV_EBUSY);
	assert_null(qa[4].req);
	assert_int_equal(send_query(f.pool, &b, &qb[0], 2, "b.example", &f.loop), 0);
	run_until(&f.loop, all_called, (client_req_t *[]){ &qb[0], NULL });
	/* Three connections, B's idle: C evicts it. */
	assert_int_equal(send_query(f.pool, &c, &qc[0], 3, "c.example", &f.loop), 0);
	run_until(&f.loop, all_called, (client_req_t *[]){ &qc[0], NULL });
	run_until(&f.loop, has_eof, &b);
	/* C full, A full, nothing idle: no room for B. */
	assert_int_equal(send_query(f.pool, &c, &qc[1], 4, "c.example", &f.loop), 0);
	assert_int_equal(send_query(f.pool, &c, &qc[2], 5, "c.example", &f.loop), 0);
	assert_int_equal(send_query(f.pool, &b, &qb[1], 6, "b.example", &f.loop), UV_EBUSY);
	run_until(&f.loop, all_called, (client_req_t *[]){ &qc[1], &qc[2], NULL });

	assert_int_equal(a.accepted, 2);
	assert_int_equal(b.accepted, 1);
	assert_int_equal(c.accepted, 1);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(qa[i].calls, 0);
		tcp_pool_cancel(qa[i].req);
	}
	assert_int_equal(qb[0].status, 0);
	assert_int_equal(qc[0].calls + qc[1].calls + qc[2].calls, 3);
	assert_int_equal(f.stats.upstream_tcp_connects, 4);
	fixture_stop(&f, &a, &b, &c);
}

static void test_idle_close(void **state)
{
	(void)state;
	fixture_t f;
	responder_t r;
	tcp_pool_limits_t lim = { .idle_ms = 50 };
	fixture_start(&f, &lim);
	responder_start(&r, &f.loop, R_ANSWER);
	client_req_t a, b;
	assert_int_equal(send_query(f.pool, &r, &a, 1, "a.example", &f.loop), 0);
	run_until(&f.loop, all_called, (client_req_t *[]){ &a, NULL });
	run_until(&f.loop, has_eof, &r);
	assert_true(r.last_eof_ms - a.done_ms >= 45); /* timer slack */
	assert_int_equal(send_query(f.pool, &r, &b, 2, "b.example", &f.loop), 0);
	run_until(&f.loop, all_called, (client_req_t *[]){ &b, NULL });

	assert_int_equal(a.status, 0);
	assert_int_equal(b.status, 0);
	assert_int_equal(r.accepted, 2);
	assert_int_equal(r.eofs, 1);
	assert_int_equal(f.stats.upstream_tcp_connects, 2);
	assert_int_equal(f.stats.upstream_tcp_reused, 0);
	fixture_stop(&f, &r, NULL, NULL);
}

static void test_malformed_frame_fails_all(void **state)
{
	(void)state;
	fixture_t f;
	responder_t r;
	fixture_start(&f, NULL);
	responder_start(&r, &f.loop, R_MALFORMED);
	client_req_t a, b;
	assert_int_equal(send_query(f.pool, &r, &a, 1, "a.example", &f.loop), 0);
	assert_int_equal(send_query(f.pool, &r, &b, 2, "b.example", &f.loop), 0);
	run_until(&f.loop, all_called, (client_req_t *[]){ &a, &b, NULL });
	run_until(&f.loop, has_eof, &r);

	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(a.status, -EBADMSG);
	assert_int_equal(b.status, -EBADMSG);
	assert_int_equal(r.accepted, 1);
	fixture_stop(&f, &r, NULL, NULL);
}

/* Two cancelled, never answered: the connection is retired, the third
 * request fails and the next query gets a fresh connection. */
static void test_dead_connection_retired(void **state)
{
	(void)state;
	fixture_t f;
	responder_t r;
	fixture_start(&f, NULL);
	responder_start(&r, &f.loop, R_SILENT);
	client_req_t c[4];
	for (int i = 0; i < 3; i++)
		assert_int_equal(send_query(f.pool, &r, &c[i], (uint16_t)i, "s.example", &f.loop),
				 0);
	run_until(&f.loop, has_accepted, &r);
	tcp_pool_cancel(c[0].req);
	tcp_pool_cancel(c[1].req);
	run_until(&f.loop, all_called, (client_req_t *[]){ &c[2], NULL });
	assert_int_equal(c[0].calls + c[1].calls, 0);
	assert_int_equal(c[2].status, UV_ETIMEDOUT);
	assert_int_equal(send_query(f.pool, &r, &c[3], 9, "s.example", &f.loop), 0);
	run_until(&f.loop, has_eof, &r);
	assert_int_equal(f.stats.upstream_tcp_connects, 2);
	tcp_pool_cancel(c[3].req);
	assert_int_equal(c[3].calls, 0);
	fixture_stop(&f, &r, NULL, NULL);
}

/* Closing the pool with requests still pending runs no callback and
 * leaves nothing open (ASan checks the memory). */
static void test_close_with_pending(void **state)
{
	(void)state;
	fixture_t f;
	responder_t r;
	fixture_start(&f, NULL);
	responder_start(&r, &f.loop, R_SILENT);
	client_req_t a, b;
	assert_int_equal(send_query(f.pool, &r, &a, 1, "a.example", &f.loop), 0);
	run_until(&f.loop, has_accepted, &r);
	assert_int_equal(send_query(f.pool, &r, &b, 2, "b.example", &f.loop), 0);
	fixture_stop(&f, &r, NULL, NULL);
	assert_int_equal(a.calls + b.calls, 0);
}

static void test_rejects_bad_query(void **state)
{
	(void)state;
	fixture_t f;
	fixture_start(&f, NULL);
	struct sockaddr_in to;
	assert_int_equal(uv_ip4_addr("127.0.0.1", 9, &to), 0);
	uint8_t msg[4] = { 0 };
	tcp_pool_query_t q = { .server = (const struct sockaddr *)&to,
			       .msg = msg,
			       .len = sizeof(msg),
			       .qname = (const uint8_t *)"",
			       .qtype = DNS_TYPE_A,
			       .qclass = DNS_CLASS_IN };
	tcp_pool_req_t *req = (void *)&q; /* must be reset to NULL */
	assert_int_equal(tcp_pool_send(f.pool, &q, on_answer, NULL, &req), UV_EINVAL);
	assert_null(req);
	assert_int_equal(f.stats.upstream_tcp_connects, 0);
	fixture_stop(&f, NULL, NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reuse_sequential),
		cmocka_unit_test(test_pipelined_out_of_order),
		cmocka_unit_test(test_server_close_fails_pending),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_idle_close),
		cmocka_unit_test(test_malformed_frame_fails_all),
		cmocka_unit_test(test_dead_connection_retired),
		cmocka_unit_test(test_close_with_pending),
		cmocka_unit_test(test_rejects_bad_query),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
