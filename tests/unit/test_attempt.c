/*
 * Event tests for one upstream attempt (upstream/attempt.c) with the real
 * udp_pool and tcp_pool on a private loop per test.
 *
 * The stand-in upstream is two plain sockets on one ephemeral port of
 * 127.0.0.1, written here. Its UDP socket is driven by the test step by
 * step: the attempt sends inside attempt_start, so the test reads the query
 * with a blocking recvfrom (2 s receive timeout) and answers right, with a
 * wrong ID or question, garbage, TC=1, oversized, late, from another port
 * or address, or not at all. Its TCP listener is non-blocking and is pumped
 * between loop turns in one mode per test: answer, silent, garbage frame or
 * hang up. Answers are built with ldns from the query the stand-in got, so
 * they carry the attempt's own ID and question; queries are read back with
 * ldns, a parser that is not ours. Keeping the stand-in off the loop leaves
 * only the attempt's and the pools' handles for teardown to account for.
 *
 * Callback counters are 0 before the loop turns and exact afterwards; every
 * wait is bounded by RUN_LIMIT_MS; teardown drains the loop within
 * RUN_LIMIT_MS and insists on uv_loop_close() == 0, so an attempt that
 * leaves a handle open fails. Timing checks are lower bounds with generous
 * upper limits, never performance assertions.
 *
 * The stand-in and the message helpers come first, then the tests, tables
 * where cases share a shape.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "dns/reply.h"
#include "dns/wire.h"
#include "upstream/attempt.h"
#include "upstream/tcp_pool.h"
#include "upstream/udp_pool.h"
#include "ldns_wire.h"

#define RUN_LIMIT_MS 2000 /* a test waiting longer has failed */
#define TIMEOUT_MS 1500 /* default: far above a loopback RTT, under RUN_LIMIT_MS */
#define SLACK_MS 5 /* timers run on uv_now: whole ms, cached per loop turn */
#define NEVER_MS 5000 /* an attempt timeout past the teardown's drain limit */
#define ATTEMPTS_MAX 4
#define MSG_MAX 1024
#define UDP_RECORD "192.0.2.1" /* the A record of the stand-in's UDP answers */
#define TCP_RECORD "192.0.2.2" /* ... of its TCP answers */
#define BAD_RECORD "192.0.2.66" /* ... of answers the attempt must drop */

_Static_assert(TIMEOUT_MS + 200 < RUN_LIMIT_MS, "a timed-out attempt reports within the limit");
_Static_assert(NEVER_MS > RUN_LIMIT_MS, "a leftover attempt outlives the drain");

/* ---- DNS messages (ldns) ---- */

enum answer_kind {
	ANSWER_RIGHT,
	ANSWER_WRONG_ID,
	ANSWER_WRONG_NAME,
	ANSWER_WRONG_TYPE,
	ANSWER_TRUNCATED, /* TC=1, no records */
	ANSWER_TRUNCATED_WRONG_ID,
	ANSWER_GARBAGE, /* not DNS at all */
};

/* The stand-in's reply of the given kind to query; records carry address. */
static size_t build_answer(const uint8_t *query, size_t query_len, enum answer_kind kind,
			   const char *address, uint8_t *out, size_t cap)
{
	if (kind == ANSWER_GARBAGE) {
		assert_true(cap >= 40);
		memset(out, 0xa5, 40);
		return 40;
	}
	ldns_pkt *q = NULL;
	assert_int_equal(ldns_wire2pkt(&q, query, query_len), LDNS_STATUS_OK);
	const ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(q), 0);
	assert_non_null(question);
	ldns_rdf *name = kind == ANSWER_WRONG_NAME ? ldns_dname_new_frm_str("other.example.com.")
						   : ldns_rdf_clone(ldns_rr_owner(question));
	ldns_rr_type type = kind == ANSWER_WRONG_TYPE ? LDNS_RR_TYPE_AAAA
						      : ldns_rr_get_type(question);
	char *owner = ldns_rdf2str(name);
	ldns_pkt *r = ldns_pkt_query_new(name, type, LDNS_RR_CLASS_IN, LDNS_RD);
	assert_non_null(r);
	bool is_wrong_id = kind == ANSWER_WRONG_ID || kind == ANSWER_TRUNCATED_WRONG_ID;
	bool is_truncated = kind == ANSWER_TRUNCATED || kind == ANSWER_TRUNCATED_WRONG_ID;
	ldns_pkt_set_id(r, (uint16_t)(ldns_pkt_id(q) ^ (is_wrong_id ? 0x5a5a : 0)));
	ldns_pkt_set_qr(r, true);
	ldns_pkt_set_ra(r, true);
	ldns_pkt_set_tc(r, is_truncated);
	if (!is_truncated) {
		char text[300];
		snprintf(text, sizeof(text), "%s 60 IN A %s", owner, address);
		ldns_rr *rr = NULL;
		assert_int_equal(ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL), LDNS_STATUS_OK);
		assert_true(ldns_pkt_push_rr(r, LDNS_SECTION_ANSWER, rr));
	}
	free(owner);
	ldns_pkt_free(q);
	return pkt_to_buf(r, out, cap);
}

/* What the attempt sent must be a query for name/A IN with RD, an OPT
 * advertising our size, and option (code, length, data) when not NULL. */
static void check_query(const uint8_t *msg, size_t len, const char *name, const uint8_t *option,
			size_t option_len)
{
	ldns_pkt *q = NULL;
	assert_int_equal(ldns_wire2pkt(&q, msg, len), LDNS_STATUS_OK);
	assert_false(ldns_pkt_qr(q));
	assert_true(ldns_pkt_rd(q));
	assert_int_equal(ldns_pkt_qdcount(q), 1);
	const ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(q), 0);
	ldns_rdf *want = ldns_dname_new_frm_str(name);
	assert_int_equal(ldns_dname_compare(ldns_rr_owner(question), want), 0);
	ldns_rdf_deep_free(want);
	assert_int_equal(ldns_rr_get_type(question), LDNS_RR_TYPE_A);
	assert_int_equal(ldns_rr_get_class(question), LDNS_RR_CLASS_IN);
	assert_int_equal(ldns_pkt_edns_udp_size(q), ER_EDNS_ADVERTISED);
	if (option) {
		ldns_edns_option_list *list = ldns_pkt_edns_get_option_list(q);
		assert_non_null(list);
		bool is_found = false;
		for (size_t i = 0; i < ldns_edns_option_list_get_count(list); i++) {
			ldns_edns_option *o = ldns_edns_option_list_get_option(list, i);
			is_found = is_found ||
				   (ldns_edns_get_code(o) == wire_read_u16(option) &&
				    ldns_edns_get_size(o) == option_len - 4 &&
				    memcmp(ldns_edns_get_data(o), option + 4, option_len - 4) == 0);
		}
		assert_true(is_found);
	}
	ldns_pkt_free(q);
}

/* ---- the TCP stand-in: plain non-blocking sockets, pumped by the run helpers ---- */

enum tcp_mode { TCP_MODE_ANSWER, TCP_MODE_SILENT, TCP_MODE_GARBAGE, TCP_MODE_HANG_UP };

typedef struct tcp_standin {
	int listen_fd, conn_fd; /* conn_fd: -1 while nobody is connected */
	enum tcp_mode mode;
	int accepted, queries;
	size_t used;
	uint8_t buf[2 + MSG_MAX]; /* what arrived on conn_fd, length prefix first */
	uint8_t query[MSG_MAX]; /* the last query, without its prefix */
	size_t query_len;
	uint8_t sent[MSG_MAX]; /* the last answer */
	size_t sent_len;
} tcp_standin_t;

static void tcp_frame_send(int fd, const uint8_t *msg, size_t len)
{
	uint8_t frame[2 + MSG_MAX];
	assert_true(len <= MSG_MAX);
	wire_write_u16(frame, (uint16_t)len);
	memcpy(frame + 2, msg, len);
	assert_int_equal(send(fd, frame, 2 + len, MSG_NOSIGNAL), (ssize_t)(2 + len));
}

static void tcp_standin_hang_up(tcp_standin_t *s)
{
	close(s->conn_fd);
	s->conn_fd = -1;
	s->used = 0;
}

/* The right answer to the last query, on the open connection. */
static void tcp_standin_answer(tcp_standin_t *s)
{
	s->sent_len = build_answer(s->query, s->query_len, ANSWER_RIGHT, TCP_RECORD, s->sent,
				   sizeof(s->sent));
	tcp_frame_send(s->conn_fd, s->sent, s->sent_len);
}

static void tcp_standin_query(tcp_standin_t *s, const uint8_t *msg, size_t len)
{
	s->queries++;
	memcpy(s->query, msg, len);
	s->query_len = len;
	switch (s->mode) {
	case TCP_MODE_ANSWER:
		tcp_standin_answer(s);
		break;
	case TCP_MODE_GARBAGE: /* QR set, but too short for a header */
		tcp_frame_send(s->conn_fd, (const uint8_t *)"\x80\x00\x00", 3);
		break;
	case TCP_MODE_HANG_UP:
		tcp_standin_hang_up(s);
		break;
	case TCP_MODE_SILENT:
		break;
	}
}

/* Accepts, reads and answers whatever is ready, never blocking; one
 * connection at a time is all an attempt opens. */
static void tcp_standin_pump(tcp_standin_t *s)
{
	if (s->conn_fd < 0) {
		s->conn_fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s->conn_fd < 0)
			return;
		s->accepted++;
	}
	ssize_t n = recv(s->conn_fd, s->buf + s->used, sizeof(s->buf) - s->used, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
		tcp_standin_hang_up(s); /* the client is gone */
		return;
	}
	if (n < 0)
		return;
	s->used += (size_t)n;
	size_t len = s->used >= 2 ? wire_read_u16(s->buf) : MSG_MAX + 1;
	if (len <= MSG_MAX && s->used >= 2 + len) {
		s->used = 0; /* one query per connection: nothing follows it */
		tcp_standin_query(s, s->buf + 2, len);
	}
}

/* ---- the fixture: loop, pools, stand-in, client queries, results ---- */

typedef struct client_query {
	uint8_t wire[512];
	size_t len;
	char name[64];
	dns_query_t q; /* points into wire */
} client_query_t;

typedef struct result {
	attempt_t *attempt; /* NULL once its callback ran or it was cancelled */
	int calls, slow_calls;
	int status;
	uint32_t rtt_us;
	uint64_t started_ns, done_ns, slow_ns;
	size_t len;
	uint8_t resp[MSG_MAX];
} result_t;

typedef struct fixture {
	uv_loop_t loop;
	metrics_t stats;
	udp_pool_t *udp_pool;
	tcp_pool_t *tcp_pool; /* passed to an attempt only by the pooled cases */
	int udp_fd; /* the stand-in's UDP socket */
	struct sockaddr_in server; /* its address, for UDP and TCP alike */
	tcp_standin_t tcp;
	const void *row; /* the case of a table-driven test */
	client_query_t queries[ATTEMPTS_MAX];
	result_t results[ATTEMPTS_MAX];
} fixture_t;

/* A query from the stand-in's UDP socket, and where it came from. */
typedef struct datagram {
	uint8_t msg[MSG_MAX];
	size_t len;
	struct sockaddr_in from;
} datagram_t;

/* A UDP socket bound to ip:port (0: ephemeral), with a 2 s receive timeout. */
static int udp_socket_at(const char *ip, uint16_t port, struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	*addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port) };
	assert_int_equal(inet_pton(AF_INET, ip, &addr->sin_addr), 1);
	socklen_t len = sizeof(*addr);
	struct timeval tv = { .tv_sec = 2 };
	assert_int_equal(bind(fd, (struct sockaddr *)addr, len), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

/* A TCP socket listening on the UDP socket's port, or -1 when that port is
 * taken for TCP (then the caller draws another). SO_REUSEADDR: a TIME_WAIT
 * left by an earlier test must not block it. */
static int tcp_listen_at(const struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int on = 1;
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)), 0);
	if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0 || listen(fd, 8) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void standin_start(fixture_t *f)
{
	int tcp_fd = -1;
	for (int tries = 0; tries < 10 && tcp_fd < 0; tries++) {
		if (tries > 0)
			close(f->udp_fd);
		f->udp_fd = udp_socket_at("127.0.0.1", 0, &f->server);
		tcp_fd = tcp_listen_at(&f->server);
	}
	assert_true(tcp_fd >= 0);
	f->tcp.listen_fd = tcp_fd;
	f->tcp.conn_fd = -1;
}

/* A client query for name/A with EDNS, as the listener would parse it. */
static void client_query_build(client_query_t *out, const char *name)
{
	snprintf(out->name, sizeof(out->name), "%s", name);
	ldns_pkt *pkt = ldns_pkt_query_new(ldns_dname_new_frm_str(name), LDNS_RR_TYPE_A,
					   LDNS_RR_CLASS_IN, LDNS_RD);
	assert_non_null(pkt);
	ldns_pkt_set_id(pkt, 0x1234);
	ldns_pkt_set_edns_udp_size(pkt, 1232);
	out->len = pkt_to_buf(pkt, out->wire, sizeof(out->wire));
	assert_int_equal(wire_parse_query(out->wire, out->len, &out->q), WIRE_OK);
}

static int setup(void **state)
{
	static fixture_t fixture;
	fixture_t *f = &fixture;
	memset(f, 0, sizeof(*f));
	f->row = *state;
	if (uv_loop_init(&f->loop) != 0)
		return -1;
	f->udp_pool = udp_pool_new(&f->loop, &f->stats);
	f->tcp_pool = tcp_pool_new(&f->loop, &f->stats, NULL);
	if (f->udp_pool == NULL || f->tcp_pool == NULL)
		return -1;
	standin_start(f);
	for (int i = 0; i < ATTEMPTS_MAX; i++) {
		char name[64];
		snprintf(name, sizeof(name), "q%d.example.com.", i);
		client_query_build(&f->queries[i], name);
	}
	*state = f;
	return 0;
}

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000;
}

static int teardown(void **state)
{
	fixture_t *f = *state;
	for (int i = 0; i < ATTEMPTS_MAX; i++) /* left by a failed test */
		if (f->results[i].attempt)
			attempt_cancel(f->results[i].attempt);
	tcp_pool_close(f->tcp_pool);
	udp_pool_close(f->udp_pool);
	uint64_t end = now_ms() + RUN_LIMIT_MS;
	while (uv_loop_alive(&f->loop) && now_ms() < end) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	assert_int_equal(uv_loop_close(&f->loop), 0);
	close(f->udp_fd);
	close(f->tcp.listen_fd);
	if (f->tcp.conn_fd >= 0)
		close(f->tcp.conn_fd);
	return 0;
}

/* One turn of the loop and of the TCP stand-in. */
static void run_once(fixture_t *f)
{
	uv_run(&f->loop, UV_RUN_NOWAIT);
	tcp_standin_pump(&f->tcp);
	usleep(1000);
}

/* Turns until *counter reaches want or RUN_LIMIT_MS passes. */
static void run_until(fixture_t *f, const int *counter, int want)
{
	uint64_t end = now_ms() + RUN_LIMIT_MS;
	while (*counter < want && now_ms() < end)
		run_once(f);
}

/* Turns for ms with nothing in particular expected. */
static void run_for(fixture_t *f, unsigned ms)
{
	uint64_t end = now_ms() + ms;
	while (now_ms() < end)
		run_once(f);
}

/* ---- attempts ---- */

static void on_done(void *owner, int status, const uint8_t *resp, size_t len, uint32_t rtt_us)
{
	result_t *r = owner;
	r->calls++;
	r->status = status;
	r->rtt_us = rtt_us;
	r->done_ns = uv_hrtime();
	r->attempt = NULL; /* freed after this callback */
	r->len = len; /* checked by the test: no assert may jump out of uv_run */
	if (resp && len <= sizeof(r->resp))
		memcpy(r->resp, resp, len);
}

static void on_slow(void *owner)
{
	result_t *r = owner;
	r->slow_calls++;
	r->slow_ns = uv_hrtime();
}

/* Attempt i asks queries[i] of the stand-in over UDP, no linger, no pool. */
static attempt_params_t params_for(fixture_t *f, int i)
{
	return (attempt_params_t){
		.server = (const struct sockaddr *)&f->server,
		.query = &f->queries[i].q,
		.timeout_ms = TIMEOUT_MS,
		.stats = &f->stats,
		.udp_pool = f->udp_pool,
	};
}

static result_t *start(fixture_t *f, int i, const attempt_params_t *p)
{
	result_t *r = &f->results[i];
	memset(r, 0, sizeof(*r));
	uv_update_time(&f->loop); /* the timer counts from now, not the last loop turn */
	r->started_ns = uv_hrtime();
	r->attempt = attempt_start(&f->loop, p, on_done, r);
	assert_non_null(r->attempt);
	assert_int_equal(r->calls, 0);
	return r;
}

static uint64_t elapsed_ms(const result_t *r, uint64_t at_ns)
{
	return (at_ns - r->started_ns) / 1000000;
}

/* The stand-in reads the next datagram (2 s at most). */
static void standin_receive(fixture_t *f, datagram_t *d)
{
	socklen_t len = sizeof(d->from);
	ssize_t n = recvfrom(f->udp_fd, d->msg, sizeof(d->msg), 0, (struct sockaddr *)&d->from, &len);
	assert_true(n > 0);
	d->len = (size_t)n;
}

static void send_from(int fd, const struct sockaddr_in *to, const uint8_t *msg, size_t len)
{
	assert_int_equal(sendto(fd, msg, len, 0, (const struct sockaddr *)to, sizeof(*to)),
			 (ssize_t)len);
}

/* The stand-in answers q right from its own socket; returns the length. */
static size_t answer_right(fixture_t *f, const datagram_t *q, const char *address, uint8_t *out)
{
	size_t len = build_answer(q->msg, q->len, ANSWER_RIGHT, address, out, MSG_MAX);
	send_from(f->udp_fd, &q->from, out, len);
	return len;
}

static void assert_answer(const result_t *r, const uint8_t *want, size_t len)
{
	assert_int_equal(r->calls, 1);
	assert_int_equal(r->status, 0);
	assert_int_equal(r->len, len);
	assert_memory_equal(r->resp, want, len);
}

static void assert_no_datagram(fixture_t *f)
{
	uint8_t buf[MSG_MAX];
	assert_int_equal(recv(f->udp_fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

/* ---- tests ---- */

/* The query carries the question, our EDNS size and the given option; the
 * answer's own bytes are handed over, with the RTT since the send. */
static void test_right_answer(void **state)
{
	fixture_t *f = *state;
	uint8_t ecs[32];
	const uint8_t subnet[4] = { 198, 51, 100, 7 };
	size_t ecs_len = reply_build_ecs_option(AF_INET, subnet, 24, ecs, sizeof(ecs));
	assert_true(ecs_len > 0);
	attempt_params_t p = params_for(f, 0);
	p.option = ecs;
	p.option_len = ecs_len;
	result_t *r = start(f, 0, &p);
	assert_int_equal(f->stats.upstream_attempts, 1);
	datagram_t q;
	standin_receive(f, &q);
	check_query(q.msg, q.len, f->queries[0].name, ecs, ecs_len);
	usleep(5000); /* so the RTT has a floor to check */
	uint8_t answer[MSG_MAX];
	size_t len = answer_right(f, &q, UDP_RECORD, answer);
	assert_int_equal(r->calls, 0);
	run_until(f, &r->calls, 1);

	assert_answer(r, answer, len);
	assert_true(r->rtt_us >= 5000 && r->rtt_us < RUN_LIMIT_MS * 1000u);
	assert_int_equal(wire_read_u16(r->resp), wire_read_u16(q.msg)); /* the query's ID */
	assert_int_equal(f->stats.mismatched_dropped, 0);
	assert_int_equal(f->stats.upstream_tcp_retries, 0);
	assert_int_equal(f->tcp.accepted, 0);
}

/* One reply the attempt must drop (by kind and sender), then the right
 * one: the bad one is counted and does not end the attempt. */
enum sender { FROM_SERVER, FROM_OTHER_PORT, FROM_OTHER_ADDRESS };

typedef struct bad_reply {
	enum answer_kind kind;
	enum sender sender;
} bad_reply_t;

static bad_reply_t wrong_id = { ANSWER_WRONG_ID, FROM_SERVER };
static bad_reply_t wrong_name = { ANSWER_WRONG_NAME, FROM_SERVER };
static bad_reply_t wrong_type = { ANSWER_WRONG_TYPE, FROM_SERVER };
static bad_reply_t garbage = { ANSWER_GARBAGE, FROM_SERVER };
/* a spoofed TC=1 must not move the attempt to TCP */
static bad_reply_t truncated_wrong_id = { ANSWER_TRUNCATED_WRONG_ID, FROM_SERVER };
static bad_reply_t other_port = { ANSWER_RIGHT, FROM_OTHER_PORT };
/* 127.0.0.2 is loopback too: same port, other address */
static bad_reply_t other_address = { ANSWER_RIGHT, FROM_OTHER_ADDRESS };

static void test_bad_then_right(void **state)
{
	fixture_t *f = *state;
	const bad_reply_t *bad = f->row;
	attempt_params_t p = params_for(f, 0);
	result_t *r = start(f, 0, &p);
	datagram_t q;
	standin_receive(f, &q);

	uint8_t msg[MSG_MAX];
	size_t len = build_answer(q.msg, q.len, bad->kind, BAD_RECORD, msg, sizeof(msg));
	int fd = f->udp_fd;
	struct sockaddr_in other;
	if (bad->sender == FROM_OTHER_PORT)
		fd = udp_socket_at("127.0.0.1", 0, &other);
	else if (bad->sender == FROM_OTHER_ADDRESS)
		fd = udp_socket_at("127.0.0.2", ntohs(f->server.sin_port), &other);
	send_from(fd, &q.from, msg, len);
	if (fd != f->udp_fd)
		close(fd);
	uint64_t end = now_ms() + RUN_LIMIT_MS;
	while (metrics_read(&f->stats.mismatched_dropped) == 0 && now_ms() < end)
		run_once(f);
	run_for(f, 20); /* time to end the attempt or start TCP, if it would */
	assert_int_equal(r->calls, 0);
	assert_int_equal(f->stats.mismatched_dropped, 1);

	uint8_t answer[MSG_MAX];
	len = answer_right(f, &q, UDP_RECORD, answer);
	run_until(f, &r->calls, 1);
	assert_answer(r, answer, len);
	assert_int_equal(f->stats.mismatched_dropped, 1);
	assert_int_equal(f->stats.upstream_tcp_retries, 0);
	assert_int_equal(f->tcp.accepted, 0);
}

/* How the attempt comes to TCP, whose connection it uses, what the TCP
 * stand-in does, and the status the attempt must report. */
enum tcp_via { VIA_TC_BIT, VIA_OVERSIZED, VIA_TCP_ONLY };

typedef struct tcp_case {
	enum tcp_via via;
	bool is_pooled;
	enum tcp_mode mode;
	int want_status;
	uint32_t timeout_ms; /* 0: TIMEOUT_MS */
} tcp_case_t;

static tcp_case_t truncated_own = { VIA_TC_BIT, false, TCP_MODE_ANSWER, 0, 0 };
static tcp_case_t truncated_pooled = { VIA_TC_BIT, true, TCP_MODE_ANSWER, 0, 0 };
static tcp_case_t oversized_own = { VIA_OVERSIZED, false, TCP_MODE_ANSWER, 0, 0 };
static tcp_case_t tcp_only_own = { VIA_TCP_ONLY, false, TCP_MODE_ANSWER, 0, 0 };
static tcp_case_t tcp_only_pooled = { VIA_TCP_ONLY, true, TCP_MODE_ANSWER, 0, 0 };
/* outcome.c tells garbage (-EBADMSG) from network errors by the status */
static tcp_case_t garbage_own = { VIA_TCP_ONLY, false, TCP_MODE_GARBAGE, -EBADMSG, 0 };
static tcp_case_t garbage_pooled = { VIA_TCP_ONLY, true, TCP_MODE_GARBAGE, -EBADMSG, 0 };
static tcp_case_t truncated_then_garbage = { VIA_TC_BIT, false, TCP_MODE_GARBAGE, -EBADMSG, 0 };
static tcp_case_t hung_up_own = { VIA_TCP_ONLY, false, TCP_MODE_HANG_UP, -ECONNRESET, 0 };
static tcp_case_t hung_up_pooled = { VIA_TCP_ONLY, true, TCP_MODE_HANG_UP, UV_ECONNRESET, 0 };
/* timeout_ms covers the TCP retry too */
static tcp_case_t truncated_then_silent = { VIA_TC_BIT, false, TCP_MODE_SILENT, UV_ETIMEDOUT, 300 };

static void test_tcp_exchange(void **state)
{
	fixture_t *f = *state;
	const tcp_case_t *c = f->row;
	f->tcp.mode = c->mode;
	attempt_params_t p = params_for(f, 0);
	p.tcp_only = c->via == VIA_TCP_ONLY;
	p.tcp_pool = c->is_pooled ? f->tcp_pool : NULL;
	p.timeout_ms = c->timeout_ms ? c->timeout_ms : TIMEOUT_MS;
	result_t *r = start(f, 0, &p);
	if (c->via != VIA_TCP_ONLY) {
		datagram_t q;
		standin_receive(f, &q);
		/* longer than the pool's buffer: the kernel cuts it (MSG_TRUNC) */
		uint8_t msg[ER_UDP_POOL_RECV_BUF + 1000];
		size_t len = sizeof(msg);
		memset(msg, 0x5a, sizeof(msg));
		wire_write_u16(msg, wire_read_u16(q.msg)); /* its ID: checked before the retry */
		if (c->via == VIA_TC_BIT)
			len = build_answer(q.msg, q.len, ANSWER_TRUNCATED, "", msg, sizeof(msg));
		send_from(f->udp_fd, &q.from, msg, len);
	}
	run_until(f, &r->calls, 1);

	assert_int_equal(r->calls, 1);
	assert_int_equal(r->status, c->want_status);
	assert_int_equal(f->tcp.accepted, 1);
	assert_int_equal(f->tcp.queries, 1);
	check_query(f->tcp.query, f->tcp.query_len, f->queries[0].name, NULL, 0);
	assert_int_equal(f->stats.upstream_tcp_retries, p.tcp_only ? 0 : 1);
	assert_int_equal(f->stats.upstream_tcp_connects, c->is_pooled ? 1 : 0);
	if (p.tcp_only)
		assert_no_datagram(f);
	if (c->want_status == 0) {
		assert_answer(r, f->tcp.sent, f->tcp.sent_len);
		assert_int_equal(f->stats.upstream_errors + f->stats.mismatched_dropped, 0);
	} else if (c->want_status == UV_ETIMEDOUT) {
		assert_true(elapsed_ms(r, r->done_ns) + SLACK_MS >= p.timeout_ms);
		assert_int_equal(f->stats.upstream_timeouts, 1);
	} else {
		/* garbage or a hang-up on a connection is the server's fault,
		 * on its own connection as on the pool; mismatched_dropped is
		 * for datagrams */
		assert_int_equal(f->stats.upstream_errors, 1);
		assert_int_equal(f->stats.mismatched_dropped, 0);
	}
}

/* No answer: UV_ETIMEDOUT after timeout_ms, counted; on_slow without a
 * linger never runs. */
static void test_no_answer_times_out(void **state)
{
	fixture_t *f = *state;
	attempt_params_t p = params_for(f, 0);
	p.timeout_ms = 100;
	p.on_slow = on_slow;
	result_t *r = start(f, 0, &p);
	datagram_t q;
	standin_receive(f, &q);
	run_until(f, &r->calls, 1);

	assert_int_equal(r->calls, 1);
	assert_int_equal(r->status, UV_ETIMEDOUT);
	assert_int_equal(r->len, 0);
	assert_int_equal(r->slow_calls, 0);
	assert_true(elapsed_ms(r, r->done_ns) + SLACK_MS >= p.timeout_ms);
	assert_int_equal(f->stats.upstream_timeouts, 1);
}

/* With a linger, on_slow runs once at timeout_ms and a late answer still
 * wins with status 0. */
static void test_linger_late_answer(void **state)
{
	fixture_t *f = *state;
	attempt_params_t p = params_for(f, 0);
	p.timeout_ms = 100;
	p.linger_ms = 1000;
	p.on_slow = on_slow;
	result_t *r = start(f, 0, &p);
	datagram_t q;
	standin_receive(f, &q);
	run_until(f, &r->slow_calls, 1);
	assert_int_equal(r->slow_calls, 1);
	assert_int_equal(r->calls, 0);
	assert_true(elapsed_ms(r, r->slow_ns) + SLACK_MS >= p.timeout_ms);
	assert_int_equal(f->stats.upstream_timeouts, 1);

	uint8_t answer[MSG_MAX];
	size_t len = answer_right(f, &q, UDP_RECORD, answer);
	run_until(f, &r->calls, 1);
	assert_answer(r, answer, len);
	assert_int_equal(r->slow_calls, 1);
	assert_true(r->rtt_us + SLACK_MS * 1000u >= p.timeout_ms * 1000u);
	assert_int_equal(f->stats.upstream_timeouts, 1);
}

/* Nothing during the linger either: UV_ETIMEDOUT after timeout + linger,
 * on_slow once, one timeout counted. */
static void test_linger_expires(void **state)
{
	fixture_t *f = *state;
	attempt_params_t p = params_for(f, 0);
	p.timeout_ms = 50;
	p.linger_ms = 100;
	p.on_slow = on_slow;
	result_t *r = start(f, 0, &p);
	run_until(f, &r->calls, 1);

	assert_int_equal(r->calls, 1);
	assert_int_equal(r->status, UV_ETIMEDOUT);
	assert_int_equal(r->slow_calls, 1);
	assert_true(elapsed_ms(r, r->slow_ns) + SLACK_MS >= p.timeout_ms);
	assert_true(elapsed_ms(r, r->done_ns) + SLACK_MS >= p.timeout_ms + p.linger_ms);
	assert_int_equal(f->stats.upstream_timeouts, 1);
}

typedef struct handle_count {
	const void *owner;
	size_t n;
} handle_count_t;

static void on_walk_count(uv_handle_t *h, void *arg)
{
	handle_count_t *c = arg;
	c->n += h->data == c->owner;
}

/* Handles on the loop whose data points at owner. */
static size_t handles_of(fixture_t *f, const void *owner)
{
	handle_count_t c = { owner, 0 };
	uv_walk(&f->loop, on_walk_count, &c);
	return c.n;
}

/* Cancelled while waiting on UDP, on a connection of its own or on the
 * pool: its handles are gone within a few loop turns (the timeout is
 * NEVER_MS, so only cancel can have closed the timer; nothing allocates in
 * between, so the freed address is not reused), and no callback runs, not
 * even for the answer sent afterwards (on the pool, a request cancel
 * forgot would hand it to the freed attempt: ASan's catch). */
enum cancel_at { CANCEL_UDP, CANCEL_OWN_TCP, CANCEL_POOLED_TCP };
static enum cancel_at cancel_udp = CANCEL_UDP;
static enum cancel_at cancel_own_tcp = CANCEL_OWN_TCP;
static enum cancel_at cancel_pooled_tcp = CANCEL_POOLED_TCP;

static void test_cancel(void **state)
{
	fixture_t *f = *state;
	enum cancel_at at = *(const enum cancel_at *)f->row;
	f->tcp.mode = TCP_MODE_SILENT;
	attempt_params_t p = params_for(f, 0);
	p.timeout_ms = NEVER_MS;
	p.tcp_only = at != CANCEL_UDP;
	p.tcp_pool = at == CANCEL_POOLED_TCP ? f->tcp_pool : NULL;
	result_t *r = start(f, 0, &p);
	datagram_t q;
	if (at == CANCEL_UDP)
		standin_receive(f, &q);
	else
		run_until(f, &f->tcp.queries, 1);
	const attempt_t *cancelled = r->attempt;
	assert_int_equal(handles_of(f, cancelled), 1 + (at == CANCEL_OWN_TCP)); /* + timer */
	attempt_cancel(r->attempt);
	r->attempt = NULL;
	run_for(f, 20);
	assert_int_equal(handles_of(f, cancelled), 0);
	if (at == CANCEL_UDP) {
		uint8_t answer[MSG_MAX];
		answer_right(f, &q, UDP_RECORD, answer);
	} else if (at == CANCEL_POOLED_TCP)
		tcp_standin_answer(&f->tcp); /* on the pool's connection, still open */
	else
		assert_int_equal(f->tcp.conn_fd, -1); /* the stand-in saw the attempt hang up */
	run_for(f, 50);
	assert_int_equal(r->calls, 0);
}

/* Whose query the stand-in got, by its name; fails the test for none. */
static int attempt_of(const fixture_t *f, const datagram_t *q)
{
	for (int i = 0; i < ATTEMPTS_MAX; i++) {
		if (memcmp(q->msg + ER_DNS_HEADER_LEN, f->queries[i].q.qname,
			   f->queries[i].q.qname_len) == 0)
			return i;
	}
	fail_msg("the stand-in got a query no attempt sent");
	return 0;
}

/* Attempts in flight together leave from different ports with IDs that
 * differ, and each gets the answer sent to its own port, answered last
 * first. */
static void test_concurrent_attempts(void **state)
{
	fixture_t *f = *state;
	for (int i = 0; i < ATTEMPTS_MAX; i++) {
		attempt_params_t p = params_for(f, i);
		start(f, i, &p);
	}
	datagram_t q[ATTEMPTS_MAX];
	for (int i = 0; i < ATTEMPTS_MAX; i++)
		standin_receive(f, &q[i]);
	bool is_one_id = true;
	for (int i = 0; i < ATTEMPTS_MAX; i++) {
		for (int j = 0; j < i; j++)
			assert_int_not_equal(q[i].from.sin_port, q[j].from.sin_port);
		/* 16 random bits each: all equal by chance once in 2^48 runs */
		is_one_id = is_one_id && wire_read_u16(q[i].msg) == wire_read_u16(q[0].msg);
	}
	assert_false(is_one_id);

	uint8_t answers[ATTEMPTS_MAX][MSG_MAX];
	size_t lens[ATTEMPTS_MAX] = { 0 };
	for (int j = ATTEMPTS_MAX - 1; j >= 0; j--) {
		int i = attempt_of(f, &q[j]);
		assert_int_equal(lens[i], 0);
		char address[16];
		snprintf(address, sizeof(address), "192.0.2.%d", 10 + i);
		lens[i] = answer_right(f, &q[j], address, answers[i]);
	}
	for (int i = 0; i < ATTEMPTS_MAX; i++)
		run_until(f, &f->results[i].calls, 1);
	for (int i = 0; i < ATTEMPTS_MAX; i++)
		assert_answer(&f->results[i], answers[i], lens[i]);
	assert_int_equal(f->stats.mismatched_dropped, 0);
	assert_int_equal(f->stats.upstream_attempts, ATTEMPTS_MAX);
}

/* An attempt that cannot start (UDP without a pool) returns NULL, never
 * calls back, and leaves nothing open. */
static void test_start_failure(void **state)
{
	fixture_t *f = *state;
	attempt_params_t p = params_for(f, 0);
	p.udp_pool = NULL;
	result_t *r = &f->results[0];
	assert_null(attempt_start(&f->loop, &p, on_done, r));
	run_for(f, 20);
	assert_int_equal(r->calls, 0);
	assert_int_equal(f->stats.upstream_attempts, 0);
}

/* A datagram cut by the kernel gets the ID check a TC=1 answer gets
 * before the retry over TCP: with a wrong ID it is dropped and counted, and
 * the attempt waits on for the right answer over UDP. */
static void test_oversized_wrong_id_dropped(void **state)
{
	fixture_t *f = *state;
	attempt_params_t p = params_for(f, 0);
	result_t *r = start(f, 0, &p);
	datagram_t q;
	standin_receive(f, &q);
	uint8_t msg[ER_UDP_POOL_RECV_BUF + 1000];
	memset(msg, 0x5a, sizeof(msg));
	wire_write_u16(msg, (uint16_t)(wire_read_u16(q.msg) ^ 0x5a5a)); /* not its ID */
	send_from(f->udp_fd, &q.from, msg, sizeof(msg));
	run_for(f, 50);
	assert_int_equal(f->stats.upstream_tcp_retries, 0);
	assert_int_equal(f->tcp.accepted, 0);
	assert_int_equal(f->stats.mismatched_dropped, 1);
	uint8_t answer[MSG_MAX];
	size_t len = answer_right(f, &q, UDP_RECORD, answer);
	run_until(f, &r->calls, 1);
	assert_answer(r, answer, len);
}

#define WITH(fn, row) { #fn "(" #row ")", fn, setup, teardown, &(row) }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_right_answer, setup, teardown),
		WITH(test_bad_then_right, wrong_id),
		WITH(test_bad_then_right, wrong_name),
		WITH(test_bad_then_right, wrong_type),
		WITH(test_bad_then_right, garbage),
		WITH(test_bad_then_right, truncated_wrong_id),
		WITH(test_bad_then_right, other_port),
		WITH(test_bad_then_right, other_address),
		WITH(test_tcp_exchange, truncated_own),
		WITH(test_tcp_exchange, truncated_pooled),
		WITH(test_tcp_exchange, oversized_own),
		WITH(test_tcp_exchange, tcp_only_own),
		WITH(test_tcp_exchange, tcp_only_pooled),
		WITH(test_tcp_exchange, garbage_own),
		WITH(test_tcp_exchange, garbage_pooled),
		WITH(test_tcp_exchange, truncated_then_garbage),
		WITH(test_tcp_exchange, hung_up_own),
		WITH(test_tcp_exchange, hung_up_pooled),
		WITH(test_tcp_exchange, truncated_then_silent),
		cmocka_unit_test_setup_teardown(test_no_answer_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linger_late_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linger_expires, setup, teardown),
		WITH(test_cancel, cancel_udp),
		WITH(test_cancel, cancel_own_tcp),
		WITH(test_cancel, cancel_pooled_tcp),
		cmocka_unit_test_setup_teardown(test_concurrent_attempts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_wrong_id_dropped, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
