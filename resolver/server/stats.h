/*
 * Counters, one table (SPEC 4 metrics will render it). Each worker owns one
 * stats_t and increments it without atomics; readers sum the workers' tables
 * and accept slightly stale values. X-macro: add a row here, get the enum,
 * the field and the name.
 */
#ifndef ERDNS_SERVER_STATS_H
#define ERDNS_SERVER_STATS_H

#include <stdint.h>

#define ER_STATS_TABLE(X)                                                                  \
	X(queries_udp, "queries received over UDP")                                        \
	X(queries_tcp, "queries received over TCP")                                        \
	X(refused_acl, "queries refused by the allow list")                                \
	X(malformed_dropped, "datagrams dropped: no readable header")                      \
	X(formerr_sent, "FORMERR replies to malformed queries")                            \
	X(notimp_sent, "NOTIMP replies (opcode, class or transfer)")                       \
	X(chaos_answers, "CHAOS TXT answers")                                              \
	X(local_answers, "answers from local zones")                                       \
	X(forwarded, "queries forwarded upstream")                                         \
	X(upstream_attempts, "attempts sent to upstream servers")                          \
	X(upstream_timeouts, "attempts that timed out")                                    \
	X(late_answers, "answers that arrived after their attempt's timeout and won")      \
	X(upstream_errors, "attempts failed by network errors or garbage")                 \
	X(upstream_servfail, "attempts answered with an error rcode (SERVFAIL, REFUSED, ...)") \
	X(upstream_tcp_retries, "truncated UDP answers retried over TCP")                  \
	X(upstream_tcp_connects, "pooled TCP connections opened to upstreams")             \
	X(upstream_tcp_reused, "upstream TCP queries sent on an already used connection")  \
	X(upstream_tcp_pool_full, "upstream TCP queries on a connection of their own")     \
	X(mismatched_dropped, "upstream datagrams dropped: wrong source, ID or question")  \
	X(failovers, "queries moved to the next group of their chain")                     \
	X(servers_down, "servers marked down")                                             \
	X(servers_up, "servers marked up again")                                           \
	X(probes_sent, "health probes sent to servers marked down")                        \
	X(servfail_sent, "SERVFAIL replies after the chain failed")                        \
	X(stale_sent, "stale answers served after the chain failed (EDE 3)")               \
	X(coalesced, "queries that joined an identical question already upstream")        \
	X(prefetches, "background refreshes of popular entries near expiry")              \
	X(cache_answers, "answers from the cache")                                         \
	X(truncated_sent, "replies truncated to the client's size (TC=1)")                 \
	X(overload_dropped, "queries dropped: too many in flight")                         \
	X(replies_dropped, "UDP replies dropped: the socket's send queue was full")       \
	X(tcp_rejected, "TCP connections refused: too many open")

typedef struct stats {
#define ER_STATS_FIELD(name, help) uint64_t name;
	ER_STATS_TABLE(ER_STATS_FIELD)
#undef ER_STATS_FIELD
} stats_t;

#endif
