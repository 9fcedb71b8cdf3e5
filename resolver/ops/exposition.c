/*
 * Renders ops/metrics.h's tables as Prometheus text (exposition.h). Names
 * follow the Prometheus conventions (erdns_ prefix, _total counters, base
 * units: seconds, bytes); every label value comes from a bounded set (the
 * config's groups, chains, views and route slots, the upstream addresses it
 * names, fixed enumerations), never from a query name.
 *
 * Cells that are zero in every worker are left out of the labelled
 * families, so a scrape stays small however many routes and addresses the
 * config has; the plain counters are always present.
 */
#include "ops/exposition.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "routing/m365.h"
#include "util/sockaddr.h"

#define ER_RENDER_INITIAL (16 * 1024)

typedef struct out {
	char *buf;
	size_t len, cap;
	bool is_broken; /* out of memory: the scrape fails */
} out_t;

static void put(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(out_t *o, const char *fmt, ...)
{
	/* A scrape of a small config is ~10 KiB; starting with a buffer also
	 * keeps NULL + 0 (undefined) out of the first vsnprintf. */
	if (o->cap == 0 && !o->is_broken) {
		o->buf = malloc(ER_RENDER_INITIAL);
		o->cap = ER_RENDER_INITIAL;
		o->is_broken = o->buf == NULL;
	}
	if (o->is_broken)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->is_broken = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = (o->cap + (size_t)n + 1) * 2;
		char *grown = realloc(o->buf, cap);
		if (grown == NULL) {
			o->is_broken = true;
			return;
		}
		o->buf = grown;
		o->cap = cap;
	}
}

/* A label value with \, " and newline escaped (text format 0.0.4). */
static const char *esc(const char *s, char *buf, size_t cap)
{
	size_t j = 0;
	for (; s && *s && j + 3 < cap; s++) {
		if (*s == '\\' || *s == '"') {
			buf[j++] = '\\';
			buf[j++] = *s;
		} else if (*s == '\n') {
			buf[j++] = '\\';
			buf[j++] = 'n';
		} else {
			buf[j++] = *s;
		}
	}
	buf[j] = '\0';
	return buf;
}

static void family(out_t *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The sum over workers of the cell at byte offset `off` of metrics_t. */
static uint64_t sum_at(const metrics_source_t *s, size_t off)
{
	uint64_t v = 0;
	for (size_t i = 0; i < s->n_workers; i++)
		v += metrics_read((const uint64_t *)((const char *)s->workers[i] + off));
	return v;
}

#define SUM(s, field) sum_at((s), offsetof(metrics_t, field))

static void render_counters(out_t *o, const metrics_source_t *s)
{
#define ER_RENDER_COUNTER(name, help)                                                       \
	family(o, "erdns_" #name "_total", "counter", help);                               \
	put(o, "erdns_" #name "_total %llu\n", (unsigned long long)SUM(s, name));
	ER_METRICS_COUNTERS(ER_RENDER_COUNTER)
#undef ER_RENDER_COUNTER
	family(o, "erdns_inflight", "gauge", "Forwarded queries awaiting upstreams.");
	put(o, "erdns_inflight %llu\n", (unsigned long long)SUM(s, inflight));
}

static void render_queries(out_t *o, const metrics_source_t *s)
{
	static const char *const transports[ER_TRANSPORT_COUNT] = { "udp", "tcp" };
	static const char *const qtypes[ER_QTYPE_COUNT] = {
#define ER_QT_NAME(name, value) #name,
		ER_METRICS_QTYPES(ER_QT_NAME)
#undef ER_QT_NAME
		"other"
	};
	family(o, "erdns_queries_total", "counter", "Queries received, by transport and type.");
	for (unsigned t = 0; t < ER_TRANSPORT_COUNT; t++) {
		for (unsigned q = 0; q < ER_QTYPE_COUNT; q++) {
			uint64_t v = SUM(s, queries[t][q]);
			if (v)
				put(o, "erdns_queries_total{transport=\"%s\",qtype=\"%s\"} %llu\n",
				    transports[t], qtypes[q], (unsigned long long)v);
		}
	}
}

static const char *const rcode_names[ER_RCODE_COUNT] = {
#define ER_RC_NAME(name, value) #name,
	ER_METRICS_RCODES(ER_RC_NAME)
#undef ER_RC_NAME
	"other"
};

#define ER_LABEL_MAX 256

/* The (view, route) labels of route slot r in the snapshot in force. */
static void route_labels(const metrics_source_t *s, unsigned r, char view[ER_LABEL_MAX],
			 char route[ER_LABEL_MAX])
{
	const config_t *c = s->config;
	if (r == ER_METRICS_ROUTES - 1 && c->n_route_slots > ER_METRICS_ROUTES) {
		snprintf(view, ER_LABEL_MAX, "-");
		snprintf(route, ER_LABEL_MAX, "other");
		return;
	}
	if (r >= c->n_route_slots) { /* counted under a snapshot with more routes */
		snprintf(view, ER_LABEL_MAX, "-");
		snprintf(route, ER_LABEL_MAX, "retired");
		return;
	}
	const config_route_slot_t *slot = &c->route_slots[r];
	esc(slot->view ? slot->view : "-", view, ER_LABEL_MAX);
	esc(slot->route, route, ER_LABEL_MAX);
}

static void render_answers(out_t *o, const metrics_source_t *s)
{
	static const char *const caches[ER_CACHE_RESULT_COUNT] = { "hit", "miss", "stale", "local" };
	family(o, "erdns_answers_total", "counter",
	       "Replies sent, by the view and route that decided, rcode and cache result.");
	for (unsigned r = 0; r < ER_METRICS_ROUTES; r++) {
		char view[ER_LABEL_MAX], route[ER_LABEL_MAX];
		bool named = false;
		for (unsigned rc = 0; rc < ER_RCODE_COUNT; rc++) {
			for (unsigned k = 0; k < ER_CACHE_RESULT_COUNT; k++) {
				uint64_t v = SUM(s, answers[r][rc][k]);
				if (!v)
					continue;
				if (!named)
					route_labels(s, r, view, route);
				named = true;
				put(o,
				    "erdns_answers_total{view=\"%s\",route=\"%s\",rcode=\"%s\","
				    "cache=\"%s\"} %llu\n",
				    view, route, rcode_names[rc], caches[k], (unsigned long long)v);
			}
		}
	}
}

/* SPEC 2.2 ExpressRoute audit: what the first group of each m365 route
 * answered, judged against the list's ExpressRoute prefixes. */
static void render_er_audit(out_t *o, const metrics_source_t *s)
{
	family(o, "erdns_er_audit_answers_total", "counter",
	       "Upstream A/AAAA answers from the first group of an m365 route's chain, by the "
	       "view and route and the ExpressRoute audit's verdict: inside (every address in the "
	       "list's ExpressRoute prefixes), outside (some address not), none (no address to "
	       "judge).");
	for (unsigned r = 0; r < ER_METRICS_ROUTES; r++) {
		char view[ER_LABEL_MAX], route[ER_LABEL_MAX];
		bool named = false;
		for (unsigned v = 0; v < ER_METRICS_VERDICTS; v++) {
			uint64_t n = SUM(s, er_audit[r][v]);
			if (!n)
				continue;
			if (!named)
				route_labels(s, r, view, route);
			named = true;
			put(o,
			    "erdns_er_audit_answers_total{view=\"%s\",route=\"%s\",verdict=\"%s\"} "
			    "%llu\n",
			    view, route, er_verdict_name((er_verdict_t)(v + 1)),
			    (unsigned long long)n);
		}
	}
}

/* The upstream addresses the snapshot in force names, each once. */
static size_t named_addresses(const config_t *c, uint16_t *ids)
{
	static _Thread_local bool seen[ER_HEALTH_MAX_ADDRS];
	memset(seen, 0, sizeof(seen));
	size_t n = 0;
	for (size_t g = 0; g < c->n_groups; g++) {
		for (size_t i = 0; i < c->groups[g].n_servers; i++) {
			uint16_t id = c->groups[g].health_ids[i];
			if (!seen[id]) {
				seen[id] = true;
				ids[n++] = id;
			}
		}
	}
	return n;
}

static void per_address(out_t *o, const metrics_source_t *s, const uint16_t *ids, size_t n,
			const char *name, size_t off)
{
	for (size_t i = 0; i < n; i++) {
		char addr[ER_SOCKADDR_TEXT_MAX];
		sockaddr_format(health_table_addr(s->health, ids[i]), addr, sizeof(addr));
		uint64_t v = sum_at(s, offsetof(metrics_t, upstream) +
					       ids[i] * sizeof(metrics_upstream_t) + off);
		put(o, "%s{server=\"%s\"} %llu\n", name, addr, (unsigned long long)v);
	}
}

static void render_histogram(out_t *o, const metrics_source_t *s, const uint16_t *ids, size_t n)
{
	static const uint32_t bounds[ER_METRICS_RTT_BUCKETS] = ER_METRICS_RTT_BOUNDS_US;
	family(o, "erdns_upstream_rtt_seconds", "histogram",
	       "Round trips of upstream answers (RTT samples), per server address.");
	for (size_t i = 0; i < n; i++) {
		char addr[ER_SOCKADDR_TEXT_MAX];
		sockaddr_format(health_table_addr(s->health, ids[i]), addr, sizeof(addr));
		size_t base = offsetof(metrics_t, upstream) + ids[i] * sizeof(metrics_upstream_t);
		uint64_t cumulative = 0;
		for (unsigned b = 0; b < ER_METRICS_RTT_BUCKETS; b++) {
			cumulative += sum_at(s, base + offsetof(metrics_upstream_t, rtt_buckets) +
							b * sizeof(uint64_t));
			put(o, "erdns_upstream_rtt_seconds_bucket{server=\"%s\",le=\"%g\"} %llu\n",
			    addr, bounds[b] / 1e6, (unsigned long long)cumulative);
		}
		uint64_t count = sum_at(s, base + offsetof(metrics_upstream_t, rtt_count));
		put(o, "erdns_upstream_rtt_seconds_bucket{server=\"%s\",le=\"+Inf\"} %llu\n", addr,
		    (unsigned long long)count);
		put(o, "erdns_upstream_rtt_seconds_sum{server=\"%s\"} %.6f\n", addr,
		    sum_at(s, base + offsetof(metrics_upstream_t, rtt_sum_us)) / 1e6);
		put(o, "erdns_upstream_rtt_seconds_count{server=\"%s\"} %llu\n", addr,
		    (unsigned long long)count);
	}
}

static void render_upstreams(out_t *o, const metrics_source_t *s)
{
	static _Thread_local uint16_t ids[ER_HEALTH_MAX_ADDRS];
	size_t n = named_addresses(s->config, ids);
	family(o, "erdns_upstream_up", "gauge",
	       "1 while the upstream address is up, 0 while it is marked down.");
	for (size_t i = 0; i < n; i++) {
		char addr[ER_SOCKADDR_TEXT_MAX];
		sockaddr_format(health_table_addr(s->health, ids[i]), addr, sizeof(addr));
		put(o, "erdns_upstream_up{server=\"%s\"} %d\n", addr,
		    health_table_is_down(s->health, ids[i]) ? 0 : 1);
	}
	family(o, "erdns_upstream_queries_total", "counter", "Attempts sent, per server address.");
	per_address(o, s, ids, n, "erdns_upstream_queries_total", offsetof(metrics_upstream_t, queries));
	/* _by_server: erdns_upstream_timeouts_total is the plain counter's
	 * name (ER_METRICS_COUNTERS), and a family may appear only once. */
	family(o, "erdns_upstream_timeouts_by_server_total", "counter",
	       "Attempts that timed out, per server address.");
	per_address(o, s, ids, n, "erdns_upstream_timeouts_by_server_total",
		    offsetof(metrics_upstream_t, timeouts));
	family(o, "erdns_upstream_marked_down_total", "counter",
	       "Times the server address was marked down.");
	per_address(o, s, ids, n, "erdns_upstream_marked_down_total",
		    offsetof(metrics_upstream_t, marked_down));
	family(o, "erdns_upstream_marked_up_total", "counter",
	       "Times the server address was marked up again.");
	per_address(o, s, ids, n, "erdns_upstream_marked_up_total",
		    offsetof(metrics_upstream_t, marked_up));
	static const char *const errs[ER_UPERR_COUNT] = { "SERVFAIL", "REFUSED", "FORMERR", "NOTIMP" };
	family(o, "erdns_upstream_error_rcodes_total", "counter",
	       "Upstream answers with an error rcode (the server stays up), per server address.");
	for (size_t i = 0; i < n; i++) {
		char addr[ER_SOCKADDR_TEXT_MAX];
		sockaddr_format(health_table_addr(s->health, ids[i]), addr, sizeof(addr));
		for (unsigned e = 0; e < ER_UPERR_COUNT; e++) {
			uint64_t v = sum_at(s, offsetof(metrics_t, upstream) +
						       ids[i] * sizeof(metrics_upstream_t) +
						       offsetof(metrics_upstream_t, errors) +
						       e * sizeof(uint64_t));
			put(o, "erdns_upstream_error_rcodes_total{server=\"%s\",rcode=\"%s\"} %llu\n",
			    addr, errs[e], (unsigned long long)v);
		}
	}
	render_histogram(o, s, ids, n);
}

static void render_chains(out_t *o, const metrics_source_t *s)
{
	const config_t *c = s->config;
	size_t n = c->n_chains < ER_METRICS_CHAINS ? c->n_chains : ER_METRICS_CHAINS;
	family(o, "erdns_failovers_by_chain_total", "counter",
	       "Queries moved from one group of their route chain to the next.");
	for (size_t ch = 0; ch < n; ch++) {
		const config_chain_t *chain = &c->chains[ch];
		char text[ER_LABEL_MAX];
		esc(chain->text, text, sizeof(text));
		for (size_t pos = 0; pos + 1 < chain->n_groups; pos++) {
			char from[ER_LABEL_MAX], to[ER_LABEL_MAX];
			esc(c->groups[chain->groups[pos]].name, from, sizeof(from));
			esc(c->groups[chain->groups[pos + 1]].name, to, sizeof(to));
			put(o, "erdns_failovers_by_chain_total{chain=\"%s\",from=\"%s\",to=\"%s\"} %llu\n",
			    text, from, to, (unsigned long long)SUM(s, chain_failovers[ch][pos]));
		}
	}
	family(o, "erdns_forwarded_answers_total", "counter",
	       "Upstream answers relayed, by route chain and whether the chain's first group "
	       "answered (path=\"first\") or a later one (path=\"fallback\": off the "
	       "ExpressRoute path for an m365 route).");
	for (size_t ch = 0; ch < n; ch++) {
		char text[ER_LABEL_MAX];
		esc(c->chains[ch].text, text, sizeof(text));
		put(o, "erdns_forwarded_answers_total{chain=\"%s\",path=\"first\"} %llu\n", text,
		    (unsigned long long)SUM(s, chain_answers[ch][0]));
		put(o, "erdns_forwarded_answers_total{chain=\"%s\",path=\"fallback\"} %llu\n", text,
		    (unsigned long long)SUM(s, chain_answers[ch][1]));
	}
}

static void render_cache(out_t *o, const metrics_source_t *s)
{
	cache_stats_t st;
	cache_get_stats(s->cache, &st);
	family(o, "erdns_cache_entries", "gauge", "Entries in the cache.");
	put(o, "erdns_cache_entries %llu\n", (unsigned long long)st.entries);
	family(o, "erdns_cache_bytes", "gauge", "Bytes the cache accounts for.");
	put(o, "erdns_cache_bytes %llu\n", (unsigned long long)st.bytes);
	family(o, "erdns_cache_max_bytes", "gauge", "The cache's bound (cache.max_mb).");
	put(o, "erdns_cache_max_bytes %llu\n", (unsigned long long)st.max_bytes);
	family(o, "erdns_cache_lookups_total", "counter", "Cache lookups, by result.");
	put(o, "erdns_cache_lookups_total{result=\"hit\"} %llu\n", (unsigned long long)st.hits);
	put(o, "erdns_cache_lookups_total{result=\"stale\"} %llu\n", (unsigned long long)st.stale_hits);
	put(o, "erdns_cache_lookups_total{result=\"miss\"} %llu\n", (unsigned long long)st.misses);
	family(o, "erdns_cache_evictions_total", "counter", "Entries evicted to make room.");
	put(o, "erdns_cache_evictions_total %llu\n", (unsigned long long)st.evictions);
	family(o, "erdns_cache_inserts_total", "counter", "Entries stored.");
	put(o, "erdns_cache_inserts_total %llu\n", (unsigned long long)st.inserts);
}

void metrics_m365_version(const char *list, char *out, size_t cap)
{
	char path[4096];
	out[0] = '\0';
	if (snprintf(path, sizeof(path), "%s.version", list) >= (int)sizeof(path))
		return;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	if (fgets(out, (int)cap, f) == NULL)
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
}

static void render_server(out_t *o, const metrics_source_t *s)
{
	const config_t *c = s->config;
	family(o, "erdns_build_info", "gauge", "The erdns version running (value 1).");
	put(o, "erdns_build_info{version=\"%s\"} 1\n", ERDNS_VERSION);
	family(o, "erdns_start_time_seconds", "gauge", "When erdns started, Unix time.");
	put(o, "erdns_start_time_seconds %.3f\n", s->start_time_s);
	family(o, "erdns_reloads_total", "counter", "Configuration reloads, by result.");
	put(o, "erdns_reloads_total{result=\"ok\"} %llu\n", (unsigned long long)s->reloads_ok);
	put(o, "erdns_reloads_total{result=\"failed\"} %llu\n", (unsigned long long)s->reloads_failed);
	family(o, "erdns_config_last_reload_success_timestamp_seconds", "gauge",
	       "When the configuration in force was loaded, Unix time.");
	put(o, "erdns_config_last_reload_success_timestamp_seconds %.3f\n", s->last_reload_ok_s);
	family(o, "erdns_m365_list_age_seconds", "gauge",
	       "Age of each imported Microsoft 365 endpoints list file (its modification time).");
	for (size_t i = 0; i < c->n_m365; i++) {
		const char *file = m365_import_file(c->m365[i].import);
		struct stat st;
		if (stat(file, &st) != 0)
			continue;
		char view[ER_LABEL_MAX], route[ER_LABEL_MAX], f[ER_LABEL_MAX];
		route_labels(s, metrics_route_index(c->m365[i].route_slot), view, route);
		put(o, "erdns_m365_list_age_seconds{view=\"%s\",route=\"%s\",file=\"%s\"} %.0f\n",
		    view, route, esc(file, f, sizeof(f)), s->now_s - (double)st.st_mtime);
	}
	family(o, "erdns_m365_list_version_info", "gauge",
	       "The list version the refresh job recorded beside each imported list (value 1).");
	for (size_t i = 0; i < c->n_m365; i++) {
		const char *file = m365_import_file(c->m365[i].import);
		char version[64], v[ER_LABEL_MAX], view[ER_LABEL_MAX], route[ER_LABEL_MAX];
		metrics_m365_version(file, version, sizeof(version));
		route_labels(s, metrics_route_index(c->m365[i].route_slot), view, route);
		if (version[0])
			put(o,
			    "erdns_m365_list_version_info{view=\"%s\",route=\"%s\",version=\"%s\"} "
			    "1\n",
			    view, route, esc(version, v, sizeof(v)));
	}
}

char *metrics_render(const metrics_source_t *src, size_t *len)
{
	out_t o = { 0 };
	render_server(&o, src);
	render_counters(&o, src);
	render_queries(&o, src);
	render_answers(&o, src);
	render_er_audit(&o, src);
	render_upstreams(&o, src);
	render_chains(&o, src);
	render_cache(&o, src);
	if (o.is_broken || o.buf == NULL) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}
