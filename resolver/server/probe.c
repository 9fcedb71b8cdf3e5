/*
 * Active health probes (SPEC 2.1). Passive health marks an address down
 * after max_fails failures; from then on every worker skips it, so
 * something else must notice when it comes back. One prober serves the
 * whole server (SPEC 2.1: "one probe runs per down address"); it runs on
 * worker 0's loop, which ticks it every ER_HEALTH_SYNC_MS. Each tick it
 * asks the health table which addresses are due (down, named by the
 * current config, trial time reached) and sends each one ". NS" (any
 * server can answer it from its root hints or forwarders; dnsdist's
 * default check is similar). What the result does to the address is the
 * health column of the outcome table (upstream/outcome.h), as for queries:
 * an answer marks it up, a failure doubles the wait (up to 30 s).
 */
#include "server/probe.h"

#include <stdlib.h>

#include "dns/reply.h"
#include "upstream/outcome.h"
#include "util/log.h"
#include "util/sockaddr.h"

typedef struct probe {
	prober_t *prober;
	uint16_t id;
	void *attempt; /* in flight, or NULL */
} probe_t;

struct prober {
	outbound_t out;
	health_table_t *health;
	health_view_t *view;
	metrics_t *stats;
	probe_t probes[ER_HEALTH_MAX_ADDRS]; /* by health id */
};

static const uint8_t root_name[1] = { 0 };

prober_t *prober_new(const outbound_t *out, health_table_t *health, health_view_t *view,
		     metrics_t *stats)
{
	prober_t *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	*p = (prober_t){ .out = *out, .health = health, .view = view, .stats = stats };
	for (size_t i = 0; i < ER_HEALTH_MAX_ADDRS; i++)
		p->probes[i] = (probe_t){ .prober = p, .id = (uint16_t)i };
	return p;
}

void prober_free(prober_t *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < ER_HEALTH_MAX_ADDRS; i++) {
		if (p->probes[i].attempt)
			p->out.cancel(p->out.ctx, p->probes[i].attempt);
	}
	free(p);
}

static void log_address(const prober_t *p, uint16_t id, const char *what)
{
	char addr[ER_SOCKADDR_TEXT_MAX];
	sockaddr_format(health_table_addr(p->health, id), addr, sizeof(addr));
	log_info("upstream %s %s", addr, what);
}

static void on_probe_done(void *owner, int status, const uint8_t *resp, size_t len,
			  uint32_t rtt_us)
{
	probe_t *probe = owner;
	prober_t *p = probe->prober;
	probe->attempt = NULL;
	outcome_t outcome = outcome_classify(status, resp, len);
	bool marked_up = false;
	switch (outcome_rule(outcome)->health) {
	case HEALTH_FAILURE:
		health_table_on_failure(p->health, p->view, probe->id, outcome == OUTCOME_TIMEOUT,
					p->out.now_ms(p->out.ctx));
		return;
	case HEALTH_ALIVE:
		marked_up = health_table_on_alive(p->health, probe->id);
		break;
	case HEALTH_ALIVE_RTT:
		marked_up = health_table_on_success(p->health, p->view, probe->id, rtt_us);
		break;
	}
	if (marked_up) {
		metrics_add(&p->stats->servers_up, 1);
		metrics_add(&p->stats->upstream[probe->id].marked_up, 1);
		log_address(p, probe->id, "answers probes again: marked up");
	}
}

static void probe_start(prober_t *p, probe_t *probe, const health_policy_t *policy)
{
	dns_query_t q = {
		.flags = DNS_FLAG_RD,
		.qname = root_name,
		.qname_len = sizeof(root_name),
		.qtype = DNS_TYPE_NS,
		.qclass = DNS_CLASS_IN,
	};
	attempt_params_t params = {
		.server = health_table_addr(p->health, probe->id),
		.query = &q,
		.timeout_ms = policy->timeout_ms,
		.tcp_only = policy->tcp_only,
	};
	probe->attempt = p->out.start(p->out.ctx, &params, on_probe_done, probe);
	if (probe->attempt)
		metrics_add(&p->stats->probes_sent, 1);
}

void prober_tick(prober_t *p)
{
	uint64_t now = p->out.now_ms(p->out.ctx);
	size_t n = health_table_size(p->health);
	for (size_t i = 0; i < n; i++) {
		probe_t *probe = &p->probes[i];
		health_policy_t policy;
		if (probe->attempt == NULL &&
		    health_table_take_probe(p->health, (uint16_t)i, now, &policy))
			probe_start(p, probe, &policy);
	}
}
