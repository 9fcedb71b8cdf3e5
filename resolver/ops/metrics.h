/*
 * Metrics (SPEC 4), counted by the workers and read by the HTTP thread and
 * the control socket.
 *
 * One X-macro table, ER_METRICS_COUNTERS, generates the plain counters: the
 * fields of metrics_t, their Prometheus names (erdns_NAME_total) and help
 * (STYLE habit 8). The labelled families sit beside them as fixed arrays,
 * bounded by construction: queries by transport and type, answers by route
 * slot, rcode and cache result, per upstream address (by health id),
 * failovers and answers per route chain, ExpressRoute audit verdicts by
 * route slot. ops/exposition.c renders all of
 * them from ER_METRICS_FAMILIES.
 *
 * Each worker owns one metrics_t (inside its own allocation, so no cache
 * line is shared between cores on the query path) and is its only writer:
 * metrics_add is a relaxed atomic load and store, which on x86 is a plain
 * add, no lock prefix. Readers sum the workers' tables with relaxed loads
 * and accept values a few increments old. Rejected: one shared table of
 * atomic counters (a lock-prefixed add and a contended line per query per
 * counter), and thread-local tables (readers could not reach them).
 */
#ifndef ERDNS_OPS_METRICS_H
#define ERDNS_OPS_METRICS_H

#include <stdint.h>

#include "config/config.h"
#include "upstream/health_table.h"

#define ER_METRICS_COUNTERS(X)                                                              \
	X(queries_udp, "Queries received over UDP.")                                        \
	X(queries_tcp, "Queries received over TCP.")                                        \
	X(refused_acl, "Queries refused by the allow list.")                                \
	X(rate_limited, "Queries dropped: the client was over server.client_qps.")          \
	X(malformed_dropped, "Datagrams dropped: no readable header.")                      \
	X(formerr_sent, "FORMERR replies to malformed queries.")                            \
	X(notimp_sent, "NOTIMP replies (opcode, class or transfer).")                       \
	X(chaos_answers, "CHAOS TXT answers.")                                              \
	X(local_answers, "Answers from local zones.")                                       \
	X(forwarded, "Queries forwarded upstream.")                                         \
	X(upstream_attempts, "Attempts sent to upstream servers.")                          \
	X(upstream_timeouts, "Attempts that timed out.")                                    \
	X(late_answers, "Answers that arrived after their attempt's timeout and won.")      \
	X(upstream_errors, "Attempts failed by network errors or garbage.")                 \
	X(upstream_servfail, "Attempts answered with an error rcode (SERVFAIL, REFUSED, FORMERR, NOTIMP).") \
	X(upstream_tcp_retries, "Truncated UDP answers retried over TCP.")                  \
	X(upstream_tcp_connects, "Pooled TCP connections opened to upstreams.")             \
	X(upstream_tcp_reused, "Upstream TCP queries sent on an already used connection.")  \
	X(upstream_tcp_pool_full, "Upstream TCP queries on a connection of their own.")     \
	X(mismatched_dropped, "Upstream datagrams dropped: wrong source, ID or question.")  \
	X(failovers, "Queries moved to the next group of their chain.")                     \
	X(servers_down, "Upstream addresses marked down.")                                  \
	X(servers_up, "Upstream addresses marked up again.")                                \
	X(probes_sent, "Health probes sent to upstream addresses marked down.")             \
	X(servfail_sent, "SERVFAIL replies after the chain failed.")                        \
	X(stale_sent, "Stale answers served after the chain failed (EDE 3).")               \
	X(coalesced, "Queries that joined an identical question already upstream.")        \
	X(prefetches, "Background refreshes of popular entries near expiry.")              \
	X(cache_answers, "Answers from the cache.")                                         \
	X(truncated_sent, "Replies truncated to the client's size (TC=1).")                 \
	X(overload_dropped, "Queries dropped: too many in flight.")                         \
	X(replies_dropped, "UDP replies dropped: the socket's send queue was full.")       \
	X(tcp_rejected, "TCP connections refused: too many open.")                          \
	X(querylog_dropped, "Query log lines dropped: the writer could not keep up.")

/* Query types with a label of their own; the rest count as "other". */
#define ER_METRICS_QTYPES(X)                                                                \
	X(A, 1) X(NS, 2) X(CNAME, 5) X(SOA, 6) X(PTR, 12) X(MX, 15) X(TXT, 16) X(AAAA, 28)   \
	X(SRV, 33) X(DS, 43) X(DNSKEY, 48) X(SVCB, 64) X(HTTPS, 65) X(ANY, 255)

enum {
#define ER_QT_ENUM(name, value) ER_QTYPE_##name,
	ER_METRICS_QTYPES(ER_QT_ENUM)
#undef ER_QT_ENUM
	ER_QTYPE_OTHER,
	ER_QTYPE_COUNT
};

/* Rcodes with a label of their own; the rest count as "other". */
#define ER_METRICS_RCODES(X)                                                                \
	X(NOERROR, 0) X(FORMERR, 1) X(SERVFAIL, 2) X(NXDOMAIN, 3) X(NOTIMP, 4) X(REFUSED, 5)

enum {
#define ER_RC_ENUM(name, value) ER_RCODE_##name,
	ER_METRICS_RCODES(ER_RC_ENUM)
#undef ER_RC_ENUM
	ER_RCODE_OTHER,
	ER_RCODE_COUNT
};

/* SPEC 4's `cache` values, shared with the query log. */
typedef enum {
	ER_CACHE_HIT, /* a fresh cached answer */
	ER_CACHE_MISS, /* forwarded */
	ER_CACHE_STALE, /* an expired answer after the chain failed (RFC 8767) */
	ER_CACHE_LOCAL, /* answered by erdns itself: zones, CHAOS, refused, errors */
	ER_CACHE_RESULT_COUNT
} cache_result_kind_t;

enum { ER_TRANSPORT_UDP, ER_TRANSPORT_TCP, ER_TRANSPORT_COUNT };

/* Route label slots counted one by one (config_t.route_slots); slots
 * beyond share the last one, labelled route="other". */
#define ER_METRICS_ROUTES 256
/* Route chains counted one by one; chains beyond share the last one. */
#define ER_METRICS_CHAINS 64
/* Upper bounds of the upstream RTT histogram, microseconds. */
#define ER_METRICS_RTT_BOUNDS_US                                                            \
	{ 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000 }
#define ER_METRICS_RTT_BUCKETS 11
/* Upstream error rcodes counted per address (the outcome table's row). */
enum { ER_UPERR_SERVFAIL, ER_UPERR_REFUSED, ER_UPERR_FORMERR, ER_UPERR_NOTIMP, ER_UPERR_COUNT };

/* ExpressRoute audit verdicts counted per route (er_verdict_t INSIDE,
 * OUTSIDE, NONE at index verdict - 1; UNJUDGED is never counted). */
#define ER_METRICS_VERDICTS 3
_Static_assert(ER_METRICS_VERDICTS == ER_VERDICT_COUNT - 1, "one cell per judged verdict");

typedef struct metrics_upstream {
	uint64_t queries; /* attempts sent to this address */
	uint64_t timeouts;
	uint64_t errors[ER_UPERR_COUNT];
	uint64_t rtt_buckets[ER_METRICS_RTT_BUCKETS]; /* not cumulative; +Inf = rtt_count */
	uint64_t rtt_count;
	uint64_t rtt_sum_us;
	uint64_t marked_down, marked_up; /* transitions this worker saw happen */
} metrics_upstream_t;

typedef struct metrics {
#define ER_METRICS_FIELD(name, help) uint64_t name;
	ER_METRICS_COUNTERS(ER_METRICS_FIELD)
#undef ER_METRICS_FIELD
	uint64_t inflight; /* gauge: forwarded queries awaiting upstreams */
	uint64_t queries[ER_TRANSPORT_COUNT][ER_QTYPE_COUNT];
	uint64_t answers[ER_METRICS_ROUTES][ER_RCODE_COUNT][ER_CACHE_RESULT_COUNT];
	/* chain_failovers[chain][from]: from group position `from` to `from + 1` */
	uint64_t chain_failovers[ER_METRICS_CHAINS][ER_CHAIN_MAX];
	/* forwarded answers per chain: [0] from its first group, [1] from a
	 * later one (off the ExpressRoute path, for an m365 route) */
	uint64_t chain_answers[ER_METRICS_CHAINS][2];
	/* answers judged by the ExpressRoute audit, by route slot and verdict */
	uint64_t er_audit[ER_METRICS_ROUTES][ER_METRICS_VERDICTS];
	metrics_upstream_t upstream[ER_HEALTH_MAX_ADDRS];
} metrics_t;

/* The one writer's add: relaxed, so a concurrent reader sees an old or a
 * new value, never a torn one. */
static inline void metrics_add(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
}

static inline void metrics_set(uint64_t *gauge, uint64_t v)
{
	__atomic_store_n(gauge, v, __ATOMIC_RELAXED);
}

static inline uint64_t metrics_read(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

unsigned metrics_qtype_index(uint16_t qtype);
unsigned metrics_rcode_index(unsigned rcode);
unsigned metrics_route_index(uint16_t slot);
unsigned metrics_chain_index(uint32_t chain);
/* An attempt to health id `id` answered after rtt_us. */
void metrics_upstream_rtt(metrics_t *m, uint16_t id, uint32_t rtt_us);

#endif
