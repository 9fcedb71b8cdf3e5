/*
 * The control commands without a socket (ops/control_cmd.c,
 * control_show.c): request parsing, dispatch and usage errors, and each
 * command against a real snapshot, cache and health table, with the
 * server's callbacks faked. Replies are read back with cJSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "ops/control_cmd.h"

#define T0 5000000u /* the workers' clock, ms */

typedef struct fixture {
	char dir[64];
	config_t *config;
	cache_t *cache;
	health_table_t *health;
	metrics_t *metrics[2];
	control_env_t env;
	int reload_rc;
	int n_reloads, n_reopens;
	bool is_serving;
	cJSON *reply;
} fixture_t;

static const config_t *fake_config(void *ctx)
{
	return ((fixture_t *)ctx)->config;
}

static const metrics_t *fake_metrics(void *ctx, unsigned i)
{
	return i < 2 ? ((fixture_t *)ctx)->metrics[i] : NULL;
}

static int fake_reload(void *ctx, char *msg, size_t len, cJSON **changes)
{
	fixture_t *f = ctx;
	f->n_reloads++;
	if (f->reload_rc < 0) {
		snprintf(msg, len, "reload failed, keeping the running configuration: x:1:2: bad");
		return -1;
	}
	snprintf(msg, len, "configuration reloaded");
	*changes = cJSON_CreateObject();
	cJSON_AddNumberToObject(*changes, "cache_flushed", 3);
	return 0;
}

static int fake_reopen(void *ctx, char *msg, size_t len)
{
	((fixture_t *)ctx)->n_reopens++;
	snprintf(msg, len, "no log file to reopen");
	return 0;
}

static bool fake_is_serving(void *ctx)
{
	return ((fixture_t *)ctx)->is_serving;
}

static int setup(void **state)
{
	static fixture_t f;
	memset(&f, 0, sizeof(f));
	snprintf(f.dir, sizeof(f.dir), "/tmp/erdns-test-control-XXXXXX");
	assert_non_null(mkdtemp(f.dir));
	char path[128], err[ER_CONFIG_ERR_MAX];
	snprintf(path, sizeof(path), "%s/erdns.json", f.dir);
	FILE *out = fopen(path, "w");
	assert_non_null(out);
	fputs("{ \"server\": { \"listen\": [\"127.0.0.1:5300\"], \"threads\": 2 },\n"
	      "  \"upstreams\": { \"hq\": { \"servers\": [\"127.0.0.1:5301\", \"127.0.0.1:5302\"],\n"
	      "                           \"max_fails\": 1, \"select\": \"ordered\" },\n"
	      "                 \"branch\": { \"servers\": [\"127.0.0.1:5303\"] } },\n"
	      "  \"routes\": [ { \"domains\": [\"x.example\"], \"via\": [\"hq\", \"branch\"] } ],\n"
	      "  \"views\": [ { \"name\": \"pilot\", \"clients\": [\"10.0.0.0/8\"],\n"
	      "    \"routes\": [ { \"domains\": [\"x.example\"], \"via\": \"branch\" } ] } ],\n"
	      "  \"zones\": [ { \"file\": \"" ERDNS_FIXTURES "/config/zones/ok.zone\" } ] }\n",
	      out);
	fclose(out);
	f.config = config_load(path, err, sizeof(err));
	if (f.config == NULL)
		fail_msg("config: %s", err);
	unlink(path);
	f.config->route_epoch = 1;
	f.health = health_table_new();
	assert_int_equal(health_table_apply(f.health, f.config, err, sizeof(err)), 0);
	f.cache = cache_new(&f.config->cache, 0);
	f.metrics[0] = calloc(1, sizeof(metrics_t));
	f.metrics[1] = calloc(1, sizeof(metrics_t));
	f.is_serving = true;
	f.env = (control_env_t){ .ctx = &f, .config = fake_config, .worker_metrics = fake_metrics,
				 .reload = fake_reload, .reopen = fake_reopen,
				 .is_serving = fake_is_serving, .cache = f.cache,
				 .health = f.health, .started_ms = T0 - 61500 };
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;
	cJSON_Delete(f->reply);
	cache_free(f->cache);
	health_table_free(f->health);
	config_unref(f->config);
	free(f->metrics[0]);
	free(f->metrics[1]);
	rmdir(f->dir);
	return 0;
}

/* Runs line; the reply, parsed (kept in f for teardown). */
static const cJSON *run(fixture_t *f, const char *line)
{
	size_t len = 0;
	char *text = control_run(&f->env, line, strlen(line), T0, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_int_equal(text[len - 1], '\n');
	assert_null(memchr(text, '\n', len - 1)); /* one line */
	cJSON_Delete(f->reply);
	f->reply = cJSON_Parse(text);
	free(text);
	assert_non_null(f->reply);
	return f->reply;
}

static bool is_ok(const cJSON *r)
{
	return cJSON_IsTrue(cJSON_GetObjectItem(r, "ok"));
}

static const char *get_str(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
	assert_non_null(s);
	return s;
}

static double get_num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(o, key);
	assert_true(cJSON_IsNumber(v));
	return v->valuedouble;
}

static void assert_error(fixture_t *f, const char *line, const char *needle)
{
	const cJSON *r = run(f, line);
	assert_false(is_ok(r));
	const char *err = get_str(r, "error");
	if (strstr(err, needle) == NULL)
		fail_msg("\"%s\": error \"%s\" lacks \"%s\"", line, err, needle);
}

/* Caches "NAME 300 IN A 192.0.2.1" (or AAAA) for name on chain, epoch. */
static void put(fixture_t *f, const char *name, uint16_t qtype, uint32_t chain, uint32_t epoch)
{
	char rr_text[300];
	snprintf(rr_text, sizeof(rr_text), "%s 300 IN %s %s", name,
		 qtype == DNS_TYPE_A ? "A" : "AAAA", qtype == DNS_TYPE_A ? "192.0.2.1" : "2001:db8::1");
	ldns_pkt *pkt = ldns_pkt_query_new(ldns_dname_new_frm_str(name), (ldns_rr_type)qtype,
					   LDNS_RR_CLASS_IN, LDNS_RD);
	ldns_pkt_set_qr(pkt, true);
	ldns_rr *rr = NULL;
	assert_int_equal(ldns_rr_new_frm_str(&rr, rr_text, 0, NULL, NULL), LDNS_STATUS_OK);
	ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, rr);
	uint8_t *wire = NULL;
	size_t len = 0;
	assert_int_equal(ldns_pkt2wire(&wire, pkt, &len), LDNS_STATUS_OK);
	uint8_t qname[ER_DNAME_MAX];
	cache_key_t key = { .qname = qname, .qname_len = dname_from_text(name, qname),
			    .chain = chain, .epoch = epoch, .qtype = qtype,
			    .qclass = DNS_CLASS_IN };
	cache_insert_params_t p = { .key = &key, .resp = wire, .resp_len = len };
	assert_int_equal(cache_insert(f->cache, &p, T0), 0);
	free(wire);
	ldns_pkt_free(pkt);
}

static uint32_t chain_of(const fixture_t *f, const char *text)
{
	for (size_t i = 0; i < f->config->n_chains; i++) {
		if (strcmp(f->config->chains[i].text, text) == 0)
			return (uint32_t)i;
	}
	fail_msg("no chain %s", text);
	return 0;
}

static uint16_t server_id(const fixture_t *f, const char *group, size_t s)
{
	return f->config->groups[config_group_index(f->config, group)].health_ids[s];
}

/* --- parsing and dispatch ------------------------------------------------ */

static void test_parse_words(void **state)
{
	(void)state;
	control_request_t req;
	char err[128];
	const char *line = "flush  --subtree\tExample.COM\r";
	assert_int_equal(control_parse(line, strlen(line), &req, err, sizeof(err)), 0);
	assert_int_equal(req.argc, 3);
	assert_string_equal(req.argv[0], "flush");
	assert_string_equal(req.argv[1], "--subtree");
	assert_string_equal(req.argv[2], "Example.COM");
	assert_int_equal(control_parse("  ", 2, &req, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "empty request");
	assert_int_equal(control_parse("", 0, &req, err, sizeof(err)), -EINVAL);
	assert_int_equal(control_parse("a b c d e", 9, &req, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "too many words in the request (at most 4)");
	assert_int_equal(control_parse("stats\x01", 6, &req, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "request contains a non-printable byte (0x01)");
	assert_int_equal(control_parse("st\rats", 6, &req, err, sizeof(err)), -EINVAL);
	assert_int_equal(control_parse("st\xc3\xa9", 4, &req, err, sizeof(err)), -EINVAL);
	static char big[ER_CONTROL_LINE_MAX + 1];
	memset(big, 'a', sizeof(big));
	assert_int_equal(control_parse(big, ER_CONTROL_LINE_MAX, &req, err, sizeof(err)), 0);
	assert_int_equal(control_parse(big, sizeof(big), &req, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "request longer than 4096 bytes");
	assert_true(control_byte_is_valid(' '));
	assert_true(control_byte_is_valid('~'));
	assert_false(control_byte_is_valid(0x7f));
	assert_false(control_byte_is_valid('\n'));
}

static void test_bad_requests(void **state)
{
	fixture_t *f = *state;
	assert_error(f, "bogus", "unknown command \"bogus\" (known: stats, reload, flush, "
				 "upstreams, explain, cache-dump, health, reopen)");
	assert_error(f, "", "empty request");
	assert_error(f, "stats now", "usage: stats");
	assert_error(f, "explain", "usage: explain NAME [IP]");
	assert_error(f, "flush --subtree", "usage: flush [[--subtree] NAME]");
	assert_error(f, "flush a.example b.example", "usage: flush");
	assert_error(f, "flush bad..name", "\"bad..name\" is not a valid domain name");
	assert_error(f, "explain bad..name", "not a valid domain name");
	assert_error(f, "explain a.example not-an-ip", "\"not-an-ip\" is not an IP address");
	assert_error(f, "stats\x7f", "non-printable");
	assert_int_equal(f->n_reloads, 0);
	size_t len = 0;
	char *text = control_error_reply("say \"why\"", &len);
	assert_string_equal(text, "{\"ok\":false,\"error\":\"say \\\"why\\\"\"}\n");
	free(text);
}

/* --- the commands -------------------------------------------------------- */

static void test_stats_sums_workers(void **state)
{
	fixture_t *f = *state;
	f->metrics[0]->queries_udp = 5;
	f->metrics[1]->queries_udp = 7;
	f->metrics[1]->querylog_dropped = 1; /* the last counter of the table */
	f->metrics[0]->inflight = 2;
	put(f, "a.x.example.", DNS_TYPE_A, 0, 1);
	const cJSON *r = run(f, "stats");
	assert_true(is_ok(r));
	assert_int_equal(get_num(r, "uptime_s"), 61);
	assert_int_equal(get_num(r, "workers"), 2);
	const cJSON *c = cJSON_GetObjectItem(r, "counters");
	assert_int_equal(get_num(c, "queries_udp"), 12);
	assert_int_equal(get_num(c, "querylog_dropped"), 1);
	assert_int_equal(get_num(c, "inflight"), 2);
	assert_int_equal(get_num(c, "forwarded"), 0);
	const cJSON *cache = cJSON_GetObjectItem(r, "cache");
	assert_int_equal(get_num(cache, "entries"), 1);
	assert_int_equal(get_num(cache, "inserts"), 1);
	assert_int_equal(get_num(cache, "max_bytes"), 64 << 20);
}

static void test_flush(void **state)
{
	fixture_t *f = *state;
	put(f, "a.x.example.", DNS_TYPE_A, 0, 1);
	put(f, "a.x.example.", DNS_TYPE_AAAA, 1, 1);
	put(f, "b.a.x.example.", DNS_TYPE_A, 0, 1);
	put(f, "y.example.", DNS_TYPE_A, 0, 1);
	const cJSON *r = run(f, "flush A.X.Example");
	assert_true(is_ok(r));
	assert_string_equal(get_str(r, "scope"), "name");
	assert_string_equal(get_str(r, "name"), "A.X.Example");
	assert_int_equal(get_num(r, "removed"), 2);
	put(f, "a.x.example.", DNS_TYPE_A, 0, 1);
	r = run(f, "flush --subtree x.example.");
	assert_string_equal(get_str(r, "scope"), "subtree");
	assert_int_equal(get_num(r, "removed"), 2);
	r = run(f, "flush");
	assert_string_equal(get_str(r, "scope"), "all");
	assert_int_equal(get_num(r, "removed"), 1);
}

static void test_reload_and_reopen(void **state)
{
	fixture_t *f = *state;
	const cJSON *r = run(f, "reload");
	assert_true(is_ok(r));
	assert_string_equal(get_str(r, "message"), "configuration reloaded");
	assert_string_equal(get_str(r, "config"), f->config->path);
	assert_int_equal(get_num(cJSON_GetObjectItem(r, "changes"), "cache_flushed"), 3);
	f->reload_rc = -1;
	assert_error(f, "reload", "keeping the running configuration: x:1:2: bad");
	assert_int_equal(f->n_reloads, 2);
	r = run(f, "reopen");
	assert_true(is_ok(r));
	assert_string_equal(get_str(r, "message"), "no log file to reopen");
	assert_int_equal(f->n_reopens, 1);
}

static void test_health(void **state)
{
	fixture_t *f = *state;
	const cJSON *r = run(f, "health");
	assert_true(is_ok(r));
	assert_string_equal(get_str(r, "status"), "ok");
	assert_string_equal(get_str(r, "reason"), "");
	health_table_on_failure(f->health, NULL, server_id(f, "hq", 0), true, T0);
	health_table_on_failure(f->health, NULL, server_id(f, "hq", 1), true, T0);
	r = run(f, "health");
	assert_string_equal(get_str(r, "status"), "degraded");
	assert_string_equal(get_str(r, "reason"),
			    "no reachable server in group hq, first of chain hq,branch");
	f->is_serving = false;
	r = run(f, "health");
	assert_true(is_ok(r)); /* the command worked; the server is down */
	assert_string_equal(get_str(r, "status"), "down");
	assert_string_equal(get_str(r, "reason"), "not serving");
}

static void test_upstreams(void **state)
{
	fixture_t *f = *state;
	const cJSON *r = run(f, "upstreams");
	assert_true(is_ok(r));
	const cJSON *rows = cJSON_GetObjectItem(r, "upstreams");
	assert_int_equal(cJSON_GetArraySize(rows), 3);
	const cJSON *row = cJSON_GetArrayItem(rows, 0);
	assert_string_equal(get_str(row, "group"), "hq");
	assert_string_equal(get_str(row, "address"), "127.0.0.1:5301");
	assert_string_equal(get_str(row, "state"), "up");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(row, "rtt_ms")));
	assert_int_equal(get_num(row, "failures"), 0);
	assert_string_equal(get_str(row, "last_change"), "never");
	assert_string_equal(get_str(cJSON_GetArrayItem(rows, 2), "group"), "branch");

	health_table_on_failure(f->health, NULL, server_id(f, "hq", 0), true, T0);
	health_view_t *v = health_view_new(f->health);
	health_table_on_success(f->health, v, server_id(f, "hq", 1), 12000);
	health_view_sync(v);
	health_view_free(v);
	r = run(f, "upstreams");
	rows = cJSON_GetObjectItem(r, "upstreams");
	row = cJSON_GetArrayItem(rows, 0);
	assert_string_equal(get_str(row, "state"), "down");
	assert_int_equal(get_num(row, "failures"), 1);
	const char *when = get_str(row, "last_change");
	assert_int_equal(strlen(when), 20); /* 2024-05-01T12:00:00Z */
	assert_int_equal(when[10], 'T');
	assert_int_equal(when[19], 'Z');
	assert_int_equal(get_num(cJSON_GetArrayItem(rows, 1), "rtt_ms"), 12);
}

static void test_explain(void **state)
{
	fixture_t *f = *state;
	const cJSON *r = run(f, "explain www.x.example");
	assert_true(is_ok(r));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "client")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "view")));
	assert_string_equal(get_str(r, "rule"), "x.example");
	assert_string_equal(get_str(r, "via"), "hq,branch");
	assert_string_equal(get_str(r, "group"), "hq");
	assert_string_equal(get_str(r, "upstream"), "127.0.0.1:5301"); /* ordered */
	const char *text = get_str(r, "text");
	assert_true(strncmp(text, "view=- rule=x.example source=erdns.json:", 40) == 0);
	assert_non_null(strstr(text, " via=hq,branch upstream=127.0.0.1:5301 rtt_ms=unknown"));
	const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "cache"), 0);
	assert_string_equal(get_str(a, "type"), "A");
	assert_string_equal(get_str(a, "state"), "none");

	/* cached on this chain, current epoch: a hit; the first server down:
	 * the next one is named */
	put(f, "www.x.example.", DNS_TYPE_A, chain_of(f, "hq,branch"), 1);
	health_table_on_failure(f->health, NULL, server_id(f, "hq", 0), true, T0);
	r = run(f, "explain WWW.x.example");
	a = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "cache"), 0);
	assert_string_equal(get_str(a, "state"), "hit");
	assert_int_equal(get_num(a, "ttl"), 300);
	assert_string_equal(get_str(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "cache"), 1),
				    "state"),
			    "none");
	assert_string_equal(get_str(r, "upstream"), "127.0.0.1:5302");
	cache_stats_t st;
	cache_get_stats(f->cache, &st);
	assert_int_equal(st.hits + st.misses, 0); /* explain counted nothing */

	/* a client in the view: its own route */
	r = run(f, "explain www.x.example 10.1.2.3");
	assert_string_equal(get_str(r, "client"), "10.1.2.3");
	assert_string_equal(get_str(r, "view"), "pilot");
	assert_string_equal(get_str(r, "via"), "branch");
	assert_string_equal(get_str(r, "upstream"), "127.0.0.1:5303");

	/* a local zone */
	r = run(f, "explain ns1.branch.contoso.com");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "local")));
	assert_string_equal(get_str(r, "zone"), "branch.contoso.com");
	assert_string_equal(get_str(r, "text"), "zone=branch.contoso.com source=local er=n/a");
}

static const cJSON *dump_entry(const cJSON *r, const char *name, const char *type)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(r, "entries"))
	{
		if (strcmp(get_str(e, "name"), name) == 0 && strcmp(get_str(e, "type"), type) == 0)
			return e;
	}
	fail_msg("%s %s not in the dump", name, type);
	return NULL;
}

static void test_cache_dump(void **state)
{
	fixture_t *f = *state;
	const cJSON *r = run(f, "cache-dump");
	assert_true(is_ok(r));
	assert_int_equal(get_num(r, "count"), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "entries")), 0);
	put(f, "A.x.example.", DNS_TYPE_A, chain_of(f, "hq,branch"), 1);
	put(f, "a.x.example.", DNS_TYPE_AAAA, chain_of(f, "branch"), 1);
	put(f, "old.example.", DNS_TYPE_A, 0, 0); /* another route epoch */
	r = run(f, "cache-dump");
	assert_int_equal(get_num(r, "count"), 3);
	assert_int_equal(get_num(r, "epoch"), 1);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(r, "truncated")));
	const cJSON *e = dump_entry(r, "a.x.example", "A");
	assert_string_equal(get_str(e, "chain"), "hq,branch");
	assert_string_equal(get_str(e, "class"), "IN");
	assert_int_equal(get_num(e, "ttl"), 300);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(e, "stale")));
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(e, "old_routes")));
	assert_string_equal(get_str(dump_entry(r, "a.x.example", "AAAA"), "chain"), "branch");
	e = dump_entry(r, "old.example", "A");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "chain")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(e, "old_routes")));
}

/* A response for "nI.example. A" made by hand: ldns is too slow for 10^5. */
static void put_numbered(fixture_t *f, unsigned i)
{
	static const uint8_t header[12] = { 0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0 };
	static const uint8_t answer[] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0x2c, 0, 4, 192, 0, 2, 1 };
	uint8_t msg[128];
	memcpy(msg, header, sizeof(header));
	size_t n = sizeof(header);
	int len = snprintf((char *)msg + n + 1, 16, "n%u", i);
	msg[n] = (uint8_t)len;
	n += 1 + (size_t)len;
	memcpy(msg + n, "\7example\0\0\1\0\1", 13); /* the name's end, A, IN */
	n += 13;
	size_t qname_len = n - 4 - sizeof(header);
	memcpy(msg + n, answer, sizeof(answer));
	n += sizeof(answer);
	cache_key_t key = { .qname = msg + sizeof(header), .qname_len = qname_len, .epoch = 1,
			    .qtype = DNS_TYPE_A, .qclass = DNS_CLASS_IN };
	cache_insert_params_t p = { .key = &key, .resp = msg, .resp_len = n };
	assert_int_equal(cache_insert(f->cache, &p, T0), 0);
}

/* At most ER_CONTROL_DUMP_MAX entries, and the reply says it stopped. */
static void test_cache_dump_bounded(void **state)
{
	fixture_t *f = *state;
	for (unsigned i = 0; i < ER_CONTROL_DUMP_MAX + 5; i++)
		put_numbered(f, i);
	cache_stats_t st;
	cache_get_stats(f->cache, &st);
	assert_int_equal(st.entries, ER_CONTROL_DUMP_MAX + 5); /* none evicted */
	struct timespec t0, t1;
	size_t len;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	free(control_run(&f->env, "cache-dump", 10, T0, &len));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("cache-dump of %d entries: %ld ms, %zu bytes\n", ER_CONTROL_DUMP_MAX,
		      (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000),
		      len);
	const cJSON *r = run(f, "cache-dump");
	assert_true(is_ok(r));
	assert_int_equal(get_num(r, "count"), ER_CONTROL_DUMP_MAX);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "entries")),
			 ER_CONTROL_DUMP_MAX);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "truncated")));
	assert_int_equal(get_num(r, "max"), ER_CONTROL_DUMP_MAX);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_words), T(test_bad_requests),
		T(test_stats_sums_workers),	    T(test_flush),
		T(test_reload_and_reopen),	    T(test_health),
		T(test_upstreams),		    T(test_explain),
		T(test_cache_dump),		    T(test_cache_dump_bounded),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
