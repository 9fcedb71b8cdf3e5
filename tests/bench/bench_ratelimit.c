/*
 * Micro-benchmark of the client rate limit (server/ratelimit.c) while it
 * limits nobody (client_qps 1 000 000): CPU ns per ratelimit_admit, the
 * whole cost a query pays for the feature being on, in three shapes:
 *   one      one client again and again (its set stays in L1)
 *   many     65 536 clients in turn, 4 a set on average: every call a
 *            set that is not in L1, as on a busy branch server
 *   shared   one client from two threads at once (SO_REUSEPORT spreading
 *            its queries over two workers): the bucket's line goes back and
 *            forth between the cores
 * CPU time of each thread (CLOCK_THREAD_CPUTIME_ID), median of REPS runs.
 * It measures, it does not assert. Usage: bench_ratelimit [calls-per-run].
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/ratelimit.h"
#include "util/random.h"
#include "bench_clock.h"

#define REPS	5
#define CLIENTS 65536
#define QPS	1000000u
/* Two threads' clocks (i / 100) drift apart by seconds: a burst of an hour
 * keeps the one behind from being limited, which would measure a
 * different path. The cost does not depend on the burst. */
#define BURST 3600000000u

static struct sockaddr_in client(uint32_t i)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(5353)};
	sa.sin_addr.s_addr = htonl(0x0a000000u + i); /* 10.0.0.0/16 */
	return sa;
}

typedef struct run {
	ratelimit_table_t *t;
	uint32_t n_clients;
	unsigned long calls;
	uint64_t start_ms; /* each run later than the last one's clock ended */
	double ns_per_call;
	unsigned long passed;
} run_t;

static void *run_calls(void *arg)
{
	run_t *r = arg;
	static _Thread_local struct sockaddr_in addrs[CLIENTS];
	for (uint32_t i = 0; i < r->n_clients; i++)
		addrs[i] = client(i);
	uint64_t t0 = thread_cpu_ns();
	unsigned long passed = 0;
	for (unsigned long i = 0; i < r->calls; i++) {
		/* the clock moves a ms every 100 calls: 100 000 a second, under QPS */
		const struct sockaddr *sa = (const struct sockaddr *)&addrs[i % r->n_clients];
		passed += ratelimit_admit(r->t, sa, QPS, BURST, r->start_ms + i / 100);
	}
	r->ns_per_call = (double)(thread_cpu_ns() - t0) / (double)r->calls;
	r->passed = passed;
	return NULL;
}

static double median_of(ratelimit_table_t *t, uint32_t n_clients, unsigned long calls, int threads)
{
	double v[REPS * 2];
	int n = 0;
	for (int rep = 0; rep < REPS; rep++) {
		static uint64_t start_ms = 1000; /* the clock of every run goes on from the last */
		start_ms += calls / 100 + 1000;
		run_t r[2] = {{t, n_clients, calls, start_ms, 0, 0},
			      {t, n_clients, calls, start_ms, 0, 0}};
		pthread_t th[2];
		for (int k = 0; k < threads; k++)
			pthread_create(&th[k], NULL, run_calls, &r[k]);
		for (int k = 0; k < threads; k++) {
			pthread_join(th[k], NULL);
			v[n++] = r[k].ns_per_call;
			if (r[k].passed != calls)
				fprintf(stderr, "bench_ratelimit: %lu of %lu limited\n",
					calls - r[k].passed, calls);
		}
	}
	qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
	return v[n / 2];
}

int main(int argc, char **argv)
{
	unsigned long calls = argc > 1 ? strtoul(argv[1], NULL, 10) : 5000000ul;
	uint8_t key[ER_SIPHASH_KEY_LEN];
	random_bytes(key, sizeof(key));
	ratelimit_table_t *t = ratelimit_table_new(ER_RATELIMIT_ENTRIES, key);
	if (t == NULL)
		return 1;
	printf("shape\tns_per_call (median of %d runs of %lu calls)\n", REPS, calls);
	printf("one\t%.1f\n", median_of(t, 1, calls, 1));
	printf("many\t%.1f\n", median_of(t, CLIENTS, calls, 1));
	printf("shared\t%.1f\n", median_of(t, 1, calls, 2));
	ratelimit_table_free(t);
	return 0;
}
