/*
 * Tests for server/ratelimit.c, the client rate limit's bucket table, with
 * an injected clock: refill arithmetic (whole and fractional intervals),
 * the burst cap, no limit at qps 0, clients as IPv4 /32 and IPv6 /64,
 * four clients in one set keeping their own budgets, a fifth sharing
 * (never more than the set's budgets in all), a full bucket taken over
 * and a busy one not, and two threads on one bucket never getting more
 * than its budget.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "server/ratelimit.h"

static const uint8_t KEY[ER_SIPHASH_KEY_LEN] = {1, 2,  3,  4,  5,  6,  7,  8,
						9, 10, 11, 12, 13, 14, 15, 16};

static struct sockaddr_storage addr(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
	return ss;
}

/* One query from ip at now_ms. */
static bool admit(ratelimit_table_t *t, const char *ip, uint32_t qps, uint32_t burst,
		  uint64_t now_ms)
{
	struct sockaddr_storage ss = addr(ip, 5300);
	return ratelimit_admit(t, (const struct sockaddr *)&ss, qps, burst, now_ms);
}

/* How many of n queries from ip at now_ms pass. */
static unsigned admit_n(ratelimit_table_t *t, const char *ip, uint32_t qps, uint32_t burst,
			uint64_t now_ms, unsigned n)
{
	unsigned passed = 0;
	for (unsigned i = 0; i < n; i++)
		passed += admit(t, ip, qps, burst, now_ms) ? 1 : 0;
	return passed;
}

static void test_new_sizes(void **state)
{
	(void)state;
	assert_null(ratelimit_table_new(0, KEY));
	assert_null(ratelimit_table_new(2, KEY));   /* less than one set */
	assert_null(ratelimit_table_new(100, KEY)); /* not a power of two */
	ratelimit_table_t *t = ratelimit_table_new(4, KEY);
	assert_non_null(t);
	ratelimit_table_free(t);
	ratelimit_table_free(NULL);
}

/* 10 a second, burst 5: five at once, then one every 100 ms, and an idle
 * client is back to five, not more. */
static void test_refill(void **state)
{
	(void)state;
	ratelimit_table_t *t = ratelimit_table_new(ER_RATELIMIT_ENTRIES, KEY);
	const char *c = "192.0.2.1";
	assert_int_equal(admit_n(t, c, 10, 5, 1000, 6), 5);
	assert_false(admit(t, c, 10, 5, 1099)); /* 99 ms: not yet a token */
	assert_true(admit(t, c, 10, 5, 1100));
	assert_false(admit(t, c, 10, 5, 1100));
	assert_int_equal(admit_n(t, c, 10, 5, 1350, 5), 2);   /* 250 ms: two */
	assert_int_equal(admit_n(t, c, 10, 5, 60000, 10), 5); /* a minute idle: the burst */
	ratelimit_table_free(t);
}

/* 3 a second: the interval is 333.33 ms, kept in ns, not rounded to
 * 333 ms (which would let the third query through at 666 ms). */
static void test_fractional_interval(void **state)
{
	(void)state;
	ratelimit_table_t *t = ratelimit_table_new(ER_RATELIMIT_ENTRIES, KEY);
	const char *c = "192.0.2.1";
	assert_true(admit(t, c, 3, 1, 0));
	assert_false(admit(t, c, 3, 1, 333));
	assert_true(admit(t, c, 3, 1, 334));
	assert_false(admit(t, c, 3, 1, 667)); /* 334 + 333.33 = 667.33 */
	assert_true(admit(t, c, 3, 1, 668));
	/* A client asking every ms for 10 s, burst 2: the two, then one at
	 * each k x 333.33 ms for k = 1..30 (the 30th at 9999.99999 ms). */
	unsigned passed = 0;
	for (uint64_t ms = 0; ms <= 10000; ms++)
		passed += admit(t, "192.0.2.2", 3, 2, ms) ? 1 : 0;
	assert_int_equal(passed, 32);
	ratelimit_table_free(t);
}

/* A burst larger than the rate: all of it at once, then the rate. */
static void test_burst(void **state)
{
	(void)state;
	ratelimit_table_t *t = ratelimit_table_new(ER_RATELIMIT_ENTRIES, KEY);
	const char *c = "192.0.2.1";
	assert_int_equal(admit_n(t, c, 1, 10, 5000, 20), 10);
	assert_int_equal(admit_n(t, c, 1, 10, 5999, 5), 0);
	assert_int_equal(admit_n(t, c, 1, 10, 6000, 5), 1);
	assert_int_equal(admit_n(t, c, 1, 10, 16000, 20), 10); /* full, capped */
	/* burst 0 is taken as 1 */
	assert_int_equal(admit_n(t, "192.0.2.9", 1, 0, 5000, 5), 1);
	ratelimit_table_free(t);
}

/* qps 0 is no limit, and leaves the buckets alone. */
static void test_off(void **state)
{
	(void)state;
	ratelimit_table_t *t = ratelimit_table_new(ER_RATELIMIT_ENTRIES, KEY);
	assert_int_equal(admit_n(t, "192.0.2.1", 0, 0, 1000, 10000), 10000);
	assert_int_equal(admit_n(t, "2001:db8::1", 0, 5, 1000, 10000), 10000);
	assert_int_equal(admit_n(t, "192.0.2.1", 2, 2, 1000, 5), 2); /* untouched */
	ratelimit_table_free(t);
}

/* A clock behind the bucket's (another worker's loop time) refills
 * nothing and takes nothing away. */
static void test_clock_behind(void **state)
{
	(void)state;
	ratelimit_table_t *t = ratelimit_table_new(ER_RATELIMIT_ENTRIES, KEY);
	const char *c = "192.0.2.1";
	assert_int_equal(admit_n(t, c, 1, 2, 10000, 2), 2);
	assert_false(admit(t, c, 1, 2, 9997));
	assert_false(admit(t, c, 1, 2, 10999));
	assert_true(admit(t, c, 1, 2, 11000));
	ratelimit_table_free(t);
}

/* IPv4: the host is the client (/32), whatever its port, and an
 * IPv4-mapped IPv6 address is that same host. */
static void test_ipv4_host(void **state)
{
	(void)state;
	ratelimit_table_t *t = ratelimit_table_new(ER_RATELIMIT_ENTRIES, KEY);
	assert_int_equal(admit_n(t, "10.0.0.1", 5, 5, 1000, 10), 5);
	struct sockaddr_storage other_port = addr("10.0.0.1", 40000);
	assert_false(ratelimit_admit(t, (const struct sockaddr *)&other_port, 5, 5, 1000));
	assert_false(admit(t, "::ffff:10.0.0.1", 5, 5, 1000));
	assert_int_equal(admit_n(t, "10.0.0.2", 5, 5, 1000, 10), 5);
	assert_int_equal(admit_n(t, "10.0.0.0", 5, 5, 1000, 10), 5);
	assert_int_equal(admit_n(t, "11.0.0.1", 5, 5, 1000, 10), 5);
	ratelimit_table_free(t);
}

/* IPv6: one /64 is one client (a host's privacy addresses); the next /64
 * is another. */
static void test_ipv6_prefix(void **state)
{
	(void)state;
	ratelimit_table_t *t = ratelimit_table_new(ER_RATELIMIT_ENTRIES, KEY);
	assert_int_equal(admit_n(t, "2001:db8:1:2::1", 5, 5, 1000, 3), 3);
	assert_int_equal(admit_n(t, "2001:db8:1:2:ffff:ffff:ffff:ffff", 5, 5, 1000, 3), 2);
	assert_false(admit(t, "2001:db8:1:2:a:b:c:d", 5, 5, 1000));
	assert_int_equal(admit_n(t, "2001:db8:1:3::1", 5, 5, 1000, 10), 5);
	assert_int_equal(admit_n(t, "2001:db8:1:2:8000::", 5, 5, 1000, 1), 0);
	assert_int_equal(admit_n(t, "2001:db8:1:0:8000::", 5, 5, 1000, 10), 5);
	/* ::1 is IPv6, not a mapped IPv4 address: ::/64, shared with ::2 */
	assert_int_equal(admit_n(t, "::1", 5, 5, 1000, 10), 5);
	assert_int_equal(admit_n(t, "::2", 5, 5, 1000, 10), 0); /* ::/64, spent by ::1 */
	ratelimit_table_free(t);
}

/* Families other than IPv4 and IPv6 are not limited. */
static void test_other_family(void **state)
{
	(void)state;
	ratelimit_table_t *t = ratelimit_table_new(ER_RATELIMIT_ENTRIES, KEY);
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	for (int i = 0; i < 10; i++)
		assert_true(ratelimit_admit(t, (const struct sockaddr *)&un, 1, 1, 1000));
	ratelimit_table_free(t);
}

static const char *const FOUR[] = {"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"};

/* A table of one set: four clients hold a bucket each, with budgets of
 * their own; a fifth, with every bucket busy, shares one of them, so the
 * five together never get more than four budgets. */
static void test_set_shared_when_busy(void **state)
{
	(void)state;
	ratelimit_table_t *t = ratelimit_table_new(ER_RATELIMIT_WAYS, KEY);
	for (int i = 0; i < 4; i++)
		assert_int_equal(admit_n(t, FOUR[i], 1, 3, 1000, 2), 2); /* one token left each */
	assert_int_equal(admit_n(t, "192.0.2.5", 1, 3, 1000, 3), 1);	 /* someone's last */
	unsigned left = 0;
	for (int i = 0; i < 4; i++)
		left += admit_n(t, FOUR[i], 1, 3, 1000, 3);
	assert_int_equal(left, 3); /* the one it shares with has none */
	ratelimit_table_free(t);
}

/* A newcomer takes over a bucket only once it is full again (its holder
 * idle for burst/qps), and then has a budget of its own; the busy holders
 * keep theirs. */
static void test_takeover_only_full(void **state)
{
	(void)state;
	ratelimit_table_t *t = ratelimit_table_new(ER_RATELIMIT_WAYS, KEY);
	/* 1/s, burst 2: the first holder spends one (full at 2 s), the rest
	 * both (full at 3 s) */
	assert_true(admit(t, FOUR[0], 1, 2, 1000));
	for (int i = 1; i < 4; i++)
		assert_int_equal(admit_n(t, FOUR[i], 1, 2, 1000, 2), 2);
	/* at 2 s the first holder's bucket is full: the newcomer takes it with
	 * its whole burst (sharing a busy one would give it one token at most) */
	assert_int_equal(admit_n(t, "192.0.2.5", 1, 2, 2000, 4), 2);
	/* the busy holders kept their buckets: one token each came back */
	for (int i = 1; i < 4; i++)
		assert_int_equal(admit_n(t, FOUR[i], 1, 2, 2000, 3), 1);
	ratelimit_table_free(t);
}

/* --- two workers, one client ---------------------------------------------- */

typedef struct hammer {
	ratelimit_table_t *t;
	const char *ip;
	uint16_t port; /* each thread its own, as SO_REUSEPORT spreads them */
	uint64_t now_ms;
	unsigned tries;
	unsigned passed;
} hammer_t;

static void *hammer(void *arg)
{
	hammer_t *h = arg;
	struct sockaddr_storage ss = addr(h->ip, h->port);
	for (unsigned i = 0; i < h->tries; i++)
		h->passed +=
		    ratelimit_admit(h->t, (const struct sockaddr *)&ss, 1, 2000, h->now_ms) ? 1 : 0;
	return NULL;
}

/* Two threads, one client, a clock that stands still: exactly the burst
 * passes, no more (no token spent twice) and no less (no update lost).
 * Each round is a new client, so the race for its first bucket is run
 * too; one clock is a millisecond behind the other. */
static void test_two_threads_one_bucket(void **state)
{
	(void)state;
	ratelimit_table_t *t = ratelimit_table_new(ER_RATELIMIT_ENTRIES, KEY);
	for (unsigned round = 0; round < 50; round++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "198.51.100.%u", round);
		hammer_t h[2] = {
		    {.t = t, .ip = ip, .port = 1111, .now_ms = 7001, .tries = 3000},
		    {.t = t, .ip = ip, .port = 2222, .now_ms = 7000, .tries = 3000},
		};
		pthread_t th[2];
		for (int i = 0; i < 2; i++)
			assert_int_equal(pthread_create(&th[i], NULL, hammer, &h[i]), 0);
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		assert_int_equal(h[0].passed + h[1].passed, 2000);
	}
	ratelimit_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_sizes),
	    cmocka_unit_test(test_refill),
	    cmocka_unit_test(test_fractional_interval),
	    cmocka_unit_test(test_burst),
	    cmocka_unit_test(test_off),
	    cmocka_unit_test(test_clock_behind),
	    cmocka_unit_test(test_ipv4_host),
	    cmocka_unit_test(test_ipv6_prefix),
	    cmocka_unit_test(test_other_family),
	    cmocka_unit_test(test_set_shared_when_busy),
	    cmocka_unit_test(test_takeover_only_full),
	    cmocka_unit_test(test_two_threads_one_bucket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
