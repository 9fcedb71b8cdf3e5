/*
 * The Prometheus text of ops/exposition.c from a real snapshot (config_load
 * of a file the test writes), a health table it was applied to, two workers'
 * tables with known counts, and a cache with one entry: exact lines (sums
 * over the workers, label values and their escaping), and the format's
 * rules for every line (a sample parses as `name{labels} value`, each
 * family has one HELP and one TYPE, before its samples, which are together).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include "dns/dname.h"
#include "ops/exposition.h"

#define T_NOW	     1700003600.0
#define T_LIST_MTIME 1700000000 /* the M365 list copy's mtime: age 3600 s */

typedef struct fixture {
	char dir[64];
	char list[128]; /* the M365 list copy */
	config_t *config;
	health_table_t *health;
	cache_t *cache;
	metrics_t *w[2];
	char *text; /* the last rendering */
	size_t len;
} fixture_t;

static void write_file(const char *path, const char *text)
{
	FILE *out = fopen(path, "w");
	assert_non_null(out);
	fputs(text, out);
	fclose(out);
}

static void copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "r"), *out = fopen(to, "w");
	assert_non_null(in);
	assert_non_null(out);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
}

/* hq has two servers, branch one; routes[1] imports the M365 list; a view
 * whose name holds a quote has a route of its own. */
static const char CONFIG[] =
    "{ \"server\": { \"listen\": [\"127.0.0.1:5300\"], \"threads\": 1 },\n"
    "  \"upstreams\": {\n"
    "    \"hq\": { \"servers\": [\"127.0.0.1:5301\", \"127.0.0.1:5302\"], \"max_fails\": 1 },\n"
    "    \"branch\": { \"servers\": [\"127.0.0.1:5303\"] } },\n"
    "  \"routes\": [ { \"domains\": [\"corp.example\"], \"via\": \"hq\" },\n"
    "              { \"m365\": { \"file\": \"m365.json\" }, \"via\": [\"hq\", \"branch\"] } ],\n"
    "  \"views\": [ { \"name\": \"pi\\\"lot\", \"clients\": [\"127.0.0.2/32\"],\n"
    "               \"routes\": [ { \"domains\": [\"x.example\"], \"via\": \"hq\" } ] } ],\n"
    "  \"default\": \"branch\" }\n";

static int setup(void **state)
{
	fixture_t *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/erdns-test-exposition-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	char path[128];
	snprintf(f->list, sizeof(f->list), "%s/m365.json", f->dir);
	copy_file(ERDNS_FIXTURES "/m365/small.json", f->list);
	struct utimbuf times = {.actime = T_LIST_MTIME, .modtime = T_LIST_MTIME};
	assert_int_equal(utime(f->list, &times), 0);
	snprintf(path, sizeof(path), "%s/m365.json.version", f->dir);
	write_file(path, "2026033100\n");
	snprintf(path, sizeof(path), "%s/erdns.json", f->dir);
	write_file(path, CONFIG);
	char err[ER_CONFIG_ERR_MAX];
	f->config = config_load(path, err, sizeof(err));
	if (f->config == NULL)
		fail_msg("config: %s", err);
	f->health = health_table_new();
	assert_non_null(f->health);
	assert_int_equal(health_table_apply(f->health, f->config, err, sizeof(err)), 0);
	f->cache = cache_new(&f->config->cache, 0);
	assert_non_null(f->cache);
	for (int i = 0; i < 2; i++) {
		f->w[i] = calloc(1, sizeof(metrics_t));
		assert_non_null(f->w[i]);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;
	char path[128];
	static const char *const files[] = {"erdns.json", "m365.json", "m365.json.version"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
		unlink(path);
	}
	rmdir(f->dir);
	free(f->text);
	free(f->w[0]);
	free(f->w[1]);
	cache_free(f->cache);
	health_table_free(f->health);
	config_unref(f->config);
	free(f);
	return 0;
}

/* --- fixture helpers ------------------------------------------------------- */

static int chain_index(const config_t *c, const char *text)
{
	for (size_t i = 0; i < c->n_chains; i++) {
		if (strcmp(c->chains[i].text, text) == 0)
			return (int)i;
	}
	fail_msg("no chain %s", text);
	return -1;
}

/* The route slot labelled (view, route); view NULL: the global routes. */
static unsigned slot_index(const config_t *c, const char *view, const char *route)
{
	for (size_t i = 0; i < c->n_route_slots; i++) {
		const config_route_slot_t *s = &c->route_slots[i];
		bool same_view = view == NULL ? s->view == NULL : s->view && !strcmp(s->view, view);
		if (same_view && strcmp(s->route, route) == 0)
			return (unsigned)i;
	}
	fail_msg("no route slot %s/%s", view ? view : "-", route);
	return 0;
}

static uint16_t server_id(const config_t *c, const char *group, size_t i)
{
	return c->groups[config_group_index(c, group)].health_ids[i];
}

/* One entry for www.example.com A on chain 0, then a hit and a miss. */
static void fill_cache(fixture_t *f)
{
	static const uint8_t
	    resp[] =
		{
		    0x12, 0x34, 0x81, 0x80, 0, 1,   0,	 1,   0,   0,	0,   0, /* header */
		    3,	  'w',	'w',  'w',  7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
		    3,	  'c',	'o',  'm',  0, 0,   1,	 0,   1, /* A IN */
		    0xc0, 0x0c, 0,    1,    0, 1,   0,	 0,   0,   60,	0,   4,
		    192,  0,	2,    1 /* A 192.0.2.1 */
		};
	uint8_t name[ER_DNAME_MAX], out[512];
	size_t n = dname_from_text("www.example.com", name);
	cache_key_t key = {
	    .qname = name, .qname_len = n, .chain = 0, .epoch = 1, .qtype = 1, .qclass = 1};
	cache_insert_params_t p = {.key = &key, .resp = resp, .resp_len = sizeof(resp)};
	assert_int_equal(cache_insert(f->cache, &p, 1000), 0);
	cache_copy_t copy = {.out = out, .cap = sizeof(out)};
	assert_int_equal(cache_lookup(f->cache, &key, 2000, &copy), CACHE_HIT);
	key.qtype = 28;
	copy = (cache_copy_t){.out = out, .cap = sizeof(out)};
	assert_int_equal(cache_lookup(f->cache, &key, 2000, &copy), CACHE_MISS);
}

/* Known counts, split between the two workers so every line is a sum. */
static void fill_workers(fixture_t *f)
{
	const config_t *c = f->config;
	metrics_t *a = f->w[0], *b = f->w[1];
	a->queries_udp = 3;
	b->queries_udp = 4;
	b->queries_tcp = 1;
	a->refused_acl = 2;
	a->rate_limited = 5;
	b->rate_limited = 6;
	a->queries[ER_TRANSPORT_UDP][ER_QTYPE_A] = 3;
	b->queries[ER_TRANSPORT_UDP][ER_QTYPE_A] = 4;
	b->queries[ER_TRANSPORT_TCP][metrics_qtype_index(99)] = 1;
	a->inflight = 2;
	b->inflight = 3;
	unsigned corp = slot_index(c, NULL, "0"), pilot = slot_index(c, "pi\"lot", "0");
	a->answers[corp][ER_RCODE_NOERROR][ER_CACHE_HIT] = 2;
	b->answers[corp][ER_RCODE_NOERROR][ER_CACHE_HIT] = 5;
	b->answers[pilot][ER_RCODE_NXDOMAIN][ER_CACHE_MISS] = 1;
	a->answers[ER_ROUTE_SLOT_NONE][ER_RCODE_REFUSED][ER_CACHE_LOCAL] = 2;
	a->answers[200][ER_RCODE_SERVFAIL][ER_CACHE_STALE] = 1; /* an older snapshot's */
	int m365 = chain_index(c, "hq,branch");
	a->chain_failovers[m365][0] = 1;
	b->chain_failovers[m365][0] = 2;
	a->chain_answers[m365][0] = 10;
	b->chain_answers[m365][1] = 2;
	uint16_t hq0 = server_id(c, "hq", 0);
	a->upstream[hq0].queries = 2;
	b->upstream[hq0].queries = 3;
	b->upstream[hq0].timeouts = 1;
	b->upstream[hq0].errors[ER_UPERR_SERVFAIL] = 4;
	metrics_upstream_rtt(a, hq0, 3000);
	metrics_upstream_rtt(b, hq0, 30000);
	a->upstream[hq0].marked_down = 1;
}

static void render(fixture_t *f)
{
	const metrics_t *workers[2] = {f->w[0], f->w[1]};
	metrics_source_t src = {
	    .config = f->config,
	    .workers = workers,
	    .n_workers = 2,
	    .health = f->health,
	    .cache = f->cache,
	    .reloads_ok = 2,
	    .reloads_failed = 1,
	    .last_reload_ok_s = 1700000000.5,
	    .start_time_s = 1699990000.25,
	    .now_s = T_NOW,
	};
	free(f->text);
	f->text = metrics_render(&src, &f->len);
	assert_non_null(f->text);
	assert_int_equal(strlen(f->text), f->len);
}

/* The line is in the text, whole. */
static void assert_line(const fixture_t *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void assert_line(const fixture_t *f, const char *fmt, ...)
{
	char want[512], *p = f->text;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	size_t n = strlen(want);
	for (; (p = strstr(p, want)) != NULL; p += n) {
		if ((p == f->text || p[-1] == '\n') && p[n] == '\n')
			return;
	}
	fail_msg("missing line: %s", want);
}

/* --- tests ----------------------------------------------------------------- */

static void test_sums_over_workers(void **state)
{
	fixture_t *f = *state;
	fill_workers(f);
	render(f);
	assert_line(f, "erdns_queries_udp_total 7");
	assert_line(f, "erdns_queries_tcp_total 1");
	assert_line(f, "erdns_refused_acl_total 2");
	assert_line(f, "erdns_rate_limited_total 11");
	assert_line(f, "# TYPE erdns_rate_limited_total counter");
	assert_line(f, "# HELP erdns_rate_limited_total Queries dropped: the client was over "
		       "server.client_qps.");
	assert_line(f, "erdns_stale_sent_total 0"); /* plain counters: always present */
	assert_line(f, "erdns_inflight 5");
	assert_line(f, "erdns_queries_total{transport=\"udp\",qtype=\"A\"} 7");
	assert_line(f, "erdns_queries_total{transport=\"tcp\",qtype=\"other\"} 1");
	assert_null(strstr(f->text, "qtype=\"AAAA\"")); /* zero cells are left out */
	assert_line(f, "erdns_answers_total{view=\"-\",route=\"0\",rcode=\"NOERROR\","
		       "cache=\"hit\"} 7");
	assert_line(f, "erdns_answers_total{view=\"-\",route=\"none\",rcode=\"REFUSED\","
		       "cache=\"local\"} 2");
	assert_line(f, "erdns_answers_total{view=\"-\",route=\"retired\",rcode=\"SERVFAIL\","
		       "cache=\"stale\"} 1");
	assert_line(f, "erdns_failovers_by_chain_total{chain=\"hq,branch\",from=\"hq\","
		       "to=\"branch\"} 3");
	assert_line(f, "erdns_forwarded_answers_total{chain=\"hq,branch\",path=\"first\"} 10");
	assert_line(f, "erdns_forwarded_answers_total{chain=\"hq,branch\",path=\"fallback\"} 2");
	assert_line(f, "erdns_forwarded_answers_total{chain=\"branch\",path=\"fallback\"} 0");
}

/* A view's name is a label value: \ " and newline are escaped. */
static void test_view_label_escaped(void **state)
{
	fixture_t *f = *state;
	fill_workers(f);
	render(f);
	assert_line(f, "erdns_answers_total{view=\"pi\\\"lot\",route=\"0\",rcode=\"NXDOMAIN\","
		       "cache=\"miss\"} 1");
	assert_null(strstr(f->text, "view=\"pi\"lot\""));
}

static void test_upstreams(void **state)
{
	fixture_t *f = *state;
	fill_workers(f);
	uint16_t hq1 = server_id(f->config, "hq", 1);
	assert_true(health_table_on_failure(f->health, NULL, hq1, false, 0)); /* max_fails 1 */
	render(f);
	assert_line(f, "erdns_upstream_up{server=\"127.0.0.1:5301\"} 1");
	assert_line(f, "erdns_upstream_up{server=\"127.0.0.1:5302\"} 0");
	assert_line(f, "erdns_upstream_up{server=\"127.0.0.1:5303\"} 1");
	assert_line(f, "erdns_upstream_queries_total{server=\"127.0.0.1:5301\"} 5");
	assert_line(f, "erdns_upstream_timeouts_by_server_total{server=\"127.0.0.1:5301\"} 1");
	assert_line(f, "erdns_upstream_marked_down_total{server=\"127.0.0.1:5301\"} 1");
	assert_line(f, "erdns_upstream_error_rcodes_total{server=\"127.0.0.1:5301\","
		       "rcode=\"SERVFAIL\"} 4");
	/* 3 ms and 30 ms: cumulative buckets */
	const char *b = "erdns_upstream_rtt_seconds_bucket{server=\"127.0.0.1:5301\",le=";
	assert_line(f, "%s\"0.001\"} 0", b);
	assert_line(f, "%s\"0.0025\"} 0", b);
	assert_line(f, "%s\"0.005\"} 1", b);
	assert_line(f, "%s\"0.025\"} 1", b);
	assert_line(f, "%s\"0.05\"} 2", b);
	assert_line(f, "%s\"2.5\"} 2", b);
	assert_line(f, "%s\"+Inf\"} 2", b);
	assert_line(f, "erdns_upstream_rtt_seconds_sum{server=\"127.0.0.1:5301\"} 0.033000");
	assert_line(f, "erdns_upstream_rtt_seconds_count{server=\"127.0.0.1:5301\"} 2");
	assert_line(f, "erdns_upstream_rtt_seconds_count{server=\"127.0.0.1:5303\"} 0");
}

static void test_cache_reloads_m365(void **state)
{
	fixture_t *f = *state;
	fill_cache(f);
	render(f);
	assert_line(f, "erdns_cache_entries 1");
	assert_line(f, "erdns_cache_inserts_total 1");
	assert_line(f, "erdns_cache_lookups_total{result=\"hit\"} 1");
	assert_line(f, "erdns_cache_lookups_total{result=\"miss\"} 1");
	assert_line(f, "erdns_cache_lookups_total{result=\"stale\"} 0");
	assert_line(f, "erdns_cache_max_bytes %llu",
		    (unsigned long long)f->config->cache.max_mb << 20);
	assert_line(f, "erdns_reloads_total{result=\"ok\"} 2");
	assert_line(f, "erdns_reloads_total{result=\"failed\"} 1");
	assert_line(f, "erdns_config_last_reload_success_timestamp_seconds 1700000000.500");
	assert_line(f, "erdns_start_time_seconds 1699990000.250");
	assert_line(f, "erdns_m365_list_age_seconds{view=\"-\",route=\"1\",file=\"%s\"} 3600",
		    f->list);
	assert_line(f,
		    "erdns_m365_list_version_info{view=\"-\",route=\"1\",version=\"2026033100\"} 1");
}

/* --- the format's rules ------------------------------------------------------ */

static const char *metric_name(const char *p)
{
	if (!(isalpha((unsigned char)*p) || *p == '_' || *p == ':'))
		return NULL;
	while (isalnum((unsigned char)*p) || *p == '_' || *p == ':')
		p++;
	return p;
}

/* label="value" pairs up to the closing brace; returns past it, or NULL. */
static const char *labels(const char *p)
{
	while (*p != '}') {
		if (!(isalpha((unsigned char)*p) || *p == '_'))
			return NULL;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		if (p[0] != '=' || p[1] != '"')
			return NULL;
		for (p += 2; *p != '"'; p++) {
			if (*p == '\0')
				return NULL;
			if (*p == '\\' && p[1] != '\\' && p[1] != '"' && p[1] != 'n')
				return NULL;
			if (*p == '\\')
				p++;
		}
		p++;
		if (*p == ',')
			p++;
		else if (*p != '}')
			return NULL;
	}
	return p + 1;
}

/* `name{labels} value` with nothing after; the name goes to name. */
static bool parse_sample(const char *line, char *name, size_t cap)
{
	const char *p = metric_name(line);
	if (p == NULL || (size_t)(p - line) >= cap)
		return false;
	snprintf(name, cap, "%.*s", (int)(p - line), line);
	if (*p == '{' && (p = labels(p + 1)) == NULL)
		return false;
	if (*p++ != ' ')
		return false;
	if (!strcmp(p, "+Inf") || !strcmp(p, "-Inf") || !strcmp(p, "NaN"))
		return true;
	char *end;
	strtod(p, &end);
	return end != p && *end == '\0';
}

/* A histogram's samples belong to the family without _bucket/_sum/_count. */
static void family_of(char *name, const char *const *histograms, size_t n_hist)
{
	static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
	for (size_t s = 0; s < 3; s++) {
		size_t n = strlen(name), k = strlen(suffixes[s]);
		if (n <= k || strcmp(name + n - k, suffixes[s]) != 0)
			continue;
		for (size_t h = 0; h < n_hist; h++) {
			if (strncmp(name, histograms[h], n - k) == 0 &&
			    histograms[h][n - k] == '\0')
				name[n - k] = '\0';
		}
	}
}

#define MAX_FAMILIES 256

typedef struct families {
	char name[MAX_FAMILIES][96];
	int help[MAX_FAMILIES], type[MAX_FAMILIES];
	bool is_done[MAX_FAMILIES]; /* another family came after it */
	size_t n;
	const char *hist[MAX_FAMILIES];
	size_t n_hist;
	int current;
} families_t;

static int family_find(families_t *fs, const char *name, bool may_add)
{
	for (size_t i = 0; i < fs->n; i++) {
		if (strcmp(fs->name[i], name) == 0)
			return (int)i;
	}
	if (!may_add)
		return -1;
	assert_true(fs->n < MAX_FAMILIES);
	snprintf(fs->name[fs->n], sizeof(fs->name[0]), "%s", name);
	return (int)fs->n++;
}

/* The family i's lines start or go on; none may follow a later family's. */
static void family_enter(families_t *fs, int i, const char *line)
{
	if (fs->current == i)
		return;
	if (fs->is_done[i])
		fail_msg("family %s is split: %s", fs->name[i], line);
	if (fs->current >= 0)
		fs->is_done[fs->current] = true;
	fs->current = i;
}

static void check_comment(families_t *fs, char *line)
{
	char name[96], word[16];
	assert_int_equal(sscanf(line, "# %15s %95s", word, name), 2);
	int i = family_find(fs, name, true);
	family_enter(fs, i, line);
	if (strcmp(word, "HELP") == 0) {
		assert_true(strlen(line) > strlen("# HELP  ") + strlen(name));
		fs->help[i]++;
	} else {
		assert_string_equal(word, "TYPE");
		assert_int_equal(fs->help[i], 1); /* HELP first, by our convention */
		const char *type = line + strlen("# TYPE  ") + strlen(name);
		assert_true(!strcmp(type, "counter") || !strcmp(type, "gauge") ||
			    !strcmp(type, "histogram"));
		if (!strcmp(type, "histogram"))
			fs->hist[fs->n_hist++] = fs->name[i];
		fs->type[i]++;
	}
}

static void check_format(const char *text)
{
	static families_t fs;
	memset(&fs, 0, sizeof(fs));
	fs.current = -1;
	char *copy = strdup(text), *save = NULL;
	assert_non_null(copy);
	size_t n_samples = 0;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#') {
			check_comment(&fs, line);
			continue;
		}
		char name[96];
		if (!parse_sample(line, name, sizeof(name)))
			fail_msg("not a sample line: %s", line);
		family_of(name, fs.hist, fs.n_hist);
		int i = family_find(&fs, name, false);
		if (i < 0 || fs.type[i] != 1)
			fail_msg("sample before its family's TYPE: %s", line);
		family_enter(&fs, i, line);
		n_samples++;
	}
	for (size_t i = 0; i < fs.n; i++) {
		if (fs.help[i] != 1 || fs.type[i] != 1)
			fail_msg("%s: %d HELP, %d TYPE", fs.name[i], fs.help[i], fs.type[i]);
	}
	assert_true(n_samples > 50);
	free(copy);
}

/* Regression: the per-address timeouts were rendered as a second
 * erdns_upstream_timeouts_total family (HELP and TYPE twice, samples split),
 * which promtool rejects. */
static void test_format_rules(void **state)
{
	fixture_t *f = *state;
	render(f); /* all zero: the labelled families may have no samples */
	check_format(f->text);
	fill_workers(f);
	fill_cache(f);
	render(f);
	assert_true(f->text[f->len - 1] == '\n');
	check_format(f->text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sums_over_workers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_view_label_escaped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upstreams, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache_reloads_m365, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_format_rules, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
