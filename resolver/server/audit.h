/*
 * The ExpressRoute audit on the miss path (SPEC 2.2): every A/AAAA answer
 * the first group of an m365 route's chain gives is judged against the
 * route's prefixes (routing/er_audit.h), counted per route and verdict
 * (erdns_er_audit_answers_total), and an outside answer is logged, at most
 * once per second per route. What the verdict does to the query (relay, or
 * the outcome table's `outside` row under `audit: fallback`) is the
 * forwarder's business (forward.c).
 */
#ifndef ERDNS_SERVER_AUDIT_H
#define ERDNS_SERVER_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cache/cache.h"
#include "config/config.h"
#include "dns/wire.h"
#include "ops/metrics.h"

/* The outside answers' log line: at most one per route per this many ms. */
#define ER_AUDIT_LOG_INTERVAL_MS 1000

/* One upstream answer to judge; every pointer borrowed for the call. */
typedef struct audit_answer {
	const config_m365_t *route; /* the m365 route that decided the question */
	const dns_query_t *q;	    /* the question asked upstream */
	const uint8_t *resp;
	size_t len;
	const struct sockaddr *upstream; /* who answered, for the log */
	metrics_t *stats;		 /* the worker's */
	uint64_t now_ms;
} audit_answer_t;

/* The verdict on a->resp: UNJUDGED for a question other than A/AAAA (not
 * counted), else INSIDE, OUTSIDE or NONE, counted; OUTSIDE also logged
 * (rate-limited per route). */
er_verdict_t audit_answer(const audit_answer_t *a);

/*
 * SPEC 3's `er=` of the routing check (CHAOS, `erdns ctl explain`) for
 * qname (wire) decided by d under snapshot c: n/a unless an m365 route's
 * own rule decided; else the word for what the cache holds now on d's
 * chain: the A and AAAA answers (DO clear and set), peeked without side
 * effects and combined by er_word_worse; unknown when none is cached.
 */
er_word_t audit_cached_er(cache_t *cache, const config_t *c, const route_decision_t *d,
			  const uint8_t *qname, uint64_t now_ms);

#endif
