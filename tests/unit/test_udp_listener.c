/*
 * The UDP listener's reply batching (issue 13): replies are held and sent
 * together, but replies held from earlier in a loop turn (upstream answers)
 * go out before the listener starts on a new batch of queries, and a full
 * batch goes out at once.
 *
 * The listener runs on a real socket on 127.0.0.1 in a loop of the test's
 * own. Its worker and the pipeline behind it are this file's fakes
 * (worker_loop, worker_stats, worker_flush_replies, query_receive): they
 * record what the listener asked for and when, and nothing else of the
 * worker is linked in. There is no prepare handle here, so the end-of-turn
 * flush of the real worker never hides a missing one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ops/metrics.h"
#include "server/query.h"
#include "server/udp_listener.h"

#define TRACE_MAX 256

struct worker {
	uv_loop_t loop;
	metrics_t stats;
	udp_listener_t listener;
	uint8_t *recv_buf;
	int client; /* the test's client socket */
	struct sockaddr_in client_addr;
	/* what the listener did, in order: 'F' a flush, or a query's first byte */
	char trace[TRACE_MAX];
	size_t n_trace;
	int held_seen_at_first_query; /* replies the client could read when the first query came */
	bool answer_at_once; /* query_receive replies at once (a cache hit) */
};

/* --- the fakes the listener calls ---------------------------------------- */

uv_loop_t *worker_loop(worker_t *w)
{
	return &w->loop;
}

metrics_t *worker_stats(worker_t *w)
{
	return &w->stats;
}

static int readable_replies(int fd);

void worker_flush_replies(worker_t *w)
{
	if (w->n_trace < TRACE_MAX)
		w->trace[w->n_trace++] = 'F';
	udp_listener_flush(&w->listener);
}

void query_receive(worker_t *w, const client_t *client, const uint8_t *pkt, size_t len)
{
	if (w->held_seen_at_first_query < 0)
		w->held_seen_at_first_query = readable_replies(w->client);
	if (w->n_trace < TRACE_MAX)
		w->trace[w->n_trace++] = (char)pkt[0];
	if (w->answer_at_once)
		udp_listener_send(client->udp, (const struct sockaddr *)&client->addr, pkt, len);
}

/* --- helpers -------------------------------------------------------------- */

/* Datagrams waiting on fd, read and counted (non-blocking). */
static int readable_replies(int fd)
{
	uint8_t buf[512];
	int n = 0;
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		n++;
	return n;
}

static int udp_socket(struct sockaddr_in *bound)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in in = { .sin_family = AF_INET };
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	socklen_t len = sizeof(*bound);
	assert_int_equal(getsockname(fd, (struct sockaddr *)bound, &len), 0);
	return fd;
}

static int setup(void **state)
{
	worker_t *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	assert_int_equal(uv_loop_init(&w->loop), 0);
	w->recv_buf = malloc(ER_UDP_RECV_BUF);
	assert_non_null(w->recv_buf);
	struct sockaddr_in server_addr;
	int fd = udp_socket(&server_addr);
	w->client = udp_socket(&w->client_addr);
	assert_int_equal(connect(w->client, (struct sockaddr *)&server_addr, sizeof(server_addr)), 0);
	assert_int_equal(udp_listener_start(&w->listener, w, w->recv_buf, fd), 0);
	w->held_seen_at_first_query = -1;
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	worker_t *w = *state;
	udp_listener_close(&w->listener);
	assert_int_equal(uv_run(&w->loop, UV_RUN_DEFAULT), 0);
	udp_listener_free(&w->listener);
	assert_int_equal(uv_loop_close(&w->loop), 0);
	close(w->client);
	free(w->recv_buf);
	free(w);
	return 0;
}

/* Queries whose first byte names them; all sent before the loop runs, so
 * one recvmmsg reads them as one batch. */
static void send_queries(worker_t *w, const char *names)
{
	for (const char *c = names; *c; c++) {
		uint8_t q[16] = { (uint8_t)*c };
		assert_int_equal(send(w->client, q, sizeof(q), 0), (ssize_t)sizeof(q));
	}
}

/* Runs loop turns until `want` queries were handed on: at most 200 turns,
 * each waiting at most 10 ms for the loop's epoll fd (a lost datagram fails
 * the test in 2 s instead of blocking in uv_run). */
static void run_until_queries(worker_t *w, size_t want)
{
	for (int turn = 0; turn < 200; turn++) {
		size_t queries = 0;
		for (size_t i = 0; i < w->n_trace; i++)
			queries += w->trace[i] != 'F';
		if (queries >= want)
			return;
		struct pollfd ready = { .fd = uv_backend_fd(&w->loop), .events = POLLIN };
		(void)poll(&ready, 1, 10);
		uv_run(&w->loop, UV_RUN_NOWAIT);
	}
	fail_msg("the listener handed on fewer than %zu queries in 200 loop turns", want);
}

static void assert_trace(const worker_t *w, const char *want)
{
	char got[TRACE_MAX + 1];
	memcpy(got, w->trace, w->n_trace);
	got[w->n_trace] = '\0';
	assert_string_equal(got, want);
}

/* --- tests ---------------------------------------------------------------- */

/* A reply queued earlier in the turn (as an upstream answer is) has been
 * sent by the time the next batch's first query is handled, and a batch
 * flushes once, not per query. */
static void test_held_reply_goes_out_before_the_next_batch(void **state)
{
	worker_t *w = *state;
	static const uint8_t upstream_answer[20] = { 'R' };
	udp_listener_send(&w->listener, (const struct sockaddr *)&w->client_addr, upstream_answer,
			  sizeof(upstream_answer));
	assert_int_equal(readable_replies(w->client), 0); /* held, not sent */

	send_queries(w, "abc");
	run_until_queries(w, 3);
	assert_trace(w, "Fabc");
	assert_int_equal(w->held_seen_at_first_query, 1);
	assert_int_equal(w->stats.queries_udp, 3);
}

/* The replies a batch produces are held past its end, and the next batch
 * sends them before its own first query. */
static void test_each_batch_sends_what_the_last_one_held(void **state)
{
	worker_t *w = *state;
	w->answer_at_once = true;
	send_queries(w, "abc");
	run_until_queries(w, 3);
	assert_trace(w, "Fabc"); /* nothing was held: the flush sends nothing */
	assert_int_equal(readable_replies(w->client), 0);

	w->held_seen_at_first_query = -1;
	send_queries(w, "d");
	run_until_queries(w, 4);
	assert_trace(w, "FabcFd");
	assert_int_equal(w->held_seen_at_first_query, 3);
	udp_listener_flush(&w->listener); /* what the worker's prepare handle does */
	assert_int_equal(readable_replies(w->client), 1);
}

/* More replies than one sendmmsg holds: the full batch goes out when the
 * next reply is queued, and the rest at the flush. Nothing is lost. */
static void test_full_outbox_goes_out_at_once(void **state)
{
	worker_t *w = *state;
	static const uint8_t reply[20] = { 'R' };
	for (int i = 0; i < ER_UDP_OUTBOX; i++)
		udp_listener_send(&w->listener, (const struct sockaddr *)&w->client_addr, reply,
				  sizeof(reply));
	assert_int_equal(readable_replies(w->client), 0);
	udp_listener_send(&w->listener, (const struct sockaddr *)&w->client_addr, reply,
			  sizeof(reply));
	assert_int_equal(readable_replies(w->client), ER_UDP_OUTBOX);
	udp_listener_flush(&w->listener);
	assert_int_equal(readable_replies(w->client), 1);
	udp_listener_flush(&w->listener); /* empty: sends nothing again */
	assert_int_equal(readable_replies(w->client), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_held_reply_goes_out_before_the_next_batch,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_each_batch_sends_what_the_last_one_held,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_outbox_goes_out_at_once, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
