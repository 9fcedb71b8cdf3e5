/*
 * The miss path's ExpressRoute audit: judge, count, log (audit.h).
 *
 * The log line names everything an operator needs to chase an outside
 * answer without a packet capture: the route, the name and type, the
 * address, the upstream that gave it, and the nearest ExpressRoute prefix
 * with its endpoint set (a hint at which service the address should have
 * belonged to: a front end Microsoft moved, or an HQ resolver breaking out
 * to the internet). One line per second per route at most, shared by all
 * workers (util/ratelimit.h), and the next line says how many were held
 * back: a resolver answering every Exchange name from the internet path
 * must not flood the journal, but it must not look like one event either.
 * The counters count every answer.
 */
#include "server/audit.h"

#include <arpa/inet.h>
#include <stdio.h>

#include "dns/dname.h"
#include "util/log.h"
#include "util/sockaddr.h"

static void nearest_text(const config_m365_t *route, const er_judgement_t *j, char *out, size_t len)
{
	prefix_hit_t hit;
	if (!prefixset_nearest(route->prefixes, j->outside_family, j->outside_addr, &hit)) {
		snprintf(out, len, "none of its family");
		return;
	}
	char prefix[64];
	netblock_format(&hit.prefix, prefix, sizeof(prefix));
	snprintf(out, len, "%s, endpoint set %d", prefix, (int)hit.set_ids[0]);
}

static void log_outside(const audit_answer_t *a, const er_judgement_t *j)
{
	uint64_t held = 0;
	if (!ratelimit_pass(a->route->outside_log, a->now_ms, ER_AUDIT_LOG_INTERVAL_MS, &held))
		return;
	char name[ER_DNAME_TEXT_MAX], addr[INET6_ADDRSTRLEN], from[ER_SOCKADDR_TEXT_MAX];
	char nearest[128], more[96] = "";
	dname_to_text(a->q->qname, name);
	inet_ntop(j->outside_family, j->outside_addr, addr, sizeof(addr));
	sockaddr_format(a->upstream, from, sizeof(from));
	nearest_text(a->route, j, nearest, sizeof(nearest));
	if (held > 0)
		snprintf(more, sizeof(more), "; %llu more outside answers on this route not logged",
			 (unsigned long long)held);
	log_warn("ExpressRoute audit: %s: %s %s %s from %s is outside the list's ExpressRoute "
		 "prefixes (nearest %s); %s%s",
		 a->route->route, name, a->q->qtype == DNS_TYPE_A ? "A" : "AAAA", addr, from,
		 nearest,
		 a->route->audit == ER_AUDIT_FALLBACK
		     ? "not relayed, the next group is asked (audit: fallback)"
		     : "relayed (audit: observe)",
		 more);
}

er_word_t audit_cached_er(cache_t *cache, const config_t *c, const route_decision_t *d,
			  const uint8_t *qname, uint64_t now_ms)
{
	static const uint16_t types[] = { DNS_TYPE_A, DNS_TYPE_AAAA };
	if (config_m365_of(c, d->rule) == NULL)
		return ER_WORD_NA;
	er_word_t er = ER_WORD_UNKNOWN;
	for (size_t i = 0; i < 2 * sizeof(types) / sizeof(types[0]); i++) {
		dns_query_t q = { .qname = qname, .qname_len = dname_wire_len(qname, ER_DNAME_MAX),
				  .qtype = types[i / 2], .qclass = DNS_CLASS_IN, .edns_do = i % 2 };
		cache_key_t key = cache_key_from_query(&q, d->action, c->route_epoch);
		cache_peek_info_t peek;
		if (cache_peek(cache, &key, now_ms, &peek) == CACHE_HIT)
			er = er_word_worse(er, er_word_of(peek.is_fallback, peek.er_verdict));
	}
	return er;
}

er_verdict_t audit_answer(const audit_answer_t *a)
{
	if (a->q->qtype != DNS_TYPE_A && a->q->qtype != DNS_TYPE_AAAA)
		return ER_VERDICT_UNJUDGED;
	er_judgement_t j;
	(void)er_audit_judge(a->route->prefixes, a->q->qname, a->resp, a->len,
			     &j); /* NONE on error */
	metrics_add(&a->stats->er_audit[metrics_route_index(a->route->route_slot)][j.verdict - 1],
		    1);
	if (j.verdict == ER_VERDICT_OUTSIDE)
		log_outside(a, &j);
	return j.verdict;
}
