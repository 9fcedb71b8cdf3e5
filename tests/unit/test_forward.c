/*
 * Tests for server/forward.c through its seam (forward_env_t): no socket,
 * no loop, no real clock.
 *
 * The outbound layer is a replay fake. start() appends a row per attempt
 * (server, question, timeout, linger, on_slow, callback and owner, the EDNS
 * option bytes, the time it started) and hands back a pointer to that row;
 * cancel() marks the row. Nothing happens by itself: the test plays each
 * result when it chooses, moving a fake clock that now_ms() reads: an
 * answer (built with ldns from the attempt's own question), the slow notice
 * at the attempt's timeout and the final UV_ETIMEDOUT after its linger, an
 * error rcode, a network error, garbage (-EBADMSG). The fake refuses to play
 * a row that was cancelled or has finished, so "a cancelled attempt's
 * callback never runs" holds by construction, and teardown checks that no
 * row is left open once the forwarder is freed. A real upstream on
 * loopback could not time the 800 ms group budget, a late answer or the
 * query deadline to the millisecond, or replay each SPEC 2.1 outcome on cue.
 *
 * Replies go to a recording sink and are read back with ldns (rcode, ID,
 * TTLs, EDE), a parser that is not ours. Everything else is real: configs
 * are JSON files written to a temporary directory and loaded with
 * config_load, then given health ids with health_table_apply and a route
 * epoch as server.c does; the cache, health table and view are the real
 * ones. randomness is a constant that never explores (select.h).
 *
 * Long for a test file because every rule gets its own test with its
 * timeline spelled out to the millisecond: the fake, the message helpers
 * and the fixture come first, then the tests in the order of the rules.
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
#include <unistd.h>

#include <ldns/ldns.h>
#include <uv.h>

#include "cache/cache.h"
#include "config/config.h"
#include "dns/dname.h"
#include "routing/er_audit.h"
#include "dns/reply.h"
#include "server/forward.h"
#include "upstream/health_table.h"
#include "util/sockaddr.h"
#include "ldns_wire.h"

#define T0 1000000u /* the fake clock's start, ms: any monotonic origin */
#define AT(ms) ((uint64_t)T0 + (ms))
#define MAX_FAKE_ATTEMPTS 64
#define MAX_REPLIES 16
#define MAX_TTLS 16
#define NO_EDE (-1)
#define NEVER_EXPLORES 99 /* random % 100 >= ER_EXPLORE_PERCENT */
#define CLIENT_PORT 40000
#define FAKE_OPTION_MAX 64 /* an ECS option is at most 4 + 4 + 16 bytes */

_Static_assert(NEVER_EXPLORES % 100 >= ER_EXPLORE_PERCENT, "must not explore");

/* One attempt as the forwarder asked the outbound layer for it. */
typedef struct fake_attempt {
	char server[ER_SOCKADDR_TEXT_MAX];
	uint8_t qname[ER_DNAME_MAX];
	size_t qname_len;
	uint16_t qtype;
	uint32_t timeout_ms, linger_ms;
	attempt_slow_cb on_slow;
	attempt_cb cb;
	void *owner;
	uint8_t option[FAKE_OPTION_MAX];
	size_t option_len;
	uint64_t started_ms;
	bool is_slow, is_done, is_cancelled;
} fake_attempt_t;

typedef struct recorded_reply {
	uint16_t client_port; /* who got it */
	uint64_t at_ms;
	size_t len;
	uint8_t msg[4096];
} recorded_reply_t;

typedef struct fixture {
	uint64_t now_ms;
	fake_attempt_t attempts[MAX_FAKE_ATTEMPTS];
	size_t n_attempts, n_cancels;
	size_t n_refused; /* starts refused by refusing_start */
	recorded_reply_t replies[MAX_REPLIES];
	size_t n_replies;
	uint8_t ers[MAX_REPLIES]; /* each query event's er (er_word_t), in order */
	size_t n_events;
	metrics_t stats;
	config_t *config;
	cache_t *cache;
	health_table_t *health;
	health_view_t *view;
	forwarder_t *fwd;
} fixture_t;

static char tmpdir[64];

/* --- the replay fake of the outbound layer -------------------------------- */

static void *fake_start(void *ctx, const attempt_params_t *p, attempt_cb cb, void *owner)
{
	fixture_t *t = ctx;
	assert_true(t->n_attempts < MAX_FAKE_ATTEMPTS);
	assert_true(p->option_len <= FAKE_OPTION_MAX);
	fake_attempt_t *a = &t->attempts[t->n_attempts++];
	*a = (fake_attempt_t){ .qname_len = p->query->qname_len, .qtype = p->query->qtype,
			       .timeout_ms = p->timeout_ms, .linger_ms = p->linger_ms,
			       .on_slow = p->on_slow, .cb = cb, .owner = owner,
			       .option_len = p->option_len, .started_ms = t->now_ms };
	sockaddr_format(p->server, a->server, sizeof(a->server));
	memcpy(a->qname, p->query->qname, p->query->qname_len);
	if (p->option_len)
		memcpy(a->option, p->option, p->option_len);
	return a;
}

static void fake_cancel(void *ctx, void *handle)
{
	fixture_t *t = ctx;
	fake_attempt_t *a = handle;
	assert_false(a->is_done);
	assert_false(a->is_cancelled);
	a->is_cancelled = true;
	t->n_cancels++;
}

static uint64_t fake_now(void *ctx)
{
	return ((fixture_t *)ctx)->now_ms;
}

static uint32_t fixed_random(void)
{
	return NEVER_EXPLORES;
}

static void record_reply(void *ctx, const client_t *client, const uint8_t *msg, size_t len)
{
	fixture_t *t = ctx;
	assert_true(t->n_replies < MAX_REPLIES);
	assert_true(len <= sizeof(t->replies[0].msg));
	recorded_reply_t *r = &t->replies[t->n_replies++];
	r->client_port = sockaddr_port((const struct sockaddr *)&client->addr);
	r->at_ms = t->now_ms;
	r->len = len;
	memcpy(r->msg, msg, len);
}

static void record_event(void *ctx, const query_event_t *ev)
{
	fixture_t *t = ctx;
	assert_true(t->n_events < MAX_REPLIES);
	t->ers[t->n_events++] = ev->er;
}

static void clock_to(fixture_t *t, uint64_t ms)
{
	assert_true(ms >= t->now_ms);
	t->now_ms = ms;
}

static fake_attempt_t *attempt(fixture_t *t, size_t i)
{
	assert_true(i < t->n_attempts);
	return &t->attempts[i];
}

/* Row i may still report: neither finished nor cancelled. */
static fake_attempt_t *open_attempt(fixture_t *t, size_t i)
{
	fake_attempt_t *a = attempt(t, i);
	assert_false(a->is_cancelled);
	assert_false(a->is_done);
	return a;
}

static size_t open_attempts(const fixture_t *t)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n_attempts; i++)
		n += !t->attempts[i].is_done && !t->attempts[i].is_cancelled;
	return n;
}

/* The final callback of attempt i, now. */
static void play_final(fixture_t *t, size_t i, int status, const uint8_t *resp, size_t len)
{
	fake_attempt_t *a = open_attempt(t, i);
	a->is_done = true;
	uint64_t rtt_ms = t->now_ms - a->started_ms;
	a->cb(a->owner, status, resp, len, (uint32_t)(rtt_ms * 1000));
}

/* Attempt i's timeout passes: on_slow when it lingers (then it is still
 * open), else its final UV_ETIMEDOUT. */
static void play_timeout(fixture_t *t, size_t i)
{
	fake_attempt_t *a = open_attempt(t, i);
	assert_false(a->is_slow);
	clock_to(t, a->started_ms + a->timeout_ms);
	if (a->linger_ms > 0 && a->on_slow) {
		a->is_slow = true;
		a->on_slow(a->owner);
		return;
	}
	play_final(t, i, UV_ETIMEDOUT, NULL, 0);
}

/* A slow attempt i stops listening: its final UV_ETIMEDOUT. */
static void play_linger_end(fixture_t *t, size_t i)
{
	fake_attempt_t *a = open_attempt(t, i);
	assert_true(a->is_slow);
	clock_to(t, a->started_ms + a->timeout_ms + a->linger_ms);
	play_final(t, i, UV_ETIMEDOUT, NULL, 0);
}

/* --- DNS messages (ldns) ------------------------------------------------- */

static void push_rr(ldns_pkt *pkt, ldns_pkt_section sec, const char *text)
{
	ldns_rr *rr = NULL;
	assert_int_equal(ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL), LDNS_STATUS_OK);
	assert_true(ldns_pkt_push_rr(pkt, sec, rr));
}

/* An upstream response to attempt a's question. NOERROR carries records in
 * every section with TTLs ttl (answer), 2*ttl (authority), 3*ttl
 * (additional); NXDOMAIN an SOA with ttl; error rcodes nothing. */
static size_t build_response(const fake_attempt_t *a, int rcode, uint32_t ttl, uint8_t *buf,
			     size_t cap)
{
	ldns_rdf *qname = ldns_dname_new_frm_data((uint16_t)a->qname_len, a->qname);
	assert_non_null(qname);
	char *name = ldns_rdf2str(qname);
	ldns_pkt *pkt =
		ldns_pkt_query_new(qname, (ldns_rr_type)a->qtype, LDNS_RR_CLASS_IN, LDNS_RD);
	assert_non_null(pkt);
	ldns_pkt_set_id(pkt, 0x5151);
	ldns_pkt_set_qr(pkt, true);
	ldns_pkt_set_ra(pkt, true);
	ldns_pkt_set_rcode(pkt, (uint8_t)rcode);
	char rr[512];
	if (rcode == DNS_RCODE_NOERROR) {
		snprintf(rr, sizeof(rr), "%s %u IN A 192.0.2.10", name, ttl);
		push_rr(pkt, LDNS_SECTION_ANSWER, rr);
		snprintf(rr, sizeof(rr), "%s %u IN NS ns.example.", name, 2 * ttl);
		push_rr(pkt, LDNS_SECTION_AUTHORITY, rr);
		snprintf(rr, sizeof(rr), "ns.example. %u IN A 192.0.2.53", 3 * ttl);
		push_rr(pkt, LDNS_SECTION_ADDITIONAL, rr);
	} else if (rcode == DNS_RCODE_NXDOMAIN) {
		snprintf(rr, sizeof(rr), "example. %u IN SOA ns.example. h.example. 1 2 3 4 %u",
			 ttl, ttl);
		push_rr(pkt, LDNS_SECTION_AUTHORITY, rr);
	}
	free(name);
	return pkt_to_buf(pkt, buf, cap);
}

/* Attempt i answers with rcode (and records with ttl, see build_response). */
static void play_answer(fixture_t *t, size_t i, int rcode, uint32_t ttl)
{
	uint8_t resp[1024];
	size_t len = build_response(open_attempt(t, i), rcode, ttl, resp, sizeof(resp));
	play_final(t, i, 0, resp, len);
}

/* ECS 198.51.100.0/24 (RFC 7871 6): family 1, source 24, scope 0. */
static const uint8_t client_ecs_data[] = { 0, 1, 24, 0, 198, 51, 100 };

typedef struct query {
	uint8_t wire[512];
	size_t len;
	dns_query_t q;
} query_t;

/* A client query for name/A with EDNS (so SERVFAIL carries EDE), and the
 * ECS option above when has_ecs. */
static void build_query(query_t *out, const char *name, uint16_t id, bool has_ecs)
{
	ldns_rdf *qname = ldns_dname_new_frm_str(name);
	assert_non_null(qname);
	ldns_pkt *pkt = ldns_pkt_query_new(qname, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD);
	assert_non_null(pkt);
	ldns_pkt_set_id(pkt, id);
	ldns_pkt_set_edns_udp_size(pkt, 1232);
	if (has_ecs) {
		ldns_edns_option_list *list = ldns_edns_option_list_new();
		ldns_edns_option *ecs = ldns_edns_new_from_data(
			LDNS_EDNS_CLIENT_SUBNET, sizeof(client_ecs_data), client_ecs_data);
		assert_true(ldns_edns_option_list_push(list, ecs));
		ldns_pkt_set_edns_option_list(pkt, list);
	}
	out->len = pkt_to_buf(pkt, out->wire, sizeof(out->wire));
	assert_int_equal(wire_parse_query(out->wire, out->len, &out->q), WIRE_OK);
	assert_int_equal(out->q.ecs != NULL, has_ecs);
}

static client_t client_at(uint16_t port)
{
	client_t c = { .udp = NULL, .conn = NULL };
	assert_int_equal(sockaddr_parse("192.0.2.100", port, &c.addr), 0);
	return c;
}

/* A client (told apart by port) asks name on chain with the given ID. */
static void ask_as(fixture_t *t, const char *name, uint32_t chain, uint16_t id, uint16_t port,
		   bool has_ecs)
{
	query_t qu;
	build_query(&qu, name, id, has_ecs);
	client_t c = client_at(port);
	forward_start(t->fwd, &c, NULL, qu.wire, qu.len, &qu.q, chain);
}

static void ask(fixture_t *t, const char *name, uint32_t chain)
{
	ask_as(t, name, chain, 0x1234, CLIENT_PORT, false);
}

static ldns_pkt *parse_reply(const fixture_t *t, size_t r)
{
	assert_true(r < t->n_replies);
	ldns_pkt *pkt = NULL;
	assert_int_equal(ldns_wire2pkt(&pkt, t->replies[r].msg, t->replies[r].len),
			 LDNS_STATUS_OK);
	return pkt;
}

static int reply_rcode(const fixture_t *t, size_t r)
{
	ldns_pkt *pkt = parse_reply(t, r);
	int rcode = ldns_pkt_get_rcode(pkt);
	ldns_pkt_free(pkt);
	return rcode;
}

static uint16_t reply_id(const fixture_t *t, size_t r)
{
	ldns_pkt *pkt = parse_reply(t, r);
	uint16_t id = ldns_pkt_id(pkt);
	ldns_pkt_free(pkt);
	return id;
}

/* The EDE info-code of reply r (RFC 8914), or NO_EDE. */
static int reply_ede(const fixture_t *t, size_t r)
{
	ldns_pkt *pkt = parse_reply(t, r);
	ldns_edns_option_list *list = ldns_pkt_edns_get_option_list(pkt);
	int ede = NO_EDE;
	for (size_t i = 0; list && i < ldns_edns_option_list_get_count(list); i++) {
		ldns_edns_option *o = ldns_edns_option_list_get_option(list, i);
		if (ldns_edns_get_code(o) == LDNS_EDNS_EDE && ldns_edns_get_size(o) >= 2) {
			const uint8_t *d = ldns_edns_get_data(o);
			ede = (d[0] << 8) | d[1];
		}
	}
	ldns_pkt_free(pkt);
	return ede;
}

/* Every record's TTL in a DNS message (OPT excluded), in section order. */
static size_t ttls_of_msg(const uint8_t *msg, size_t len, uint32_t *ttls)
{
	ldns_pkt *pkt = NULL;
	assert_int_equal(ldns_wire2pkt(&pkt, msg, len), LDNS_STATUS_OK);
	ldns_rr_list *secs[] = { ldns_pkt_answer(pkt), ldns_pkt_authority(pkt),
				 ldns_pkt_additional(pkt) };
	size_t n = 0;
	for (size_t s = 0; s < 3; s++) {
		for (size_t i = 0; i < ldns_rr_list_rr_count(secs[s]); i++) {
			assert_true(n < MAX_TTLS);
			ttls[n++] = ldns_rr_ttl(ldns_rr_list_rr(secs[s], i));
		}
	}
	ldns_pkt_free(pkt);
	return n;
}

static size_t reply_ttls(const fixture_t *t, size_t r, uint32_t *ttls)
{
	assert_true(r < t->n_replies);
	return ttls_of_msg(t->replies[r].msg, t->replies[r].len, ttls);
}

/* --- configs, and the forwarder around them ------------------------------ */

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/erdns-test-forward-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

/* A snapshot of json as the server prepares one: loaded, health ids
 * applied, route epoch set. */
static config_t *load_config(fixture_t *t, const char *json, uint32_t epoch)
{
	char path[128], err[ER_CONFIG_ERR_MAX] = "";
	snprintf(path, sizeof(path), "%s/erdns-%u.json", tmpdir, epoch);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(json, f);
	fclose(f);
	config_t *c = config_load(path, err, sizeof(err));
	unlink(path);
	if (c == NULL)
		fail_msg("%s", err);
	assert_int_equal(health_table_apply(t->health, c, err, sizeof(err)), 0);
	c->route_epoch = epoch;
	return c;
}

static int setup(void **state)
{
	static fixture_t fixture;
	fixture = (fixture_t){ .now_ms = T0 };
	fixture.health = health_table_new();
	fixture.view = fixture.health ? health_view_new(fixture.health) : NULL;
	*state = &fixture;
	return fixture.view ? 0 : -1;
}

typedef void *(*start_fn)(void *ctx, const attempt_params_t *p, attempt_cb cb, void *owner);

/* The forwarder's world: the fake (with start), the sink, the real rest. */
static forward_env_t env_of(fixture_t *t, start_fn start)
{
	return (forward_env_t){
		.out = { .start = start, .cancel = fake_cancel, .now_ms = fake_now, .ctx = t },
		.sink = { .send = record_reply, .done = record_event, .ctx = t,
			  .stats = &t->stats },
		.random = fixed_random,
		.cache = t->cache,
		.health = t->health,
		.view = t->view,
		.max_inflight = ER_MAX_INFLIGHT_DEFAULT,
	};
}

/* Loads json (epoch 1) and builds the cache and the forwarder on it. */
static void start_with(fixture_t *t, const char *json)
{
	t->config = load_config(t, json, 1);
	t->cache = cache_new(&t->config->cache, 0);
	assert_non_null(t->cache);
	forward_env_t env = env_of(t, fake_start);
	t->fwd = forwarder_new(&env, t->config);
	assert_non_null(t->fwd);
}

static int teardown(void **state)
{
	fixture_t *t = *state;
	forwarder_free(t->fwd);
	assert_int_equal(open_attempts(t), 0); /* every attempt ended or was cancelled */
	cache_free(t->cache);
	config_unref(t->config);
	health_view_free(t->view);
	health_table_free(t->health);
	return 0;
}

static uint32_t chain_of(const fixture_t *t, const char *text)
{
	for (size_t i = 0; i < t->config->n_chains; i++) {
		if (strcmp(t->config->chains[i].text, text) == 0)
			return (uint32_t)i;
	}
	fail_msg("no chain %s", text);
	return 0;
}

static uint16_t health_id_of(const fixture_t *t, const char *group, size_t server)
{
	int g = config_group_index(t->config, group);
	assert_true(g >= 0);
	return t->config->groups[g].health_ids[server];
}

static uint32_t fails_of(const fixture_t *t, const char *group, size_t server)
{
	uint16_t id = health_id_of(t, group, server);
	server_health_t h;
	health_view_fill(t->view, &id, 1, &h);
	return h.consecutive_fails;
}

static void mark_down(fixture_t *t, const char *group, size_t server)
{
	uint16_t id = health_id_of(t, group, server);
	int g = config_group_index(t->config, group);
	for (uint32_t i = 0; i < t->config->groups[g].max_fails; i++)
		health_table_on_failure(t->health, t->view, id, true, t->now_ms);
	assert_true(health_table_is_down(t->health, id));
}

/* What the cache holds for name/A on chain under epoch, at now. */
static cache_result_t cached(fixture_t *t, const char *name, uint32_t chain, uint32_t epoch,
			     uint64_t now, uint8_t *out, size_t *len)
{
	query_t qu;
	build_query(&qu, name, 0x7777, false);
	cache_key_t key = cache_key_from_query(&qu.q, chain, epoch);
	cache_copy_t copy = { .out = out, .cap = ER_REPLY_MAX, .id = 0x7777 };
	cache_result_t r = cache_lookup(t->cache, &key, now, &copy);
	if (len)
		*len = copy.len;
	return r;
}

static void assert_attempt(fixture_t *t, size_t i, const char *server, uint64_t started_ms,
			   uint32_t timeout_ms, uint32_t linger_ms)
{
	fake_attempt_t *a = attempt(t, i);
	assert_string_equal(a->server, server);
	assert_int_equal(a->started_ms, started_ms);
	assert_int_equal(a->timeout_ms, timeout_ms);
	assert_int_equal(a->linger_ms, linger_ms);
	assert_true(a->on_slow != NULL);
}

static size_t attempts_to(const fixture_t *t, const char *server)
{
	size_t n = 0;
	for (size_t i = 0; i < t->n_attempts; i++)
		n += strcmp(t->attempts[i].server, server) == 0;
	return n;
}

/* hq: three servers asked in order; branch: two. query_timeout_ms 3000. */
static const char *const two_groups =
	"{\n"
	"  \"upstreams\": {\n"
	"    \"hq\": { \"servers\": [\"10.0.0.1\", \"10.0.0.2\", \"10.0.0.3\"],\n"
	"            \"select\": \"ordered\" },\n"
	"    \"branch\": { \"servers\": [\"10.0.1.1\", \"10.0.1.2\"], \"select\": \"ordered\" }\n"
	"  },\n"
	"  \"routes\": [ { \"domains\": [\"corp.example\"], \"via\": [\"hq\", \"branch\"] } ],\n"
	"  \"default\": \"branch\",\n"
	"  \"cache\": { \"fallback_ttl_s\": 20 }\n"
	"}\n";

#define HQ1 "10.0.0.1:53"
#define HQ2 "10.0.0.2:53"
#define HQ3 "10.0.0.3:53"
#define BR1 "10.0.1.1:53"
#define BR2 "10.0.1.2:53"

/* --- 1. budgets ---------------------------------------------------------- */

/* hq stays silent: its budget is ER_GROUP_BUDGET_MS from the query's
 * arrival, not one attempt per server; branch gets the rest of
 * query_timeout_ms and the query ends SERVFAIL + EDE 22 exactly then. */
static void test_budget_first_group_then_rest(void **state)
{
	fixture_t *t = *state;
	start_with(t, two_groups);
	uint32_t chain = chain_of(t, "hq,branch");
	ask(t, "www.corp.example.", chain);

	/* 400 ms: no RTT yet (ER_RTT_UNKNOWN_MS); lingering until the deadline */
	assert_int_equal(t->n_attempts, 1);
	assert_attempt(t, 0, HQ1, AT(0), 400, 2600);
	play_timeout(t, 0);
	assert_int_equal(t->n_attempts, 2);
	assert_attempt(t, 1, HQ2, AT(400), 400, 2200); /* ends as the budget does */
	play_timeout(t, 1);
	/* budget spent: 10.0.0.3 is not asked, branch is, at 800 ms */
	assert_int_equal(t->n_attempts, 3);
	assert_int_equal(attempts_to(t, HQ3), 0);
	assert_attempt(t, 2, BR1, AT(ER_GROUP_BUDGET_MS), 400, 1800);
	assert_int_equal(t->stats.failovers, 1);
	assert_int_equal(t->n_replies, 0);

	/* branch: both servers, then passes until query_timeout_ms */
	play_timeout(t, 2);
	assert_attempt(t, 3, BR2, AT(1200), 400, 1400);
	play_timeout(t, 3);
	/* second pass: each server's timeout doubled once (RFC 6298 5.5) */
	assert_attempt(t, 4, BR1, AT(1600), 800, 600);
	play_timeout(t, 4);
	assert_attempt(t, 5, BR2, AT(2400), 600, 0); /* the rest of the 3000 ms */
	assert_int_equal(t->n_replies, 0);
	play_timeout(t, 5);

	assert_int_equal(t->now_ms, AT(3000));
	assert_int_equal(t->n_attempts, 6);
	assert_int_equal(t->n_replies, 1);
	assert_int_equal(t->replies[0].at_ms, AT(3000));
	assert_int_equal(reply_rcode(t, 0), DNS_RCODE_SERVFAIL);
	assert_int_equal(reply_id(t, 0), 0x1234);
	assert_int_equal(reply_ede(t, 0), EDE_NO_REACHABLE_AUTHORITY);
	assert_int_equal(t->stats.servfail_sent, 1);
	assert_int_equal(t->n_cancels, 5); /* the lingering ones */
	assert_int_equal(open_attempts(t), 0);
	assert_int_equal(forwarder_inflight(t->fwd), 0);
}

/* An early failure in hq does not buy it more time: the attempt that would
 * run past the budget is cut to end at 800 ms, when branch is asked. */
static void test_budget_caps_attempt_timeout(void **state)
{
	fixture_t *t = *state;
	start_with(t, two_groups);
	ask(t, "www.corp.example.", chain_of(t, "hq,branch"));
	clock_to(t, AT(250));
	play_answer(t, 0, DNS_RCODE_REFUSED, 0);
	assert_attempt(t, 1, HQ2, AT(250), 400, 2350);
	play_timeout(t, 1);
	assert_attempt(t, 2, HQ3, AT(650), 150, 2200); /* 400 cut to the budget's end */
	play_timeout(t, 2);
	assert_attempt(t, 3, BR1, AT(ER_GROUP_BUDGET_MS), 400, 1800);
	play_answer(t, 3, DNS_RCODE_NOERROR, 300);
	assert_int_equal(t->n_replies, 1);
	assert_int_equal(reply_rcode(t, 0), DNS_RCODE_NOERROR);
	assert_int_equal(t->n_cancels, 2); /* hq's slow ones */
}

/* --- 2. rounds ----------------------------------------------------------- */

static const char *const one_silent_server =
	"{\n"
	"  \"server\": { \"query_timeout_ms\": 10000 },\n"
	"  \"upstreams\": { \"branch\": { \"servers\": [\"10.0.1.1\"], \"timeout_ms\": 100 } }\n"
	"}\n";

/* Plenty of time: the passes are the bound (ER_LAST_GROUP_ROUNDS), then the
 * query waits for the lingering attempts until query_timeout_ms. */
static void test_rounds_bounded_by_passes(void **state)
{
	fixture_t *t = *state;
	start_with(t, one_silent_server);
	ask(t, "www.example.", chain_of(t, "branch"));
	for (size_t i = 0; i < ER_LAST_GROUP_ROUNDS; i++) {
		assert_int_equal(t->n_attempts, i + 1);
		assert_attempt(t, i, BR1, AT(100 * i), 100, 10000 - 100 * (uint32_t)(i + 1));
		play_timeout(t, i);
	}
	assert_int_equal(t->now_ms, AT(400));
	assert_int_equal(t->n_attempts, ER_LAST_GROUP_ROUNDS);
	assert_int_equal(t->n_replies, 0);
	assert_int_equal(fails_of(t, "branch", 0), 1); /* once per query, not per pass */

	play_linger_end(t, 0); /* all linger until the deadline; the first to end decides */
	assert_int_equal(t->now_ms, AT(10000));
	assert_int_equal(t->n_attempts, ER_LAST_GROUP_ROUNDS);
	assert_int_equal(t->n_replies, 1);
	assert_int_equal(reply_rcode(t, 0), DNS_RCODE_SERVFAIL);
	assert_int_equal(reply_ede(t, 0), EDE_NO_REACHABLE_AUTHORITY);
	assert_int_equal(t->n_cancels, ER_LAST_GROUP_ROUNDS - 1);
}

static const char *const one_silent_server_short =
	"{\n"
	"  \"server\": { \"query_timeout_ms\": 1000 },\n"
	"  \"upstreams\": { \"branch\": { \"servers\": [\"10.0.1.1\"] } }\n"
	"}\n";

/* Little time: the deadline is the bound, and each attempt's timeout fits
 * in what is left of it. */
static void test_rounds_bounded_by_deadline(void **state)
{
	fixture_t *t = *state;
	start_with(t, one_silent_server_short);
	ask(t, "www.example.", chain_of(t, "branch"));
	assert_attempt(t, 0, BR1, AT(0), 400, 600);
	play_timeout(t, 0);
	assert_attempt(t, 1, BR1, AT(400), 600, 0); /* 800 after backoff, 600 left */
	play_timeout(t, 1);
	assert_int_equal(t->now_ms, AT(1000));
	assert_int_equal(t->n_attempts, 2);
	for (size_t i = 0; i < t->n_attempts; i++) {
		const fake_attempt_t *a = attempt(t, i);
		assert_true(a->started_ms + a->timeout_ms + a->linger_ms <= AT(1000));
	}
	assert_int_equal(t->n_replies, 1);
	assert_int_equal(reply_rcode(t, 0), DNS_RCODE_SERVFAIL);
	assert_int_equal(reply_ede(t, 0), EDE_NO_REACHABLE_AUTHORITY);
	assert_int_equal(t->n_cancels, 1);
}

/* An attempt that cannot even start fails at once: the passes still bound
 * the query (no spin), which ends SERVFAIL + EDE 23 without waiting. */
static void *refusing_start(void *ctx, const attempt_params_t *p, attempt_cb cb, void *owner)
{
	fixture_t *t = ctx;
	(void)p, (void)cb, (void)owner;
	t->n_refused++;
	return NULL;
}

static void test_rounds_start_refused(void **state)
{
	fixture_t *t = *state;
	start_with(t, one_silent_server_short);
	forward_env_t env = env_of(t, refusing_start);
	forwarder_free(t->fwd);
	t->fwd = forwarder_new(&env, t->config);
	ask(t, "www.example.", chain_of(t, "branch"));
	assert_int_equal(t->n_refused, ER_LAST_GROUP_ROUNDS);
	/* a start refused here (no socket, no memory: this machine's trouble)
	 * says nothing about the server: counting it marked every server down
	 * at once when the descriptors ran out */
	assert_int_equal(fails_of(t, "branch", 0), 0);
	assert_false(health_table_is_down(t->health, health_id_of(t, "branch", 0)));
	assert_int_equal(t->now_ms, AT(0));
	assert_int_equal(t->n_replies, 1);
	assert_int_equal(reply_rcode(t, 0), DNS_RCODE_SERVFAIL);
	assert_int_equal(reply_ede(t, 0), EDE_NETWORK_ERROR);
	assert_int_equal(forwarder_inflight(t->fwd), 0);
}

static const char *const two_quick_servers =
	"{\n"
	"  \"server\": { \"query_timeout_ms\": 10000 },\n"
	"  \"upstreams\": { \"branch\": { \"servers\": [\"10.0.1.1\", \"10.0.1.2\"],\n"
	"                               \"select\": \"ordered\", \"timeout_ms\": 50 } }\n"
	"}\n";

/* The indexes of the cancelled attempts, "0,1". */
static const char *cancelled_list(const fixture_t *t, char *buf, size_t cap)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < t->n_attempts && off < cap; i++) {
		if (t->attempts[i].is_cancelled)
			off += (size_t)snprintf(buf + off, cap - off, "%s%zu", off ? "," : "", i);
	}
	return buf;
}

/* Regression: two servers, four passes make 8 attempts, and
 * ER_MAX_ATTEMPTS (6) may listen at once. free_slot promises that the
 * oldest slow attempt gives way; from the second eviction on it took slot 0
 * again, which by then held the newest one. */
static void test_regression_free_slot_evicts_newest_slow(void **state)
{
	fixture_t *t = *state;
	start_with(t, two_quick_servers);
	ask(t, "www.example.", chain_of(t, "branch"));
	for (size_t i = 0; i < 2 * ER_LAST_GROUP_ROUNDS - 1; i++)
		play_timeout(t, i);
	assert_int_equal(t->n_attempts, 2 * ER_LAST_GROUP_ROUNDS);
	assert_attempt(t, 7, BR2, AT(350), 50, 9600);
	assert_int_equal(open_attempts(t), ER_MAX_ATTEMPTS);
	char buf[64];
	assert_string_equal(cancelled_list(t, buf, sizeof(buf)), "0,1"); /* a0, a1: oldest */
	play_timeout(t, 7);
	play_linger_end(t, 2);
	assert_int_equal(t->n_replies, 1);
	assert_int_equal(reply_ede(t, 0), EDE_NO_REACHABLE_AUTHORITY);
}

/* --- 3. late answers ----------------------------------------------------- */

static const char *const one_group_two_servers =
	"{\n"
	"  \"upstreams\": { \"branch\": { \"servers\": [\"10.0.1.1\", \"10.0.1.2\"],\n"
	"                               \"select\": \"ordered\" } }\n"
	"}\n";

/* A goes slow, B is asked, then A's answer arrives: it wins. */
static void test_late_answer_wins(void **state)
{
	fixture_t *t = *state;
	start_with(t, one_group_two_servers);
	ask(t, "www.example.", chain_of(t, "branch"));
	play_timeout(t, 0);
	assert_int_equal(t->n_attempts, 2);
	assert_string_equal(attempt(t, 1)->server, BR2);
	assert_int_equal(t->stats.late_answers, 0);
	assert_int_equal(fails_of(t, "branch", 0), 1);

	clock_to(t, AT(450));
	play_answer(t, 0, DNS_RCODE_NOERROR, 300);
	assert_int_equal(t->n_replies, 1);
	assert_int_equal(reply_rcode(t, 0), DNS_RCODE_NOERROR);
	assert_int_equal(reply_id(t, 0), 0x1234);
	assert_true(attempt(t, 1)->is_cancelled);
	assert_int_equal(t->n_cancels, 1);
	assert_int_equal(t->stats.late_answers, 1);
	assert_int_equal(fails_of(t, "branch", 0), 0); /* the answer shows it alive */
	assert_int_equal(forwarder_inflight(t->fwd), 0);
}

/* --- 4. the outcome table (SPEC 2.1) ------------------------------------ */

/* Server 1 of a one-group chain fails with status on each of max_fails
 * queries; server 2 answers each. The failure moves on at once and counts:
 * down after exactly max_fails queries. */
static void check_failure_outcome(fixture_t *t, int status)
{
	start_with(t, one_group_two_servers);
	uint32_t chain = chain_of(t, "branch");
	uint16_t id = health_id_of(t, "branch", 0);
	const char *names[] = { "a.example.", "b.example.", "c.example." };
	for (size_t q = 0; q < 3; q++) {
		assert_false(health_table_is_down(t->health, id));
		size_t first = t->n_attempts;
		ask(t, names[q], chain);
		assert_string_equal(attempt(t, first)->server, BR1);
		clock_to(t, t->now_ms + 10);
		if (status == UV_ETIMEDOUT)
			play_timeout(t, first);
		else
			play_final(t, first, status, NULL, 0);
		assert_int_equal(t->n_attempts, first + 2);
		assert_string_equal(attempt(t, first + 1)->server, BR2);
		assert_int_equal(attempt(t, first + 1)->started_ms, t->now_ms);
		play_answer(t, first + 1, DNS_RCODE_NOERROR, 300);
		assert_int_equal(t->n_replies, q + 1);
		assert_int_equal(reply_rcode(t, q), DNS_RCODE_NOERROR);
		assert_int_equal(fails_of(t, "branch", 0), q + 1);
	}
	assert_true(health_table_is_down(t->health, id));
	assert_false(health_table_is_down(t->health, health_id_of(t, "branch", 1)));
	assert_int_equal(t->stats.servers_down, 1);
	assert_int_equal(forwarder_inflight(t->fwd), 0);
}

static void test_outcome_timeout(void **state)
{
	check_failure_outcome(*state, UV_ETIMEDOUT);
}

static void test_outcome_network_error(void **state)
{
	check_failure_outcome(*state, UV_ECONNREFUSED);
}

static void test_outcome_garbage(void **state)
{
	check_failure_outcome(*state, -EBADMSG);
}

/* Each error rcode moves to the next server at once and leaves server 1
 * alive, however often it happens (4 queries > max_fails 3). */
static void test_outcome_error_rcodes(void **state)
{
	fixture_t *t = *state;
	start_with(t, one_group_two_servers);
	uint32_t chain = chain_of(t, "branch");
	const int rcodes[] = { DNS_RCODE_SERVFAIL, DNS_RCODE_REFUSED, DNS_RCODE_FORMERR,
			       DNS_RCODE_NOTIMP };
	const char *names[] = { "a.example.", "b.example.", "c.example.", "d.example." };
	for (size_t q = 0; q < 4; q++) {
		size_t first = t->n_attempts;
		ask(t, names[q], chain);
		clock_to(t, t->now_ms + 10);
		play_answer(t, first, rcodes[q], 0);
		assert_int_equal(t->n_attempts, first + 2);
		assert_string_equal(attempt(t, first + 1)->server, BR2);
		assert_int_equal(attempt(t, first + 1)->started_ms, t->now_ms);
		play_answer(t, first + 1, DNS_RCODE_NOERROR, 300);
		assert_int_equal(reply_rcode(t, q), DNS_RCODE_NOERROR);
		assert_int_equal(fails_of(t, "branch", 0), 0);
	}
	assert_false(health_table_is_down(t->health, health_id_of(t, "branch", 0)));
	assert_int_equal(t->stats.upstream_servfail, 4);
	assert_int_equal(t->stats.servers_down, 0);
	assert_int_equal(attempts_to(t, BR1), 4);
}

/* A server that answered SERVFAIL is not asked again by that query, even in
 * a later pass over the last group; the other one is asked every pass. */
static void test_outcome_error_rcode_not_asked_again(void **state)
{
	fixture_t *t = *state;
	start_with(t, one_group_two_servers);
	ask(t, "www.example.", chain_of(t, "branch"));
	clock_to(t, AT(5));
	play_answer(t, 0, DNS_RCODE_SERVFAIL, 0);
	assert_attempt(t, 1, BR2, AT(5), 400, 2595);
	play_timeout(t, 1); /* pass 2: BR2 only */
	assert_attempt(t, 2, BR2, AT(405), 800, 1795);
	play_timeout(t, 2); /* pass 3 */
	assert_attempt(t, 3, BR2, AT(1205), 800, 995);
	play_timeout(t, 3); /* pass 4, the last */
	assert_attempt(t, 4, BR2, AT(2005), 800, 195);
	play_timeout(t, 4); /* no pass left: wait for the lingering ones */
	assert_int_equal(t->n_attempts, 5);
	assert_int_equal(t->n_replies, 0);
	play_linger_end(t, 4);
	assert_int_equal(t->now_ms, AT(3000));
	assert_int_equal(attempts_to(t, BR1), 1);
	assert_int_equal(t->n_replies, 1);
	assert_int_equal(reply_rcode(t, 0), DNS_RCODE_SERVFAIL);
	assert_int_equal(reply_ede(t, 0), EDE_NO_REACHABLE_AUTHORITY);
	assert_false(health_table_is_down(t->health, health_id_of(t, "branch", 0)));
	assert_int_equal(fails_of(t, "branch", 0), 0);
	assert_int_equal(fails_of(t, "branch", 1), 1); /* once per query */
}

/* NOERROR and NXDOMAIN are relayed as they are, and show the server alive:
 * its failures in a row start again from zero. */
static void test_outcome_answers_relayed(void **state)
{
	fixture_t *t = *state;
	start_with(t, one_group_two_servers);
	uint32_t chain = chain_of(t, "branch");
	uint16_t id = health_id_of(t, "branch", 0);
	const int rcodes[] = { DNS_RCODE_NOERROR, DNS_RCODE_NXDOMAIN };
	const char *names[] = { "a.example.", "b.example." };
	for (size_t q = 0; q < 2; q++) {
		health_table_on_failure(t->health, t->view, id, false, t->now_ms);
		health_table_on_failure(t->health, t->view, id, false, t->now_ms);
		assert_int_equal(fails_of(t, "branch", 0), 2);
		ask(t, names[q], chain);
		assert_int_equal(t->n_attempts, q + 1);
		clock_to(t, t->now_ms + 12);
		play_answer(t, q, rcodes[q], 300);
		assert_int_equal(t->n_attempts, q + 1);
		assert_int_equal(t->n_replies, q + 1);
		assert_int_equal(reply_rcode(t, q), rcodes[q]);
		assert_int_equal(fails_of(t, "branch", 0), 0);
		assert_false(health_table_is_down(t->health, id));
	}
	assert_int_equal(rtt_srtt_ms(health_view_rtt(t->view, id)), 12);
}

/* --- 5. SERVFAIL from the whole chain ------------------------------------ */

static void test_servfail_everywhere_cached(void **state)
{
	fixture_t *t = *state;
	start_with(t, two_groups);
	uint32_t chain = chain_of(t, "hq,branch");
	ask(t, "www.corp.example.", chain);
	const char *order[] = { HQ1, HQ2, HQ3, BR1, BR2 };
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(t->n_attempts, i + 1);
		assert_string_equal(attempt(t, i)->server, order[i]);
		assert_int_equal(t->n_replies, 0);
		clock_to(t, t->now_ms + 3);
		play_answer(t, i, DNS_RCODE_SERVFAIL, 0);
	}
	assert_int_equal(t->n_attempts, 5); /* exactly one per server */
	assert_int_equal(t->n_replies, 1);
	assert_int_equal(reply_rcode(t, 0), DNS_RCODE_SERVFAIL);
	assert_int_equal(reply_ede(t, 0), NO_EDE); /* every server answered */
	uint64_t failed_at = t->now_ms;

	static uint8_t out[ER_REPLY_MAX];
	size_t len = 0;
	assert_int_equal(cached(t, "WWW.corp.example.", chain, 1, failed_at, out, &len), CACHE_HIT);
	assert_true(len >= ER_DNS_HEADER_LEN);
	assert_int_equal(DNS_RCODE(wire_read_u16(out + 2)), DNS_RCODE_SERVFAIL);
	uint64_t ttl_ms = ER_CACHE_SERVFAIL_TTL_S * 1000u;
	assert_int_equal(cached(t, "www.corp.example.", chain, 1, failed_at + ttl_ms - 1, out,
				NULL),
			 CACHE_HIT);
	assert_int_equal(cached(t, "www.corp.example.", chain, 1, failed_at + ttl_ms, out, NULL),
			 CACHE_MISS);
	/* for this chain only */
	assert_int_equal(cached(t, "www.corp.example.", chain_of(t, "branch"), 1, failed_at, out,
				NULL),
			 CACHE_MISS);
}

/* --- 6. fallback TTL ----------------------------------------------------- */

static void assert_ttls(const uint32_t *ttls, size_t n, const uint32_t *want, size_t n_want)
{
	assert_int_equal(n, n_want);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ttls[i], want[i]);
}

/* From branch (the second group) every TTL is cut to fallback_ttl_s (20),
 * for the client and in the cache; from hq it is kept. */
static void test_fallback_ttl(void **state)
{
	fixture_t *t = *state;
	start_with(t, two_groups);
	uint32_t chain = chain_of(t, "hq,branch");
	uint32_t ttls[MAX_TTLS];
	static uint8_t out[ER_REPLY_MAX];
	size_t len = 0;

	ask(t, "a.corp.example.", chain);
	for (size_t i = 0; i < 3; i++)
		play_final(t, i, UV_ECONNREFUSED, NULL, 0); /* hq: all three */
	assert_string_equal(attempt(t, 3)->server, BR1);
	play_answer(t, 3, DNS_RCODE_NOERROR, 300);
	assert_int_equal(reply_rcode(t, 0), DNS_RCODE_NOERROR);
	assert_ttls(ttls, reply_ttls(t, 0, ttls), (uint32_t[]){ 20, 20, 20 }, 3);
	assert_int_equal(cached(t, "a.corp.example.", chain, 1, t->now_ms, out, &len), CACHE_HIT);
	assert_ttls(ttls, ttls_of_msg(out, len, ttls), (uint32_t[]){ 20, 20, 20 }, 3);

	ask(t, "b.corp.example.", chain);
	assert_string_equal(attempt(t, 4)->server, HQ1);
	play_answer(t, 4, DNS_RCODE_NOERROR, 300);
	assert_ttls(ttls, reply_ttls(t, 1, ttls), (uint32_t[]){ 300, 600, 900 }, 3);
	assert_int_equal(cached(t, "b.corp.example.", chain, 1, t->now_ms, out, &len), CACHE_HIT);
	assert_ttls(ttls, ttls_of_msg(out, len, ttls), (uint32_t[]){ 300, 300, 300 }, 3);
}

/* A late answer from the first group, after the walk reached branch, is a
 * first-group answer: its TTLs are kept. */
static void test_fallback_ttl_late_first_group(void **state)
{
	fixture_t *t = *state;
	start_with(t, two_groups);
	uint32_t chain = chain_of(t, "hq,branch");
	uint32_t ttls[MAX_TTLS];
	ask(t, "a.corp.example.", chain);
	play_timeout(t, 0);
	play_timeout(t, 1);
	assert_string_equal(attempt(t, 2)->server, BR1);
	clock_to(t, AT(900));
	play_answer(t, 0, DNS_RCODE_NOERROR, 300);
	assert_int_equal(t->stats.late_answers, 1);
	assert_ttls(ttls, reply_ttls(t, 0, ttls), (uint32_t[]){ 300, 600, 900 }, 3);
}

/* --- 6b. serve-stale (SPEC 3) --------------------------------------------- */
/* The chain fails but an expired entry is within serve_stale_s: it is
 * served (RFC 8767) with TTL 30 and EDE 3, and the failure does not push
 * it out of the cache. */
static void fail_whole_chain_with_servfail(fixture_t *t, size_t first)
{
	for (size_t i = first; i < first + 5; i++)
		play_answer(t, i, DNS_RCODE_SERVFAIL, 0);
	assert_int_equal(t->n_attempts, first + 5);
}

static void test_stale_answer_when_chain_fails(void **state)
{
	fixture_t *t = *state;
	start_with(t, two_groups);
	uint32_t chain = chain_of(t, "hq,branch");
	uint32_t ttls[MAX_TTLS];
	static uint8_t out[ER_REPLY_MAX];
	ask(t, "a.corp.example.", chain);
	play_answer(t, 0, DNS_RCODE_NOERROR, 300);
	clock_to(t, AT(301 * 1000));
	assert_int_equal(cached(t, "a.corp.example.", chain, 1, t->now_ms, out, NULL),
			 CACHE_STALE);

	ask_as(t, "a.corp.example.", chain, 0x2222, CLIENT_PORT, false);
	fail_whole_chain_with_servfail(t, 1);
	assert_int_equal(t->n_replies, 2);
	assert_int_equal(reply_rcode(t, 1), DNS_RCODE_NOERROR);
	assert_int_equal(reply_id(t, 1), 0x2222);
	assert_int_equal(reply_ede(t, 1), EDE_STALE_ANSWER);
	assert_ttls(ttls, reply_ttls(t, 1, ttls), (uint32_t[]){ 30, 30, 30 }, 3);
	assert_int_equal(t->stats.stale_sent, 1);
	assert_int_equal(t->stats.servfail_sent, 0);
	assert_int_equal(cached(t, "a.corp.example.", chain, 1, t->now_ms, out, NULL),
			 CACHE_STALE);
}

/* A stale entry that came from a fallback group is served with
 * min(30, fallback_ttl_s) (SPEC 2.2). */
static void test_stale_answer_from_fallback_entry(void **state)
{
	fixture_t *t = *state;
	start_with(t, two_groups);
	uint32_t chain = chain_of(t, "hq,branch");
	uint32_t ttls[MAX_TTLS];
	ask(t, "a.corp.example.", chain);
	for (size_t i = 0; i < 3; i++)
		play_answer(t, i, DNS_RCODE_SERVFAIL, 0);
	play_answer(t, 3, DNS_RCODE_NOERROR, 300); /* branch: cut to 20 */
	clock_to(t, AT(21 * 1000));

	ask(t, "a.corp.example.", chain);
	fail_whole_chain_with_servfail(t, 4);
	assert_int_equal(t->n_replies, 2);
	assert_int_equal(reply_ede(t, 1), EDE_STALE_ANSWER);
	assert_ttls(ttls, reply_ttls(t, 1, ttls), (uint32_t[]){ 20, 20, 20 }, 3);
}

/* Regression: a chain that fails while a fresh SERVFAIL for the same key is
 * cached (another forward of the same question failed first, e.g. one
 * started before a reload that kept the route epoch) must answer SERVFAIL
 * without EDE 3: no stale data was served. */
static void test_regression_fresh_servfail_served_as_stale(void **state)
{
	fixture_t *t = *state;
	start_with(t, one_silent_server_short);
	uint32_t chain = chain_of(t, "branch");
	ask_as(t, "www.example.", chain, 0x1111, CLIENT_PORT, false);
	config_t *b = load_config(t, one_silent_server_short, t->config->route_epoch);
	assert_int_equal(forwarder_set_config(t->fwd, b), 0); /* same chains, same epoch */
	config_unref(t->config);
	t->config = b;
	ask_as(t, "www.example.", chain, 0x2222, CLIENT_PORT + 1, false);
	assert_int_equal(t->n_attempts, 2);

	play_answer(t, 1, DNS_RCODE_SERVFAIL, 0); /* the new forward fails first */
	assert_int_equal(t->n_replies, 1);
	assert_int_equal(reply_ede(t, 0), NO_EDE);
	play_answer(t, 0, DNS_RCODE_SERVFAIL, 0);
	assert_int_equal(t->n_replies, 2);
	assert_int_equal(t->replies[1].client_port, CLIENT_PORT);
	assert_int_equal(reply_rcode(t, 1), DNS_RCODE_SERVFAIL);
	assert_int_equal(reply_ede(t, 1), NO_EDE);
	assert_int_equal(t->stats.stale_sent, 0);
	assert_int_equal(t->stats.servfail_sent, 2);
}

/* --- 7. coalescing ------------------------------------------------------- */

static void test_coalescing_identical_questions(void **state)
{
	fixture_t *t = *state;
	start_with(t, two_groups);
	uint32_t chain = chain_of(t, "hq,branch");
	ask_as(t, "www.corp.example.", chain, 0x1111, CLIENT_PORT, false);
	ask_as(t, "WWW.Corp.Example.", chain, 0x2222, CLIENT_PORT + 1, false);
	assert_int_equal(t->n_attempts, 1);
	assert_int_equal(t->stats.coalesced, 1);
	assert_int_equal(forwarder_inflight(t->fwd), 1);
	play_answer(t, 0, DNS_RCODE_NOERROR, 300);
	assert_int_equal(t->n_replies, 2);
	for (size_t r = 0; r < 2; r++) {
		uint16_t want = t->replies[r].client_port == CLIENT_PORT ? 0x1111 : 0x2222;
		assert_int_equal(reply_id(t, r), want);
		assert_int_equal(reply_rcode(t, r), DNS_RCODE_NOERROR);
	}
	assert_int_not_equal(t->replies[0].client_port, t->replies[1].client_port);
}

/* A prefetch (no client) is a forward like any other: a client asking the
 * same question joins it and is answered. */
static void test_coalescing_client_joins_prefetch(void **state)
{
	fixture_t *t = *state;
	start_with(t, two_groups);
	uint32_t chain = chain_of(t, "hq,branch");
	query_t qu;
	build_query(&qu, "www.corp.example.", 0x1111, false);
	forward_start(t->fwd, NULL, NULL, qu.wire, qu.len, &qu.q, chain);
	assert_int_equal(t->stats.prefetches, 1);
	ask_as(t, "www.corp.example.", chain, 0x2222, CLIENT_PORT, false);
	assert_int_equal(t->n_attempts, 1);
	assert_int_equal(t->stats.coalesced, 1);
	play_answer(t, 0, DNS_RCODE_NOERROR, 300);
	assert_int_equal(t->n_replies, 1);
	assert_int_equal(reply_id(t, 0), 0x2222);
	static uint8_t out[ER_REPLY_MAX];
	assert_int_equal(cached(t, "www.corp.example.", chain, 1, t->now_ms, out, NULL),
			 CACHE_HIT);
}

/* hq strips ECS, branch passes it: a query with a client subnet on hq,branch
 * may end up answered for that subnet, so it is neither shared nor cached;
 * the same question without ECS still is. */
static const char *const ecs_later_group =
	"{\n"
	"  \"upstreams\": {\n"
	"    \"hq\": { \"servers\": [\"10.0.0.1\"] },\n"
	"    \"branch\": { \"servers\": [\"10.0.1.1\"], \"ecs\": \"pass\" }\n"
	"  },\n"
	"  \"routes\": [ { \"domains\": [\"corp.example\"], \"via\": [\"hq\", \"branch\"] } ],\n"
	"  \"default\": \"branch\"\n"
	"}\n";

static void test_coalescing_not_with_ecs_pass(void **state)
{
	fixture_t *t = *state;
	start_with(t, ecs_later_group);
	uint32_t chain = chain_of(t, "hq,branch");
	assert_true(t->config->chains[chain].may_pass_ecs);
	ask_as(t, "www.corp.example.", chain, 0x1111, CLIENT_PORT, true);
	ask_as(t, "www.corp.example.", chain, 0x2222, CLIENT_PORT + 1, true);
	assert_int_equal(t->n_attempts, 2);
	assert_int_equal(t->stats.coalesced, 0);
	assert_int_equal(attempt(t, 0)->option_len, 0); /* hq strips */
	assert_int_equal(attempt(t, 1)->option_len, 0);

	/* the first goes on to branch, which gets the client's own option */
	play_final(t, 0, UV_ECONNREFUSED, NULL, 0);
	assert_int_equal(t->n_attempts, 3);
	assert_string_equal(attempt(t, 2)->server, BR1);
	const uint8_t want[] = { 0, 8, 0, sizeof(client_ecs_data), 0, 1, 24, 0, 198, 51, 100 };
	assert_int_equal(attempt(t, 2)->option_len, sizeof(want));
	assert_memory_equal(attempt(t, 2)->option, want, sizeof(want));

	play_answer(t, 2, DNS_RCODE_NOERROR, 300);
	play_answer(t, 1, DNS_RCODE_NOERROR, 300);
	assert_int_equal(t->n_replies, 2);
	static uint8_t out[ER_REPLY_MAX];
	assert_int_equal(cached(t, "www.corp.example.", chain, 1, t->now_ms, out, NULL),
			 CACHE_MISS);

	/* control: without ECS the same question is shared and cached */
	ask_as(t, "www.corp.example.", chain, 0x3333, CLIENT_PORT, false);
	ask_as(t, "www.corp.example.", chain, 0x4444, CLIENT_PORT + 1, false);
	assert_int_equal(t->n_attempts, 4);
	assert_int_equal(t->stats.coalesced, 1);
	play_answer(t, 3, DNS_RCODE_NOERROR, 300);
	assert_int_equal(t->n_replies, 4);
	assert_int_equal(cached(t, "www.corp.example.", chain, 1, t->now_ms, out, NULL),
			 CACHE_HIT);
}

/* --- 8. reload epochs ---------------------------------------------------- */

static void test_reload_epoch(void **state)
{
	fixture_t *t = *state;
	start_with(t, two_groups);
	uint32_t chain = chain_of(t, "hq,branch");
	ask_as(t, "www.corp.example.", chain, 0x1111, CLIENT_PORT, false);
	assert_int_equal(t->n_attempts, 1);

	config_t *b = load_config(t, two_groups, t->config->route_epoch + 1);
	assert_int_equal(forwarder_set_config(t->fwd, b), 0);
	config_unref(t->config); /* the old forward keeps its own reference */
	t->config = b;
	assert_int_equal(chain_of(t, "hq,branch"), chain);

	ask_as(t, "www.corp.example.", chain, 0x2222, CLIENT_PORT + 1, false);
	assert_int_equal(t->n_attempts, 2); /* did not join the old forward */
	assert_int_equal(t->stats.coalesced, 0);
	assert_int_equal(forwarder_inflight(t->fwd), 2);

	static uint8_t out[ER_REPLY_MAX];
	play_answer(t, 0, DNS_RCODE_NOERROR, 300);
	assert_int_equal(t->n_replies, 1);
	assert_int_equal(t->replies[0].client_port, CLIENT_PORT);
	assert_int_equal(reply_id(t, 0), 0x1111);
	assert_int_equal(cached(t, "www.corp.example.", chain, 2, t->now_ms, out, NULL),
			 CACHE_MISS);
	assert_int_equal(cached(t, "www.corp.example.", chain, 1, t->now_ms, out, NULL),
			 CACHE_HIT); /* it was cached, under its own epoch */

	play_answer(t, 1, DNS_RCODE_NOERROR, 300);
	assert_int_equal(t->n_replies, 2);
	assert_int_equal(reply_id(t, 1), 0x2222);
	assert_int_equal(cached(t, "www.corp.example.", chain, 2, t->now_ms, out, NULL),
			 CACHE_HIT);
}

/* --- 9. shutdown --------------------------------------------------------- */

static void test_shutdown_cancels_everything(void **state)
{
	fixture_t *t = *state;
	start_with(t, two_groups);
	uint32_t chain = chain_of(t, "hq,branch");
	ask_as(t, "a.corp.example.", chain, 0x1111, CLIENT_PORT, false);
	ask_as(t, "a.corp.example.", chain, 0x2222, CLIENT_PORT + 1, false); /* joins */
	ask(t, "b.corp.example.", chain);
	play_timeout(t, 1); /* b: slow, lingering, and a second attempt */
	ask(t, "c.example.", chain_of(t, "branch"));
	assert_int_equal(t->n_attempts, 4);
	assert_int_equal(open_attempts(t), 4);
	assert_int_equal(forwarder_inflight(t->fwd), 3);
	assert_int_equal(t->n_cancels, 0);

	forwarder_free(t->fwd);
	t->fwd = NULL;
	assert_int_equal(t->n_cancels, 4);
	assert_int_equal(open_attempts(t), 0);
	assert_int_equal(t->n_replies, 0);
}

/* --- 10. a server known down --------------------------------------------- */

/* hq's first server is down: skipped at once (no attempt, no waiting), also
 * when its trial time has come (probes find out when it is back). */
static void test_known_down_skipped(void **state)
{
	fixture_t *t = *state;
	start_with(t, two_groups);
	uint32_t chain = chain_of(t, "hq,branch");
	mark_down(t, "hq", 0);

	ask(t, "a.corp.example.", chain);
	assert_int_equal(t->n_attempts, 1);
	assert_attempt(t, 0, HQ2, AT(0), 400, 2600);
	play_answer(t, 0, DNS_RCODE_NOERROR, 300);

	clock_to(t, AT(60000)); /* long past the probe interval */
	ask(t, "b.corp.example.", chain);
	assert_int_equal(t->n_attempts, 2);
	assert_string_equal(attempt(t, 1)->server, HQ2);
	play_answer(t, 1, DNS_RCODE_NOERROR, 300);

	assert_int_equal(attempts_to(t, HQ1), 0);
	assert_int_equal(t->n_replies, 2);
	assert_true(health_table_is_down(t->health, health_id_of(t, "hq", 0)));
}

/* --- 9. the ExpressRoute audit (SPEC 2.1 `outside` row, SPEC 2.2) ------- */

/* An m365 list whose one ExpressRoute set imports *.er.example and lists
 * 192.0.2.0/24: build_response's 192.0.2.10 is inside, 203.0.113.x not. */
static const char m365_list[] =
	"[{ \"id\": 7, \"serviceArea\": \"Exchange\", \"category\": \"Optimize\",\n"
	"   \"expressRoute\": true, \"required\": true,\n"
	"   \"urls\": [\"*.er.example\"], \"ips\": [\"192.0.2.0/24\"] }]\n";

/* hq (two servers, ordered) then branch; the m365 route with `audit`, and
 * a domains route on the same chain. */
static void start_audited(fixture_t *t, const char *audit)
{
	char list[128], json[1024];
	snprintf(list, sizeof(list), "%s/m365.json", tmpdir);
	FILE *f = fopen(list, "w");
	assert_non_null(f);
	fputs(m365_list, f);
	fclose(f);
	snprintf(json, sizeof(json),
		 "{ \"upstreams\": {\n"
		 "    \"hq\": { \"servers\": [\"10.0.0.1\", \"10.0.0.2\"],\n"
		 "            \"select\": \"ordered\" },\n"
		 "    \"branch\": { \"servers\": [\"10.0.1.1\"], \"select\": \"ordered\" } },\n"
		 "  \"routes\": [\n"
		 "    { \"m365\": { \"file\": \"%s\" }, \"via\": [\"hq\", \"branch\"],\n"
		 "      \"audit\": \"%s\" },\n"
		 "    { \"domains\": [\"corp.example\"], \"via\": [\"hq\", \"branch\"] } ],\n"
		 "  \"default\": \"branch\", \"cache\": { \"fallback_ttl_s\": 20 } }\n",
		 list, audit);
	start_with(t, json);
	unlink(list);
}

/* A client asks name/qtype routed as query.c routes it: the deciding rule
 * goes along in the meta, which is what marks a question for the audit. */
static void ask_routed(fixture_t *t, const char *name, uint16_t qtype)
{
	query_t qu;
	build_query(&qu, name, 0x1234, false);
	if (qtype != DNS_TYPE_A) { /* the question's type, in place */
		wire_write_u16(qu.wire + ER_DNS_HEADER_LEN + qu.q.qname_len, qtype);
		assert_int_equal(wire_parse_query(qu.wire, qu.len, &qu.q), WIRE_OK);
	}
	route_decision_t d;
	router_decide(t->config->router, qu.q.qname, NULL, &d);
	query_meta_t meta = { .route_slot = d.rule ? d.rule->origin.route_slot : 0,
			      .view_index = -1,
			      .rule = d.rule };
	client_t c = client_at(CLIENT_PORT);
	forward_start(t->fwd, &c, &meta, qu.wire, qu.len, &qu.q, d.action);
}

/* Attempt i answers with one A record, addr, TTL ttl. */
static void play_address(fixture_t *t, size_t i, const char *addr, uint32_t ttl)
{
	fake_attempt_t *a = open_attempt(t, i);
	ldns_rdf *qname = ldns_dname_new_frm_data((uint16_t)a->qname_len, a->qname);
	char *name = ldns_rdf2str(qname), rr[512];
	ldns_pkt *pkt = ldns_pkt_query_new(qname, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD);
	ldns_pkt_set_qr(pkt, true);
	snprintf(rr, sizeof(rr), "%s %u IN A %s", name, ttl, addr);
	push_rr(pkt, LDNS_SECTION_ANSWER, rr);
	free(name);
	uint8_t resp[512];
	size_t len = pkt_to_buf(pkt, resp, sizeof(resp));
	play_final(t, i, 0, resp, len);
}

static uint64_t verdicts(const fixture_t *t, er_verdict_t v)
{
	uint16_t slot = t->config->m365[0].route_slot;
	return t->stats.er_audit[slot][v - 1];
}

/* What the cache says about name/A on the m365 chain. */
static cache_peek_info_t peek(fixture_t *t, const char *name)
{
	query_t qu;
	build_query(&qu, name, 0x7777, false);
	cache_key_t key = cache_key_from_query(&qu.q, t->config->m365[0].chain, 1);
	cache_peek_info_t peek;
	assert_int_equal(cache_peek(t->cache, &key, t->now_ms, &peek), CACHE_HIT);
	return peek;
}

/* observe: an outside answer is counted, cached with its verdict and
 * relayed as any answer (TTL kept, no failover). */
static void test_audit_observe_relays_outside(void **state)
{
	fixture_t *t = *state;
	start_audited(t, "observe");
	ask_routed(t, "mail.er.example.", DNS_TYPE_A);
	clock_to(t, AT(10));
	play_address(t, 0, "203.0.113.5", 300);
	assert_int_equal(t->n_attempts, 1);
	assert_int_equal(t->n_replies, 1);
	uint32_t ttls[MAX_TTLS];
	assert_ttls(ttls, reply_ttls(t, 0, ttls), (uint32_t[]){ 300 }, 1);
	assert_int_equal(verdicts(t, ER_VERDICT_OUTSIDE), 1);
	assert_int_equal(t->stats.failovers, 0);
	cache_peek_info_t c = peek(t, "mail.er.example.");
	assert_int_equal(c.er_verdict, ER_VERDICT_OUTSIDE);
	assert_false(c.is_fallback);
	assert_int_equal(t->ers[0], ER_WORD_OUTSIDE);
}

/* fallback: the `outside` row. hq1's outside answer at 10 ms moves the
 * question to branch at once (hq2 is not asked: the group's resolvers
 * share its view); branch's answer is capped by fallback_ttl_s for the
 * client and the cache; hq1 stays alive, and gives no RTT sample. */
static void test_audit_fallback_outside_next_group(void **state)
{
	fixture_t *t = *state;
	start_audited(t, "fallback");
	ask_routed(t, "mail.er.example.", DNS_TYPE_A);
	clock_to(t, AT(10));
	play_address(t, 0, "203.0.113.5", 300);
	assert_int_equal(t->n_replies, 0);
	assert_int_equal(t->n_attempts, 2);
	assert_attempt(t, 1, BR1, AT(10), 400, 2590); /* the last group: the rest of 3000 ms */
	assert_int_equal(attempts_to(t, HQ2), 0);
	assert_int_equal(t->stats.failovers, 1);
	assert_int_equal(verdicts(t, ER_VERDICT_OUTSIDE), 1);
	assert_int_equal(fails_of(t, "hq", 0), 0);
	assert_int_equal(rtt_srtt_ms(health_view_rtt(t->view, health_id_of(t, "hq", 0))), -1);

	clock_to(t, AT(30));
	play_address(t, 1, "198.51.100.7", 300);
	assert_int_equal(t->n_replies, 1);
	uint32_t ttls[MAX_TTLS];
	assert_ttls(ttls, reply_ttls(t, 0, ttls), (uint32_t[]){ 20 }, 1);
	assert_int_equal(verdicts(t, ER_VERDICT_OUTSIDE), 1); /* branch is not judged */
	cache_peek_info_t c = peek(t, "mail.er.example.");
	assert_true(c.is_fallback);
	assert_int_equal(c.er_verdict, ER_VERDICT_UNJUDGED);
	assert_int_equal(t->ers[0], ER_WORD_OFF);
}

/* fallback: inside answers and answers with nothing to judge are relayed
 * from the first group as usual. */
static void test_audit_fallback_relays_inside_and_none(void **state)
{
	fixture_t *t = *state;
	start_audited(t, "fallback");
	ask_routed(t, "a.er.example.", DNS_TYPE_A);
	play_answer(t, 0, DNS_RCODE_NOERROR, 300); /* A 192.0.2.10 */
	ask_routed(t, "nx.er.example.", DNS_TYPE_A);
	play_answer(t, 1, DNS_RCODE_NXDOMAIN, 300);
	assert_int_equal(t->n_attempts, 2);
	assert_int_equal(t->n_replies, 2);
	assert_int_equal(reply_rcode(t, 1), DNS_RCODE_NXDOMAIN);
	assert_int_equal(verdicts(t, ER_VERDICT_INSIDE), 1);
	assert_int_equal(verdicts(t, ER_VERDICT_NONE), 1);
	assert_int_equal(t->stats.failovers, 0);
	assert_int_equal(peek(t, "a.er.example.").er_verdict, ER_VERDICT_INSIDE);
	assert_int_equal(t->ers[0], ER_WORD_INSIDE);
	assert_int_equal(t->ers[1], ER_WORD_UNKNOWN);
}

/* fallback: once the walk has left hq (its budget spent), a late outside
 * answer from hq changes nothing: branch's answer stands. A late inside
 * one would have won (test_fallback_ttl_late_first_group). */
static void test_audit_fallback_late_outside_ignored(void **state)
{
	fixture_t *t = *state;
	start_audited(t, "fallback");
	ask_routed(t, "mail.er.example.", DNS_TYPE_A);
	play_timeout(t, 0);
	play_timeout(t, 1);
	assert_string_equal(attempt(t, 2)->server, BR1);
	clock_to(t, AT(900));
	play_address(t, 0, "203.0.113.5", 300);
	assert_int_equal(t->n_replies, 0);
	assert_int_equal(t->n_attempts, 3); /* nothing new started */
	assert_int_equal(verdicts(t, ER_VERDICT_OUTSIDE), 1);
	play_address(t, 2, "198.51.100.7", 300);
	assert_int_equal(t->n_replies, 1);
	uint32_t ttls[MAX_TTLS];
	assert_ttls(ttls, reply_ttls(t, 0, ttls), (uint32_t[]){ 20 }, 1);
	assert_true(attempt(t, 1)->is_cancelled); /* hq2's linger ended with the answer */
	assert_int_equal(t->n_events, 1);
	assert_int_equal(t->ers[0], ER_WORD_OFF); /* branch's answer: a later group */
}

/* Only names an m365 route decided are audited, only A/AAAA questions,
 * and an audited question never shares an upstream query with the same
 * question on the same chain from another route. */
static void test_audit_only_m365_names(void **state)
{
	fixture_t *t = *state;
	start_audited(t, "fallback");
	ask_routed(t, "www.corp.example.", DNS_TYPE_A); /* the domains route */
	play_address(t, 0, "203.0.113.5", 300);
	ask_routed(t, "mail.er.example.", DNS_TYPE_TXT);
	play_answer(t, 1, DNS_RCODE_NOERROR, 300);
	assert_int_equal(t->n_replies, 2);
	assert_int_equal(t->n_attempts, 2);
	for (er_verdict_t v = ER_VERDICT_INSIDE; v < ER_VERDICT_COUNT; v++)
		assert_int_equal(verdicts(t, v), 0);
	assert_int_equal(t->ers[0], ER_WORD_NA);

	/* the same name and chain, decided by the m365 route and without a
	 * rule (a caller with no meta): two upstream queries */
	ask_routed(t, "b.er.example.", DNS_TYPE_A);
	ask(t, "b.er.example.", t->config->m365[0].chain);
	assert_int_equal(t->n_attempts, 4);
	assert_int_equal(t->stats.coalesced, 0);
	play_answer(t, 2, DNS_RCODE_NOERROR, 300);
	play_answer(t, 3, DNS_RCODE_NOERROR, 300);
	assert_int_equal(verdicts(t, ER_VERDICT_INSIDE), 1);
}

int main(void)
{
#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		TEST(test_budget_first_group_then_rest),
		TEST(test_budget_caps_attempt_timeout),
		TEST(test_rounds_bounded_by_passes),
		TEST(test_rounds_bounded_by_deadline),
		TEST(test_rounds_start_refused),
		TEST(test_regression_free_slot_evicts_newest_slow),
		TEST(test_late_answer_wins),
		TEST(test_outcome_timeout),
		TEST(test_outcome_network_error),
		TEST(test_outcome_garbage),
		TEST(test_outcome_error_rcodes),
		TEST(test_outcome_error_rcode_not_asked_again),
		TEST(test_outcome_answers_relayed),
		TEST(test_servfail_everywhere_cached),
		TEST(test_fallback_ttl),
		TEST(test_fallback_ttl_late_first_group),
		TEST(test_stale_answer_when_chain_fails),
		TEST(test_stale_answer_from_fallback_entry),
		TEST(test_regression_fresh_servfail_served_as_stale),
		TEST(test_coalescing_identical_questions),
		TEST(test_coalescing_client_joins_prefetch),
		TEST(test_coalescing_not_with_ecs_pass),
		TEST(test_reload_epoch),
		TEST(test_shutdown_cancels_everything),
		TEST(test_known_down_skipped),
		TEST(test_audit_observe_relays_outside),
		TEST(test_audit_fallback_outside_next_group),
		TEST(test_audit_fallback_relays_inside_and_none),
		TEST(test_audit_fallback_late_outside_ignored),
		TEST(test_audit_only_m365_names),
	};
#undef TEST
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
