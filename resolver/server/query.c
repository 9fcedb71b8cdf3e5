/*
 * The per-query pipeline, top to bottom (STYLE: listener -> ACL -> CHAOS ->
 * local zone -> route -> upstream -> reply). Everything up to the route is
 * answered synchronously from a thread-local buffer; only forwarding
 * allocates (the forward_t that outlives this call).
 */
#include <stdio.h>
#include <string.h>

#include "config/describe.h"
#include "dns/chaos.h"
#include "dns/reply.h"
#include "server/worker.h"
#include "util/sockaddr.h"


static _Thread_local uint8_t out_buf[ER_REPLY_MAX];

void query_reply(worker_t *w, const client_t *client, const uint8_t *msg, size_t len)
{
	(void)w;
	if (client == NULL) /* a prefetch: nobody to answer */
		return;
	if (client->conn)
		tcp_conn_send(client->conn, msg, len);
	else
		udp_listener_send(client->udp, (const struct sockaddr *)&client->addr, msg, len);
}

static void reply_error(worker_t *w, const client_t *client, const dns_query_t *q, int rcode,
			int ede)
{
	size_t len = reply_build_error(q, rcode, ede, out_buf, sizeof(out_buf));
	if (len > 0)
		query_reply(w, client, out_buf, len);
}

/* The routing check: the offline description plus this worker's live view
 * of the first group (which server it would ask now, and its RTT). */
static void describe_live(worker_t *w, const client_t *client, const dns_query_t *q,
			  char *text, size_t len)
{
	const config_t *c = w->config;
	route_description_t d;
	describe_route(c, q->qname, (const struct sockaddr *)&client->addr, &d);
	size_t used = describe_route_text(c, &d, text, len);
	if (d.is_local)
		return;
	size_t gi = d.chain->groups[0];
	const config_group_t *g = &c->groups[gi];
	uint8_t order[ER_GROUP_MAX_SERVERS];
	uint32_t cursor = w->upstreams.rr_cursor[gi];
	/* UINT32_MAX: a random value that never explores, so the answer is the
	 * server the policy prefers, not a coin toss. */
	size_t n = select_order(g->select, worker_health(w, gi, 0), g->n_servers, &cursor,
				UINT32_MAX, uv_now(&w->loop), order);
	if (n == 0)
		return;
	char addr[ER_SOCKADDR_TEXT_MAX];
	sockaddr_format((const struct sockaddr *)&g->servers[order[0]], addr, sizeof(addr));
	int32_t rtt = rtt_srtt_ms(&worker_health(w, gi, order[0])->rtt);
	if (rtt >= 0)
		snprintf(text + used, len - used, " upstream=%s rtt_ms=%d", addr, (int)rtt);
	else
		snprintf(text + used, len - used, " upstream=%s rtt_ms=unknown", addr);
}

static void answer_chaos(worker_t *w, const client_t *client, const dns_query_t *q)
{
	const config_t *c = w->config;
	char text[2048];
	switch (chaos_classify(q->qname)) {
	case CHAOS_ID_SERVER:
	case CHAOS_HOSTNAME_BIND:
		snprintf(text, sizeof(text), "%s", c->identity);
		break;
	case CHAOS_VERSION_SERVER:
		snprintf(text, sizeof(text), "erdns %s", ERDNS_VERSION);
		break;
	case CHAOS_ROUTING:
		describe_live(w, client, q, text, sizeof(text));
		break;
	}
	w->stats.chaos_answers++;
	size_t len = reply_build_txt(q, text, out_buf, sizeof(out_buf));
	if (len > 0)
		query_reply(w, client, out_buf, len);
}

static void answer_local(worker_t *w, const client_t *client, const dns_query_t *q)
{
	static _Thread_local uint8_t zone_buf[ER_REPLY_MAX];
	size_t len = zoneset_answer(w->config->zones, q, zone_buf, sizeof(zone_buf));
	if (len == 0) {
		reply_error(w, client, q, DNS_RCODE_SERVFAIL, ER_EDE_NONE);
		return;
	}
	size_t limit = reply_size_limit(q, client->conn != NULL);
	size_t out = reply_finalize(q, zone_buf, len, ER_EDE_NONE, limit, out_buf,
				    sizeof(out_buf));
	w->stats.local_answers++;
	if (out > 0)
		query_reply(w, client, out_buf, out);
}

/* A fresh cached answer for this route; one in the last tenth of its TTL is
 * also refreshed in the background (prefetch), so popular names never
 * expire under their clients. `ecs: pass` queries bypass the cache. */
static bool answer_from_cache(worker_t *w, const client_t *client, const uint8_t *pkt,
			      size_t len, const dns_query_t *q, uint32_t chain)
{
	static _Thread_local uint8_t cache_buf[ER_REPLY_MAX];
	if (!forward_is_shareable(w, q, chain))
		return false;
	cache_key_t key = cache_key_from_query(q, chain);
	cache_copy_t copy = { .out = cache_buf, .cap = sizeof(cache_buf), .id = q->id };
	if (cache_lookup(w->cache, &key, uv_now(&w->loop), &copy) != CACHE_HIT)
		return false;
	size_t limit = reply_size_limit(q, client->conn != NULL);
	size_t out = reply_finalize_forwarded(q, cache_buf, copy.len, ER_EDE_NONE, limit, out_buf,
					      sizeof(out_buf));
	if (out == 0)
		return false;
	w->stats.cache_answers++;
	query_reply(w, client, out_buf, out);
	if (copy.should_prefetch && w->config->cache.prefetch)
		forward_start(w, NULL, pkt, len, q, chain);
	return true;
}

/* Answers what needs no upstream; returns false when the query is to be
 * forwarded. */
static bool answer_locally(worker_t *w, const client_t *client, wire_status_t st,
			   const dns_query_t *q)
{
	switch (st) {
	case WIRE_FORMERR:
		w->stats.formerr_sent++;
		reply_error(w, client, q, DNS_RCODE_FORMERR, ER_EDE_NONE);
		return true;
	case WIRE_NOTIMP:
		w->stats.notimp_sent++;
		reply_error(w, client, q, DNS_RCODE_NOTIMP, ER_EDE_NONE);
		return true;
	case WIRE_BADVERS:
		reply_error(w, client, q, DNS_RCODE_BADVERS, ER_EDE_NONE);
		return true;
	default:
		break;
	}
	if (q->qclass == DNS_CLASS_CH && q->qtype == DNS_TYPE_TXT) {
		answer_chaos(w, client, q);
		return true;
	}
	/* A forwarder serves class IN; zone transfers are not proxied. */
	if (q->qclass != DNS_CLASS_IN || q->qtype == DNS_TYPE_AXFR ||
	    q->qtype == DNS_TYPE_IXFR) {
		w->stats.notimp_sent++;
		reply_error(w, client, q, DNS_RCODE_NOTIMP, ER_EDE_NONE);
		return true;
	}
	if (w->config->zones && zoneset_find(w->config->zones, q->qname)) {
		answer_local(w, client, q);
		return true;
	}
	return false;
}

void query_receive(worker_t *w, const client_t *client, const uint8_t *pkt, size_t len)
{
	dns_query_t q;
	wire_status_t st = wire_parse_query(pkt, len, &q);
	if (st == WIRE_DROP) {
		w->stats.malformed_dropped++;
		return;
	}
	const struct sockaddr *from = (const struct sockaddr *)&client->addr;
	if (!acl_allows(w->config->allow, from)) {
		w->stats.refused_acl++;
		reply_error(w, client, &q, DNS_RCODE_REFUSED, ER_EDE_NONE);
		return;
	}
	if (answer_locally(w, client, st, &q))
		return;
	route_decision_t d;
	router_decide(w->config->router, q.qname, from, &d);
	if (answer_from_cache(w, client, pkt, len, &q, d.action))
		return;
	forward_start(w, client, pkt, len, &q, d.action);
}
