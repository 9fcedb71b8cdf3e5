/*
 * Tests for routing/er_audit.c with wire messages: answers built with ldns
 * (a writer that is not ours) from zone-file lines, plus hand-written bytes
 * for compression pointers and malformed input. Prefixes: 192.0.2.0/25 and
 * 2001:db8:1::/48 inside (set 1); anything else outside.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "dns/dname.h"
#include "dns/wire.h"
#include "routing/er_audit.h"
#include "ldns_wire.h"

#define MAX_MSG 2048

typedef struct msg {
	uint8_t wire[MAX_MSG];
	size_t len;
} msg_t;

static prefixset_t *v4_only, *both;

static prefixset_t *set_of(const char *const *prefixes)
{
	prefixset_t *ps = prefixset_new();
	assert_non_null(ps);
	for (; *prefixes; prefixes++) {
		netblock_t nb;
		assert_int_equal(netblock_parse(*prefixes, &nb), 0);
		assert_int_equal(prefixset_add(ps, &nb, 1), 0);
	}
	assert_int_equal(prefixset_finish(ps), 0);
	return ps;
}

static int group_setup(void **state)
{
	(void)state;
	static const char *const v4[] = {"192.0.2.0/25", NULL};
	static const char *const v46[] = {"192.0.2.0/25", "2001:db8:1::/48", NULL};
	v4_only = set_of(v4);
	both = set_of(v46);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	prefixset_free(v4_only);
	prefixset_free(both);
	return 0;
}

/* An answer to qname/qtype with rcode and the answer records rrs (zone-file
 * lines, NULL-terminated), in that order. */
static void build(msg_t *m, const char *qname, ldns_rr_type qtype, int rcode,
		  const char *const *rrs)
{
	ldns_pkt *pkt =
	    ldns_pkt_query_new(ldns_dname_new_frm_str(qname), qtype, LDNS_RR_CLASS_IN, LDNS_RD);
	assert_non_null(pkt);
	ldns_pkt_set_qr(pkt, true);
	ldns_pkt_set_rcode(pkt, (uint8_t)rcode);
	for (; rrs && *rrs; rrs++) {
		ldns_rr *rr = NULL;
		assert_int_equal(ldns_rr_new_frm_str(&rr, *rrs, 0, NULL, NULL), LDNS_STATUS_OK);
		assert_true(ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, rr));
	}
	m->len = pkt_to_buf(pkt, m->wire, MAX_MSG);
}

static er_judgement_t judge_as(const prefixset_t *ps, const char *qname, const msg_t *m)
{
	uint8_t wire[ER_DNAME_MAX];
	assert_true(dname_from_text(qname, wire) > 0);
	er_judgement_t j;
	assert_int_equal(er_audit_judge(ps, wire, m->wire, m->len, &j), 0);
	return j;
}

static er_verdict_t verdict_of(const char *qname, ldns_rr_type qtype, int rcode,
			       const char *const *rrs)
{
	msg_t m;
	build(&m, qname, qtype, rcode, rrs);
	return judge_as(both, qname, &m).verdict;
}

#define RRS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_addresses(void **state)
{
	(void)state;
	assert_int_equal(
	    verdict_of("a.example.", LDNS_RR_TYPE_A, 0, RRS("a.example. 60 IN A 192.0.2.1")),
	    ER_VERDICT_INSIDE);
	assert_int_equal(
	    verdict_of("a.example.", LDNS_RR_TYPE_A, 0, RRS("a.example. 60 IN A 192.0.2.200")),
	    ER_VERDICT_OUTSIDE);
	/* one address outside is enough */
	msg_t m;
	build(&m, "a.example.", LDNS_RR_TYPE_A, 0,
	      RRS("a.example. 60 IN A 192.0.2.1", "a.example. 60 IN A 203.0.113.9",
		  "a.example. 60 IN A 192.0.2.2"));
	er_judgement_t j = judge_as(both, "a.example.", &m);
	assert_int_equal(j.verdict, ER_VERDICT_OUTSIDE);
	assert_int_equal(j.n_inside, 2);
	assert_int_equal(j.n_outside, 1);
	assert_int_equal(j.outside_family, AF_INET);
	uint8_t want[4] = {203, 0, 113, 9};
	assert_memory_equal(j.outside_addr, want, 4);
	/* owner names compare case-insensitively */
	assert_int_equal(
	    verdict_of("A.Example.", LDNS_RR_TYPE_A, 0, RRS("a.EXAMPLE. 60 IN A 192.0.2.1")),
	    ER_VERDICT_INSIDE);
}

static void test_aaaa(void **state)
{
	(void)state;
	assert_int_equal(verdict_of("a.example.", LDNS_RR_TYPE_AAAA, 0,
				    RRS("a.example. 60 IN AAAA 2001:db8:1::5")),
			 ER_VERDICT_INSIDE);
	assert_int_equal(verdict_of("a.example.", LDNS_RR_TYPE_AAAA, 0,
				    RRS("a.example. 60 IN AAAA 2001:db8:2::5")),
			 ER_VERDICT_OUTSIDE);
	/* a list without IPv6 prefixes cannot judge an IPv6 address */
	msg_t m;
	build(&m, "a.example.", LDNS_RR_TYPE_AAAA, 0, RRS("a.example. 60 IN AAAA 2001:db8:2::5"));
	er_judgement_t j = judge_as(v4_only, "a.example.", &m);
	assert_int_equal(j.verdict, ER_VERDICT_NONE);
	assert_int_equal(j.n_unjudged, 1);
	assert_int_equal(j.n_outside, 0);
}

static void test_cname_chains(void **state)
{
	(void)state;
	/* outlook.office365.com -> outlook.ha.office365.com -> ... -> A */
	const char *const *inside =
	    RRS("o.example. 300 IN CNAME o.ha.example.", "o.ha.example. 60 IN CNAME fe.example.",
		"fe.example. 10 IN A 192.0.2.7");
	assert_int_equal(verdict_of("o.example.", LDNS_RR_TYPE_A, 0, inside), ER_VERDICT_INSIDE);
	const char *const *outside =
	    RRS("o.example. 300 IN CNAME fe.example.", "fe.example. 10 IN A 198.51.100.7");
	assert_int_equal(verdict_of("o.example.", LDNS_RR_TYPE_A, 0, outside), ER_VERDICT_OUTSIDE);
	/* out of order: the chain is followed by owner, not by position */
	const char *const *shuffled =
	    RRS("fe.example. 10 IN A 192.0.2.7", "o.ha.example. 60 IN CNAME fe.example.",
		"o.example. 300 IN CNAME o.ha.example.");
	assert_int_equal(verdict_of("o.example.", LDNS_RR_TYPE_A, 0, shuffled), ER_VERDICT_INSIDE);
	/* only the end of the chain counts: an address owned by the first
	 * name (which the client never uses) is not judged */
	const char *const *stray =
	    RRS("o.example. 300 IN CNAME fe.example.", "o.example. 300 IN A 203.0.113.1",
		"fe.example. 10 IN A 192.0.2.7");
	assert_int_equal(verdict_of("o.example.", LDNS_RR_TYPE_A, 0, stray), ER_VERDICT_INSIDE);
	/* AAAA at the end of a chain */
	const char *const *v6 =
	    RRS("o.example. 300 IN CNAME fe.example.", "fe.example. 10 IN AAAA 2001:db8:1::7");
	assert_int_equal(verdict_of("o.example.", LDNS_RR_TYPE_AAAA, 0, v6), ER_VERDICT_INSIDE);
}

static void test_nothing_to_judge(void **state)
{
	(void)state;
	assert_int_equal(verdict_of("a.example.", LDNS_RR_TYPE_A, 0, NULL), ER_VERDICT_NONE);
	assert_int_equal(verdict_of("nx.example.", LDNS_RR_TYPE_A, 3, NULL), ER_VERDICT_NONE);
	/* a CNAME to nowhere */
	assert_int_equal(verdict_of("o.example.", LDNS_RR_TYPE_A, 0,
				    RRS("o.example. 300 IN CNAME gone.example.")),
			 ER_VERDICT_NONE);
	/* a CNAME to an NXDOMAIN target */
	assert_int_equal(verdict_of("o.example.", LDNS_RR_TYPE_A, 3,
				    RRS("o.example. 300 IN CNAME gone.example.")),
			 ER_VERDICT_NONE);
	/* a loop ends (bounded by the records there are) */
	assert_int_equal(verdict_of("a.example.", LDNS_RR_TYPE_A, 0,
				    RRS("a.example. 300 IN CNAME b.example.",
					"b.example. 300 IN CNAME a.example.")),
			 ER_VERDICT_NONE);
	/* records of other types at the end of the chain */
	assert_int_equal(verdict_of("a.example.", LDNS_RR_TYPE_TXT, 0,
				    RRS("a.example. 300 IN TXT \"192.0.2.200\"")),
			 ER_VERDICT_NONE);
}

/* A message written byte by byte: the answer's owner names and the CNAME
 * target are compression pointers (RFC 1035 4.1.4). */
static void test_compression(void **state)
{
	(void)state;
	static const uint8_t wire[] = {
	    0x12,
	    0x34,
	    0x81,
	    0x80,
	    0,
	    1,
	    0,
	    2,
	    0,
	    0,
	    0,
	    0,
	    /* 12: question o.example. A IN */
	    1,
	    'o',
	    7,
	    'e',
	    'x',
	    'a',
	    'm',
	    'p',
	    'l',
	    'e',
	    0,
	    0,
	    1,
	    0,
	    1,
	    /* 27: o.example. (ptr 12) CNAME fe.(ptr 14: example.) */
	    0xC0,
	    12,
	    0,
	    5,
	    0,
	    1,
	    0,
	    0,
	    0,
	    60,
	    0,
	    5,
	    2,
	    'f',
	    'e',
	    0xC0,
	    14,
	    /* 44: fe.example. (ptr 39) A 192.0.2.9 */
	    0xC0,
	    39,
	    0,
	    1,
	    0,
	    1,
	    0,
	    0,
	    0,
	    60,
	    0,
	    4,
	    192,
	    0,
	    2,
	    9,
	};
	msg_t m = {.len = sizeof(wire)};
	memcpy(m.wire, wire, sizeof(wire));
	assert_int_equal(judge_as(both, "o.example.", &m).verdict, ER_VERDICT_INSIDE);
}

static void test_malformed(void **state)
{
	(void)state;
	msg_t m;
	build(&m, "o.example.", LDNS_RR_TYPE_A, 0,
	      RRS("o.example. 300 IN CNAME fe.example.", "fe.example. 10 IN A 192.0.2.7"));
	uint8_t qname[ER_DNAME_MAX];
	assert_true(dname_from_text("o.example.", qname) > 0);
	er_judgement_t j;
	for (size_t cut = 0; cut < m.len; cut++) { /* every truncation */
		assert_int_equal(er_audit_judge(both, qname, m.wire, cut, &j), -EBADMSG);
		assert_int_equal(j.verdict, ER_VERDICT_NONE);
	}
	/* a pointer loop in an owner name matches nothing (the forwarder never
	 * gets here: attempts accept only answers wire_check_response walked) */
	static const uint8_t loop[] = {
	    0x12, 0x34, 0x81, 0x80, 0,	 1,   0,   1, 0, 0,   0, 0, 1,	  'o', 7,
	    'e',  'x',	'a',  'm',  'p', 'l', 'e', 0, 0, 1,   0, 1, 0xC0, 27,  0,
	    1,	  0,	1,    0,    0,	 0,   60,  0, 4, 192, 0, 2, 9,
	};
	int rc = er_audit_judge(both, qname, loop, sizeof(loop), &j);
	assert_true(rc == 0 || rc == -EBADMSG);
	assert_int_equal(j.verdict, ER_VERDICT_NONE);
	/* and in a CNAME target */
	static const uint8_t target_loop[] = {
	    0x12, 0x34, 0x81, 0x80, 0,	 1,   0,   1,	0,  0, 0, 0,	1,  'o',
	    7,	  'e',	'x',  'a',  'm', 'p', 'l', 'e', 0,  0, 1, 0,	1,  0xC0,
	    12,	  0,	5,    0,    1,	 0,   0,   0,	60, 0, 2, 0xC0, 39,
	};
	assert_int_equal(er_audit_judge(both, qname, target_loop, sizeof(target_loop), &j),
			 -EBADMSG);
	assert_int_equal(j.verdict, ER_VERDICT_NONE);
}

/* The CLI's view: every address with its verdict and prefix (the match,
 * or the nearest for one outside), and the end of the chain. */
typedef struct seen {
	unsigned n;
	er_verdict_t v[4];
	uint8_t len[4];
} seen_t;

static void on_address(void *ctx, int family, const uint8_t *addr, er_verdict_t v,
		       const prefix_hit_t *hit)
{
	seen_t *s = ctx;
	(void)family;
	(void)addr;
	assert_true(s->n < 4);
	s->v[s->n] = v;
	s->len[s->n++] = hit ? hit->prefix.prefix_len : 0;
}

static void test_visitor(void **state)
{
	(void)state;
	msg_t m;
	build(&m, "o.example.", LDNS_RR_TYPE_A, 0,
	      RRS("o.example. 300 IN CNAME fe.example.", "fe.example. 10 IN A 192.0.2.7",
		  "fe.example. 10 IN A 203.0.113.1"));
	seen_t seen = {0};
	er_audit_visitor_t vis = {.on_address = on_address, .ctx = &seen};
	uint8_t qname[ER_DNAME_MAX];
	assert_true(dname_from_text("o.example.", qname) > 0);
	er_judgement_t j;
	assert_int_equal(er_audit_judge_visit(both, qname, m.wire, m.len, &vis, &j), 0);
	assert_int_equal(j.verdict, ER_VERDICT_OUTSIDE);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.v[0], ER_VERDICT_INSIDE);
	assert_int_equal(seen.len[0], 25);
	assert_int_equal(seen.v[1], ER_VERDICT_OUTSIDE);
	assert_int_equal(seen.len[1], 25); /* the nearest: the only IPv4 prefix */
	char end[ER_DNAME_TEXT_MAX];
	dname_to_text(vis.end, end);
	assert_string_equal(end, "fe.example");
	/* an IPv6 address against a list without IPv6: NONE, no prefix */
	build(&m, "a.example.", LDNS_RR_TYPE_AAAA, 0, RRS("a.example. 60 IN AAAA 2001:db8::1"));
	seen = (seen_t){0};
	assert_true(dname_from_text("a.example.", qname) > 0);
	assert_int_equal(er_audit_judge_visit(v4_only, qname, m.wire, m.len, &vis, &j), 0);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.v[0], ER_VERDICT_NONE);
	assert_int_equal(seen.len[0], 0);
}

static void test_words(void **state)
{
	(void)state;
	assert_int_equal(er_word_of(false, ER_VERDICT_INSIDE), ER_WORD_INSIDE);
	assert_int_equal(er_word_of(false, ER_VERDICT_OUTSIDE), ER_WORD_OUTSIDE);
	assert_int_equal(er_word_of(true, ER_VERDICT_OUTSIDE), ER_WORD_OFF);
	assert_int_equal(er_word_of(false, ER_VERDICT_NONE), ER_WORD_UNKNOWN);
	assert_int_equal(er_word_of(false, ER_VERDICT_UNJUDGED), ER_WORD_UNKNOWN);
	/* A inside, AAAA outside: outside; A inside, AAAA from a later group: off */
	assert_int_equal(er_word_worse(ER_WORD_INSIDE, ER_WORD_OUTSIDE), ER_WORD_OUTSIDE);
	assert_int_equal(er_word_worse(ER_WORD_INSIDE, ER_WORD_OFF), ER_WORD_OFF);
	assert_int_equal(er_word_worse(ER_WORD_UNKNOWN, ER_WORD_INSIDE), ER_WORD_INSIDE);
	assert_string_equal(er_word_name(ER_WORD_NA), "n/a");
	assert_string_equal(er_word_name(ER_WORD_OFF), "off");
	assert_string_equal(er_verdict_name(ER_VERDICT_NONE), "none");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addresses),	 cmocka_unit_test(test_aaaa),
	    cmocka_unit_test(test_cname_chains), cmocka_unit_test(test_nothing_to_judge),
	    cmocka_unit_test(test_compression),	 cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_visitor),	 cmocka_unit_test(test_words),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
