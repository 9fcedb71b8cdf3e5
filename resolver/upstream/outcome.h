/*
 * What one upstream attempt's result does (SPEC 2.1, "What an upstream
 * answer does"), as a table: to the query (where it goes next) and to the
 * server's health. Pure. The forwarder (server/forward.c) and the prober
 * (server/probe.c) both act on outcome_rule(), so the two cannot disagree.
 *
 * One row of the SPEC table is carried out below this layer: TC=1 sends
 * the same server the question over TCP inside the attempt (attempt.c), and
 * the attempt's result is whatever that TCP exchange gives. Another is
 * decided above the attempt's result: an answer the ExpressRoute audit
 * judges outside on a route with `audit: fallback` (outcome_audit).
 */
#ifndef ERDNS_UPSTREAM_OUTCOME_H
#define ERDNS_UPSTREAM_OUTCOME_H

#include <stddef.h>
#include <stdint.h>

#include "routing/er_audit.h"

typedef enum {
	OUTCOME_TIMEOUT, /* no answer within the attempt timeout */
	OUTCOME_NETWORK_ERROR, /* ICMP unreachable, TCP reset, send failure */
	OUTCOME_GARBAGE, /* an unusable answer (wrong question over TCP, ...) */
	OUTCOME_ERROR_RCODE, /* SERVFAIL, REFUSED, FORMERR, NOTIMP */
	OUTCOME_ANSWER, /* anything else: NOERROR, NXDOMAIN, ... */
	OUTCOME_OUTSIDE, /* an answer judged outside, on a route with `audit: fallback` */
	OUTCOME_COUNT
} outcome_t;

typedef enum {
	/* the next server, then the next group; a later pass over the last
	 * group may ask this server again */
	QUERY_NEXT_SERVER,
	/* the next server, then the next group; never this server again for
	 * this query */
	QUERY_NEXT_SERVER_ONCE,
	QUERY_RELAY, /* the answer goes to the clients (and the cache) */
	/* the chain's next group at once (the answer is dropped); the other
	 * servers of this group are not asked for this question */
	QUERY_NEXT_GROUP,
} outcome_query_action_t;

typedef enum {
	HEALTH_FAILURE, /* counts toward max_fails */
	HEALTH_ALIVE, /* never marks down; marks up; no RTT sample */
	HEALTH_ALIVE_RTT, /* as ALIVE, and the round trip is an RTT sample */
} outcome_health_action_t;

typedef struct outcome_rule {
	outcome_query_action_t query;
	outcome_health_action_t health;
	const char *name; /* for logs and docs */
} outcome_rule_t;

/*
 * Classifies an attempt's result (upstream/attempt.h: status 0 with a
 * valid answer resp/len, UV_ETIMEDOUT, -EBADMSG for an unusable answer, any
 * other negative value for a network error).
 */
outcome_t outcome_classify(int status, const uint8_t *resp, size_t len);
/* SPEC 2.1's `outside` row: an answer (OUTCOME_ANSWER) with the verdict
 * ER_VERDICT_OUTSIDE under ER_AUDIT_FALLBACK becomes OUTCOME_OUTSIDE;
 * anything else keeps its class. */
outcome_t outcome_audit(outcome_t o, er_verdict_t v, er_audit_policy_t policy);
/* The table row for o. */
const outcome_rule_t *outcome_rule(outcome_t o);

#endif
