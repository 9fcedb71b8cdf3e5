/*
 * The per-query pipeline, top to bottom (STYLE: listener -> ACL -> CHAOS ->
 * local zone -> route -> upstream -> reply). Everything up to the route is
 * answered synchronously from a thread-local buffer; only forwarding
 * allocates (the forward_t that outlives this call).
 */
#include <stdio.h>
#include <string.h>

#include "server/query.h"

#include "config/describe.h"
#include "dns/chaos.h"
#include "dns/reply.h"
#include "server/forward.h"
#include "server/tcp_listener.h"
#include "server/udp_listener.h"
#include "util/sockaddr.h"


static _Thread_local uint8_t out_buf[ER_REPLY_MAX];

void query_reply(void *worker, const client_t *client, const uint8_t *msg, size_t len)
{
	(void)worker;
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

/* The routing check: the offline description plus the live view of the
 * first group (which server a query would ask now, and its RTT). */
static void describe_live(worker_t *w, const client_t *client, const dns_query_t *q,
			  char *text, size_t len)
{
	const config_t *c = worker_config(w);
	route_description_t d;
	describe_route(c, q->qname, (const struct sockaddr *)&client->addr, &d);
	size_t used = describe_route_text(c, &d, text, len);
	if (d.is_local)
		return;
	size_t gi = d.chain->groups[0];
	int s = forwarder_preferred_server(worker_forwarder(w), gi, uv_now(worker_loop(w)));
	if (s < 0)
		return;
	const config_group_t *g = &c->groups[gi];
	char addr[ER_SOCKADDR_TEXT_MAX];
	sockaddr_format((const struct sockaddr *)&g->servers[s], addr, sizeof(addr));
	int32_t rtt = rtt_srtt_ms(health_view_rtt(worker_health_view(w), g->health_ids[s]));
	if (rtt >= 0)
		snprintf(text + used, len - used, " upstream=%s rtt_ms=%d", addr, (int)rtt);
	else
		snprintf(text + used, len - used, " upstream=%s rtt_ms=unknown", addr);
}

static void answer_chaos(worker_t *w, const client_t *client, const dns_query_t *q)
{
	const config_t *c = worker_config(w);
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
	metrics_add(&worker_stats(w)->chaos_answers, 1);
	size_t len = reply_build_txt(q, text, out_buf, sizeof(out_buf));
	if (len > 0)
		query_reply(w, client, out_buf, len);
}

static void answer_local(worker_t *w, const client_t *client, const dns_query_t *q)
{
	static _Thread_local uint8_t zone_buf[ER_REPLY_MAX];
	size_t len = zoneset_answer(worker_config(w)->zones, q, zone_buf, sizeof(zone_buf));
	if (len == 0) {
		reply_error(w, client, q, DNS_RCODE_SERVFAIL, ER_EDE_NONE);
		return;
	}
	size_t limit = reply_size_limit(q, client->conn != NULL);
	size_t out = reply_finalize(q, zone_buf, len, ER_EDE_NONE, limit, out_buf,
				    sizeof(out_buf));
	metrics_add(&worker_stats(w)->local_answers, 1);
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
	const config_t *c = worker_config(w);
	if (!forward_is_shareable(c, q, chain))
		return false;
	cache_key_t key = cache_key_from_query(q, chain, c->route_epoch);
	cache_copy_t copy = { .out = cache_buf, .cap = sizeof(cache_buf), .id = q->id };
	if (cache_lookup(worker_cache(w), &key, uv_now(worker_loop(w)), &copy) != CACHE_HIT)
		return false;
	size_t limit = reply_size_limit(q, client->conn != NULL);
	size_t out = reply_finalize_forwarded(q, cache_buf, copy.len, ER_EDE_NONE, limit, out_buf,
					      sizeof(out_buf));
	if (out == 0)
		return false;
	metrics_add(&worker_stats(w)->cache_answers, 1);
	query_reply(w, client, out_buf, out);
	if (copy.should_prefetch && c->cache.prefetch)
		forward_start(worker_forwarder(w), NULL, pkt, len, q, chain);
	return true;
}

/* Answers what needs no upstream; returns false when the query is to be
 * forwarded. */
static bool answer_locally(worker_t *w, const client_t *client, wire_status_t st,
			   const dns_query_t *q)
{
	switch (st) {
	case WIRE_FORMERR:
		metrics_add(&worker_stats(w)->formerr_sent, 1);
		reply_error(w, client, q, DNS_RCODE_FORMERR, ER_EDE_NONE);
		return true;
	case WIRE_NOTIMP:
		metrics_add(&worker_stats(w)->notimp_sent, 1);
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
		metrics_add(&worker_stats(w)->notimp_sent, 1);
		reply_error(w, client, q, DNS_RCODE_NOTIMP, ER_EDE_NONE);
		return true;
	}
	if (worker_config(w)->zones && zoneset_find(worker_config(w)->zones, q->qname)) {
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
		metrics_add(&worker_stats(w)->malformed_dropped, 1);
		return;
	}
	const struct sockaddr *from = (const struct sockaddr *)&client->addr;
	if (!acl_allows(worker_config(w)->allow, from)) {
		metrics_add(&worker_stats(w)->refused_acl, 1);
		reply_error(w, client, &q, DNS_RCODE_REFUSED, ER_EDE_NONE);
		return;
	}
	if (answer_locally(w, client, st, &q))
		return;
	route_decision_t d;
	router_decide(worker_config(w)->router, q.qname, from, &d);
	if (answer_from_cache(w, client, pkt, len, &q, d.action))
		return;
	forward_start(worker_forwarder(w), client, pkt, len, &q, d.action);
}
