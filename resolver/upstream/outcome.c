/*
 * SPEC 2.1's outcome table. Error rcodes leave the server alive: one name
 * an HQ resolver cannot resolve must never push every Microsoft 365 query
 * off ExpressRoute, which is what counting SERVFAIL as a failure did. They
 * are not RTT samples either: a SERVFAIL often arrives after the server's
 * own upstream timed out, which says nothing about the path to it.
 *
 * An answer outside the ExpressRoute prefixes (under `audit: fallback`)
 * moves to the next group, not the next server: the servers of one group
 * are one site's resolvers and share its view of Microsoft's geo-DNS, so
 * a sibling would most likely answer the same front end. The server is
 * alive (it answered); SPEC 2.1 takes no RTT sample from this row.
 */
#include "upstream/outcome.h"

#include <errno.h>

#include "dns/wire.h"

static const outcome_rule_t table[OUTCOME_COUNT] = {
	[OUTCOME_TIMEOUT] = { QUERY_NEXT_SERVER, HEALTH_FAILURE, "timeout" },
	[OUTCOME_NETWORK_ERROR] = { QUERY_NEXT_SERVER, HEALTH_FAILURE, "network error" },
	[OUTCOME_GARBAGE] = { QUERY_NEXT_SERVER, HEALTH_FAILURE, "garbage" },
	[OUTCOME_ERROR_RCODE] = { QUERY_NEXT_SERVER_ONCE, HEALTH_ALIVE, "error rcode" },
	[OUTCOME_ANSWER] = { QUERY_RELAY, HEALTH_ALIVE_RTT, "answer" },
	[OUTCOME_OUTSIDE] = { QUERY_NEXT_GROUP, HEALTH_ALIVE, "outside the ExpressRoute prefixes" },
};

outcome_t outcome_audit(outcome_t o, er_verdict_t v, er_audit_policy_t policy)
{
	if (o == OUTCOME_ANSWER && v == ER_VERDICT_OUTSIDE && policy == ER_AUDIT_FALLBACK)
		return OUTCOME_OUTSIDE;
	return o;
}

outcome_t outcome_classify(int status, const uint8_t *resp, size_t len)
{
	if (status == -ETIMEDOUT) /* UV_ETIMEDOUT on Unix; attempt.c asserts it */
		return OUTCOME_TIMEOUT;
	if (status == -EBADMSG)
		return OUTCOME_GARBAGE;
	if (status < 0)
		return OUTCOME_NETWORK_ERROR;
	if (resp == NULL || len < ER_DNS_HEADER_LEN)
		return OUTCOME_GARBAGE;
	switch (DNS_RCODE(wire_read_u16(resp + 2))) {
	case DNS_RCODE_SERVFAIL:
	case DNS_RCODE_REFUSED:
	case DNS_RCODE_FORMERR:
	case DNS_RCODE_NOTIMP:
		return OUTCOME_ERROR_RCODE;
	default:
		return OUTCOME_ANSWER;
	}
}

const outcome_rule_t *outcome_rule(outcome_t o)
{
	return &table[o < OUTCOME_COUNT ? o : OUTCOME_GARBAGE];
}
