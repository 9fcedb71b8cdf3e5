/*
 * Micro-benchmark of resolver/cache: lookups (hit path: hash, lock, memcpy,
 * TTL patch) and a lookup/insert mix, from 1..N threads, against three
 * layouts of the same code:
 *   shared-S   one cache, S lock stripes (the default layout)
 *   shared-1   one cache, one lock (the contention worst case)
 *   private    one cache per thread, max_mb split (per-worker shards)
 * Each thread measures its own CPU time (CLOCK_THREAD_CPUTIME_ID), so the
 * per-operation cost is robust to being descheduled on a shared machine;
 * every cell is the median of REPS runs. The mix workload draws names from
 * a Zipf(1) popularity curve over 200k names with a 16 MB cache, so that
 * about one lookup in ten misses and inserts (a branch resolver's day).
 * The miss workload is the forwarder's all-miss load (issue 13): every
 * name is new, so each operation is a lookup that misses and an insert that
 * evicts, in a full 64 MB cache of ~330k entries whose lines are cold. The
 * insert follows its lookup at once, so it finds the group the lookup
 * loaded; in the forwarder an upstream round trip lies between them, so
 * this understates the insert's cost.
 * It is a measurement tool, not a test: nothing here fails on a slow
 * machine. Usage: bench_cache [seconds-per-run [hit|mix|miss]] (default 0.5,
 * all three).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache.h"
#include "dns/dname.h"
#include "bench_clock.h"

#define NAMES 200000 /* distinct names in the mix workload */
#define HOT 1000 /* names in the hit workload */
#define DRAWS (1u << 20)
#define THREADS_MAX 8
#define RESP_MAX 512

typedef struct name_rec {
	uint8_t name[ER_DNAME_MAX];
	size_t len;
} name_rec_t;

static name_rec_t *names;
static uint32_t *zipf_draws;
static double run_seconds = 0.5;
#define REPS 5

enum { WORKLOAD_HIT, WORKLOAD_MIX, WORKLOAD_MISS, WORKLOADS };
static const char *const workload_names[WORKLOADS] = { "hit", "mix", "miss" };

typedef struct job {
	cache_t *cache;
	int workload;
	unsigned seed;
	uint64_t serial_base; /* the miss workload's first name */
	uint64_t ops;
	uint64_t cpu_ns;
	pthread_t tid;
} job_t;

static atomic_int stop_flag;

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A typical answer: one A record, name compressed to the question. */
static size_t make_resp(const name_rec_t *n, uint8_t *out)
{
	static const uint8_t hdr[12] = { 0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0 };
	static const uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 1};
	size_t p = 0;
	memcpy(out, hdr, sizeof(hdr));
	p += sizeof(hdr);
	memcpy(out + p, n->name, n->len);
	p += n->len;
	static const uint8_t q[4] = { 0, 1, 0, 1 };
	memcpy(out + p, q, 4);
	p += 4;
	memcpy(out + p, rr, sizeof(rr));
	return p + sizeof(rr);
}

static cache_key_t key_of(uint32_t i)
{
	return (cache_key_t){ .qname = names[i].name, .qname_len = names[i].len,
			      .qtype = DNS_TYPE_A, .qclass = DNS_CLASS_IN };
}

static void insert_name(cache_t *c, uint32_t i, uint64_t now)
{
	uint8_t resp[RESP_MAX];
	cache_key_t k = key_of(i);
	cache_insert_params_t p = {.key = &k, .resp = resp, .resp_len = make_resp(&names[i], resp)};
	int rc = cache_insert(c, &p, now);
	if (rc < 0) {
		fprintf(stderr, "insert: %d\n", rc);
		exit(1);
	}
}

/* A name never used before: a 10-digit label counting up from *serial, so
 * the miss workload spends nothing on formatting. */
static void fresh_name(uint64_t *serial, name_rec_t *n)
{
	static const uint8_t tail[] = "\x06" "branch" "\x07" "example" "\x03" "com";
	uint64_t v = (*serial)++;
	n->name[0] = 10;
	for (int d = 10; d >= 1; d--, v /= 10)
		n->name[d] = (uint8_t)('0' + v % 10);
	memcpy(n->name + 11, tail, sizeof(tail)); /* with its root byte */
	n->len = 11 + sizeof(tail);
}

static void miss_and_insert(cache_t *c, uint64_t *serial, cache_copy_t *copy)
{
	name_rec_t n;
	fresh_name(serial, &n);
	cache_key_t k = { .qname = n.name, .qname_len = n.len, .qtype = DNS_TYPE_A,
			  .qclass = DNS_CLASS_IN };
	if (cache_lookup(c, &k, 1000, copy) == CACHE_HIT) {
		fprintf(stderr, "miss workload: a fresh name hit\n");
		exit(1);
	}
	uint8_t resp[RESP_MAX];
	cache_insert_params_t p = { .key = &k, .resp = resp, .resp_len = make_resp(&n, resp) };
	int rc = cache_insert(c, &p, 1000);
	if (rc < 0) {
		fprintf(stderr, "miss workload: insert: %d\n", rc);
		exit(1);
	}
}

/* Each thread's names are its own: serial numbers start a billion apart. */
static _Thread_local uint64_t miss_serial;

static void *worker(void *arg)
{
	job_t *j = arg;
	uint8_t out[65535];
	cache_copy_t copy = { .out = out, .cap = sizeof(out), .id = 1 };
	uint32_t x = j->seed;
	uint64_t ops = 0;
	uint64_t cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	miss_serial = j->serial_base;
	while (!stop_flag) {
		for (int b = 0; b < 256; b++) {
			if (j->workload == WORKLOAD_MISS) {
				miss_and_insert(j->cache, &miss_serial, &copy);
				ops++;
				continue;
			}
			x = x * 1664525u + 1013904223u;
			uint32_t i =
			    j->workload == WORKLOAD_HIT ? (x >> 8) % HOT : zipf_draws[(x >> 8) % DRAWS];
			cache_key_t k = key_of(i);
			if (cache_lookup(j->cache, &k, 1000, &copy) != CACHE_HIT)
				insert_name(j->cache, i, 1000);
			ops++;
		}
	}
	j->ops = ops;
	j->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
	return NULL;
}

typedef struct result {
	double mops; /* wall-clock throughput, all threads */
	double cpu_ns; /* CPU time per operation */
} result_t;

/* Where each thread's next miss-workload name starts, across runs. */
static uint64_t next_serial[THREADS_MAX];

static result_t run(cache_t **caches, int n_threads, int workload)
{
	job_t jobs[THREADS_MAX];
	stop_flag = 0;
	uint64_t t0 = clock_ns(CLOCK_MONOTONIC); /* before the threads start working */
	for (int t = 0; t < n_threads; t++) {
		jobs[t] = (job_t){ .cache = caches[t], .workload = workload,
				   .seed = 12345u + 7919u * (unsigned)t,
				   .serial_base = next_serial[t] };
		pthread_create(&jobs[t].tid, NULL, worker, &jobs[t]);
	}
	struct timespec ts = { (time_t)run_seconds,
			       (long)((run_seconds - (long)run_seconds) * 1e9) };
	nanosleep(&ts, NULL);
	stop_flag = 1;
	uint64_t ops = 0, cpu = 0;
	for (int t = 0; t < n_threads; t++) {
		pthread_join(jobs[t].tid, NULL);
		next_serial[t] += jobs[t].ops;
		ops += jobs[t].ops;
		cpu += jobs[t].cpu_ns;
	}
	double secs = (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e9;
	return (result_t){ (double)ops / secs / 1e6, (double)cpu / (double)ops };
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static void make_names(void)
{
	names = calloc(NAMES, sizeof(*names));
	zipf_draws = calloc(DRAWS, sizeof(*zipf_draws));
	if (!names || !zipf_draws)
		exit(1);
	for (uint32_t i = 0; i < NAMES; i++) {
		char text[64];
		snprintf(text, sizeof(text), "host%u.Branch.Example.com.", i);
		names[i].len = dname_from_text(text, names[i].name);
	}
	/* Zipf s=1 over NAMES by inverse CDF (a DNS-like popularity curve). */
	double *cdf = malloc(NAMES * sizeof(double));
	double sum = 0;
	for (uint32_t i = 0; i < NAMES; i++)
		cdf[i] = (sum += 1.0 / (i + 1));
	uint32_t x = 42;
	for (uint32_t d = 0; d < DRAWS; d++) {
		x = x * 1664525u + 1013904223u;
		double u = (double)x / 4294967296.0 * sum;
		uint32_t lo = 0, hi = NAMES - 1;
		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;
			if (cdf[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		zipf_draws[d] = lo;
	}
	free(cdf);
}

/* Fills a miss-workload cache until it evicts, then as much again, so the
 * SIEVE hand has walked and entries are spread over the whole budget. */
static void fill_until_evicting(cache_t *c, int thread)
{
	uint8_t out[RESP_MAX];
	cache_copy_t copy = { .out = out, .cap = sizeof(out), .id = 1 };
	uint64_t *serial = &next_serial[thread];
	cache_stats_t st = { 0 };
	uint64_t n = 0;
	while (st.evictions == 0) {
		for (int b = 0; b < 4096; b++, n++)
			miss_and_insert(c, serial, &copy);
		cache_get_stats(c, &st);
	}
	for (uint64_t i = 0; i < n; i++)
		miss_and_insert(c, serial, &copy);
}

static void bench_layout(const char *label, unsigned stripes, bool is_private, int n_threads,
			 int workload)
{
	config_cache_t cfg = { .max_mb = workload == WORKLOAD_MIX ? 16 : 64, .max_ttl_s = 86400,
			       .max_negative_ttl_s = 3600, .serve_stale_s = 86400,
			       .fallback_ttl_s = 30 };
	int n_caches = is_private ? n_threads : 1;
	for (int t = 0; t < THREADS_MAX; t++)
		next_serial[t] = (uint64_t)t * 1000000000u; /* disjoint per thread */
	if (is_private)
		cfg.max_mb /= (uint32_t)n_threads;
	cache_t *caches[THREADS_MAX];
	for (int t = 0; t < n_caches; t++) {
		caches[t] = cache_new(&cfg, stripes);
		if (workload == WORKLOAD_MISS) {
			fill_until_evicting(caches[t], t);
			continue;
		}
		for (uint32_t i = 0; i < (workload == WORKLOAD_HIT ? HOT : NAMES); i++)
			insert_name(caches[t], workload == WORKLOAD_HIT ? i : zipf_draws[i], 1000);
	}
	for (int t = n_caches; t < n_threads; t++)
		caches[t] = caches[0];
	double mops[REPS], cpu[REPS];
	for (int r = 0; r < REPS; r++) {
		result_t res = run(caches, n_threads, workload);
		mops[r] = res.mops;
		cpu[r] = res.cpu_ns;
	}
	cache_stats_t st = { 0 };
	for (int t = 0; t < n_caches; t++) {
		cache_stats_t s;
		cache_get_stats(caches[t], &s);
		st.hits += s.hits;
		st.misses += s.misses;
		st.entries += s.entries;
		st.bytes += s.bytes;
		cache_free(caches[t]);
	}
	printf("%-9s %-3s threads=%d  %6.2f Mops/s  %6.0f ns CPU/op  hit%%=%5.1f  "
	       "entries=%-7llu bytes/entry=%.0f\n",
	       label, workload_names[workload], n_threads, median(mops, REPS),
	       median(cpu, REPS), 100.0 * (double)st.hits / (double)(st.hits + st.misses),
	       (unsigned long long)st.entries, (double)st.bytes / (double)st.entries);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		run_seconds = atof(argv[1]);
	int only = -1;
	for (int w = 0; argc > 2 && w < WORKLOADS; w++)
		if (strcmp(argv[2], workload_names[w]) == 0)
			only = w;
	if (argc > 2 && only < 0) {
		fprintf(stderr, "usage: bench_cache [seconds-per-run [hit|mix|miss]]\n");
		return 2;
	}
	make_names();
	for (int workload = 0; workload < WORKLOADS; workload++) {
		if (only >= 0 && workload != only)
			continue;
		for (int n = 1; n <= 4; n *= 2) {
			bench_layout("shared-16", 16, false, n, workload);
			bench_layout("shared-1", 1, false, n, workload);
			bench_layout("private", 16, true, n, workload);
		}
	}
	free(names);
	free(zipf_draws);
	return 0;
}
