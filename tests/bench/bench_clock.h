/*
 * What the micro-benchmarks share: the calling thread's CPU time, and the
 * comparisons qsort needs for their medians.
 */
#ifndef ERDNS_TESTS_BENCH_CLOCK_H
#define ERDNS_TESTS_BENCH_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CPU time of the calling thread, in ns: what a benchmark spent, whatever
 * else the machine did meanwhile. */
static inline uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

#endif
