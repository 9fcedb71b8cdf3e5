/*
 * Tests for server/audit.c, the miss path's ExpressRoute audit: which
 * questions are judged and counted, and the outside answers' log line
 * (what it names, one per second per route, the count of those held back).
 * The log goes to stderr with one write(2) per line; the test points fd 2
 * at a temporary file around each call (so cmocka's own messages stay on
 * the terminal) and reads the lines back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "server/audit.h"
#include "util/sockaddr.h"

typedef struct fixture {
	config_m365_t route;
	ratelimit_t limit;
	metrics_t *stats;
	struct sockaddr_storage upstream;
	char log_path[64];
	int log_fd;
} fixture_t;

static int setup(void **state)
{
	static fixture_t f;
	memset(&f, 0, sizeof(f));
	f.stats = calloc(1, sizeof(*f.stats));
	f.route = (config_m365_t){.route = "routes[2]",
				  .route_slot = 5,
				  .audit = ER_AUDIT_OBSERVE,
				  .outside_log = &f.limit};
	f.route.prefixes = prefixset_new();
	netblock_t nb;
	assert_int_equal(netblock_parse("192.0.2.0/24", &nb), 0);
	assert_int_equal(prefixset_add(f.route.prefixes, &nb, 1), 0);
	assert_int_equal(netblock_parse("198.51.100.0/24", &nb), 0);
	assert_int_equal(prefixset_add(f.route.prefixes, &nb, 4), 0);
	assert_int_equal(prefixset_finish(f.route.prefixes), 0);
	assert_int_equal(sockaddr_parse("10.10.0.53", 53, &f.upstream), 0);
	snprintf(f.log_path, sizeof(f.log_path), "/tmp/erdns-test-audit-XXXXXX");
	f.log_fd = mkstemp(f.log_path);
	assert_true(f.log_fd >= 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;
	close(f->log_fd);
	unlink(f->log_path);
	prefixset_free(f->route.prefixes);
	free(f->stats);
	return 0;
}

/* The log so far. */
static const char *log_text(const fixture_t *f)
{
	static char buf[8192];
	FILE *in = fopen(f->log_path, "r");
	assert_non_null(in);
	size_t n = fread(buf, 1, sizeof(buf) - 1, in);
	fclose(in);
	buf[n] = '\0';
	return buf;
}

static size_t lines(const char *text)
{
	size_t n = 0;
	for (; *text; text++)
		n += *text == '\n';
	return n;
}

/* The answer to name/qtype carrying A (or AAAA) addr. */
static er_verdict_t judge_at(fixture_t *f, const char *name, ldns_rr_type qtype, const char *rr,
			     uint64_t now_ms)
{
	ldns_rdf *qname = ldns_dname_new_frm_str(name);
	ldns_pkt *pkt = ldns_pkt_query_new(ldns_rdf_clone(qname), qtype, LDNS_RR_CLASS_IN, 0);
	ldns_pkt_set_qr(pkt, true);
	if (rr) {
		ldns_rr *r = NULL;
		assert_int_equal(ldns_rr_new_frm_str(&r, rr, 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, r);
	}
	uint8_t *wire = NULL;
	size_t len = 0;
	assert_int_equal(ldns_pkt2wire(&wire, pkt, &len), LDNS_STATUS_OK);
	dns_query_t q = {.qname = ldns_rdf_data(qname),
			 .qname_len = ldns_rdf_size(qname),
			 .qtype = (uint16_t)qtype,
			 .qclass = DNS_CLASS_IN};
	audit_answer_t a = {.route = &f->route,
			    .q = &q,
			    .resp = wire,
			    .len = len,
			    .upstream = (const struct sockaddr *)&f->upstream,
			    .stats = f->stats,
			    .now_ms = now_ms};
	fflush(stderr);
	int saved = dup(2);
	dup2(f->log_fd, 2);
	er_verdict_t v = audit_answer(&a);
	dup2(saved, 2);
	close(saved);
	free(wire);
	ldns_pkt_free(pkt);
	ldns_rdf_deep_free(qname);
	return v;
}

static uint64_t counted(const fixture_t *f, er_verdict_t v)
{
	return f->stats->er_audit[5][v - 1];
}

static void test_judged_and_counted(void **state)
{
	fixture_t *f = *state;
	assert_int_equal(
	    judge_at(f, "a.example.", LDNS_RR_TYPE_A, "a.example. 60 IN A 192.0.2.1", 0),
	    ER_VERDICT_INSIDE);
	assert_int_equal(judge_at(f, "a.example.", LDNS_RR_TYPE_A, NULL, 0), ER_VERDICT_NONE);
	/* the list has no IPv6 prefix: an AAAA answer cannot be judged */
	assert_int_equal(
	    judge_at(f, "a.example.", LDNS_RR_TYPE_AAAA, "a.example. 60 IN AAAA 2001:db8::1", 0),
	    ER_VERDICT_NONE);
	/* questions other than A/AAAA are neither judged nor counted */
	assert_int_equal(
	    judge_at(f, "a.example.", LDNS_RR_TYPE_TXT, "a.example. 60 IN TXT \"x\"", 0),
	    ER_VERDICT_UNJUDGED);
	assert_int_equal(counted(f, ER_VERDICT_INSIDE), 1);
	assert_int_equal(counted(f, ER_VERDICT_NONE), 2);
	assert_int_equal(counted(f, ER_VERDICT_OUTSIDE), 0);
	assert_int_equal(lines(log_text(f)), 0); /* only outside answers are logged */
}

/* One line per second per route, naming route, name, type, address,
 * upstream and the nearest ExpressRoute prefix with its set; the next line
 * says how many were held back. Every answer is counted all the same. */
static void test_outside_log_rate_limited(void **state)
{
	fixture_t *f = *state;
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(judge_at(f, "Outlook.example.", LDNS_RR_TYPE_A,
					  "outlook.example. 60 IN A 198.51.101.9", 1000 + i * 100),
				 ER_VERDICT_OUTSIDE);
	const char *log = log_text(f);
	assert_int_equal(lines(log), 1);
	assert_non_null(strstr(log,
			       "ExpressRoute audit: routes[2]: Outlook.example A 198.51.101.9 "
			       "from 10.10.0.53:53 is outside the list's ExpressRoute prefixes "
			       "(nearest 198.51.100.0/24, endpoint set 4); relayed (audit: "
			       "observe)\n"));
	assert_int_equal(
	    judge_at(f, "b.example.", LDNS_RR_TYPE_A, "b.example. 60 IN A 203.0.113.1", 2000),
	    ER_VERDICT_OUTSIDE);
	log = log_text(f);
	assert_int_equal(lines(log), 2);
	assert_non_null(strstr(log, "b.example A 203.0.113.1"));
	assert_non_null(strstr(log, "; 4 more outside answers on this route not logged\n"));
	assert_int_equal(counted(f, ER_VERDICT_OUTSIDE), 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_judged_and_counted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_outside_log_rate_limited, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
