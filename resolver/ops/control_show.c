/*
 * The control commands that show state as tables: upstreams, explain and
 * cache-dump (control_impl.h). They read the shared health and the cache
 * without side effects (health_table_info, cache_peek, cache_dump), so
 * looking never changes what a query would do next.
 *
 * cache-dump is printed entry by entry into one growing buffer instead of
 * one cJSON tree: a tree of 100000 entries would hold 2.4 million small
 * allocations (a node and a key per field) at once, the text is 16.6 MB.
 */
#include "ops/control_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/describe.h"
#include "dns/dname.h"
#include "server/audit.h"
#include "util/sockaddr.h"

/* --- upstreams ----------------------------------------------------------- */

/* "2024-05-01T12:00:00Z", or "never" for 0. */
static void format_time(int64_t ms, char *buf, size_t len)
{
	if (ms == 0) {
		snprintf(buf, len, "never");
		return;
	}
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void add_rtt(cJSON *o, const rtt_t *rtt)
{
	int32_t ms = rtt_srtt_ms(rtt);
	if (ms >= 0)
		cJSON_AddNumberToObject(o, "rtt_ms", ms);
	else
		cJSON_AddNullToObject(o, "rtt_ms");
}

static cJSON *upstream_row(const config_group_t *g, size_t s, const health_table_t *t)
{
	health_info_t info;
	health_table_info(t, g->health_ids[s], &info);
	char addr[ER_SOCKADDR_TEXT_MAX], changed[32];
	sockaddr_format((const struct sockaddr *)&g->servers[s], addr, sizeof(addr));
	format_time(info.last_change_ms, changed, sizeof(changed));
	cJSON *row = cJSON_CreateObject();
	cJSON_AddStringToObject(row, "group", g->name);
	cJSON_AddStringToObject(row, "address", addr);
	cJSON_AddStringToObject(row, "state", info.is_down ? "down" : "up");
	add_rtt(row, &info.rtt);
	cJSON_AddNumberToObject(row, "failures", info.consecutive_fails);
	cJSON_AddStringToObject(row, "last_change", changed);
	return row;
}

void control_cmd_upstreams(const control_env_t *env, const control_request_t *req,
			   uint64_t now_ms, control_reply_t *out)
{
	(void)req;
	(void)now_ms;
	const config_t *c = env->config(env->ctx);
	out->json = control_ok();
	cJSON *rows = cJSON_AddArrayToObject(out->json, "upstreams");
	for (size_t g = 0; g < c->n_groups; g++) {
		for (size_t s = 0; s < c->groups[g].n_servers; s++)
			cJSON_AddItemToArray(rows, upstream_row(&c->groups[g], s, env->health));
	}
}

/* --- names of types and classes ------------------------------------------ */

/* The common types by name, the rest as RFC 3597 writes them ("TYPE65534"). */
static const char *type_name(uint16_t type, char *buf, size_t len)
{
	switch (type) {
#define ER_CTL_TYPE(name, value)                                                            \
	case value:                                                                         \
		return #name;
		ER_METRICS_QTYPES(ER_CTL_TYPE)
#undef ER_CTL_TYPE
	default:
		snprintf(buf, len, "TYPE%u", type);
		return buf;
	}
}

static const char *class_name(uint16_t qclass, char *buf, size_t len)
{
	if (qclass == DNS_CLASS_IN)
		return "IN";
	if (qclass == DNS_CLASS_CH)
		return "CH";
	snprintf(buf, len, "CLASS%u", qclass);
	return buf;
}

/* --- explain ------------------------------------------------------------- */

/* The server the chain's first group would ask now, from the shared health
 * (no exploration: random = UINT32_MAX; round-robin as from its start), and
 * its RTT; appended to text as the CHAOS answer has them. */
static void add_live(const control_env_t *env, const config_t *c, const config_chain_t *chain,
		     uint64_t now_ms, cJSON *o, char *text, size_t len)
{
	const config_group_t *g = &c->groups[chain->groups[0]];
	server_health_t health[ER_GROUP_MAX_SERVERS];
	health_table_fill(env->health, g->health_ids, g->n_servers, health);
	uint8_t order[ER_GROUP_MAX_SERVERS];
	uint32_t cursor = 0;
	size_t n = select_order(g->select, health, g->n_servers, &cursor, UINT32_MAX, now_ms, order);
	cJSON_AddStringToObject(o, "group", g->name);
	if (n == 0)
		return;
	char addr[ER_SOCKADDR_TEXT_MAX];
	sockaddr_format((const struct sockaddr *)&g->servers[order[0]], addr, sizeof(addr));
	cJSON_AddStringToObject(o, "upstream", addr);
	add_rtt(o, &health[order[0]].rtt);
	int32_t rtt = rtt_srtt_ms(&health[order[0]].rtt);
	size_t used = strlen(text);
	if (rtt >= 0)
		snprintf(text + used, len - used, " upstream=%s rtt_ms=%d", addr, (int)rtt);
	else
		snprintf(text + used, len - used, " upstream=%s rtt_ms=unknown", addr);
}

/* Whether the chain has a cached answer for qname, type by type (class IN,
 * no DO/CD: what a plain client query would find). */
static void add_cache_state(const control_env_t *env, const config_t *c, const uint8_t *qname,
			    uint32_t chain, uint64_t now_ms, cJSON *o)
{
	static const uint16_t types[] = { DNS_TYPE_A, DNS_TYPE_AAAA };
	static const char *const states[] = { [CACHE_MISS] = "none", [CACHE_HIT] = "hit",
					      [CACHE_STALE] = "stale" };
	cJSON *arr = cJSON_AddArrayToObject(o, "cache");
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		cache_key_t key = { .qname = qname, .qname_len = dname_wire_len(qname, ER_DNAME_MAX),
				    .chain = chain, .epoch = c->route_epoch, .qtype = types[i],
				    .qclass = DNS_CLASS_IN };
		cache_peek_info_t peek;
		cache_result_t r = cache_peek(env->cache, &key, now_ms, &peek);
		char buf[16];
		cJSON *row = cJSON_CreateObject();
		cJSON_AddStringToObject(row, "type", type_name(types[i], buf, sizeof(buf)));
		cJSON_AddStringToObject(row, "state", states[r]);
		cJSON_AddNumberToObject(row, "ttl", peek.ttl_left_s);
		cJSON_AddItemToArray(arr, row);
	}
}

static void add_route(const route_description_t *d, cJSON *o)
{
	const rule_t *rule = d->decision.rule;
	char source[1024];
	describe_rule_source(rule, true, source, sizeof(source));
	if (d->decision.view)
		cJSON_AddStringToObject(o, "view", d->decision.view);
	else
		cJSON_AddNullToObject(o, "view");
	cJSON_AddStringToObject(o, "rule", rule ? ruleset_rule_text(rule) : "default");
	cJSON_AddStringToObject(o, "source", source);
	cJSON_AddStringToObject(o, "via", d->chain->text);
}

void control_cmd_explain(const control_env_t *env, const control_request_t *req,
			 uint64_t now_ms, control_reply_t *out)
{
	const char *name = req->argv[1], *ip = req->argc > 2 ? req->argv[2] : NULL;
	uint8_t qname[ER_DNAME_MAX];
	struct sockaddr_storage client;
	if (dname_from_text(name, qname) == 0) {
		out->json = control_fail("explain: \"%s\" is not a valid domain name", name);
		return;
	}
	if (ip && sockaddr_parse(ip, 0, &client) < 0) {
		out->json = control_fail("explain: \"%s\" is not an IP address", ip);
		return;
	}
	const config_t *c = env->config(env->ctx);
	route_description_t d;
	describe_route(c, qname, ip ? (const struct sockaddr *)&client : NULL, &d);
	char text[2048];
	describe_route_text(c, &d, text, sizeof(text));
	out->json = control_ok();
	cJSON_AddStringToObject(out->json, "name", name);
	if (ip)
		cJSON_AddStringToObject(out->json, "client", ip);
	else
		cJSON_AddNullToObject(out->json, "client");
	cJSON_AddBoolToObject(out->json, "local", d.is_local);
	if (d.is_local) {
		cJSON_AddStringToObject(out->json, "zone", d.zone);
	} else {
		add_route(&d, out->json);
		add_live(env, c, d.chain, now_ms, out->json, text, sizeof(text));
		add_cache_state(env, c, qname, d.decision.action, now_ms, out->json);
	}
	/* SPEC 3: the routing check ends with the ExpressRoute audit's word */
	er_word_t er = d.is_local ? ER_WORD_NA
				  : audit_cached_er(env->cache, c, &d.decision, qname, now_ms);
	cJSON_AddStringToObject(out->json, "er", er_word_name(er));
	size_t used = strlen(text);
	snprintf(text + used, sizeof(text) - used, " er=%s", er_word_name(er));
	cJSON_AddStringToObject(out->json, "text", text);
}

/* --- cache-dump ---------------------------------------------------------- */

typedef struct dump {
	const config_t *config;
	char *buf;
	size_t len, cap;
	size_t n;
	bool is_truncated, is_oom;
} dump_t;

static void append(dump_t *d, const char *s)
{
	size_t n = strlen(s);
	if (d->is_oom)
		return;
	if (d->len + n + 1 > d->cap) {
		size_t cap = d->cap ? d->cap : 4096;
		while (d->len + n + 1 > cap)
			cap *= 2;
		char *p = realloc(d->buf, cap);
		if (p == NULL) {
			d->is_oom = true;
			return;
		}
		d->buf = p;
		d->cap = cap;
	}
	memcpy(d->buf + d->len, s, n + 1);
	d->len += n;
}

static cJSON *entry_json(const config_t *c, const cache_dump_entry_t *e)
{
	char name[ER_DNAME_TEXT_MAX], tbuf[16], cbuf[16];
	dname_to_text(e->name, name);
	bool is_current = e->epoch == c->route_epoch && e->chain < c->n_chains;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddStringToObject(o, "type", type_name(e->qtype, tbuf, sizeof(tbuf)));
	cJSON_AddStringToObject(o, "class", class_name(e->qclass, cbuf, sizeof(cbuf)));
	if (is_current)
		cJSON_AddStringToObject(o, "chain", c->chains[e->chain].text);
	else
		cJSON_AddNullToObject(o, "chain"); /* its index means nothing now */
	cJSON_AddBoolToObject(o, "old_routes", !is_current);
	cJSON_AddNumberToObject(o, "ttl", e->ttl_left_s);
	cJSON_AddBoolToObject(o, "stale", e->is_stale);
	cJSON_AddBoolToObject(o, "servfail", e->is_servfail);
	cJSON_AddBoolToObject(o, "fallback", e->is_fallback);
	cJSON_AddBoolToObject(o, "do", e->is_do);
	cJSON_AddBoolToObject(o, "cd", e->is_cd);
	return o;
}

static bool on_entry(const cache_dump_entry_t *e, void *ctx)
{
	dump_t *d = ctx;
	if (d->n == ER_CONTROL_DUMP_MAX) {
		d->is_truncated = true; /* there is one more */
		return false;
	}
	cJSON *o = entry_json(d->config, e);
	char *text = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (text == NULL) {
		d->is_oom = true;
		return false;
	}
	append(d, d->n ? "," : "");
	append(d, text);
	free(text);
	d->n++;
	return !d->is_oom;
}

void control_cmd_cache_dump(const control_env_t *env, const control_request_t *req,
			    uint64_t now_ms, control_reply_t *out)
{
	(void)req;
	dump_t d = { .config = env->config(env->ctx) };
	char head[64], tail[96];
	snprintf(head, sizeof(head), "{\"ok\":true,\"epoch\":%u,\"entries\":[",
		 (unsigned)d.config->route_epoch);
	append(&d, head);
	size_t n_dumped;
	int rc = cache_dump(env->cache, now_ms, on_entry, &d, &n_dumped);
	snprintf(tail, sizeof(tail), "],\"count\":%zu,\"truncated\":%s,\"max\":%d}", d.n,
		 d.is_truncated ? "true" : "false", ER_CONTROL_DUMP_MAX);
	append(&d, tail);
	if (rc < 0 || d.is_oom) {
		free(d.buf);
		out->json = control_fail("cache-dump: out of memory");
		return;
	}
	out->text = d.buf;
	out->text_len = d.len;
}
