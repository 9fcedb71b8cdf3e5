/*
 * Tests for the query log: ops/querylog_line.c (each kind of line byte for
 * byte, the escaping of any byte a name may hold, config strings, qtype and
 * rcode names, the calendar) and ops/querylog.c (a full lane drops and
 * counts, order kept, the writer's own drops reach the worker's counter, a
 * full disk and a FIFO nobody reads stall neither submit nor stop, reopen
 * after a rename, a reload retrying a file that failed to open). The ring
 * itself: test_spsc_ring.
 *
 * Events are built the way the pipeline builds them: a real snapshot
 * loaded from JSON (with the m365 fixture list and a view), health ids
 * applied, the route decided by the real router. Lines are read back from
 * real files in a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "dns/dname.h"
#include "ops/querylog.h"
#include "ops/querylog_line.h"
#include "routing/er_audit.h"
#include "util/sockaddr.h"

#define WALL_MS 1714564800123LL /* 2024-05-01T12:00:00.123Z */
#define NOW_NS 5000000000ULL /* any monotonic origin */
#define TS "\"ts\":\"2024-05-01T12:00:00.123Z\""

static char tmpdir[64];

typedef struct fixture {
	health_table_t *health;
	config_t *c;
} fixture_t;

static const char config_json[] =
    "{ \"upstreams\": { \"hq\": { \"servers\": [\"10.0.0.1\"] },\n"
    "    \"branch\": { \"servers\": [\"10.0.0.2:5353\", \"2001:db8::53\"] } },\n"
    "  \"routes\": [ { \"m365\": { \"file\": \"" ERDNS_FIXTURES "/m365/small.json\" },"
    " \"via\": [\"hq\", \"branch\"] },\n"
    "    { \"domains\": [\"corp.example\"], \"via\": \"hq\" } ],\n"
    "  \"views\": [ { \"name\": \"pil\\\"ot\\u0001\\u00e9\", \"clients\": [\"127.0.0.2/32\"],\n"
    "    \"routes\": [ { \"domains\": [\"=pilot.example\"], \"via\": \"hq\" } ] } ],\n"
    "  \"default\": \"branch\" }";

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/erdns-test-querylog-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

static int setup(void **state)
{
	static fixture_t f;
	char path[128], err[ER_CONFIG_ERR_MAX] = "";
	snprintf(path, sizeof(path), "%s/erdns.json", tmpdir);
	FILE *file = fopen(path, "w");
	assert_non_null(file);
	fputs(config_json, file);
	fclose(file);
	f.c = config_load(path, err, sizeof(err));
	unlink(path);
	if (f.c == NULL)
		fail_msg("%s", err);
	f.health = health_table_new();
	assert_int_equal(health_table_apply(f.health, f.c, err, sizeof(err)), 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;
	config_unref(f->c);
	health_table_free(f->health);
	return 0;
}

/* --- events as the pipeline makes them -------------------------------------- */

typedef enum { HOW_ROUTED, HOW_LOCAL, HOW_CHAOS, HOW_NONE } how_t;

typedef struct spec {
	const char *client; /* "IP" */
	const uint8_t *wire; /* qname; NULL: from text */
	const char *qname;
	uint16_t qtype;
	how_t how;
	cache_result_kind_t cache;
	unsigned rcode;
	const char *group; /* the answering server: group and index; NULL: none */
	int server;
	bool is_fallback;
	uint8_t er; /* er_word_t */
	uint32_t latency_us;
} spec_t;

static int server_id(const config_t *c, const char *group, int server)
{
	if (group == NULL)
		return -1;
	int g = config_group_index(c, group);
	assert_true(g >= 0);
	return c->groups[g].health_ids[server];
}

/* Captures and formats the event s describes into out (ER_QLOG_LINE_MAX). */
static const char *line_of(const fixture_t *f, const spec_t *s, char *out)
{
	client_t client = { 0 };
	assert_int_equal(sockaddr_parse(s->client, 40000, &client.addr), 0);
	uint8_t wire[ER_DNAME_MAX];
	const uint8_t *name = s->wire;
	if (name == NULL) {
		assert_true(dname_from_text(s->qname, wire) > 0);
		name = wire;
	}
	dns_query_t q = { .qname = name, .qname_len = dname_wire_len(name, ER_DNAME_MAX),
			  .qtype = s->qtype, .qclass = DNS_CLASS_IN };
	query_meta_t meta = { .route_slot = ER_ROUTE_SLOT_NONE, .view_index = -1,
			      .received_ns = NOW_NS - (uint64_t)s->latency_us * 1000 };
	query_event_t ev = { .client = &client, .q = &q, .config = f->c, .meta = &meta,
			     .upstream = server_id(f->c, s->group, s->server),
			     .is_fallback = s->is_fallback, .rcode = s->rcode, .cache = s->cache,
			     .er = s->er };
	if (s->how == HOW_ROUTED) {
		route_decision_t d;
		router_decide(f->c->router, name, (const struct sockaddr *)&client.addr, &d);
		meta.view_index = d.view_index;
		meta.rule = d.rule;
		meta.route_slot = d.rule ? d.rule->origin.route_slot
					 : f->c->default_slots[d.view_index + 1];
		ev.chain = d.action;
		ev.is_routed = true;
	} else if (s->how == HOW_LOCAL) {
		meta.route_slot = ER_ROUTE_SLOT_LOCAL;
	} else if (s->how == HOW_CHAOS) {
		meta.route_slot = ER_ROUTE_SLOT_CHAOS;
	}
	uint64_t rec[ER_QLOG_RECORD_MAX / sizeof(uint64_t) + 1];
	size_t len = querylog_line_capture(&ev, NOW_NS, (querylog_record_t *)rec);
	querylog_format_ctx_t ctx = { .wall_offset_ns = WALL_MS * 1000000 - (int64_t)NOW_NS,
				      .health = f->health };
	size_t n = querylog_line_format((const querylog_record_t *)rec, len, &ctx, out);
	assert_true(n > 0 && n < ER_QLOG_LINE_MAX);
	assert_int_equal(out[n - 1], '\n');
	out[n] = '\0';
	return out;
}

/* --- one test per kind of line -------------------------------------------- */

static void test_miss_with_upstream(void **state)
{
	char out[ER_QLOG_LINE_MAX];
	spec_t s = { .client = "127.0.0.1", .qname = "WWW.Example.ORG", .qtype = DNS_TYPE_A,
		     .cache = ER_CACHE_MISS, .group = "branch", .server = 0, .latency_us = 12345 };
	assert_string_equal(line_of(*state, &s, out),
			    "{" TS ",\"client\":\"127.0.0.1\",\"qname\":\"WWW.Example.ORG\","
			    "\"qtype\":\"A\",\"view\":\"-\",\"rule\":\"default\","
			    "\"via\":\"branch\","
			    "\"upstream\":\"10.0.0.2:5353\",\"rcode\":\"NOERROR\","
			    "\"latency_ms\":12.345,\"cache\":\"miss\",\"er\":\"n/a\"}\n");
	/* IPv6 upstream in brackets with its port; an IPv6 client bare */
	s = (spec_t){ .client = "::1", .qname = "x.corp.example", .qtype = DNS_TYPE_AAAA,
		      .cache = ER_CACHE_MISS, .rcode = DNS_RCODE_NXDOMAIN, .group = "branch",
		      .server = 1, .latency_us = 7 };
	line_of(*state, &s, out);
	assert_non_null(strstr(out, "\"client\":\"::1\",\"qname\":\"x.corp.example\","
				    "\"qtype\":\"AAAA\",\"view\":\"-\",\"rule\":\"corp.example\","
				    "\"via\":\"hq\",\"upstream\":\"[2001:db8::53]:53\","
				    "\"rcode\":\"NXDOMAIN\",\"latency_ms\":0.007,"));
}

static void test_hit_stale_and_servfail(void **state)
{
	char out[ER_QLOG_LINE_MAX];
	spec_t s = { .client = "127.0.0.1", .qname = "www.example.org", .qtype = DNS_TYPE_A,
		     .cache = ER_CACHE_HIT, .server = -1, .latency_us = 21 };
	assert_string_equal(line_of(*state, &s, out),
			    "{" TS ",\"client\":\"127.0.0.1\",\"qname\":\"www.example.org\","
			    "\"qtype\":\"A\",\"view\":\"-\",\"rule\":\"default\","
			    "\"via\":\"branch\","
			    "\"upstream\":\"-\",\"rcode\":\"NOERROR\",\"latency_ms\":0.021,"
			    "\"cache\":\"hit\",\"er\":\"n/a\"}\n");
	s.cache = ER_CACHE_STALE;
	s.latency_us = 1500000;
	line_of(*state, &s, out);
	assert_non_null(strstr(out, "\"via\":\"branch\",\"upstream\":\"-\",\"rcode\":\"NOERROR\","
				    "\"latency_ms\":1500.000,\"cache\":\"stale\","));
	s.cache = ER_CACHE_MISS;
	s.rcode = DNS_RCODE_SERVFAIL; /* the chain failed, nothing stale */
	line_of(*state, &s, out);
	assert_non_null(strstr(out, "\"upstream\":\"-\",\"rcode\":\"SERVFAIL\","));
}

static void test_answers_erdns_makes_itself(void **state)
{
	char out[ER_QLOG_LINE_MAX];
	spec_t s = { .client = "127.0.0.1", .qname = "printer.branch.example", .qtype = DNS_TYPE_A,
		     .how = HOW_LOCAL, .cache = ER_CACHE_LOCAL, .server = -1, .latency_us = 3 };
	assert_string_equal(line_of(*state, &s, out),
			    "{" TS ",\"client\":\"127.0.0.1\",\"qname\":\"printer.branch.example\","
			    "\"qtype\":\"A\",\"view\":\"-\",\"rule\":\"local\",\"via\":\"-\","
			    "\"upstream\":\"-\",\"rcode\":\"NOERROR\",\"latency_ms\":0.003,"
			    "\"cache\":\"local\",\"er\":\"n/a\"}\n");
	s = (spec_t){ .client = "192.0.2.9", .qname = "www.example.org", .qtype = DNS_TYPE_A,
		      .how = HOW_NONE, .cache = ER_CACHE_LOCAL, .rcode = DNS_RCODE_REFUSED,
		      .server = -1 };
	assert_string_equal(line_of(*state, &s, out),
			    "{" TS ",\"client\":\"192.0.2.9\",\"qname\":\"www.example.org\","
			    "\"qtype\":\"A\",\"view\":\"-\",\"rule\":\"-\",\"via\":\"-\","
			    "\"upstream\":\"-\",\"rcode\":\"REFUSED\",\"latency_ms\":0.000,"
			    "\"cache\":\"local\",\"er\":\"n/a\"}\n");
	s = (spec_t){ .client = "127.0.0.1", .qname = "outlook.example.com", .qtype = DNS_TYPE_TXT,
		      .how = HOW_CHAOS, .cache = ER_CACHE_LOCAL, .server = -1 };
	line_of(*state, &s, out);
	assert_non_null(strstr(out, "\"qtype\":\"TXT\",\"view\":\"-\",\"rule\":\"chaos\","
				    "\"via\":\"-\",\"upstream\":\"-\","));
	assert_non_null(strstr(out, "\"er\":\"n/a\"}"));
}

/* SPEC 4 `er`: the word the event carries (the pipeline and the
 * ExpressRoute audit decide it, routing/er_audit.h), for an m365 route's
 * answers as for others; the rule as Microsoft's list writes it. */
static void test_m365_er(void **state)
{
	static const struct {
		er_word_t er;
		const char *text;
	} words[] = { { ER_WORD_INSIDE, "inside" },
		      { ER_WORD_OUTSIDE, "outside" },
		      { ER_WORD_OFF, "off" },
		      { ER_WORD_UNKNOWN, "unknown" },
		      { ER_WORD_NA, "n/a" } };
	char out[ER_QLOG_LINE_MAX], want[64];
	spec_t s = { .client = "127.0.0.1", .qname = "outlook.example.com", .qtype = DNS_TYPE_A,
		     .cache = ER_CACHE_MISS, .group = "hq", .server = 0, .latency_us = 800 };
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		s.er = words[i].er;
		line_of(*state, &s, out);
		assert_non_null(strstr(out, "\"rule\":\"outlook.example.com\","
					    "\"via\":\"hq,branch\",\"upstream\":\"10.0.0.1:53\","));
		snprintf(want, sizeof(want), "\"cache\":\"miss\",\"er\":\"%s\"}\n", words[i].text);
		assert_non_null(strstr(out, want));
	}
	s = (spec_t){ .client = "127.0.0.1", .qname = "a.outlook.example.com", .qtype = DNS_TYPE_A,
		      .cache = ER_CACHE_HIT, .server = -1, .er = ER_WORD_INSIDE };
	line_of(*state, &s, out);
	assert_non_null(strstr(out, "\"rule\":\"*.outlook.example.com\","));
	assert_non_null(strstr(out, "\"cache\":\"hit\",\"er\":\"inside\"}\n"));
	/* an exception of the import: Microsoft's URL, routed to the default */
	s = (spec_t){ .client = "127.0.0.1", .qname = "cdn.odc.officeapps.example.org",
		      .qtype = DNS_TYPE_A, .cache = ER_CACHE_MISS, .group = "branch", .server = 0 };
	line_of(*state, &s, out);
	assert_non_null(strstr(out, "\"rule\":\"cdn.odc.officeapps.example.org\","
				    "\"via\":\"branch\","));
	assert_non_null(strstr(out, "\"er\":\"n/a\"}\n"));
}

/* A view's name is JSON-escaped; valid UTF-8 passes through. */
static void test_view_and_config_strings(void **state)
{
	char out[ER_QLOG_LINE_MAX];
	spec_t s = { .client = "127.0.0.2", .qname = "pilot.example", .qtype = DNS_TYPE_A,
		     .cache = ER_CACHE_MISS, .group = "hq", .server = 0 };
	line_of(*state, &s, out);
	assert_non_null(strstr(out, "\"view\":\"pil\\\"ot\\u0001\xc3\xa9\","
				    "\"rule\":\"=pilot.example\",\"via\":\"hq\","));
	s.qname = "elsewhere.example"; /* the view's client, the view's default */
	s.group = "branch";
	line_of(*state, &s, out);
	assert_non_null(strstr(out, "\"rule\":\"default\",\"via\":\"branch\","));
}

/* Any byte a DNS name may hold: the master-file text form first (\DDD,
 * \. \\ \"), then JSON escaping of its backslashes and quotes. */
static void test_odd_qnames(void **state)
{
	static const uint8_t odd[] = { 3, 'a', '"', 'b', 3, '\\', '.', ' ', 4, 0x01, 0x7f, 0xc3,
				       0xa9, 1, 0xff, 0 };
	char out[ER_QLOG_LINE_MAX];
	spec_t s = { .client = "127.0.0.1", .wire = odd, .qtype = 999, .how = HOW_NONE,
		     .cache = ER_CACHE_LOCAL, .rcode = DNS_RCODE_FORMERR, .server = -1 };
	line_of(*state, &s, out);
	assert_non_null(strstr(out, "\"qname\":\"a\\\\\\\"b.\\\\\\\\\\\\.\\\\032."
				    "\\\\001\\\\127\\\\195\\\\169.\\\\255\","
				    "\"qtype\":\"TYPE999\","));
	assert_non_null(strstr(out, "\"rcode\":\"FORMERR\""));
	/* every byte of the name escaped: the line is printable ASCII (UTF-8
	 * comes only from the config, and this client has no view) */
	for (const char *p = out; *p; p++)
		assert_true((*p >= 0x20 && *p < 0x7f) || *p == '\n');
	static const uint8_t root[] = { 0 };
	s.wire = root;
	s.qtype = DNS_TYPE_NS;
	line_of(*state, &s, out);
	assert_non_null(strstr(out, "\"qname\":\".\",\"qtype\":\"NS\","));
}

/* The one-pass qname writer against dname_to_text and a plain JSON
 * escaper, on random names with every byte value. */
static void test_qname_matches_dname_to_text(void **state)
{
	(void)state;
	srand(12345);
	for (int n = 0; n < 2000; n++) {
		uint8_t wire[ER_DNAME_MAX];
		size_t at = 0, labels = (size_t)(rand() % 5);
		for (size_t l = 0; l < labels; l++) {
			size_t len = 1 + (size_t)(rand() % 12);
			wire[at++] = (uint8_t)len;
			for (size_t i = 0; i < len; i++)
				wire[at++] = (uint8_t)(rand() % 256);
		}
		wire[at++] = 0;
		char text[ER_DNAME_TEXT_MAX], want[2 * ER_DNAME_TEXT_MAX + 16] = "\"qname\":\"";
		dname_to_text(wire, text);
		char *w = want + strlen(want);
		for (const char *t = text; *t; t++) {
			if (*t == '\\' || *t == '"')
				*w++ = '\\';
			*w++ = *t;
		}
		strcpy(w, "\",");
		uint64_t rec[ER_QLOG_RECORD_MAX / sizeof(uint64_t) + 1] = { 0 };
		querylog_record_t *r = (querylog_record_t *)rec;
		memcpy(r->text, wire, at);
		r->qname_len = (uint8_t)at;
		r->upstream = -1;
		char out[ER_QLOG_LINE_MAX];
		querylog_format_ctx_t ctx = { 0 };
		size_t head = offsetof(querylog_record_t, text);
		size_t len = querylog_line_format(r, head + at, &ctx, out);
		assert_true(len > 0);
		out[len] = '\0';
		if (strstr(out, want) == NULL)
			fail_msg("%s not in %s", want, out);
	}
}

static void test_type_and_rcode_names(void **state)
{
	static const struct {
		uint16_t qtype;
		const char *name;
	} types[] = { { 1, "\"A\"" },	    { 28, "\"AAAA\"" }, { 65, "\"HTTPS\"" },
		      { 64, "\"SVCB\"" },   { 33, "\"SRV\"" },	{ 12, "\"PTR\"" },
		      { 255, "\"ANY\"" },   { 252, "\"AXFR\"" }, { 251, "\"IXFR\"" },
		      { 257, "\"CAA\"" },   { 0, "\"TYPE0\"" }, { 65280, "\"TYPE65280\"" },
		      { 258, "\"TYPE258\"" } };
	static const struct {
		unsigned rcode;
		const char *name;
	} rcodes[] = { { 0, "\"NOERROR\"" },  { 1, "\"FORMERR\"" },	{ 2, "\"SERVFAIL\"" },
		       { 3, "\"NXDOMAIN\"" }, { 4, "\"NOTIMP\"" },	{ 5, "\"REFUSED\"" },
		       { 9, "\"NOTAUTH\"" },  { 12, "\"RCODE12\"" }, { 16, "\"BADVERS\"" },
		       { 23, "\"RCODE23\"" } };
	char out[ER_QLOG_LINE_MAX], want[64];
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		spec_t s = { .client = "127.0.0.1", .qname = "t.example", .qtype = types[i].qtype,
			     .how = HOW_NONE, .cache = ER_CACHE_LOCAL, .server = -1 };
		snprintf(want, sizeof(want), "\"qtype\":%s,", types[i].name);
		if (strstr(line_of(*state, &s, out), want) == NULL)
			fail_msg("%u: %s", types[i].qtype, out);
	}
	for (size_t i = 0; i < sizeof(rcodes) / sizeof(rcodes[0]); i++) {
		spec_t s = { .client = "127.0.0.1", .qname = "t.example", .qtype = 1,
			     .how = HOW_NONE, .cache = ER_CACHE_LOCAL, .rcode = rcodes[i].rcode,
			     .server = -1 };
		snprintf(want, sizeof(want), "\"rcode\":%s,", rcodes[i].name);
		if (strstr(line_of(*state, &s, out), want) == NULL)
			fail_msg("%u: %s", rcodes[i].rcode, out);
	}
}

/* The hand-made calendar against gmtime_r, leap days and centuries; the
 * monotonic reply time plus the wall clock's offset, milliseconds cut. */
static void test_timestamps(void **state)
{
	(void)state;
	static const int64_t seconds[] = { 0, 951782400 /* 2000-02-29 */, 1709251199,
					   4107542400 /* 2100-03-01 */, 1714564800 };
	for (size_t i = 0; i < sizeof(seconds) / sizeof(seconds[0]); i++) {
		for (int64_t s = seconds[i] - 86400; s <= seconds[i] + 86400; s += 3599) {
			time_t t = (time_t)s;
			struct tm tm;
			gmtime_r(&t, &tm);
			char want[64], out[ER_QLOG_LINE_MAX];
			static const char fmt[] = "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.042Z\"";
			snprintf(want, sizeof(want), fmt, tm.tm_year + 1900, tm.tm_mon + 1,
				 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
			uint8_t rec_buf[ER_QLOG_RECORD_MAX] __attribute__((aligned(8))) = { 0 };
			querylog_record_t *rec = (querylog_record_t *)rec_buf;
			rec->reply_ns = 7000000; /* 7 ms on the monotonic clock */
			rec->client_family = AF_UNSPEC;
			rec->upstream = -1;
			querylog_format_ctx_t ctx = { .wall_offset_ns =
							      (s * 1000 + 35) * 1000000 + 999 };
			size_t head = offsetof(querylog_record_t, text);
			size_t n = querylog_line_format(rec, head, &ctx, out);
			assert_true(n > 0);
			assert_memory_equal(out, want, strlen(want));
		}
	}
}

/* --- the log --------------------------------------------------------------- */

/* Submits the event of name "nN.example" for each N in [from, to). */
/* Polls the log's totals into *written and *dropped until *which (one of
 * them) reaches want, for at most 2 s. */
static void await_total(querylog_t *ql, uint64_t want, const uint64_t *which, uint64_t *written,
			uint64_t *dropped)
{
	for (int i = 0; i < 200 && *which < want; i++) {
		usleep(10000);
		querylog_totals(ql, written, dropped);
	}
}

static void submit_range(const fixture_t *f, querylog_t *ql, metrics_t *m, int from, int to)
{
	for (int i = from; i < to; i++) {
		char name[32];
		snprintf(name, sizeof(name), "n%d.example", i);
		client_t client = { 0 };
		sockaddr_parse("127.0.0.1", 40000, &client.addr);
		uint8_t wire[ER_DNAME_MAX];
		size_t len = dname_from_text(name, wire);
		dns_query_t q = { .qname = wire, .qname_len = len, .qtype = 1 };
		query_meta_t meta = { .route_slot = ER_ROUTE_SLOT_NONE, .view_index = -1,
				      .received_ns = NOW_NS };
		query_event_t ev = { .client = &client, .q = &q, .config = f->c, .meta = &meta,
				     .upstream = -1, .cache = ER_CACHE_LOCAL };
		querylog_submit(ql, 0, &ev, NOW_NS + 1000, m);
	}
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return strdup("");
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strdup(buf);
}

/* Lines of text in order: "nA.example" ... "nB-1.example", nothing else. */
static void assert_names(const char *text, int from, int to)
{
	const char *p = text;
	for (int i = from; i < to; i++) {
		char want[48];
		snprintf(want, sizeof(want), "\"qname\":\"n%d.example\"", i);
		const char *nl = strchr(p, '\n');
		assert_non_null(nl);
		char *hit = strstr(p, want);
		if (hit == NULL || hit > nl)
			fail_msg("line for n%d not next: %.*s", i, (int)(nl - p), p);
		p = nl + 1;
	}
	assert_string_equal(p, "");
}

static querylog_t *new_log(const fixture_t *f, size_t ring_bytes)
{
	querylog_t *ql = querylog_new(
	    &(querylog_params_t){ .n_lanes = 1, .ring_bytes = ring_bytes, .health = f->health });
	assert_non_null(ql);
	return ql;
}

/* Submitted before the writer runs: a 4 KiB lane holds what it holds, the
 * rest is dropped and counted at once; what was kept is written in order. */
static void test_full_lane_drops_and_counts(void **state)
{
	fixture_t *f = *state;
	char path[128];
	snprintf(path, sizeof(path), "%s/full-lane.jsonl", tmpdir);
	querylog_t *ql = new_log(f, 4096);
	assert_int_equal(querylog_configure(ql, true, path), 0);
	static metrics_t m;
	memset(&m, 0, sizeof(m));
	submit_range(f, ql, &m, 0, 200);
	uint64_t kept = 200 - m.querylog_dropped;
	assert_true(m.querylog_dropped > 0);
	assert_true(kept > 10);
	assert_int_equal(querylog_start(ql), 0);
	querylog_free(ql);
	char *text = read_file(path);
	assert_names(text, 0, (int)kept);
	free(text);
	unlink(path);
}

/* The writer's own drops (a full disk) reach the worker's counter with its
 * next sync (its timer), with no further submit: a worker that answers
 * nothing more, or whose log was turned off, still counts them. Nothing
 * blocks. */
static void test_full_disk_counts_in_the_worker(void **state)
{
	fixture_t *f = *state;
	querylog_t *ql = new_log(f, 0);
	assert_int_equal(querylog_configure(ql, true, "/dev/full"), 0);
	assert_int_equal(querylog_start(ql), 0);
	static metrics_t m;
	memset(&m, 0, sizeof(m));
	submit_range(f, ql, &m, 0, 50);
	uint64_t written = 0, dropped = 0;
	await_total(ql, 50, &dropped, &written, &dropped);
	assert_int_equal(dropped, 50);
	assert_int_equal(written, 0);
	/* The submits themselves counted nothing: the ring had room. */
	assert_int_equal(m.querylog_dropped, 0);
	querylog_sync(ql, 0, &m);
	assert_int_equal(m.querylog_dropped, 50);
	querylog_sync(ql, 0, &m); /* counted once */
	assert_int_equal(m.querylog_dropped, 50);
	querylog_free(ql);
}

/* A FIFO opened by someone who never reads: the pipe fills, the writer
 * drops what it cannot write within its deadline, and stop still takes
 * about a second at most. */
static void test_fifo_nobody_reads(void **state)
{
	fixture_t *f = *state;
	char path[128];
	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	assert_int_equal(mkfifo(path, 0600), 0);
	int holder = open(path, O_RDWR | O_NONBLOCK); /* a reader that never reads */
	assert_true(holder >= 0);
	querylog_t *ql = new_log(f, 0);
	assert_int_equal(querylog_configure(ql, true, path), 0);
	assert_int_equal(querylog_start(ql), 0);
	static metrics_t m;
	memset(&m, 0, sizeof(m));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	submit_range(f, ql, &m, 0, 3000); /* ~300 KB: more than a pipe holds */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double submit_s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(submit_s < 0.5); /* never waits for the writer */
	querylog_free(ql);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	double stop_s = (double)(t0.tv_sec - t1.tv_sec) + (t0.tv_nsec - t1.tv_nsec) / 1e9;
	assert_true(stop_s < 3.0);
	close(holder);
	unlink(path);
}

/* Totals add up: written + dropped = submitted, whatever the output. */
static void test_totals_add_up(void **state)
{
	fixture_t *f = *state;
	char path[128];
	snprintf(path, sizeof(path), "%s/totals.jsonl", tmpdir);
	querylog_t *ql = new_log(f, 4096);
	assert_int_equal(querylog_configure(ql, true, path), 0);
	assert_int_equal(querylog_start(ql), 0);
	static metrics_t m;
	memset(&m, 0, sizeof(m));
	for (int i = 0; i < 20; i++) {
		submit_range(f, ql, &m, i * 100, i * 100 + 100);
		usleep(1000);
	}
	querylog_free(ql);
	char *text = read_file(path);
	size_t lines = 0;
	for (const char *p = text; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	free(text);
	assert_int_equal(lines + m.querylog_dropped, 2000);
	unlink(path);
}

/* logrotate: after a rename, reopen writes to a new file by the old name;
 * the renamed file keeps the lines written before. Turning the log off
 * closes it; a file that cannot be opened is an error for the caller. */
static void test_reopen_and_configure(void **state)
{
	fixture_t *f = *state;
	char path[128], moved[140];
	snprintf(path, sizeof(path), "%s/q.jsonl", tmpdir);
	snprintf(moved, sizeof(moved), "%s.1", path);
	querylog_t *ql = new_log(f, 0);
	assert_int_equal(querylog_start(ql), 0);
	assert_int_equal(querylog_configure(ql, true, path), 0);
	assert_int_equal(querylog_configure(ql, true, path), ER_QLOG_UNCHANGED); /* no reopen */
	static metrics_t m;
	memset(&m, 0, sizeof(m));
	submit_range(f, ql, &m, 0, 5);
	uint64_t written = 0, dropped = 0;
	await_total(ql, 5, &written, &written, &dropped);
	assert_int_equal(written, 5);
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(querylog_reopen(ql), 0);
	submit_range(f, ql, &m, 5, 8);
	await_total(ql, 8, &written, &written, &dropped);
	assert_int_equal(querylog_configure(ql, false, NULL), 0);
	submit_range(f, ql, &m, 8, 10); /* queued after off: never written */
	assert_int_equal(querylog_configure(ql, true, "/nonexistent/dir/q.jsonl"), -ENOENT);
	querylog_free(ql);
	char *old = read_file(moved), *cur = read_file(path);
	assert_names(old, 0, 5);
	assert_names(cur, 5, 8);
	free(old);
	free(cur);
	assert_int_equal(m.querylog_dropped, 0);
	unlink(path);
	unlink(moved);
}

/* Regression: a reload with unchanged settings never retried a file that
 * had failed to open (querylog_configure returned early), so the log
 * stayed broken until a SIGUSR1 although the docs promise a reload too. */
static void test_reload_retries_a_file_that_failed_to_open(void **state)
{
	fixture_t *f = *state;
	char dir[96], path[128];
	snprintf(dir, sizeof(dir), "%s/missing", tmpdir);
	snprintf(path, sizeof(path), "%s/q.jsonl", dir);
	querylog_t *ql = new_log(f, 0);
	assert_int_equal(querylog_start(ql), 0);
	assert_int_equal(querylog_configure(ql, true, path), -ENOENT);
	static metrics_t m;
	memset(&m, 0, sizeof(m));
	submit_range(f, ql, &m, 0, 3); /* broken: dropped and counted */
	uint64_t written = 0, dropped = 0;
	await_total(ql, 3, &dropped, &written, &dropped);
	assert_int_equal(dropped, 3);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(querylog_configure(ql, true, path), 0); /* same settings */
	submit_range(f, ql, &m, 3, 6);
	await_total(ql, 3, &written, &written, &dropped);
	querylog_free(ql);
	char *text = read_file(path);
	assert_names(text, 3, 6);
	free(text);
	assert_int_equal(written, 3);
	assert_int_equal(dropped, 3);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_miss_with_upstream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hit_stale_and_servfail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answers_erdns_makes_itself, setup, teardown),
		cmocka_unit_test_setup_teardown(test_m365_er, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_and_config_strings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_qnames, setup, teardown),
		cmocka_unit_test(test_qname_matches_dname_to_text),
		cmocka_unit_test_setup_teardown(test_type_and_rcode_names, setup, teardown),
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test_setup_teardown(test_full_lane_drops_and_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_disk_counts_in_the_worker, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fifo_nobody_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_totals_add_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_and_configure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_retries_a_file_that_failed_to_open,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
