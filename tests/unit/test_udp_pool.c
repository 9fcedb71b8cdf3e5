/*
 * Event tests for the upstream UDP socket pool: a plain UDP socket on
 * 127.0.0.1 plays the upstream (it reads with a 2 s receive timeout and
 * answers with sendto), the pool runs on a private loop that each test
 * turns until its callback has run (bounded by RUN_LIMIT_MS) and closes
 * with uv_loop_close() == 0 at the end.
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
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "upstream/udp_pool.h"

#define RUN_LIMIT_MS 2000

typedef struct fixture {
	uv_loop_t loop;
	metrics_t stats;
	udp_pool_t *pool;
	int upstream_fd; /* the stand-in upstream */
	struct sockaddr_storage upstream;
} fixture_t;

typedef struct got {
	int calls;
	ssize_t len;
	bool is_truncated;
	struct sockaddr_storage from;
	uint8_t first_byte;
	udp_pool_sock_t *release_in_cb; /* give the socket back inside the callback */
} got_t;

static int bound_udp(int family, struct sockaddr_storage *addr)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(addr, 0, sizeof(*addr));
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)addr;
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)addr;
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
		len = sizeof(*in6);
	}
	struct timeval tv = { .tv_sec = 2 };
	if (bind(fd, (struct sockaddr *)addr, len) < 0 ||
	    getsockname(fd, (struct sockaddr *)addr, &len) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static uint16_t port_of(const struct sockaddr_storage *a)
{
	return ntohs(a->ss_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port
					     : ((const struct sockaddr_in6 *)a)->sin6_port);
}

static socklen_t len_of(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static int setup_family(void **state, int family)
{
	static fixture_t f;
	memset(&f, 0, sizeof(f));
	if (uv_loop_init(&f.loop) != 0)
		return -1;
	f.pool = udp_pool_new(&f.loop, &f.stats);
	f.upstream_fd = bound_udp(family, &f.upstream);
	if (f.pool == NULL || f.upstream_fd < 0)
		return -1;
	*state = &f;
	return 0;
}

static int setup(void **state)
{
	return setup_family(state, AF_INET);
}

static int teardown(void **state)
{
	fixture_t *f = *state;
	udp_pool_close(f->pool);
	uv_run(&f->loop, UV_RUN_DEFAULT); /* the pool's sockets close */
	assert_int_equal(uv_loop_close(&f->loop), 0);
	close(f->upstream_fd);
	return 0;
}

static void on_recv(void *owner, ssize_t len, const uint8_t *pkt, const struct sockaddr *from,
		    bool is_truncated)
{
	got_t *g = owner;
	g->calls++;
	g->len = len;
	g->is_truncated = is_truncated;
	if (len > 0)
		g->first_byte = pkt[0];
	if (from)
		memcpy(&g->from, from,
		       from->sa_family == AF_INET ? sizeof(struct sockaddr_in)
						  : sizeof(struct sockaddr_in6));
	if (g->release_in_cb) {
		udp_pool_release(g->release_in_cb);
		g->release_in_cb = NULL;
	}
}

/* Turns the loop until *calls reaches want or the limit passes. */
static void run_until(fixture_t *f, const int *calls, int want)
{
	uint64_t end = uv_hrtime() / 1000000 + RUN_LIMIT_MS;
	while (*calls < want && uv_hrtime() / 1000000 < end) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
}

/* Turns the loop a few times with nothing expected to arrive. */
static void run_idle(fixture_t *f)
{
	for (int i = 0; i < 20; i++) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
}

/* The stand-in upstream reads one query and returns where it came from. */
static void upstream_read(fixture_t *f, struct sockaddr_storage *from, uint8_t *first)
{
	uint8_t buf[512];
	socklen_t len = sizeof(*from);
	ssize_t n = recvfrom(f->upstream_fd, buf, sizeof(buf), 0, (struct sockaddr *)from, &len);
	assert_true(n > 0);
	if (first)
		*first = buf[0];
}

static void upstream_send(fixture_t *f, const struct sockaddr_storage *to, uint8_t first,
			  size_t len)
{
	uint8_t buf[8192];
	memset(buf, 0x5a, sizeof(buf));
	buf[0] = first;
	assert_true(len <= sizeof(buf));
	assert_int_equal(sendto(f->upstream_fd, buf, len, 0, (const struct sockaddr *)to,
				len_of(to)),
			 (ssize_t)len);
}

/* One query out through the pool to the stand-in, which reads it: returns
 * the socket (taken, for g) and sets *src to the port it came from. */
static udp_pool_sock_t *query_out(fixture_t *f, got_t *g, struct sockaddr_storage *src)
{
	udp_pool_sock_t *s = NULL;
	uint8_t q = 1;
	assert_int_equal(
		udp_pool_send(f->pool, (struct sockaddr *)&f->upstream, &q, 1, on_recv, g, &s), 0);
	assert_non_null(s);
	upstream_read(f, src, NULL);
	return s;
}

static void read_port_range(unsigned *low, unsigned *high)
{
	*low = 32768;
	*high = 60999;
	FILE *fp = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (fp == NULL)
		return;
	if (fscanf(fp, "%u %u", low, high) != 2) {
		*low = 1;
		*high = 65535;
	}
	fclose(fp);
}

/* One socket serves query after query, each from a new random port of the
 * kernel's range, and each answer reaches that query's callback. */
static void test_fresh_port_per_query(void **state)
{
	fixture_t *f = *state;
	unsigned low, high;
	read_port_range(&low, &high);
	enum { N = 30 };
	uint16_t ports[N];
	for (int i = 0; i < N; i++) {
		got_t g = { 0 };
		udp_pool_sock_t *s = NULL;
		uint8_t q = (uint8_t)i;
		assert_int_equal(udp_pool_send(f->pool, (struct sockaddr *)&f->upstream, &q, 1,
					       on_recv, &g, &s),
				 0);
		assert_non_null(s);
		struct sockaddr_storage src;
		uint8_t first;
		upstream_read(f, &src, &first);
		assert_int_equal(first, q);
		ports[i] = port_of(&src);
		assert_true(ports[i] >= low && ports[i] <= high);
		upstream_send(f, &src, (uint8_t)(0x80 | i), 40);
		run_until(f, &g.calls, 1);
		assert_int_equal(g.calls, 1);
		assert_int_equal(g.len, 40);
		assert_int_equal(g.first_byte, 0x80 | i);
		assert_false(g.is_truncated);
		assert_int_equal(port_of(&g.from), port_of(&f->upstream));
		udp_pool_release(s);
	}
	assert_int_equal(udp_pool_open_count(f->pool), 1); /* reused, not reopened */
	int distinct = 0;
	for (int i = 0; i < N; i++) {
		bool seen = false;
		for (int j = 0; j < i; j++)
			seen = seen || ports[j] == ports[i];
		distinct += !seen;
	}
	/* 30 draws from ~28 000 ports: a repeat is rare, a fixed port impossible */
	assert_true(distinct >= N - 3);
	assert_int_equal(f->stats.mismatched_dropped, 0);
}

/* After release the port is gone: an answer sent to it afterwards reaches
 * nobody (without the disconnect the idle socket would read and count it). */
static void test_released_port_receives_nothing(void **state)
{
	fixture_t *f = *state;
	got_t g = { 0 };
	struct sockaddr_storage src;
	udp_pool_sock_t *s = query_out(f, &g, &src);
	udp_pool_release(s);
	upstream_send(f, &src, 0x42, 40);
	run_idle(f);
	assert_int_equal(g.calls, 0);
	assert_int_equal(f->stats.mismatched_dropped, 0);

	/* the same socket, taken again, is on another port and hears its own answer */
	got_t g2 = { 0 };
	struct sockaddr_storage src2;
	s = query_out(f, &g2, &src2);
	assert_int_equal(udp_pool_open_count(f->pool), 1);
	upstream_send(f, &src2, 0x43, 20);
	run_until(f, &g2.calls, 1);
	assert_int_equal(g2.calls, 1);
	assert_int_equal(g2.first_byte, 0x43);
	assert_int_equal(g.calls, 0);
	udp_pool_release(s);
}

/* The socket is not connected: a datagram from another address or port is
 * handed over (for the caller to count), not filtered by the kernel. */
static void test_other_source_is_seen(void **state)
{
	fixture_t *f = *state;
	struct sockaddr_storage other;
	int other_fd = bound_udp(AF_INET, &other);
	assert_true(other_fd >= 0);
	got_t g = { 0 };
	struct sockaddr_storage src;
	udp_pool_sock_t *s = query_out(f, &g, &src);
	assert_int_equal(sendto(other_fd, "spoof", 5, 0, (struct sockaddr *)&src, len_of(&src)), 5);
	run_until(f, &g.calls, 1);
	assert_int_equal(g.calls, 1);
	assert_int_equal(port_of(&g.from), port_of(&other));
	udp_pool_release(s);
	close(other_fd);
}

/* A datagram still queued when its socket was given back is read while the
 * socket is idle, dropped and counted. */
static void test_leftover_counted_while_idle(void **state)
{
	fixture_t *f = *state;
	got_t g = { 0 };
	struct sockaddr_storage src;
	g.release_in_cb = query_out(f, &g, &src);
	upstream_send(f, &src, 0x01, 30); /* the answer */
	upstream_send(f, &src, 0x02, 30); /* a duplicate, queued behind it */
	usleep(2000); /* both are in the socket's queue before the loop turns */
	run_until(f, &g.calls, 1);
	run_idle(f);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.first_byte, 0x01);
	assert_int_equal(f->stats.mismatched_dropped, 1);
}

/* A datagram longer than the buffer arrives marked truncated. */
static void test_oversized_is_truncated(void **state)
{
	fixture_t *f = *state;
	got_t g = { 0 };
	struct sockaddr_storage src;
	udp_pool_sock_t *s = query_out(f, &g, &src);
	upstream_send(f, &src, 0x07, ER_UDP_POOL_RECV_BUF + 1000);
	run_until(f, &g.calls, 1);
	assert_int_equal(g.calls, 1);
	assert_true(g.is_truncated);
	assert_int_equal(g.len, ER_UDP_POOL_RECV_BUF);
	udp_pool_release(s);
}

/* Concurrent queries each get a socket of their own; at most
 * ER_UDP_POOL_IDLE_MAX stay open once they are all given back. */
static void test_concurrent_and_idle_cap(void **state)
{
	fixture_t *f = *state;
	enum { N = ER_UDP_POOL_IDLE_MAX + 8 };
	struct rlimit rl;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < N + 64) {
		rl.rlim_cur = rl.rlim_max < N + 64 ? rl.rlim_max : N + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	assert_true(rl.rlim_cur >= N + 64); /* the pool's bound cannot be shown otherwise */
	static udp_pool_sock_t *socks[N];
	static got_t gots[N];
	for (int i = 0; i < N; i++) {
		uint8_t q = 1;
		memset(&gots[i], 0, sizeof(gots[i]));
		assert_int_equal(udp_pool_send(f->pool, (struct sockaddr *)&f->upstream, &q, 1,
					       on_recv, &gots[i], &socks[i]),
				 0);
	}
	assert_int_equal(udp_pool_open_count(f->pool), N);
	for (int i = 0; i < N; i++)
		udp_pool_release(socks[i]);
	run_idle(f);
	assert_int_equal(udp_pool_open_count(f->pool), ER_UDP_POOL_IDLE_MAX);
}

/* Closing the pool while a socket is taken: that socket closes when given
 * back, and the loop ends with no handle left (teardown checks). */
static void test_close_with_taken_socket(void **state)
{
	fixture_t *f = *state;
	got_t g = { 0 };
	udp_pool_sock_t *taken = NULL, *idle = NULL;
	uint8_t q = 1;
	assert_int_equal(udp_pool_send(f->pool, (struct sockaddr *)&f->upstream, &q, 1, on_recv,
				       &g, &idle),
			 0);
	assert_int_equal(udp_pool_send(f->pool, (struct sockaddr *)&f->upstream, &q, 1, on_recv,
				       &g, &taken),
			 0);
	udp_pool_release(idle);
	udp_pool_close(f->pool);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	udp_pool_release(taken); /* the last socket: the pool frees itself */
	uv_run(&f->loop, UV_RUN_DEFAULT);
	f->pool = NULL; /* freed; teardown's close is then a no-op */
	assert_int_equal(g.calls, 0);
}

static void test_rejects_other_families(void **state)
{
	fixture_t *f = *state;
	struct sockaddr unspec = { .sa_family = AF_UNIX };
	udp_pool_sock_t *s = (udp_pool_sock_t *)1;
	got_t g = { 0 };
	assert_int_equal(udp_pool_send(f->pool, &unspec, (const uint8_t *)"x", 1, on_recv, &g, &s),
			 UV_EINVAL);
	assert_null(s);
	assert_int_equal(udp_pool_open_count(f->pool), 0);
}

static int setup6(void **state)
{
	return setup_family(state, AF_INET6);
}

/* IPv6 upstreams use sockets of their own family, same rules. */
static void test_ipv6(void **state)
{
	fixture_t *f = *state;
	got_t g = { 0 };
	struct sockaddr_storage src;
	udp_pool_sock_t *s = query_out(f, &g, &src);
	assert_int_equal(src.ss_family, AF_INET6);
	upstream_send(f, &src, 0x66, 25);
	run_until(f, &g.calls, 1);
	assert_int_equal(g.calls, 1);
	assert_int_equal(g.first_byte, 0x66);
	udp_pool_release(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh_port_per_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_released_port_receives_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_other_source_is_seen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leftover_counted_while_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_is_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_and_idle_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_with_taken_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejects_other_families, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6, setup6, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
