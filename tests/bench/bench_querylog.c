/*
 * Micro-benchmark of the query log's two halves, to decide who formats:
 *   submit   what a worker pays per logged query: capturing a record
 *            (ops/querylog_line.c) and pushing it into its lane
 *   format   what formatting the JSON line costs (the writer's side)
 * If the workers formatted, they would pay capture + format and push a
 * line instead of a record. Events look like the bench's hit workload:
 * names of 3 labels, a default or domains route, a chain of one group, an
 * upstream address, a client on loopback. Per-operation CPU time of this
 * thread (CLOCK_THREAD_CPUTIME_ID), median of REPS runs. A measurement
 * tool, not a test. Usage: bench_querylog [events-per-run]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "dns/dname.h"
#include "ops/querylog.h"
#include "ops/querylog_line.h"
#include "util/sockaddr.h"
#include "bench_clock.h"

#define REPS 5
#define NAMES 100

static config_t *load(health_table_t *health)
{
	char path[] = "/tmp/erdns-bench-querylog-XXXXXX", err[ER_CONFIG_ERR_MAX];
	int fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	static const char json[] =
	    "{ \"upstreams\": { \"hq\": { \"servers\": [\"127.0.0.1:15353\"] },"
	    "  \"branch\": { \"servers\": [\"127.0.0.1:15353\"] } },"
	    "  \"routes\": [ { \"domains\": [\"office.com\"], \"via\": \"hq\" } ],"
	    "  \"default\": \"branch\" }";
	ssize_t n = write(fd, json, sizeof(json) - 1);
	close(fd);
	config_t *c = n > 0 ? config_load(path, err, sizeof(err)) : NULL;
	unlink(path);
	if (c == NULL || health_table_apply(health, c, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_querylog: %s\n", err);
		config_unref(c);
		return NULL;
	}
	return c;
}

typedef struct event_set {
	uint8_t names[NAMES][ER_DNAME_MAX];
	dns_query_t q[NAMES];
	query_meta_t meta[NAMES];
	query_event_t ev[NAMES];
	client_t client;
} event_set_t;

static void make_events(const config_t *c, event_set_t *s)
{
	sockaddr_parse("127.0.0.1", 40000, &s->client.addr);
	for (int i = 0; i < NAMES; i++) {
		char text[64];
		snprintf(text, sizeof(text), "h%d.%s", i, i % 4 == 3 ? "office.com" : "bench.test");
		size_t len = dname_from_text(text, s->names[i]);
		s->q[i] = (dns_query_t){ .qname = s->names[i], .qname_len = len, .qtype = 1 };
		route_decision_t d;
		router_decide(c->router, s->names[i], NULL, &d);
		uint16_t slot = d.rule ? d.rule->origin.route_slot : c->default_slots[0];
		s->meta[i] = (query_meta_t){ .route_slot = slot, .view_index = -1, .rule = d.rule,
					     .received_ns = 1000 };
		s->ev[i] = (query_event_t){ .client = &s->client, .q = &s->q[i], .config = c,
					    .meta = &s->meta[i], .chain = d.action,
					    .is_routed = true, .upstream = i % 2 ? 0 : -1,
					    .cache = i % 2 ? ER_CACHE_MISS : ER_CACHE_HIT };
	}
}

/* ns per querylog_submit into a production-sized lane, drained between
 * batches (untimed) by a writer that has no output: the ring stays warm
 * as it is in a running server. */
static double run_submit(const event_set_t *s, const health_table_t *h, size_t n)
{
	querylog_params_t p = { .n_lanes = 1, .health = h };
	querylog_t *ql = querylog_new(&p);
	static metrics_t m;
	if (ql == NULL || querylog_start(ql) < 0)
		return -1;
	uint64_t spent = 0;
	for (size_t done = 0; done < n;) {
		size_t batch = n - done < 2000 ? n - done : 2000; /* < a quarter of the ring */
		uint64_t t0 = thread_cpu_ns();
		for (size_t i = 0; i < batch; i++)
			querylog_submit(ql, 0, &s->ev[(done + i) % NAMES], 2000000 + i, &m);
		spent += thread_cpu_ns() - t0;
		done += batch;
		usleep(60000); /* the writer drains (and discards: the log is off) */
	}
	querylog_free(ql);
	if (m.querylog_dropped)
		fprintf(stderr, "bench_querylog: %llu dropped\n", (unsigned long long)m.querylog_dropped);
	return (double)spent / (double)n;
}

/* ns per querylog_line_format of captured records. */
static double run_format(const event_set_t *s, const health_table_t *h, size_t n)
{
	static uint64_t recs[NAMES][ER_QLOG_RECORD_MAX / sizeof(uint64_t) + 1];
	static size_t lens[NAMES];
	static char out[ER_QLOG_LINE_MAX];
	querylog_format_ctx_t ctx = { .wall_offset_ns = 1714564800123000000LL, .health = h };
	for (int i = 0; i < NAMES; i++)
		lens[i] = querylog_line_capture(&s->ev[i], 2000000, (querylog_record_t *)recs[i]);
	size_t total = 0;
	uint64_t t0 = thread_cpu_ns();
	for (size_t i = 0; i < n; i++)
		total += querylog_line_format((const querylog_record_t *)recs[i % NAMES],
					      lens[i % NAMES], &ctx, out);
	uint64_t t1 = thread_cpu_ns();
	if (total == 0)
		return -1;
	return (double)(t1 - t0) / (double)n;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
	health_table_t *h = health_table_new();
	config_t *c = h ? load(h) : NULL;
	static event_set_t s;
	if (c == NULL)
		return 1;
	make_events(c, &s);
	double sub[REPS], fmt[REPS];
	for (int r = 0; r < REPS; r++) {
		sub[r] = run_submit(&s, h, n);
		fmt[r] = run_format(&s, h, n);
	}
	qsort(sub, REPS, sizeof(double), cmp_double);
	qsort(fmt, REPS, sizeof(double), cmp_double);
	char line[ER_QLOG_LINE_MAX];
	uint64_t rec[ER_QLOG_RECORD_MAX / sizeof(uint64_t) + 1];
	querylog_format_ctx_t ctx = { .wall_offset_ns = 1714564800123000000LL, .health = h };
	size_t rlen = querylog_line_capture(&s.ev[1], 2000000, (querylog_record_t *)rec);
	size_t llen = querylog_line_format((const querylog_record_t *)rec, rlen, &ctx, line);
	printf("submit (worker: capture, push): %.0f ns/line (median of %d x %zu)\n",
	       sub[REPS / 2], REPS, n);
	printf("format (writer): %.0f ns/line\n", fmt[REPS / 2]);
	printf("a typical record is %zu bytes, its line %zu bytes:\n%.*s", rlen, llen, (int)llen,
	       line);
	config_unref(c);
	health_table_free(h);
	return 0;
}
