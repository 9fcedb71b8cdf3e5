/*
 * Active health probes (SPEC 2.1). Passive health marks a server down after
 * max_fails failures; from then on queries skip it, so something else must
 * notice when it comes back: every ER_PROBE_TICK_MS the worker looks for
 * down servers whose probe time has come and sends each one ". NS" (any
 * server can answer it from its root hints or forwarders; dnsdist's default
 * check is similar). A valid answer marks the server up; a failure doubles
 * the wait (probe_interval_ms up to 30 s, select.c). One probe per server at
 * a time. Probe slots live in the per-snapshot upstream table and are
 * cancelled before the table is freed, so a callback never sees a stale slot.
 */
#include <stdlib.h>
#include <string.h>

#include "dns/reply.h"
#include "server/worker.h"
#include "upstream/attempt.h"
#include "util/log.h"
#include "util/sockaddr.h"

struct probe {
	worker_t *worker;
	const config_t *config;
	size_t group, server;
	attempt_t *attempt;
};

static const uint8_t root_name[1] = { 0 };

int probe_table_init(upstream_table_t *t, worker_t *w, const config_t *c)
{
	t->probes = calloc(t->n_servers ? t->n_servers : 1, sizeof(*t->probes));
	if (t->probes == NULL)
		return UV_ENOMEM;
	for (size_t g = 0; g < c->n_groups; g++) {
		for (size_t s = 0; s < c->groups[g].n_servers; s++) {
			probe_t *p = &t->probes[t->first[g] + s];
			*p = (probe_t){ .worker = w, .config = c, .group = g, .server = s };
		}
	}
	return 0;
}

void probe_table_cancel(upstream_table_t *t)
{
	for (size_t i = 0; t->probes && i < t->n_servers; i++) {
		if (t->probes[i].attempt) {
			attempt_cancel(t->probes[i].attempt);
			t->probes[i].attempt = NULL;
		}
	}
}

static void log_server(const probe_t *p, const char *what)
{
	char addr[ER_SOCKADDR_TEXT_MAX];
	const config_group_t *g = &p->config->groups[p->group];
	sockaddr_format((const struct sockaddr *)&g->servers[p->server], addr, sizeof(addr));
	log_info("upstream %s (group %s) %s", addr, g->name, what);
}

static void on_probe_done(void *owner, int status, const uint8_t *resp, size_t len,
			  uint32_t rtt_us)
{
	probe_t *p = owner;
	worker_t *w = p->worker;
	(void)len;
	p->attempt = NULL;
	server_health_t *h = worker_health(w, p->group, p->server);
	const config_group_t *g = &p->config->groups[p->group];
	unsigned rcode = status == 0 ? DNS_RCODE(wire_read_u16(resp + 2)) : DNS_RCODE_SERVFAIL;
	if (status == 0 && rcode != DNS_RCODE_SERVFAIL && rcode != DNS_RCODE_REFUSED) {
		if (health_on_success(h, rtt_us)) {
			w->stats.servers_up++;
			log_server(p, "answers probes again: marked up");
		}
		return;
	}
	health_on_failure(h, status == UV_ETIMEDOUT, g->max_fails, g->probe_interval_ms,
			  uv_now(&w->loop));
}

static void probe_start(probe_t *p, uint64_t now)
{
	worker_t *w = p->worker;
	const config_group_t *g = &p->config->groups[p->group];
	dns_query_t q = {
		.flags = DNS_FLAG_RD,
		.qname = root_name,
		.qname_len = sizeof(root_name),
		.qtype = DNS_TYPE_NS,
		.qclass = DNS_CLASS_IN,
	};
	attempt_params_t params = {
		.server = (const struct sockaddr *)&g->servers[p->server],
		.query = &q,
		.timeout_ms = g->timeout_ms,
		.tcp_only = g->tcp == TCP_MODE_ALWAYS,
		.stats = &w->stats,
		.tcp_pool = w->tcp_pool,
		.udp_pool = w->udp_pool,
	};
	health_on_trial_started(worker_health(w, p->group, p->server), now);
	p->attempt = attempt_start(&w->loop, &params, on_probe_done, p);
	if (p->attempt)
		w->stats.probes_sent++;
}

void probe_tick(worker_t *w)
{
	upstream_table_t *t = &w->upstreams;
	uint64_t now = uv_now(&w->loop);
	for (size_t i = 0; i < t->n_servers; i++) {
		probe_t *p = &t->probes[i];
		const server_health_t *h = &t->health[i];
		if (h->is_down && p->attempt == NULL && now >= h->next_probe_ms)
			probe_start(p, now);
	}
}
